"""``kreislauf ssp``: write a system as an SSP 1.0 file, show what kreislauf reads from one."""

from __future__ import annotations

import argparse
from pathlib import Path

from kreislauf.cli import CommandError


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``kreislauf ssp export`` and ``kreislauf ssp show``."""
    ssp = sub.add_parser("ssp", help="SSP 1.0 system files: export, show")
    ssp_sub = ssp.add_subparsers(dest="ssp_command", metavar="ACTION")
    export = ssp_sub.add_parser(
        "export",
        help="write a system file (TOML, .ssp or .ssd) as an .ssp archive or a bare .ssd",
        description="Components that are kreislauf models are exported to FMUs first; master settings, "
        "bonds, outputs and Python or device components travel in an org.kreislauf annotation.",
    )
    export.add_argument("system", type=Path, help="the system file to export")
    export.add_argument("output", type=Path, help="the .ssp or .ssd file to write")
    export.add_argument("--cache-dir", type=Path, help="where FMUs exported from models are kept")
    export.set_defaults(handler=_export)
    show = ssp_sub.add_parser("show", help="list what kreislauf reads from an .ssp/.ssd, and what it skips")
    show.add_argument("file", type=Path)
    show.set_defaults(handler=_show)
    ssp.set_defaults(handler=lambda args: ssp.print_help() or 1)


def _export(args: argparse.Namespace) -> int:
    from kreislauf.ssp import write_ssp
    from kreislauf.system import SystemFileError, load_system_file

    try:
        spec = load_system_file(args.system)
        path = write_ssp(spec, args.output, cache_dir=args.cache_dir)
    except SystemFileError as exc:
        raise CommandError(str(exc)) from None
    print(path)
    return 0


def _show(args: argparse.Namespace) -> int:
    from kreislauf.ssp import parse_ssp
    from kreislauf.system import Problem, SystemFileError

    if args.file.suffix.lower() not in (".ssp", ".ssd"):
        raise CommandError(f"{args.file}: not an SSP file (.ssp or .ssd)")
    notes: list[Problem] = []
    spec, problems = parse_ssp(args.file, notes=notes)
    print(f"system '{spec.name}': start {spec.settings.start} s, stop {spec.settings.stop} s")
    for name, comp in spec.components.items():
        print(f"  component {name}: {comp.kind} {comp.source}")
        for pname, value in comp.parameters.items():
            print(f"    {pname} = {value!r}")
    for conn in spec.connections:
        transform = "" if (conn.factor, conn.offset) == (1.0, 0.0) else f"  (x {conn.factor!r} + {conn.offset!r})"
        print(f"  {conn.text}{transform}")
    for note in notes:
        print(f"note: {note}")
    if problems:
        raise CommandError(str(SystemFileError(problems)))
    return 0
