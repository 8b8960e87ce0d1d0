"""Subcommands of the ``kreislauf`` program, one module per group, each with ``register(subparsers)``."""
