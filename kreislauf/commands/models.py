"""``kreislauf models``: list the component models with a one-line description."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``kreislauf models``."""
    p = sub.add_parser("models", help="list the component models")
    p.add_argument("name", nargs="?", help="show the variables of one model")
    p.set_defaults(handler=_models)


def _models(args: argparse.Namespace) -> int:
    from kreislauf.cli import CommandError
    from kreislauf.models import MODELS, UnknownModelError, get_model

    if args.name is None:
        for name in sorted(MODELS):
            print(f"{name:28s} {get_model(name).description}")
        return 0
    try:
        model = get_model(args.name)
    except UnknownModelError as exc:
        raise CommandError(str(exc)) from None
    print(f"{model.name}: {model.description}")
    for kind in ("parameter", "input", "state", "output"):
        rows = model.of_kind(kind)
        if rows:
            print(f"\n{kind}s:")
        for d in rows:
            print(f"  {d.name:40s} {d.unit:12s} {d.description}")
    return 0
