"""kreislauf: co-simulation of municipal heat systems.

Subpackages:

- :mod:`kreislauf.models` — the physics, each model declared once (SymPy) with two back ends;
- :mod:`kreislauf.fmu` — standalone FMU export (FMI 2.0 and 3.0 co-simulation) and FMU import;
- :mod:`kreislauf.hil` — Modbus TCP devices as components, and components served as devices;
- :mod:`kreislauf` itself — the Component protocol, the co-simulation master, energy ledger, CLI.

A system in three lines::

    import kreislauf
    result = kreislauf.load("examples/anika.toml").run(stop="7d", out_dir="results/anika")
    print(result.balance.report())
"""

from typing import Any

from kreislauf.component import (
    Causality,
    Component,
    ComponentError,
    StepOutcome,
    StepStatus,
    Variability,
    Variable,
    VariableType,
)

__version__ = "0.1.0"

_API = ("System", "check", "load", "run")

__all__ = [
    "Causality",
    "System",
    "check",
    "load",
    "run",
    "Component",
    "ComponentError",
    "StepOutcome",
    "StepStatus",
    "Variable",
    "VariableType",
    "Variability",
    "__version__",
]


def __getattr__(name: str) -> Any:
    """``System``, ``load``, ``run`` and ``check`` come from :mod:`kreislauf.api`, imported on first use so
    that ``import kreislauf`` stays light for code that only needs the Component protocol."""
    if name in _API:
        from kreislauf import api

        return getattr(api, name)
    raise AttributeError(f"module 'kreislauf' has no attribute '{name}'")
