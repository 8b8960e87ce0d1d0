"""The seam between the master and everything it drives: the Component protocol.

An FMU (:class:`kreislauf.fmu.FmuComponent`), a Modbus device (:class:`kreislauf.hil.ModbusDevice`)
and a test double all implement :class:`Component`. The master knows nothing else, so swapping a
simulated component for a real device is a change of one entry in the system file.

Values cross the seam as ``float`` (Integer and Boolean variables too: booleans as 0.0/1.0), in SI
units, with times in seconds from the start of the run.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = [
    "Causality",
    "Component",
    "ComponentError",
    "EnergyPort",
    "PortKind",
    "State",
    "StepOutcome",
    "StepStatus",
    "Variable",
    "VariableType",
    "Variability",
]


class Causality(str, enum.Enum):
    """What a variable is to the outside world (the FMI causality)."""

    PARAMETER = "parameter"
    CALCULATED_PARAMETER = "calculatedParameter"
    INPUT = "input"
    OUTPUT = "output"
    LOCAL = "local"
    INDEPENDENT = "independent"


class Variability(str, enum.Enum):
    """When a variable may change (the FMI variability)."""

    CONSTANT = "constant"
    FIXED = "fixed"
    TUNABLE = "tunable"
    DISCRETE = "discrete"
    CONTINUOUS = "continuous"


class VariableType(str, enum.Enum):
    """The value type of a variable. Across the seam every value is a float."""

    REAL = "Real"
    INTEGER = "Integer"
    BOOLEAN = "Boolean"


@dataclass(frozen=True)
class Variable:
    """One variable of a component: what it is, its unit and its allowed range.

    ``unit`` is an SI unit string in the FMI/Modelica notation (``"W"``, ``"kg/s"``, ``"K"``,
    ``"m2.K/W"``); ``None`` means dimensionless or unknown. ``minimum``/``maximum`` are inclusive;
    ``None`` means unbounded.
    """

    name: str
    causality: Causality
    type: VariableType = VariableType.REAL
    variability: Variability = Variability.CONTINUOUS
    unit: str | None = None
    start: float | None = None
    minimum: float | None = None
    maximum: float | None = None
    description: str = ""
    value_reference: int | None = None

    def in_range(self, value: float) -> bool:
        """True when ``value`` is a number within ``[minimum, maximum]``."""
        if math.isnan(value):
            return False
        if self.minimum is not None and value < self.minimum:
            return False
        return self.maximum is None or value <= self.maximum

    def range_text(self) -> str:
        """The allowed range as text, e.g. ``[0, 500] kg/s``."""
        lo = "-inf" if self.minimum is None else f"{self.minimum:g}"
        hi = "inf" if self.maximum is None else f"{self.maximum:g}"
        return f"[{lo}, {hi}]" + (f" {self.unit}" if self.unit else "")


class PortKind(str, enum.Enum):
    """The physical kind of an energy port."""

    HEAT = "heat"  # a heat flow, W
    FLUID = "fluid"  # the enthalpy flow of a stream, m_dot * c_p * (T - T_ref), W
    ELECTRICAL = "electrical"  # electrical power, W
    CHEMICAL = "chemical"  # m_dot * LHV, W


@dataclass(frozen=True)
class EnergyPort:
    """An energy port of a component; power is positive into the component.

    ``power`` names the output variable carrying the port power (W) and ``energy`` the output with
    its cumulative integral (J) since the start of the run. For fluid ports ``mass_flow`` and
    ``temperature`` name the variables of the stream at the port (inputs at an inlet, outputs at an
    outlet), and ``specific_heat`` its c_p in J/(kg K).
    """

    name: str
    kind: PortKind
    power: str
    energy: str
    mass_flow: str | None = None
    temperature: str | None = None
    specific_heat: float | None = None
    description: str = ""


class StepStatus(enum.Enum):
    """How a step ended."""

    OK = "ok"
    DISCARD = "discard"  # the component could not reach t + dt; see StepOutcome.time_reached
    ERROR = "error"


@dataclass(frozen=True)
class StepOutcome:
    """The result of :meth:`Component.do_step`."""

    status: StepStatus
    time_reached: float
    message: str = ""

    @property
    def ok(self) -> bool:
        """True when the step reached its end without trouble."""
        return self.status is StepStatus.OK


State = Any
"""An opaque snapshot of a component, from :meth:`Component.save_state`."""


class ComponentError(RuntimeError):
    """A component failed: names the component, and the variable where one is to blame."""

    def __init__(self, component: str, message: str, variable: str | None = None, time: float | None = None):
        self.component = component
        self.variable = variable
        self.time = time
        where = f"component '{component}'"
        if variable is not None:
            where += f", variable '{variable}'"
        if time is not None:
            where += f", t = {time:g} s"
        super().__init__(f"{where}: {message}")


@runtime_checkable
class Component(Protocol):
    """What the master drives: an FMU, a device or a test double.

    Life cycle: ``setup`` once (parameters applied, initialisation done), then any number of
    ``set_inputs`` / ``do_step`` / ``get_outputs`` rounds, then ``close``. ``save_state`` and
    ``restore_state`` are only called when ``can_rollback`` is true.
    """

    name: str
    variables: Mapping[str, Variable]
    can_rollback: bool
    energy_ports: Mapping[str, EnergyPort]
    stored_energy: str | None

    def setup(self, start: float, stop: float | None, parameters: Mapping[str, float]) -> None: ...

    def set_inputs(self, values: Mapping[str, float]) -> None: ...

    def do_step(self, t: float, dt: float) -> StepOutcome: ...

    def get_outputs(self, names: Sequence[str]) -> np.ndarray: ...

    def save_state(self) -> State: ...

    def restore_state(self, state: State) -> None: ...

    def close(self) -> None: ...


@dataclass
class VariableTable:
    """Helper for implementations: look up variables by name with errors that name the culprit."""

    component: str
    variables: Mapping[str, Variable] = field(default_factory=dict)

    def get(self, name: str) -> Variable:
        """The variable called ``name``, or a :class:`ComponentError` listing close names."""
        try:
            return self.variables[name]
        except KeyError:
            import difflib

            close = difflib.get_close_matches(name, list(self.variables), n=3)
            hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise ComponentError(self.component, f"no variable called '{name}'{hint}", variable=name) from None
