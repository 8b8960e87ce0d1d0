"""kreislauf: co-simulation of municipal heat systems.

Subpackages:

- :mod:`kreislauf.models` — the physics, each model declared once (SymPy) with two back ends;
- :mod:`kreislauf.fmu` — standalone FMU export (FMI 2.0 and 3.0 co-simulation) and FMU import;
- :mod:`kreislauf.hil` — Modbus TCP devices as components, and components served as devices;
- :mod:`kreislauf` itself — the Component protocol, the co-simulation master, energy ledger, CLI.
"""

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

__all__ = [
    "Causality",
    "Component",
    "ComponentError",
    "StepOutcome",
    "StepStatus",
    "Variable",
    "VariableType",
    "Variability",
    "__version__",
]
