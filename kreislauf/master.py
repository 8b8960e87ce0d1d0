"""The co-simulation master: steps components through the Component protocol and records results.

Algorithms (``MasterSettings.algorithm``), for a macro step from t to t + h:

- ``jacobi``: every component gets its inputs from the outputs at t (held, or extrapolated to the
  step's midpoint t + h/2 with order 1: ``u = y(t) + (y(t) − y(t − h_prev)) · h / (2 h_prev)``,
  the Adams–Bashforth-2 weight) and all step together. First-order accurate with order 0.
- ``gauss-seidel``: components step one after another in the order of the output→input
  dependencies (strongly connected groups in declaration order, or ``MasterSettings.order``); a
  component sees the outputs at t + h of the components stepped before it.
- ``iterative``: strong coupling over the step. The components that can roll back are stepped
  repeatedly from the saved state at t with the inputs held at ``(u(t) + u(t + h)) / 2`` until the
  end-of-step inputs ``u(t + h)`` are a fixed point (fixed-point iteration or Newton with a
  finite-difference Jacobian). The trapezoidal hold makes the coupling second-order accurate.
  Components that cannot roll back step once, first, with the inputs at t.

After every macro step (and at initialisation) the *communication point* is resolved: outputs
that depend directly on inputs (``output_dependencies`` of a component: output -> the inputs it
depends on without delay; every output depends on every input when a component does not say)
are re-evaluated in dependency order, and algebraic loops (cycles of direct dependencies) are solved
by fixed-point or Newton iteration. Only components that can roll back may sit in a loop.

Step size: fixed, multi-rate (a component's own step is a whole multiple of the macro step; it is
stepped every k-th macro step with dt = k·h and its outputs are held in between), or adaptive:
step doubling (one step of h against two of h/2, rejected steps rolled back) when every component
can roll back, otherwise an energy-residual estimate on the power bonds without rejection.

Stepping path (``MasterSettings.native``): a system of FMUs, and of Python components without
connected inputs (sources such as time series, stepped by Python ahead of C chunk by chunk), stepped
with a fixed step (multi-rate or not) by ``jacobi`` or ``gauss-seidel`` (no extrapolation,
energy-conserving coupling or real-time pacing), runs its macro steps in compiled C
(:mod:`kreislauf.native`) with the same operations, results and errors as the Python loop here;
``RunStats.path``/``path_reason`` say which path ran.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kreislauf import units
from kreislauf.component import Causality, Component, ComponentError, EnergyPort, PortKind, StepOutcome, StepStatus
from kreislauf.ledger import BondEntry, Ledger, SystemBalance
from kreislauf.results import ResultWriter, read_results, to_csv, version_metadata
from kreislauf.system import Problem, SystemFileError, SystemSpec, _select_outputs, validate

__all__ = [
    "AlgebraicLoopError",
    "CosimError",
    "InputRangeError",
    "Master",
    "NativePathError",
    "NonFiniteValueError",
    "RunResult",
    "RunStats",
    "StepError",
    "StepSizeError",
]


class CosimError(RuntimeError):
    """The co-simulation cannot go on (base class of the master's own errors)."""


class AlgebraicLoopError(CosimError):
    """An algebraic loop did not converge, or runs through a component that cannot roll back.

    ``variables`` lists the loop's variables as ``"component.variable"``.
    """

    def __init__(self, variables: Sequence[str], message: str, time: float | None = None):
        self.variables = list(variables)
        self.time = time
        when = f" at t = {time:g} s" if time is not None else ""
        super().__init__(f"algebraic loop over {', '.join(self.variables)}{when}: {message}")


class NativePathError(CosimError):
    """``native = "on"`` and the native stepping path cannot run the system; lists every reason."""

    def __init__(self, reasons: Sequence[str]):
        self.reasons = list(reasons)
        super().__init__("native = \"on\", but the native stepping path cannot run this system: " + "; ".join(reasons))


class StepSizeError(CosimError):
    """Adaptive stepping needed a step below ``min_step``."""


class RealTimeError(CosimError):
    """A real-time run overran its deadline under the ``abort`` overrun policy."""


class StepError(ComponentError):
    """A component returned an error, or discarded a step the master cannot repeat."""


class NonFiniteValueError(ComponentError):
    """A component produced NaN or infinity; names the component, variable and time."""


class InputRangeError(ComponentError):
    """A value about to be set on an input lies outside the input's declared range."""


@dataclass
class RunStats:
    """Counters and timings of one run; ``path`` is the stepping path that ran (``native`` or
    ``python``) and ``path_reason`` why."""

    steps: int = 0
    rejected_steps: int = 0
    loop_iterations: int = 0
    coupling_iterations: int = 0
    wall_time: float = 0.0
    smallest_step: float = math.inf
    largest_step: float = 0.0
    path: str = "python"
    path_reason: str = ""


@dataclass
class RunResult:
    """What a run left behind: files, the energy balance, bond totals and statistics."""

    results_path: Path
    summary_path: Path
    status: str
    time_reached: float
    balance: SystemBalance | None
    bonds: list[BondEntry]
    stats: RunStats
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when the run reached its stop time."""
        return self.status == "ok"

    def read(self, columns: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """The recorded columns as numpy arrays (``time`` in s, then ``component.variable``)."""
        return read_results(self.results_path, columns)

    def to_csv(self, path: str | Path | None = None) -> Path:
        """Export the results to CSV (default: next to the Parquet file)."""
        return to_csv(self.results_path, path or self.results_path.with_suffix(".csv"))


class _Discarded(Exception):
    """Internal: a component discarded a step (adaptive stepping retries with a smaller step)."""

    def __init__(self, error: StepError):
        self.error = error


@dataclass
class _Loop:
    inputs: np.ndarray  # global input indices in the loop
    components: list[int]
    variables: list[str]


@dataclass
class _Bond:
    sender_counter: int
    receiver_counter: int
    power_input: int | None
    to_input_unit: units.Conversion = field(default_factory=units.Conversion)
    stream: _Stream | None = None


@dataclass
class _Stream:
    """Energy-conserving coupling of a stream bond (see :meth:`Master._apply_conserving`).

    ``flow`` false: the receiver's inlet temperature input ``k`` gets the correction
    ``E_transit / (dt m_dot c_p)``, with the receiver's mass flow from its input ``mass_input``, else the
    constant ``mass_flow`` (a parameter). ``flow`` true (the receiver draws the flow itself, as a consumer
    does): the sender's mass-flow input ``k`` gets ``-E_transit / (dt c_p (T_s - T_ref))``, with the
    sender's outlet temperature ``T_s`` read from ``y[temperature]``.
    """

    k: int  # the input that carries the correction
    flow: bool
    scale: float  # SI value (K or kg/s) -> the input's unit: factor
    specific_heat: float  # J/(kg K)
    mass_input: int | None = None
    mass_to_si: units.Conversion = field(default_factory=units.Conversion)
    mass_flow: float = math.nan
    temperature: int | None = None  # flow mode: the sender's outlet temperature in y
    temperature_to_kelvin: units.Conversion = field(default_factory=units.Conversion)
    # flow mode: every input fed by the same flow output as the sender's (the stream's whole path),
    # each (input, kg/s -> its unit factor), so the path's other bonds stay consistent
    path: tuple[tuple[int, float], ...] = ()


T_REF = 273.15  # K: the reference temperature of a stream's enthalpy flow m_dot c_p (T - T_REF)


def loop_left_range(error: Exception) -> str:
    """The message of a loop whose iterate (or solution) left an input's range, for both stepping paths."""
    return f"no solution within the inputs' ranges: an iterate left one ({error})"


def loop_failure(kind: str, settings: Any, residual: float = math.nan) -> str:
    """The message of a failed algebraic loop: ``nonfinite``, ``singular`` or ``diverged`` (with the
    last residual), the same for the Python and the native stepping path."""
    if kind == "nonfinite":
        return "the iteration produced non-finite values"
    if kind == "singular":
        return "the loop's Jacobian is singular: no unique solution"
    return (
        f"{settings.loop_solver} did not converge in {settings.max_iterations} iterations "
        f"(residual {residual:.3g}, tolerance {settings.loop_tolerance:g})"
    )


def _strongly_connected(n: int, adjacency: Sequence[Sequence[int]]) -> list[list[int]]:
    """Tarjan's strongly connected components in topological order (sources first), iteratively."""
    index = [-1] * n
    low = [0] * n
    on_stack = [False] * n
    stack: list[int] = []
    result: list[list[int]] = []
    counter = 0
    for root in range(n):
        if index[root] != -1:
            continue
        work = [(root, 0)]
        while work:
            node, child = work.pop()
            if child == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack[node] = True
            recurse = False
            for position in range(child, len(adjacency[node])):
                succ = adjacency[node][position]
                if index[succ] == -1:
                    work.append((node, position + 1))
                    work.append((succ, 0))
                    recurse = True
                    break
                if on_stack[succ]:
                    low[node] = min(low[node], index[succ])
            if recurse:
                continue
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack[member] = False
                    group.append(member)
                    if member == node:
                        break
                result.append(sorted(group))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    result.reverse()
    return result


class Master:
    """Runs a validated system of components.

    ``spec`` describes connections, bonds, settings and outputs; ``components`` maps each component
    name of the spec to a :class:`~kreislauf.component.Component` (not yet set up). The master sets
    the components up, steps them and records; closing them stays with the caller. Raises
    :class:`~kreislauf.system.SystemFileError` listing every problem of the system, and
    :class:`AlgebraicLoopError` for a loop through a component that cannot roll back.
    """

    def __init__(self, spec: SystemSpec, components: Mapping[str, Component]):
        self.spec = spec
        self.settings = spec.settings
        problems = validate(spec, components)
        problems += self._check_settings(components)
        if problems:
            raise SystemFileError(problems)
        self.names = list(components)
        self.components = [components[n] for n in self.names]
        self._index_variables()
        self._plan = self._communication_plan()
        self._plan_components = [op for op in self._plan if isinstance(op, int)] + [
            i for op in self._plan if isinstance(op, _Loop) for i in op.components
        ]
        self._order = self._stepping_order()
        self.stats = RunStats()
        self._pending: dict[int, np.ndarray] = {}
        self.native_profile = False
        self.native_timing: dict[str, dict[str, float]] | None = None

    # ----------------------------------------------------------------------------- construction
    def _check_settings(self, components: Mapping[str, Component]) -> list[Problem]:
        s = self.settings
        fname = self.spec.file_text
        out: list[Problem] = []
        multirate = [c.name for c in self.spec.components.values() if c.step is not None and c.step != s.step]
        if multirate and (s.adaptive or s.algorithm == "iterative"):
            out.append(
                Problem(
                    f"multi-rate components ({', '.join(multirate)}) need a fixed step and the "
                    "jacobi or gauss-seidel algorithm",
                    fname,
                )
            )
        if s.energy_conserving and s.algorithm == "iterative":
            out.append(Problem("energy_conserving coupling works with jacobi or gauss-seidel, not iterative", fname))
        rollback = all(c.can_rollback for c in components.values())
        if s.adaptive and not rollback and not self.spec.bonds:
            blockers = [n for n, c in components.items() if not c.can_rollback]
            out.append(
                Problem(
                    f"adaptive steps without rollback ({', '.join(blockers)} cannot roll back) "
                    "need power bonds for the energy-residual estimate",
                    fname,
                )
            )
        if s.adaptive:
            lo = s.min_step if s.min_step is not None else s.step * 1e-6
            hi = s.max_step if s.max_step is not None else max(s.step, s.stop - s.start)
            if not 0 < lo <= s.step <= hi:
                out.append(
                    Problem(
                        f"adaptive steps need 0 < min_step ({lo:g} s) <= step ({s.step:g} s) <= max_step ({hi:g} s)",
                        fname,
                    )
                )
        return out

    def _index_variables(self) -> None:
        spec = self.spec
        pos = {n: i for i, n in enumerate(self.names)}
        n = len(self.components)
        in_names: list[list[str]] = [[] for _ in range(n)]
        out_names: list[list[str]] = [[] for _ in range(n)]

        def need(i: int, name: str) -> None:
            if name not in out_names[i]:
                out_names[i].append(name)

        for conn in spec.connections:
            in_names[pos[conn.target_component]].append(conn.target_variable)
            need(pos[conn.source_component], conn.source_variable)
        self.recorded = _select_outputs(spec.outputs.variables, dict(zip(self.names, self.components, strict=True)))
        for cname, vname in self.recorded:
            need(pos[cname], vname)
        for i, comp in enumerate(self.components):
            for port in getattr(comp, "energy_ports", {}).values():
                need(i, port.energy)
            stored = getattr(comp, "stored_energy", None)
            if stored:
                need(i, stored)
        # output vector y and input vector u, both concatenated per component
        self.out_names = out_names
        self.in_names = in_names
        self._setters: list[Callable[[Any], None] | None] = [None] * len(in_names)
        self._getters: list[Callable[[], np.ndarray] | None] = [None] * len(in_names)
        self.y_slices: list[slice] = []
        self.y_owner: list[tuple[str, str]] = []
        y_index: dict[tuple[int, str], int] = {}
        for i, names in enumerate(out_names):
            start = len(self.y_owner)
            for name in names:
                y_index[(i, name)] = len(self.y_owner)
                self.y_owner.append((self.names[i], name))
            self.y_slices.append(slice(start, len(self.y_owner)))
        self.y_index = y_index
        self.y = np.zeros(len(self.y_owner))
        self.u_slices: list[slice] = []
        self.u_owner: list[tuple[int, str]] = []
        src, factor, offset, lo, hi = [], [], [], [], []
        by_target = {(pos[c.target_component], c.target_variable): c for c in spec.connections}
        for i, names in enumerate(in_names):
            start = len(self.u_owner)
            comp = self.components[i]
            for name in names:
                conn = by_target[(i, name)]
                s_var = self.components[pos[conn.source_component]].variables[conn.source_variable]
                t_var = comp.variables[name]
                conv = units.conversion(s_var.unit, t_var.unit).then(conn.factor, conn.offset)
                src.append(y_index[(pos[conn.source_component], conn.source_variable)])
                factor.append(conv.factor)
                offset.append(conv.offset)
                lo.append(-math.inf if t_var.minimum is None else t_var.minimum)
                hi.append(math.inf if t_var.maximum is None else t_var.maximum)
                self.u_owner.append((i, name))
            self.u_slices.append(slice(start, len(self.u_owner)))
        self.u_src = np.asarray(src, dtype=np.intp)
        self.u_factor = np.asarray(factor, dtype=float)
        self.u_offset = np.asarray(offset, dtype=float)
        self.u_identity = bool(np.all(self.u_factor == 1.0) and np.all(self.u_offset == 0.0))
        self.u_low, self.u_high = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)  # declared ranges
        self._bounds = [
            [
                (k - sl.start, lo[k], hi[k])
                for k in range(sl.start, sl.stop)
                if math.isfinite(lo[k]) or math.isfinite(hi[k])
            ]
            for sl in self.u_slices
        ]
        self._src = [self.u_src[sl] for sl in self.u_slices]
        self._factor = [self.u_factor[sl] for sl in self.u_slices]
        self._offset = [self.u_offset[sl] for sl in self.u_slices]
        self._identity = [
            bool(np.all(f == 1.0) and np.all(o == 0.0)) for f, o in zip(self._factor, self._offset, strict=True)
        ]
        self.u_k = np.ones(len(self.u_owner))  # rate multiple of each input's component
        self.rate = [1] * n
        for i, name in enumerate(self.names):
            step = spec.components[name].step if name in spec.components else None
            if step is not None:
                self.rate[i] = int(round(step / self.settings.step))
            self.u_k[self.u_slices[i]] = self.rate[i]
        self._multirate = any(k > 1 for k in self.rate)
        self._stepping = [
            (
                i,
                comp,
                self.u_slices[i] if self.u_slices[i].stop > self.u_slices[i].start else None,
                self.out_names[i],
                self.y_slices[i],
            )
            for i, comp in enumerate(self.components)
        ]
        self.record_idx = np.asarray([y_index[(pos[c], v)] for c, v in self.recorded], dtype=np.intp)
        self._index_bonds(pos, y_index)

    def _index_bonds(self, pos: Mapping[str, int], y_index: Mapping[tuple[int, str], int]) -> None:
        spec = self.spec
        problems: list[Problem] = []
        self.bonds: list[_Bond] = []
        bonded: set[tuple[int, str]] = set()
        u_position = {owner: k for k, owner in enumerate(self.u_owner)}
        for bond in spec.bonds:
            s, r = pos[bond.sender_component], pos[bond.receiver_component]
            s_port = self.components[s].energy_ports[bond.sender_port]
            r_port = self.components[r].energy_ports[bond.receiver_port]
            bonded.update({(s, bond.sender_port), (r, bond.receiver_port)})
            power_input, conv, stream = None, units.Conversion(), None
            if self.settings.energy_conserving and bond.power_input is None and r_port.kind is PortKind.FLUID:
                stream = self._stream(bond, r, r_port, u_position, y_index, problems)
                if stream is None:
                    continue
            elif self.settings.energy_conserving:
                name = bond.power_input
                if name is None:
                    candidates = [
                        c.target_variable
                        for c in spec.connections
                        if c.source_component == bond.sender_component
                        and c.target_component == bond.receiver_component
                        and units.base_unit(self.components[r].variables[c.target_variable].unit) == "W"
                    ]
                    if len(candidates) == 1:
                        name = candidates[0]
                    else:
                        problems.append(
                            Problem(
                                f"bond '{bond.name}': energy-conserving coupling needs the receiver input that "
                                f"carries the power; found {len(candidates)} connected power inputs "
                                f"({', '.join(candidates) or 'none'}); name it with power_input",
                                spec.file_text,
                                bond.line,
                                bond.receiver_component,
                            )
                        )
                        continue
                if (r, name) not in u_position:
                    problems.append(
                        Problem(
                            f"bond '{bond.name}': power input '{name}' is not connected",
                            spec.file_text,
                            bond.line,
                            bond.receiver_component,
                            name,
                        )
                    )
                    continue
                power_input = u_position[(r, name)]
                conv = units.conversion("W", self.components[r].variables[name].unit)
            self.bonds.append(
                _Bond(y_index[(s, s_port.energy)], y_index[(r, r_port.energy)], power_input, conv, stream)
            )
        if problems:
            raise SystemFileError(problems)
        boundary = [
            y_index[(i, port.energy)]
            for i, comp in enumerate(self.components)
            for pname, port in getattr(comp, "energy_ports", {}).items()
            if (i, pname) not in bonded
        ]
        stored = [
            y_index[(i, comp.stored_energy)]
            for i, comp in enumerate(self.components)
            if getattr(comp, "stored_energy", None)
        ]
        self.ledger = Ledger(
            [b.name for b in spec.bonds],
            [b.sender_counter for b in self.bonds],
            [b.receiver_counter for b in self.bonds],
            boundary,
            stored,
            self.settings.energy_conserving,
        )
        self.conserving = [b for b in self.bonds if b.power_input is not None or b.stream is not None]
        self._streams = any(b.stream is not None for b in self.bonds)

    def _stream(self, bond: Any, r: int, port: EnergyPort, u_position: Mapping[tuple[int, str], int],
                y_index: Mapping[tuple[int, str], int], problems: list[Problem]) -> _Stream | None:
        """How to couple a stream bond conservatively: through the receiver's inlet temperature (its
        mass flow a connected input or a parameter), or, when the receiver draws the flow itself (its
        mass flow an output), through the sender's mass-flow input. None (and a problem) when neither."""
        spec = self.spec
        comp = self.components[r]
        s = self.names.index(bond.sender_component)
        s_port = self.components[s].energy_ports[bond.sender_port]

        def problem(text: str, variable: str | None = None) -> None:
            problems.append(Problem(f"bond '{bond.name}': energy-conserving coupling of a stream {text}",
                                    spec.file_text, bond.line, bond.receiver_component, variable))

        cp = port.specific_heat or s_port.specific_heat
        if not port.temperature or not port.mass_flow or not cp:
            problem(f"needs the receiver port '{port.name}' to name its temperature, mass flow and specific heat")
            return None
        try:
            m_var = comp.variables[port.mass_flow]
            t_var = comp.variables[port.temperature]
            if m_var.causality is Causality.OUTPUT:  # a consumer drawing its flow: correct the sender's flow
                if not s_port.mass_flow or (s, s_port.mass_flow) not in u_position:
                    problem(f"whose receiver draws the flow ('{port.mass_flow}' is its output) needs the sender's "
                            f"mass flow '{s_port.mass_flow}' as a connected input", port.mass_flow)
                    return None
                if not s_port.temperature or (s, s_port.temperature) not in y_index:
                    problem(f"needs the sender's outlet temperature '{s_port.temperature}' among the outputs")
                    return None
                k = u_position[(s, s_port.mass_flow)]
                path = []
                for kk in np.flatnonzero(self.u_src == self.u_src[k]):
                    owner, name = self.u_owner[kk]
                    var = self.components[owner].variables[name]
                    path.append((int(kk), 1.0 / units.conversion(var.unit, "kg/s").factor))
                st_var = self.components[s].variables[s_port.temperature]
                return _Stream(
                    k, True, 1.0, float(cp),
                    temperature=y_index[(s, s_port.temperature)],
                    temperature_to_kelvin=units.conversion(st_var.unit, "K"),
                    path=tuple(path),
                )
            if (r, port.temperature) not in u_position:
                problem(f"needs the receiver's inlet temperature '{port.temperature}' connected", port.temperature)
                return None
            mass_to_si = units.conversion(m_var.unit, "kg/s")
            scale = 1.0 / units.conversion(t_var.unit, "K").factor
        except (units.UnitError, KeyError) as exc:
            problem(f"cannot convert the ports' variables: {exc}", port.temperature)
            return None
        mass_input = u_position.get((r, port.mass_flow))
        mass_flow = math.nan
        if mass_input is None:
            params = spec.components[self.names[r]].parameters if self.names[r] in spec.components else {}
            value = params.get(port.mass_flow, m_var.start)
            if m_var.causality not in (Causality.PARAMETER, Causality.INPUT) or value is None:
                problem(f"needs the receiver's mass flow '{port.mass_flow}' as a connected input, a parameter "
                        "or the receiver's own output", port.mass_flow)
                return None
            mass_flow = mass_to_si.factor * float(value) + mass_to_si.offset
        return _Stream(u_position[(r, port.temperature)], False, scale, float(cp),
                       mass_input=mass_input, mass_to_si=mass_to_si, mass_flow=mass_flow)

    def _dependencies(self, i: int) -> dict[str, list[str]]:
        """Output -> connected inputs it depends on directly, for component ``i``."""
        comp = self.components[i]
        connected = set(self.in_names[i])
        override = (
            self.spec.components[self.names[i]].output_dependencies if self.names[i] in self.spec.components else None
        )
        declared = override if override is not None else getattr(comp, "output_dependencies", None)
        result = {}
        for name in self.out_names[i]:
            if declared is None or name not in declared:
                deps = list(self.in_names[i]) if declared is None else []
            else:
                deps = [d for d in declared[name] if d in connected]
            result[name] = deps
        return result

    def _communication_plan(self) -> list[int | _Loop]:
        """Refresh operations (component index) and loops, in dependency order."""
        n_y = len(self.y_owner)
        n_nodes = n_y + len(self.u_owner)
        adjacency: list[list[int]] = [[] for _ in range(n_nodes)]
        feedthrough = np.zeros(n_y, dtype=bool)
        for k, src in enumerate(self.u_src):
            adjacency[int(src)].append(n_y + k)
        u_position = {owner: k for k, owner in enumerate(self.u_owner)}
        for i in range(len(self.components)):
            for out, deps in self._dependencies(i).items():
                j = self.y_index[(i, out)]
                for dep in deps:
                    adjacency[n_y + u_position[(i, dep)]].append(j)
                    feedthrough[j] = True
        self._feedthrough = feedthrough
        plan: list[int | _Loop] = []
        for group in _strongly_connected(n_nodes, adjacency):
            if len(group) == 1 and group[0] not in adjacency[group[0]]:
                node = group[0]
                if node < n_y and feedthrough[node]:
                    owner = self.names.index(self.y_owner[node][0])
                    if not plan or plan[-1] != owner:
                        plan.append(owner)
                continue
            names, comps, inputs = [], [], []
            for node in group:
                if node < n_y:
                    cname, vname = self.y_owner[node]
                    i = self.names.index(cname)
                else:
                    i, vname = self.u_owner[node - n_y]
                    cname = self.names[i]
                    inputs.append(node - n_y)
                names.append(f"{cname}.{vname}")
                if i not in comps:
                    comps.append(i)
            blockers = [self.names[i] for i in comps if not self.components[i].can_rollback]
            if blockers:
                raise AlgebraicLoopError(
                    names,
                    f"runs through {', '.join(blockers)}, which cannot roll back; "
                    "break the loop (e.g. a component with a delay) or replace the component",
                )
            plan.append(_Loop(np.asarray(sorted(inputs), dtype=np.intp), sorted(comps), names))
        return plan

    def _stepping_order(self) -> list[int]:
        """The Gauss–Seidel order: dependency order of the component graph."""
        if self.settings.order is not None:
            return [self.names.index(n) for n in self.settings.order]
        pos = {n: i for i, n in enumerate(self.names)}
        adjacency: list[list[int]] = [[] for _ in self.names]
        for conn in self.spec.connections:
            s, t = pos[conn.source_component], pos[conn.target_component]
            if t not in adjacency[s]:
                adjacency[s].append(t)
        return [i for group in _strongly_connected(len(self.names), adjacency) for i in group]

    # ----------------------------------------------------------------------------- primitives
    def _coupled(self, y: np.ndarray) -> np.ndarray:
        u = y[self.u_src]
        if not self.u_identity:
            u = u * self.u_factor + self.u_offset
        return u

    def _range_error(self, i: int, k: int, value: float, t: float) -> InputRangeError:
        name = self.in_names[i][k]
        var = self.components[i].variables[name]
        return InputRangeError(
            self.names[i],
            f"input value {value:g} outside the allowed range {var.range_text()} "
            f"(from connection '{self._connection_text(i, name)}')",
            variable=name,
            time=t,
        )

    def _connection_text(self, i: int, name: str) -> str:
        for conn in self.spec.connections:
            if conn.target_component == self.names[i] and conn.target_variable == name:
                return conn.text
        return "?"

    def _set(self, i: int, values: list[float], t: float) -> None:
        """Set component ``i``'s connected inputs, each checked against its declared range."""
        for k, lo, hi in self._bounds[i]:
            value = values[k]
            if not lo <= value <= hi:
                if value != value:  # NaN: name the component that produced it
                    self._check_finite(t)
                raise self._range_error(i, k, value, t)
        setter = self._setters[i]
        if setter is not None:
            setter(values)
        else:
            self.components[i].set_inputs(dict(zip(self.in_names[i], values, strict=False)))

    def _outputs(self, i: int) -> np.ndarray:
        """Component ``i``'s outputs, through its fast-path getter when it has one."""
        getter = self._getters[i]
        return getter() if getter is not None else self.components[i].get_outputs(self.out_names[i])

    def _read(self, i: int) -> None:
        self.y[self.y_slices[i]] = self._outputs(i)

    def _bind_fast_paths(self) -> None:
        """Use a component's ``input_setter(names)`` / ``output_getter(names)`` when it offers them
        (value references resolved once, no dict per step); other components get the protocol calls."""
        self._setters, self._getters = [], []
        for i, comp in enumerate(self.components):
            make_setter = getattr(comp, "input_setter", None)
            make_getter = getattr(comp, "output_getter", None)
            self._setters.append(make_setter(self.in_names[i]) if make_setter and self.in_names[i] else None)
            self._getters.append(make_getter(self.out_names[i]) if make_getter and self.out_names[i] else None)

    def _step(self, i: int, t: float, dt: float) -> None:
        outcome = self.components[i].do_step(t, dt)
        if outcome.status is not StepStatus.OK:
            self._step_failed(i, outcome, t, dt)

    def _step_failed(self, i: int, outcome: StepOutcome, t: float, dt: float) -> None:
        name = self.names[i]
        if outcome.status is StepStatus.DISCARD:
            error = StepError(
                name,
                f"discarded the step from t = {t:g} s over {dt:g} s at "
                f"t = {outcome.time_reached:g} s: {outcome.message}",
                time=t,
            )
            raise _Discarded(error)
        raise StepError(name, f"step from t = {t:g} s over {dt:g} s failed: {outcome.message}", time=t)

    def _refresh(self, i: int, t: float) -> None:
        src = self._src[i]
        if len(src):
            values = self.y[src]
            if not self._identity[i]:
                values = values * self._factor[i] + self._offset[i]
            self._set(i, values.tolist(), t)
        if i in self._pending:
            self._pending[i] = self._outputs(i)
        else:
            self._read(i)

    def _resolve(self, t: float) -> None:
        for op in self._plan:
            if op.__class__ is int:
                self._refresh(op, t)
            else:
                self._solve_loop(op, t)

    # ----------------------------------------------------------------------------- loops
    def _loop_map(self, loop: _Loop, x: np.ndarray, t: float) -> np.ndarray:
        u = self._coupled(self.y)
        u[loop.inputs] = x
        for i in loop.components:
            self._set(i, u[self.u_slices[i]].tolist(), t)
        for i in loop.components:
            self._read(i)
        self.stats.loop_iterations += 1
        return self._coupled(self.y)[loop.inputs]

    def _solve_loop(self, loop: _Loop, t: float) -> None:
        # no snapshot of the loop's components: a failed loop ends the run, nothing returns to it
        try:
            self._iterate(lambda x: self._loop_map(loop, x, t), self._coupled(self.y)[loop.inputs], loop.variables, t)
        except InputRangeError as exc:
            raise AlgebraicLoopError(loop.variables, loop_left_range(exc), t) from exc

    def _iterate(
        self, fmap: Callable[[np.ndarray], np.ndarray], x: np.ndarray, variables: Sequence[str], t: float
    ) -> np.ndarray:
        """Solve ``x = fmap(x)`` by fixed point or Newton; returns x with fmap last evaluated at it."""
        s = self.settings
        tol = s.loop_tolerance
        fx = fmap(x)
        g = fx - x
        for _ in range(s.max_iterations):
            if not np.all(np.isfinite(g)):
                raise AlgebraicLoopError(variables, loop_failure("nonfinite", s), t)
            if np.max(np.abs(g), initial=0.0) <= tol * max(1.0, float(np.max(np.abs(x), initial=0.0))):
                if not np.array_equal(fx, x):
                    fmap(fx)
                return fx
            if s.loop_solver == "fixed-point":
                x = fx
            else:
                jac = np.empty((len(x), len(x)))
                for j in range(len(x)):
                    h = 1e-7 * max(1.0, abs(x[j]))
                    xp = x.copy()
                    xp[j] += h
                    jac[:, j] = ((fmap(xp) - xp) - g) / h
                try:
                    dx = np.linalg.solve(jac, -g)
                except np.linalg.LinAlgError:
                    raise AlgebraicLoopError(variables, loop_failure("singular", s), t) from None
                norm = float(np.max(np.abs(g)))
                damping = 1.0
                for _ in range(8):
                    x_new = x + damping * dx
                    g_new = fmap(x_new) - x_new
                    if np.all(np.isfinite(g_new)) and float(np.max(np.abs(g_new))) < norm:
                        break
                    damping *= 0.5
                x = x_new
            fx = fmap(x)
            g = fx - x
        raise AlgebraicLoopError(variables, loop_failure("diverged", s, float(np.max(np.abs(g)))), t)

    # ----------------------------------------------------------------------------- macro steps
    def _extrapolated(self, u: np.ndarray, h: float) -> np.ndarray:
        if self.settings.extrapolation == 0 or self._y_prev is None or self._h_prev <= 0:
            return u
        u_prev = self._coupled(self._y_prev)
        return u + (u - u_prev) * (0.5 * h * self.u_k / self._h_prev)

    def _apply_conserving(self, u: np.ndarray, h: float, only: int | None = None,
                          start: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        """Energy-conserving coupling of the receivers' inputs in ``u`` (of component ``only``, or all).

        A power input gets everything in transit on its bond, spread over the receiver's step. A
        stream's inlet temperature gets the sender's temperature plus the correction
        ``E_transit / (dt m_dot c_p)``, where ``E_transit`` is what the sender had sent and the receiver
        not received at the start of the step (``start``: the outputs then and the ledger's transit
        then; default the current ones): what a held temperature failed to carry in one step is carried
        in the next, so the residual never accumulates. The temperature stays within the input's range;
        what the range cuts off, and anything over a flow of zero, stays in transit, on the books.
        """
        if not self.conserving:
            return
        transit = self.ledger.in_transit(self.y)
        y_start, transit_start = (self.y, transit) if start is None else start
        for b, bond in enumerate(self.bonds):
            stream = bond.stream
            k = bond.power_input if stream is None else stream.k
            if k is None:
                continue
            if stream is not None and stream.flow:
                path = [p for p in stream.path if only is None or self.u_owner[p[0]][0] == only]
                if not path:
                    continue
            elif only is not None and self.u_owner[k][0] != only:
                continue
            dt = h * self.rate[self.u_owner[k][0]]
            if stream is None:
                power = transit[b] / dt
                u[k] = bond.to_input_unit.factor * power + bond.to_input_unit.offset
            elif stream.flow:  # the sender sends less (more) by what the receiver has not (has too much) received
                to_k = stream.temperature_to_kelvin
                t_s = to_k.factor * y_start[stream.temperature] + to_k.offset
                per_kg = stream.specific_heat * (t_s - T_REF) * dt  # J per kg/s over the step
                if not abs(per_kg) > 0.0:
                    continue
                delta = -transit_start[b] / per_kg  # kg/s
                for kk, scale in path:
                    u[kk] = min(max(u[kk] + delta * scale, self.u_low[kk], 0.0), self.u_high[kk])
            else:
                if stream.mass_input is not None:
                    mass_flow = stream.mass_to_si.factor * u[stream.mass_input] + stream.mass_to_si.offset
                else:
                    mass_flow = stream.mass_flow
                capacity = mass_flow * stream.specific_heat * dt  # J/K
                if capacity > 0.0:
                    correction = transit_start[b] / capacity * stream.scale
                    u[k] = min(max(u[k] + correction, self.u_low[k]), self.u_high[k])

    def _dt(self, i: int, n: int, t: float, h: float, stop: float) -> float:
        """The step of component ``i`` at macro step ``n`` (0 when it waits this step)."""
        k = self.rate[i]
        if k == 1:
            return h
        if n % k:
            return 0.0
        return min(k * h, stop - t)

    def _read_stepped(self, i: int, n: int, t: float, h: float, stop: float) -> None:
        """Read a stepped component; a multi-rate one's outputs show when the master reaches its end."""
        if self.rate[i] == 1:
            self._read(i)
            return
        self._pending[i] = self._outputs(i)
        self._expose(i, n, t, h, stop)

    def _expose(self, i: int, n: int, t: float, h: float, stop: float) -> None:
        if i in self._pending and ((n + 1) % self.rate[i] == 0 or t + h >= stop):
            self.y[self.y_slices[i]] = self._pending.pop(i)

    def _jacobi(self, t: float, h: float, n: int, stop: float) -> None:
        u = self.y[self.u_src]
        if not self.u_identity:
            u *= self.u_factor
            u += self.u_offset
        if self.settings.extrapolation:
            u = self._extrapolated(u, h)
        if self.conserving:
            self._apply_conserving(u, h)
        values = u.tolist()
        if not self._multirate:
            y, outputs = self.y, self._outputs
            for i, comp, sl, _names, y_sl in self._stepping:
                if sl is not None:
                    self._set(i, values[sl], t)
                outcome = comp.do_step(t, h)
                if outcome.status is not StepStatus.OK:
                    self._step_failed(i, outcome, t, h)
                y[y_sl] = outputs(i)
            return
        for i in range(len(self.components)):
            dt = self._dt(i, n, t, h, stop)
            if dt <= 0:
                self._expose(i, n, t, h, stop)
                continue
            sl = self.u_slices[i]
            if sl.stop > sl.start:
                self._set(i, values[sl], t)
            self._step(i, t, dt)
            self._read_stepped(i, n, t, h, stop)

    def _gauss_seidel(self, t: float, h: float, n: int, stop: float) -> None:
        extrapolate = self.settings.extrapolation == 1 and self._y_prev is not None
        y_start = self.y.copy() if extrapolate or self._streams else None
        # the streams' books at the start of the step, the same for every receiver stepped in it
        start = (y_start, self.ledger.in_transit(y_start)) if self._streams else None
        stepped = np.zeros(len(self.y), dtype=bool)
        for i in self._order:
            dt = self._dt(i, n, t, h, stop)
            if dt <= 0:
                self._expose(i, n, t, h, stop)
                continue
            sl = self.u_slices[i]
            if sl.stop > sl.start:
                u = self._coupled(self.y)
                if extrapolate:
                    stale = ~stepped[self.u_src[sl]]
                    ext = self._extrapolated(self._coupled(y_start), h)
                    u[sl] = np.where(stale, ext[sl], u[sl])
                self._apply_conserving(u, h, only=i, start=start)
                self._set(i, u[sl].tolist(), t)
            self._step(i, t, dt)
            self._read_stepped(i, n, t, h, stop)
            stepped[self.y_slices[i]] = True

    def _iterative(self, t: float, h: float) -> None:
        rollback = [i for i, c in enumerate(self.components) if c.can_rollback]
        others = [i for i, c in enumerate(self.components) if not c.can_rollback]
        u0 = self._coupled(self.y)
        for i in others:
            sl = self.u_slices[i]
            if sl.stop > sl.start:
                self._set(i, u0[sl].tolist(), t)
            self._step(i, t, h)
            self._read(i)
        positions = np.asarray(
            [k for i in rollback for k in range(self.u_slices[i].start, self.u_slices[i].stop)], dtype=np.intp
        )
        states = [(i, self.components[i].save_state()) for i in rollback]
        y_start = self.y.copy()
        fixed = [self.y_slices[i] for i in others]

        def advance(u_end: np.ndarray) -> np.ndarray:
            for i, state in states:
                self.components[i].restore_state(state)
            y_others = [self.y[sl].copy() for sl in fixed]
            self.y[:] = y_start
            for sl, values in zip(fixed, y_others, strict=True):
                self.y[sl] = values
            hold = u0.copy()
            hold[positions] = 0.5 * (u0[positions] + u_end)
            values = hold.tolist()
            for i in rollback:
                sl = self.u_slices[i]
                if sl.stop > sl.start:
                    self._set(i, values[sl], t)
                self._step(i, t, h)
                self._read(i)
            self._resolve(t + h)
            self.stats.coupling_iterations += 1
            return self._coupled(self.y)[positions]

        guess = self._extrapolated(u0, 2.0 * h)[positions]
        variables = [f"{self.names[self.u_owner[k][0]]}.{self.u_owner[k][1]}" for k in positions]
        self._iterate(advance, guess, variables, t)

    def _advance(self, t: float, h: float, n: int, stop: float) -> None:
        """One macro step of the chosen algorithm, ending with the communication point resolved."""
        y_before = self.y.copy() if self.settings.extrapolation else None
        algorithm = self.settings.algorithm
        if algorithm == "jacobi":
            self._jacobi(t, h, n, stop)
        elif algorithm == "gauss-seidel":
            self._gauss_seidel(t, h, n, stop)
        else:
            self._iterative(t, h)
        if algorithm != "iterative":
            self._resolve(t + h)
        self._check_finite(t + h)
        self._y_prev, self._h_prev = y_before, h

    def _check_finite(self, t: float) -> None:
        """Stop on NaN/inf, naming the component that produced it.

        A value produced by a step shows in an output without direct feedthrough: those are searched
        first, in stepping order (a NaN handed on by Gauss–Seidel shows up later in that order); then
        every output in the order of the communication point's evaluation (upstream first).
        """
        if math.isfinite(self.y.sum()):
            return
        bad_all = ~np.isfinite(self.y)
        found = None
        for i in self._order:
            sl = self.y_slices[i]
            hits = np.flatnonzero(bad_all[sl] & ~self._feedthrough[sl])
            if hits.size:
                found = sl.start + int(hits[0])
                break
        if found is None:
            for i in self._plan_components + list(range(len(self.components))):
                sl = self.y_slices[i]
                hits = np.flatnonzero(bad_all[sl])
                if hits.size:
                    found = sl.start + int(hits[0])
                    break
        if found is None:
            return  # the sum overflowed; every value is finite
        cname, vname = self.y_owner[found]
        value = self.y[found]
        raise NonFiniteValueError(
            cname,
            f"output is {value} after the step to t = {t:g} s; the run stops here "
            "(results up to the previous step are on disk)",
            variable=vname,
            time=t,
        )

    def _save_all(self) -> tuple[list[Any], np.ndarray, np.ndarray | None, float]:
        return (
            [c.save_state() for c in self.components],
            self.y.copy(),
            None if self._y_prev is None else self._y_prev.copy(),
            self._h_prev,
        )

    def _restore_all(self, saved: tuple[list[Any], np.ndarray, np.ndarray | None, float]) -> None:
        states, y, y_prev, h_prev = saved
        for comp, state in zip(self.components, states, strict=True):
            comp.restore_state(state)
        self.y[:] = y
        self._y_prev, self._h_prev = y_prev, h_prev

    def _error_norm(self, a: np.ndarray, b: np.ndarray) -> float:
        """Weighted max-norm of the difference of the coupled outputs (the connections' sources)."""
        s = self.settings
        a, b = a[self.u_src], b[self.u_src]
        scale = s.atol + s.rtol * np.maximum(np.abs(a), np.abs(b))
        return float(np.max(np.abs(a - b) / scale, initial=0.0))

    def _doubling_step(self, t: float, h: float, stop: float) -> tuple[float, float]:
        """One accepted step by step doubling; returns (step taken, next step)."""
        s = self.settings
        min_step = s.min_step if s.min_step is not None else s.step * 1e-6
        max_step = s.max_step if s.max_step is not None else max(s.step, s.stop - s.start)
        while True:
            h = min(h, stop - t)
            saved = self._save_all()
            try:
                self._advance(t, h, 0, stop)
                full = self.y.copy()
                self._restore_all(saved)
                self._advance(t, 0.5 * h, 0, stop)
                self._advance(t + 0.5 * h, 0.5 * h, 0, stop)
                err = self._error_norm(full, self.y)
            except _Discarded:
                err = math.inf
            factor = 0.25 if not math.isfinite(err) else min(2.0, max(0.25, 0.9 / math.sqrt(max(err, 1e-16))))
            if err <= 1.0:
                return h, min(max_step, h * factor)
            self._restore_all(saved)
            self.stats.rejected_steps += 1
            h *= factor
            if h < min_step:
                raise StepSizeError(
                    f"at t = {t:g} s the step fell below min_step = {min_step:g} s "
                    f"(error estimate {err:.3g} for rtol = {s.rtol:g}, atol = {s.atol:g})"
                )

    def _residual_step(self, t: float, h: float, stop: float) -> tuple[float, float]:
        """One step controlled by the bonds' energy residual (no rollback); returns (taken, next)."""
        s = self.settings
        min_step = s.min_step if s.min_step is not None else s.step * 1e-6
        max_step = s.max_step if s.max_step is not None else max(s.step, s.stop - s.start)
        h = min(h, stop - t)
        before_s = self.y[self.ledger.sender_idx].copy()
        before_r = self.y[self.ledger.receiver_idx].copy()
        try:
            self._advance(t, h, 0, stop)
        except _Discarded as exc:
            raise exc.error from None
        sent = before_s - self.y[self.ledger.sender_idx]
        received = self.y[self.ledger.receiver_idx] - before_r
        scale = s.rtol * np.maximum(np.abs(sent), np.abs(received)) + s.atol * h
        err = float(np.max(np.abs(sent - received) / scale, initial=0.0))
        factor = min(2.0, max(0.25, 0.9 / math.sqrt(max(err, 1e-16))))
        return h, min(max_step, max(min_step, h * factor))

    # ----------------------------------------------------------------------------- the run
    def columns(self) -> list[str]:
        """The result columns: time, recorded outputs, then sent/received/residual per bond."""
        cols = ["time"] + [f"{c}.{v}" for c, v in self.recorded]
        for name in self.ledger.names:
            cols += [f"bond:{name}:sent", f"bond:{name}:received", f"bond:{name}:residual"]
        return cols

    def describe_columns(self) -> dict[str, Any]:
        """Metadata that lets readers of the results interpret the columns: the unit of every recorded
        column, each component's energy ports (kind, power and counter variables) and stored-energy
        variable."""
        comps = dict(zip(self.names, self.components, strict=True))
        units = {}
        for c, v in self.recorded:
            var = comps[c].variables.get(v)
            if var is not None and var.unit:
                units[f"{c}.{v}"] = var.unit
        ports = {
            c: {p.name: {"kind": p.kind.value, "power": p.power, "energy": p.energy}
                for p in getattr(comp, "energy_ports", {}).values()}
            for c, comp in comps.items()
        }
        stored = {c: comp.stored_energy for c, comp in comps.items() if getattr(comp, "stored_energy", None)}
        return {"units": units, "energy_ports": ports, "stored_energy": stored}

    def run(
        self,
        out_dir: str | Path,
        progress: bool | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> RunResult:
        """Set up the components, run from start to stop and write results to ``out_dir``.

        Writes ``results.parquet`` (streamed) and ``summary.json`` (status, energy balance, bond
        totals, statistics). On an error the files hold every step completed before it, and the
        error is raised after they are closed. ``progress`` draws a bar on stderr (default: when
        stderr is a terminal).
        """
        s = self.settings
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        results_path = out_dir / "results.parquet"
        summary_path = out_dir / "summary.json"
        meta = {
            "system": self.spec.name,
            "system_file": self.spec.file_text,
            "versions": version_metadata(),
            "settings": asdict(s),
            "components": self.names,
            **self.describe_columns(),
            **(metadata or {}),
        }
        show = sys.stderr.isatty() if progress is None else progress
        self.stats = RunStats()
        native = self._choose_path()
        self._y_prev, self._h_prev = None, 0.0
        self._pending: dict[int, np.ndarray] = {}
        status, error = "failed", None
        self._time_reached = s.start
        n_ledger = len(self.ledger.names)
        wall = time.perf_counter()
        writer = ResultWriter(results_path, self.columns(), meta, s.row_group_size)
        try:
            with writer:
                for name, comp in zip(self.names, self.components, strict=True):
                    params = self.spec.components[name].parameters if name in self.spec.components else {}
                    comp.setup(s.start, s.stop, params)
                self._bind_fast_paths()
                for i in range(len(self.components)):
                    self._read(i)
                self._resolve(s.start)
                self._check_finite(s.start)
                self.ledger.start(self.y)
                self._record(writer, s.start, n_ledger, initial=True)
                if native:
                    self._run_native(writer, show)
                else:
                    self._loop(writer, n_ledger, show)
                status = "ok"
        except BaseException as exc:
            error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            self.stats.wall_time = time.perf_counter() - wall
            if show:
                print(file=sys.stderr)
            result = self._summary(results_path, summary_path, status, self._time_reached, error)
        return result

    def _choose_path(self) -> bool:
        """True for the native stepping path (``settings.native`` and what the system allows); sets
        ``stats.path``/``stats.path_reason``. Raises :class:`NativePathError` under ``native = "on"``
        when the native path cannot run."""
        from kreislauf import native

        mode = self.settings.native
        if mode == "off":
            self.stats.path, self.stats.path_reason = "python", 'native = "off"'
            return False
        reasons = native.ineligibility(self)
        if not reasons:
            try:
                native.library()
            except native.NativeError as exc:
                reasons.append(f"the native stepper is not available: {str(exc).splitlines()[0]}")
        if reasons:
            if mode == "on":
                raise NativePathError(reasons)
            self.stats.path, self.stats.path_reason = "python", "; ".join(reasons)
            return False
        sources = [self.names[i] for i in native.sources(self)]
        what = f"FMUs and Python sources ({', '.join(sources)})" if sources else "every component an FMU"
        slow = [f"{n} every {k}" for n, k in zip(self.names, self.rate, strict=True) if k > 1]
        rates = f"multi-rate ({', '.join(slow)})" if slow else "fixed step"
        self.stats.path = "native"
        self.stats.path_reason = f"native = \"{mode}\": {what}, {rates}, {self.settings.algorithm}"
        return True

    def _run_native(self, writer: ResultWriter, show: bool) -> None:
        from kreislauf.native import NativeStepper

        stepper = NativeStepper(self, profile=self.native_profile)
        try:
            stepper.run(writer, show)
        finally:
            if self.native_profile:
                self.native_timing = stepper.timing()

    def _record(self, writer: ResultWriter, t: float, n_ledger: int, initial: bool = False) -> None:
        row = writer.next_row()
        row[0] = t
        m = len(self.record_idx)
        np.take(self.y, self.record_idx, out=row[1 : 1 + m])
        if n_ledger:
            if initial:
                row[1 + m :] = 0.0
            else:
                self.ledger.book_step(self.y)
                sent, received = self.ledger.step_sent, self.ledger.step_received
                row[1 + m :: 3] = sent
                row[2 + m :: 3] = received
                row[3 + m :: 3] = sent - received
        writer.commit_row()

    def _loop(self, writer: ResultWriter, n_ledger: int, show: bool) -> None:
        s = self.settings
        start, stop, h = s.start, s.stop, s.step
        t = start
        n = 0
        rollback = all(c.can_rollback for c in self.components)
        last_draw = 0.0
        clock = self._clock = None
        if s.realtime:
            from kreislauf.hil.realtime import RealTimeClock

            clock = self._clock = RealTimeClock(h, realtime_factor=s.realtime_factor, overrun=s.overrun, spin=s.spin)
            clock.start()
        while t < stop - 1e-12 * max(1.0, abs(stop)):
            if clock is not None:
                try:
                    n = clock.wait()  # under the skip policy n jumps ahead: this step spans the ticks missed
                except RuntimeError as exc:  # RealTimeOverrun under the abort policy
                    raise RealTimeError(f"t = {t:g} s: {exc}") from None
            if s.adaptive:
                taken, h = (self._doubling_step if rollback else self._residual_step)(t, h, stop)
                t_next = t + taken
            else:
                t_next = min(start + (n + 1) * h, stop)
                taken = t_next - t
                try:
                    self._advance(t, taken, n, stop)
                except _Discarded as exc:
                    raise exc.error from None
            t = t_next
            n += 1
            self.stats.steps += 1
            self.stats.smallest_step = min(self.stats.smallest_step, taken)
            self.stats.largest_step = max(self.stats.largest_step, taken)
            self._record(writer, t, n_ledger)
            self._time_reached = t
            if show and (n & 63) == 0:
                now = time.perf_counter()
                if now - last_draw > 0.2:
                    last_draw = now
                    _draw_progress(t - start, stop - start)
        if show:
            _draw_progress(stop - start, stop - start)

    def _realtime_report(self) -> dict[str, float] | None:
        """Deadline statistics of a real-time run (None for a run as fast as possible)."""
        clock = getattr(self, "_clock", None)
        if clock is None or clock.tick < 0:
            return None
        report = clock.report()
        return {
            "steps": report.steps,
            "lateness_p50_s": report.lateness_p50,
            "lateness_p99_s": report.lateness_p99,
            "lateness_max_s": report.lateness_max,
            "overruns": report.overruns,
            "skipped": report.skipped,
            "realtime_factor": report.realtime_factor,
            "target_realtime_factor": self.settings.realtime_factor,
        }

    def _summary(self, results_path: Path, summary_path: Path, status: str, t: float, error: str | None) -> RunResult:
        balance = bonds = None
        try:
            balance = self.ledger.balance()
            bonds = self.ledger.entries()
        except RuntimeError:
            bonds = []
        summary = {
            "status": status,
            "error": error,
            "time_reached_s": t,
            "results": results_path.name,
            "balance": None if balance is None else balance.as_dict(),
            "bonds": [
                {"name": b.name, "sent_J": b.sent, "received_J": b.received, "residual_J": b.residual} for b in bonds
            ],
            "stats": {
                k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in asdict(self.stats).items()
            },
            "settings": asdict(self.settings),
            "realtime": self._realtime_report(),
            "faults": [f.as_dict() for c in self.components for f in getattr(c, "faults", ())],
        }
        summary_path.write_text(json.dumps(summary, indent=2))
        return RunResult(results_path, summary_path, status, t, balance, bonds, self.stats, error)


def _draw_progress(done: float, total: float) -> None:
    fraction = 1.0 if total <= 0 else min(1.0, done / total)
    width = 30
    bar = "#" * int(fraction * width)
    print(f"\r[{bar:<{width}}] {100 * fraction:5.1f}%  t = {done:.6g} s", end="", file=sys.stderr, flush=True)
