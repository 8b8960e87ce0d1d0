"""Python components that implement the Component protocol, to test the master without FMUs.

- :class:`HeatCapacity`: a lumped heat capacity C·dT/dt = Q_in + G·(T_neighbour − T), integrated
  exactly over a step with its inputs held (exponential solution), with energy ports ``heat``
  (Q_in) and ``cond`` (the conductance), each with an exact energy counter, and stored energy C·T.
- :class:`Conductance`: Q = G·(T_a − T_b), no storage; ports ``a`` and ``b``.
- :class:`Gain`: y = k·u + c + r·t, direct feedthrough, for algebraic loops.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from kreislauf.component import (
    Causality,
    ComponentError,
    EnergyPort,
    PortKind,
    StepOutcome,
    StepStatus,
    Variable,
)

OK = StepStatus.OK


def _var(name, causality, unit=None, start=None, minimum=None, maximum=None):
    return Variable(name, causality, unit=unit, start=start, minimum=minimum, maximum=maximum)


class _Base:
    can_rollback = True
    energy_ports: Mapping[str, EnergyPort] = {}
    stored_energy: str | None = None

    def __init__(self, name: str, can_rollback: bool = True):
        self.name = name
        self.can_rollback = can_rollback
        self.closed = False
        self.steps = 0

    def _param(self, parameters: Mapping[str, float], key: str) -> float:
        value = parameters.get(key, self.variables[key].start)
        if not self.variables[key].in_range(value):
            raise ComponentError(self.name, f"{value} outside {self.variables[key].range_text()}", key)
        return float(value)

    def set_inputs(self, values: Mapping[str, float]) -> None:
        for key, value in values.items():
            if self.variables[key].causality is not Causality.INPUT:
                raise ComponentError(self.name, "not an input", key)
            self.inputs[key] = value

    def get_outputs(self, names: Sequence[str]) -> np.ndarray:
        values = self._outputs()
        return np.array([values[n] for n in names])

    def save_state(self):
        if not self.can_rollback:
            raise AssertionError(f"{self.name} cannot roll back and was asked to")
        state = dict(self.__dict__)
        state["inputs"] = dict(self.inputs)
        return state

    def restore_state(self, state) -> None:
        if not self.can_rollback:
            raise AssertionError(f"{self.name} cannot roll back and was asked to")
        self.__dict__.update(state)
        self.inputs = dict(state["inputs"])

    def close(self) -> None:
        self.closed = True


class HeatCapacity(_Base):
    """C·dT/dt = Q_in + G·(T_neighbour − T); exact over a step with held inputs."""

    def __init__(
        self,
        name: str,
        can_rollback: bool = True,
        fail_after: float | None = None,
        C: float | None = None,
        T0: float | None = None,
        G: float | None = None,
        error_after: float | None = None,
    ):
        super().__init__(name, can_rollback)
        self.fail_after = fail_after
        self.error_after = error_after
        self.defaults = {k: v for k, v in (("C", C), ("T0", T0), ("G", G)) if v is not None}
        P, In, Out = Causality.PARAMETER, Causality.INPUT, Causality.OUTPUT
        self.variables = {
            v.name: v
            for v in (
                _var("C", P, "J/K", 1e6, minimum=1e-9),
                _var("T0", P, "K", 293.15, minimum=0.0),
                _var("G", P, "W/K", 0.0, minimum=0.0),
                _var("Q_in", In, "W", 0.0),
                _var("T_neighbour", In, "K", 293.15, minimum=0.0, maximum=1000.0),
                _var("T", Out, "K"),
                _var("Q_cond", Out, "W"),
                _var("P_heat", Out, "W"),
                _var("E_heat", Out, "J"),
                _var("P_cond", Out, "W"),
                _var("E_cond", Out, "J"),
                _var("U", Out, "J"),
            )
        }
        self.energy_ports = {
            "heat": EnergyPort("heat", PortKind.HEAT, "P_heat", "E_heat"),
            "cond": EnergyPort("cond", PortKind.HEAT, "P_cond", "E_cond"),
        }
        self.stored_energy = "U"
        self.output_dependencies = {
            "T": [],
            "Q_cond": ["T_neighbour"],
            "P_heat": ["Q_in"],
            "E_heat": [],
            "P_cond": ["T_neighbour"],
            "E_cond": [],
            "U": [],
        }

    def setup(self, start: float, stop: float | None, parameters: Mapping[str, float]) -> None:
        merged = {**self.defaults, **parameters}
        self.C = self._param(merged, "C")
        self.G = self._param(merged, "G")
        self.T = self._param(merged, "T0")
        self.t = start
        self.E_heat = 0.0
        self.E_cond = 0.0
        self.inputs = {"Q_in": 0.0, "T_neighbour": self.T}

    def do_step(self, t: float, dt: float) -> StepOutcome:
        if self.error_after is not None and t >= self.error_after:
            return StepOutcome(StepStatus.ERROR, t, "solver failed")
        q, t_nb = self.inputs["Q_in"], self.inputs["T_neighbour"]
        if self.G > 0:
            t_inf = t_nb + q / self.G
            new = t_inf + (self.T - t_inf) * math.exp(-self.G * dt / self.C)
            self.E_cond += self.C * (new - self.T) - q * dt
        else:
            new = self.T + q * dt / self.C
        self.E_heat += q * dt
        self.T = new
        self.t = t + dt
        self.steps += 1
        return StepOutcome(OK, self.t)

    def _outputs(self) -> dict[str, float]:
        q_cond = self.G * (self.T - self.inputs["T_neighbour"])
        temperature = math.nan if self.fail_after is not None and self.t > self.fail_after else self.T
        return {
            "T": temperature,
            "Q_cond": q_cond,
            "P_heat": self.inputs["Q_in"],
            "E_heat": self.E_heat,
            "P_cond": -q_cond,
            "E_cond": self.E_cond,
            "U": self.C * self.T,
        }


class Conductance(_Base):
    """Q = G·(T_a − T_b): heat from side a to side b, W; no storage."""

    def __init__(self, name: str, can_rollback: bool = True):
        super().__init__(name, can_rollback)
        P, In, Out = Causality.PARAMETER, Causality.INPUT, Causality.OUTPUT
        self.variables = {
            v.name: v
            for v in (
                _var("G", P, "W/K", 100.0, minimum=0.0),
                _var("T_a", In, "K", 293.15),
                _var("T_b", In, "K", 293.15),
                _var("Q", Out, "W"),
                _var("P_a", Out, "W"),
                _var("P_b", Out, "W"),
                _var("E_a", Out, "J"),
                _var("E_b", Out, "J"),
            )
        }
        self.energy_ports = {
            "a": EnergyPort("a", PortKind.HEAT, "P_a", "E_a"),
            "b": EnergyPort("b", PortKind.HEAT, "P_b", "E_b"),
        }
        self.output_dependencies = {
            "Q": ["T_a", "T_b"],
            "P_a": ["T_a", "T_b"],
            "P_b": ["T_a", "T_b"],
            "E_a": [],
            "E_b": [],
        }

    def setup(self, start: float, stop: float | None, parameters: Mapping[str, float]) -> None:
        self.G = self._param(parameters, "G")
        self.inputs = {"T_a": 293.15, "T_b": 293.15}
        self.E_a = 0.0
        self.E_b = 0.0

    def do_step(self, t: float, dt: float) -> StepOutcome:
        q = self.G * (self.inputs["T_a"] - self.inputs["T_b"])
        self.E_a += q * dt
        self.E_b -= q * dt
        self.steps += 1
        return StepOutcome(OK, t + dt)

    def _outputs(self) -> dict[str, float]:
        q = self.G * (self.inputs["T_a"] - self.inputs["T_b"])
        return {"Q": q, "P_a": q, "P_b": -q, "E_a": self.E_a, "E_b": self.E_b}


class Gain(_Base):
    """y = k·u + c + r·t with direct feedthrough (t: the time reached)."""

    def __init__(
        self, name: str, k: float = 1.0, c: float = 0.0, r: float = 0.0, can_rollback: bool = True, unit: str = "1"
    ):
        super().__init__(name, can_rollback)
        self.k, self.c, self.r = k, c, r
        self.variables = {
            "u": _var("u", Causality.INPUT, unit),
            "y": _var("y", Causality.OUTPUT, unit),
        }
        self.output_dependencies = {"y": ["u"]}

    def setup(self, start: float, stop: float | None, parameters: Mapping[str, float]) -> None:
        self.t = start
        self.inputs = {"u": 0.0}

    def do_step(self, t: float, dt: float) -> StepOutcome:
        self.t = t + dt
        self.steps += 1
        return StepOutcome(OK, self.t)

    def _outputs(self) -> dict[str, float]:
        return {"y": self.k * self.inputs["u"] + self.c + self.r * self.t}


def two_capacities_exact(t, C1: float, C2: float, G: float, T1: float, T2: float):
    """Analytic temperatures of two capacities joined by a conductance G (monolithic solution)."""
    mean = (C1 * T1 + C2 * T2) / (C1 + C2)
    diff = (T1 - T2) * np.exp(-G * (1 / C1 + 1 / C2) * np.asarray(t))
    return mean + C2 / (C1 + C2) * diff, mean - C1 / (C1 + C2) * diff
