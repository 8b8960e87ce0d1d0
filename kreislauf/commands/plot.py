"""``kreislauf plot RESULTS_DIR``: PNG figures of a run's results and a Sankey diagram of its energy flows."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``plot`` subcommand."""
    p = subparsers.add_parser(
        "plot",
        help="draw PNG figures of a run's results",
        description="Draw temperatures, powers, COP, fouling resistance, cumulative energies and a Sankey "
        "diagram of the period's energy flows from a results folder (or results.parquet).",
    )
    p.add_argument("results", type=Path, help="the results folder of a run (or its results.parquet)")
    p.add_argument("-o", "--output", type=Path, help="folder for the figures (default: RESULTS_DIR/plots)")
    p.add_argument("--start", help="start of the period, in the run's time, e.g. 10d, 36h (default: the run's start)")
    p.add_argument("--stop", help="end of the period, e.g. 20d (default: the run's end)")
    p.set_defaults(handler=plot_command)


def plot_command(args: argparse.Namespace) -> int:
    """Write the figures and print their paths; a bad results file or period is a user error."""
    from kreislauf.cli import CommandError
    from kreislauf.plot import PlotError, plot_results

    out = args.output
    if out is None:
        out = (args.results if args.results.is_dir() else args.results.parent) / "plots"
    try:
        paths = plot_results(args.results, out, start=args.start, stop=args.stop)
    except PlotError as exc:
        raise CommandError(str(exc)) from None
    for path in paths:
        print(path)
    return 0
