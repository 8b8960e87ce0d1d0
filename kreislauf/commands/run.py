"""``kreislauf run SYSTEM`` and ``kreislauf check FILE``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from kreislauf.system import DurationError, SystemFileError, parse_duration


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``run`` and ``check`` subcommands."""
    run = subparsers.add_parser("run", help="run a system file and write results")
    run.add_argument("system", type=Path, help="the TOML system file")
    run.add_argument("--stop", help="stop time, e.g. 365d, 7d, 12h (default: the file's)")
    run.add_argument("--step", help="macro step, e.g. 60s, 15min (default: the file's)")
    run.add_argument("-o", "--output", type=Path, help="results folder (default: results/<system name>)")
    run.add_argument("--csv", action="store_true", help="also write results.csv")
    run.add_argument(
        "--realtime", nargs="?", const=1.0, type=float, metavar="FACTOR",
        help="pace the run against the wall clock (FACTOR simulated seconds per second, default 1)",
    )
    native = run.add_mutually_exclusive_group()
    native.add_argument(
        "--native", dest="native", action="store_const", const="on", default=None,
        help="step in compiled C and fail naming the reasons when the system does not allow it "
        "(default: the file's [master] native, auto)",
    )
    native.add_argument("--no-native", dest="native", action="store_const", const="off",
                        help="step in Python")
    progress = run.add_mutually_exclusive_group()
    progress.add_argument(
        "--progress",
        dest="progress",
        action="store_true",
        default=None,
        help="draw a progress bar on stderr (default: only on a terminal)",
    )
    progress.add_argument("--no-progress", dest="progress", action="store_false")
    run.set_defaults(handler=run_command)

    check = subparsers.add_parser("check", help="report every problem in a system file")
    check.add_argument("system", type=Path, help="the TOML system file")
    check.set_defaults(handler=check_command)


def run_command(args: argparse.Namespace) -> int:
    """Run a system; exit 0 on success, 1 when the run failed (results so far stay on disk)."""
    from kreislauf.api import load
    from kreislauf.cli import CommandError
    from kreislauf.component import ComponentError
    from kreislauf.master import CosimError, NativePathError

    for option in ("stop", "step"):
        value = getattr(args, option)
        if value is not None:
            try:
                parse_duration(value, f"--{option}")
            except DurationError as exc:
                raise CommandError(str(exc)) from None
    try:
        system = load(args.system)
    except SystemFileError as exc:
        raise CommandError(str(exc)) from None
    try:
        options = {} if args.realtime is None else {"realtime": True, "realtime_factor": args.realtime}
        if args.native is not None:
            options["native"] = args.native
        result = system.run(stop=args.stop, step=args.step, out_dir=args.output, progress=args.progress, **options)
    except (SystemFileError, NativePathError) as exc:
        raise CommandError(str(exc)) from None
    except (ComponentError, CosimError) as exc:
        out = args.output or Path("results") / system.name
        print(f"kreislauf: run failed: {exc}", file=sys.stderr)
        print(f"kreislauf: results up to the failure are in {out}", file=sys.stderr)
        return 1
    print(f"results: {result.results_path}")
    print(f"summary: {result.summary_path}")
    if args.csv:
        print(f"csv:     {result.to_csv()}")
    if result.balance is not None and result.bonds:
        print(f"energy:  {result.balance.report()}")
    print(f"steps:   {result.stats.steps} in {result.stats.wall_time:.3g} s")
    print(f"path:    {result.stats.path} ({result.stats.path_reason})")
    summary = json.loads(result.summary_path.read_text())
    if summary.get("realtime"):
        rt = summary["realtime"]
        print(f"pacing:  lateness p50 {rt['lateness_p50_s'] * 1e3:.3f} ms, p99 {rt['lateness_p99_s'] * 1e3:.3f} ms, "
              f"max {rt['lateness_max_s'] * 1e3:.3f} ms, {rt['overruns']} overruns, "
              f"real-time factor {rt['realtime_factor']:.4f}")
    for fault in summary.get("faults", []):
        print(f"fault:   {fault}")
    return 0


def check_command(args: argparse.Namespace) -> int:
    """Print every problem of a system file; exit 1 when there is any."""
    from kreislauf.api import check

    problems = check(args.system)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem(s) in {args.system}", file=sys.stderr)
        return 1
    print(f"{args.system}: no problems")
    return 0
