"""The ``kreislauf`` command-line program.

Each group of subcommands lives in a module of :mod:`kreislauf.commands` with a
``register(subparsers)`` function; this module only assembles them and maps errors to exit codes.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from kreislauf import __version__

COMMAND_MODULES = ("fmu", "models", "run", "plot", "ssp", "hil")


class CommandError(Exception):
    """A user-facing failure of a command: printed without a traceback, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every available subcommand."""
    parser = argparse.ArgumentParser(
        prog="kreislauf",
        description="Co-simulation of municipal heat systems: models, FMU export, master and HIL.",
    )
    parser.add_argument("--version", action="version", version=f"kreislauf {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"kreislauf.commands.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"kreislauf.commands.{module_name}":
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 1
    try:
        return int(args.handler(args) or 0)
    except CommandError as exc:
        print(f"kreislauf: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("kreislauf: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
