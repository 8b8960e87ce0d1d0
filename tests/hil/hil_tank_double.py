"""A small Component for the HIL tests: a heated, well-mixed water tank.

Equation (first-order lumped model, SI units)::

    C dT/dt = P_heater + P_external - UA (T - T_ambient)

with the exact solution over a step of length dt at constant inputs::

    T(t + dt) = T_inf + (T(t) - T_inf) exp(-dt / tau),   T_inf = T_ambient + (P_heater + P_external) / UA,
    tau = C / UA

Outputs: the tank temperature T (K), the heat loss UA (T - T_ambient) (W), the change of stored energy
C (T - T_0) (J, negative when the tank cooled), the heater energy delivered since the start (J), and the
pump state echoed. It is exact, so tests can check served values against the closed form.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from kreislauf.component import (
    Causality,
    ComponentError,
    StepOutcome,
    StepStatus,
    Variable,
    VariableType,
)

HEAT_CAPACITY = 4.18e6  # J/K, 1 m3 of water
UA = 200.0  # W/K
INITIAL_TEMPERATURE = 313.15  # K


def tank_variables() -> dict[str, Variable]:
    """The variables of the tank double."""
    v = [
        Variable("heater_power", Causality.INPUT, unit="W", start=0.0, minimum=0.0, maximum=20000.0),
        Variable(
            "external_heat",
            Causality.INPUT,
            VariableType.INTEGER,
            unit="W",
            start=0.0,
            minimum=-50000.0,
            maximum=50000.0,
        ),
        Variable("ambient_temperature", Causality.INPUT, unit="K", start=283.15, minimum=230.0, maximum=330.0),
        Variable("pump_on", Causality.INPUT, VariableType.BOOLEAN, start=0.0, minimum=0.0, maximum=1.0),
        Variable("heat_capacity", Causality.PARAMETER, unit="J/K", start=HEAT_CAPACITY, minimum=1.0),
        Variable("tank_temperature", Causality.OUTPUT, unit="K"),
        Variable("heat_loss", Causality.OUTPUT, unit="W"),
        Variable("stored_energy_change", Causality.OUTPUT, unit="J"),
        Variable("heater_energy", Causality.OUTPUT, unit="J"),
        Variable("pump_running", Causality.OUTPUT, VariableType.BOOLEAN),
    ]
    return {x.name: x for x in v}


class HeatedTank:
    """The tank as a :class:`kreislauf.component.Component` (see module docstring)."""

    can_rollback = True
    energy_ports: Mapping = {}
    stored_energy = None

    def __init__(self, name: str = "tank"):
        self.name = name
        self.variables = tank_variables()
        self.closed = False
        self.steps = 0
        self._inputs = {k: v.start for k, v in self.variables.items() if v.causality is Causality.INPUT}
        self._c = HEAT_CAPACITY
        self._t = INITIAL_TEMPERATURE
        self._energy = 0.0

    def setup(self, start: float, stop: float | None, parameters: Mapping[str, float]) -> None:
        """Apply parameters (only heat_capacity) and reset the state."""
        for key, value in parameters.items():
            if key != "heat_capacity":
                raise ComponentError(self.name, "not a parameter", variable=key)
            self._c = float(value)
        self._t = INITIAL_TEMPERATURE
        self._energy = 0.0

    def set_inputs(self, values: Mapping[str, float]) -> None:
        """Set inputs; out-of-range values raise ComponentError."""
        for key, value in values.items():
            var = self.variables.get(key)
            if var is None or var.causality is not Causality.INPUT:
                raise ComponentError(self.name, "not an input", variable=key)
            if not var.in_range(value):
                raise ComponentError(self.name, f"{value!r} outside {var.range_text()}", variable=key)
            self._inputs[key] = float(value)

    def do_step(self, t: float, dt: float) -> StepOutcome:
        """Advance by the exact solution."""
        power = self._inputs["heater_power"] + self._inputs["external_heat"]
        t_inf = self._inputs["ambient_temperature"] + power / UA
        self._t = t_inf + (self._t - t_inf) * math.exp(-dt * UA / self._c)
        self._energy += self._inputs["heater_power"] * dt
        self.steps += 1
        return StepOutcome(StepStatus.OK, t + dt)

    def _value(self, name: str) -> float:
        if name == "tank_temperature":
            return self._t
        if name == "heat_loss":
            return UA * (self._t - self._inputs["ambient_temperature"])
        if name == "stored_energy_change":
            return self._c * (self._t - INITIAL_TEMPERATURE)
        if name == "heater_energy":
            return self._energy
        if name == "pump_running":
            return self._inputs["pump_on"]
        if name in self._inputs:
            return self._inputs[name]
        raise ComponentError(self.name, "no such output", variable=name)

    def get_outputs(self, names: Sequence[str]) -> np.ndarray:
        """Current values of ``names``."""
        return np.array([self._value(n) for n in names], dtype=float)

    def save_state(self):
        """Snapshot of the state."""
        return (self._t, self._energy, dict(self._inputs))

    def restore_state(self, state) -> None:
        """Restore a snapshot."""
        self._t, self._energy, inputs = state
        self._inputs = dict(inputs)

    def close(self) -> None:
        """Mark closed."""
        self.closed = True


def make_tank() -> HeatedTank:
    """Factory for ``kreislauf hil serve hil_tank_double:make_tank``."""
    return HeatedTank()
