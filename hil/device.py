"""ModbusDevice: a Component backed by a device on Modbus TCP.

Each :meth:`ModbusDevice.do_step` is one *exchange* with the device:

1. write every input (absolute set points, never increments, so a repeated write is harmless), the
   heartbeat counter when due, and in lock-step mode the step size dt to the trigger point (last);
   contiguous points of a table go in one request (FC 16 / FC 15), see :func:`plan_spans`;
2. read every output, every ``readback`` set point and the device's model time, again in as few
   requests as the map allows (FC 3 / 4 / 1 / 2);
3. check each reply: exception responses, the register count (pymodbus accepts short replies), the
   transaction id (checked by pymodbus' sync client), not-available sentinels, read-back set points
   equal to what was written, and in lock-step the device time equal to ``t + dt``.

Every call is bounded: one attempt (``retries=0``) of at most ``timeout`` seconds (from the map,
default 0.2 s). After a failed call the connection is closed, so a late reply can never be taken
for the answer to a later request, and reconnects are attempted with a back-off doubling from
50 ms up to ``reconnect_delay_max``. A connection idle for longer than ``idle_reconnect`` (map,
default 10 s) is replaced by a fresh one before the exchange, since devices close idle
connections. A device is polled at most once per ``min_interval`` wall seconds (rate limit): in
free-running mode a step inside that interval keeps the last values, in lock-step mode it waits.

What happens on a fault is the :class:`FaultPolicy`. Every fault is recorded as a
:class:`DeviceFault` (simulation time, wall time, point, kind, action) in :attr:`ModbusDevice.faults`
so the master can report it. A device never offers rollback.
"""

from __future__ import annotations

import enum
import logging
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pymodbus.client import ModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException

from kreislauf.component import (
    Causality,
    Component,
    ComponentError,
    EnergyPort,
    StepOutcome,
    StepStatus,
    Variable,
    VariableType,
)

from .codec import CodecError, DataType
from .registermap import Point, RegisterMap, Table, load_register_map

__all__ = [
    "DEVICE_OPTIONS",
    "DeviceFault",
    "DeviceOptionsError",
    "FaultKind",
    "FaultPolicy",
    "ModbusDevice",
    "Span",
    "device_from_options",
    "plan_spans",
    "read_points",
]

_log = logging.getLogger(__name__)

_FIRST_RECONNECT_DELAY = 0.05
_VALUE, _READBACK, _TIME = 0, 1, 2  # roles of the points in a read


class FaultPolicy(str, enum.Enum):
    """What a device does when an exchange fails."""

    STOP = "stop"  # the step ends with StepStatus.ERROR; the master stops the run cleanly
    HOLD = "hold"  # keep the last good outputs for at most hold_time simulated seconds, then stop
    FALLBACK = "fallback"  # switch for good to the fallback component, stepped in the shadow so far


class FaultKind(str, enum.Enum):
    """What went wrong in an exchange."""

    CONNECTION = "connection"  # cannot connect, connection refused or reset
    TIMEOUT = "timeout"  # no (valid) reply within the timeout
    EXCEPTION = "exception"  # the device answered with a Modbus exception
    REPLY = "reply"  # a reply with the wrong length or shape
    NOT_AVAILABLE = "not_available"  # the device sent its not-available value
    READBACK = "readback"  # a set point read back differs from what was written
    DESYNC = "desync"  # lock-step: the device's model time is not t + dt (missed or doubled step)
    RECOVERED = "recovered"  # the device answers again after a fault


@dataclass(frozen=True)
class DeviceFault:
    """One fault of a device: when (simulated and wall time), where (point), what and what was done."""

    time: float
    wall_time: float
    component: str
    point: str | None
    kind: FaultKind
    message: str
    action: str

    def as_dict(self) -> dict[str, object]:
        """The fault as plain JSON-ready values (for a run's summary)."""
        return {
            "time_s": self.time,
            "wall_time": self.wall_time,
            "component": self.component,
            "point": self.point,
            "kind": self.kind.value,
            "message": self.message,
            "action": self.action,
        }

    def __str__(self) -> str:
        where = f", point '{self.point}'" if self.point else ""
        return (
            f"t = {self.time:g} s: device '{self.component}'{where}: {self.kind.value}: {self.message} -> {self.action}"
        )


@dataclass(frozen=True)
class Span:
    """One request: ``count`` registers (or bits) of ``table`` from ``address``, covering ``points``."""

    table: Table
    address: int
    count: int
    points: tuple[Point, ...]


def plan_spans(points: Sequence[Point], max_count: int) -> list[Span]:
    """Group points into the fewest requests: contiguous points of one table, at most ``max_count``.

    Points are never split across requests; gaps are never read or written (a device may answer an
    unmapped address with exception 02).
    """
    spans: list[Span] = []
    ordered = sorted(points, key=lambda p: (list(Table).index(p.table), p.address))
    current: list[Point] = []
    for point in ordered:
        if current:
            first, last = current[0], current[-1]
            if point.table is last.table and point.address == last.end and point.end - first.address <= max_count:
                current.append(point)
                continue
            spans.append(Span(first.table, first.address, last.end - first.address, tuple(current)))
        current = [point]
    if current:
        first, last = current[0], current[-1]
        spans.append(Span(first.table, first.address, last.end - first.address, tuple(current)))
    return spans


class _Fault(Exception):
    def __init__(self, kind: FaultKind, message: str, point: str | None = None, reconnect: bool = True):
        super().__init__(message)
        self.kind = kind
        self.point = point
        self.reconnect = reconnect


def _names(points: Sequence[Point]) -> str:
    return ", ".join(p.name for p in points)


def _derived_variable(point: Point) -> Variable:
    kind = VariableType.BOOLEAN if point.codec.data_type is DataType.BOOL else VariableType.REAL
    return Variable(
        name=point.variable,
        causality=Causality.INPUT if point.writable else Causality.OUTPUT,
        type=kind,
        unit=point.unit,
        minimum=point.minimum if point.writable else None,
        maximum=point.maximum if point.writable else None,
        description=point.description,
    )


class ModbusDevice:
    """A :class:`~kreislauf.component.Component` whose values live in a Modbus TCP device.

    ``register_map`` says which registers carry which variable.

    ``interface`` is the component the device replaces (the FMU of the model it stands in for): the
    device then *is* that component as far as the master can tell. It exposes the interface's
    parameters and those of its inputs and outputs that the map carries, with the interface's names,
    units, causality and ranges; the interface's energy ports and stored energy whose variables the
    map carries; and, in lock step, the interface's output dependencies among the served variables.
    The interface is also the fallback (unless ``fallback`` names another component). Every point's
    variable must be one of the interface's, in the same unit (:meth:`RegisterMap.binding_problems`).

    Without an interface, ``variables`` (e.g. those of the component the device stands in for)
    supply causality, type and ranges; without them they are derived from the map (writable points
    are inputs, the others outputs), or taken from ``fallback`` (a Component with the same variables),
    whose energy ports (and stored energy) the map carries are kept unless ``energy_ports`` is given.

    The ports and stored energy of the interface (or fallback) that the map does not carry — a port
    needs its power and its energy counter — are left out and listed in :attr:`unserved_ports` and
    :attr:`unserved_stored_energy`: the device cannot account for that energy, and the system
    validation (:func:`kreislauf.system.validate`) reports each of them, because the system energy
    balance would silently miss it.

    With ``policy="fallback"`` the fallback is stepped with the same inputs in the shadow and takes
    over when the device fails. ``hold_time`` (simulated s) bounds the ``hold`` policy. When several
    read-only points carry one variable, its value comes from the first of them in the map.
    ``clock`` is the wall clock (for the rate limit, heartbeat and fault time stamps).

    Feedthrough: a device's outputs are those it reported in its last exchange. In lock step with an
    interface that declares output dependencies, inputs set after a step (the master's refresh at the
    communication point) are written without a trigger when the outputs are next asked for, and the
    outputs read again: the device server re-evaluates its component's outputs for them, as an FMU
    does at a communication point (:attr:`refreshes` counts these exchanges). Otherwise no output
    depends directly on an input (a system file can still declare one with ``output_dependencies``).
    """

    can_rollback = False

    def __init__(
        self,
        name: str,
        register_map: RegisterMap,
        host: str = "127.0.0.1",
        port: int = 502,
        *,
        unit_id: int | None = None,
        policy: FaultPolicy | str = FaultPolicy.STOP,
        hold_time: float = 5.0,
        fallback: Component | None = None,
        interface: Component | None = None,
        variables: Mapping[str, Variable] | None = None,
        energy_ports: Mapping[str, EnergyPort] | None = None,
        stored_energy: str | None = None,
        timeout: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.name = name
        self.register_map = register_map
        self.host = host
        self.port = port
        settings = register_map.device
        self.unit_id = settings.unit_id if unit_id is None else unit_id
        self.policy = FaultPolicy(policy)
        if not (math.isfinite(hold_time) and hold_time >= 0):
            raise ValueError(f"device '{name}': hold_time must be >= 0 s, got {hold_time!r}")
        self.hold_time = hold_time
        if fallback is None:
            fallback = interface
        if self.policy is FaultPolicy.FALLBACK and fallback is None:
            raise ValueError(f"device '{name}': policy 'fallback' needs a fallback component")
        self.fallback = fallback
        self.interface = interface
        self._shadow = self.policy is FaultPolicy.FALLBACK
        self.timeout = settings.timeout if timeout is None else timeout
        self._clock = clock

        mapped = [p for p in register_map.points.values() if p.variable is not None]
        served = {p.variable for p in mapped}
        self.served = frozenset(served)
        lock_step = settings.trigger is not None
        if interface is not None:
            register_map.bind(interface.variables, name)
            self.variables = {
                n: v for n, v in interface.variables.items() if n in served or v.causality is Causality.PARAMETER
            }
            energy_ports = {
                k: port for k, port in interface.energy_ports.items() if {port.power, port.energy} <= served
            }
            stored_energy = interface.stored_energy if interface.stored_energy in served else None
            claimed_ports, claimed_stored = interface.energy_ports, interface.stored_energy
            self.output_dependencies = self._served_dependencies(interface, served, lock_step)
        else:
            source = variables if variables is not None else (fallback.variables if fallback is not None else None)
            if source is not None:
                register_map.bind(source, name)
                self.variables = {p.variable: source[p.variable] for p in mapped}
            else:
                self.variables = {}
                for point in mapped:
                    if point.variable not in self.variables or point.writable:
                        self.variables[point.variable] = _derived_variable(point)
            claimed_ports, claimed_stored = {}, None
            if energy_ports is None and fallback is not None:
                # standing in for the fallback: keep those of its ports whose variables the map carries
                energy_ports = {
                    k: port for k, port in fallback.energy_ports.items() if {port.power, port.energy} <= served
                }
                claimed_ports = fallback.energy_ports
                if stored_energy is None:
                    claimed_stored = fallback.stored_energy
                    stored_energy = claimed_stored if claimed_stored in served else None
            self.output_dependencies = {n: [] for n, v in self.variables.items() if v.causality is Causality.OUTPUT}
        self.energy_ports = dict(energy_ports or {})
        self.stored_energy = stored_energy
        self.unserved_ports = {k: port for k, port in claimed_ports.items() if k not in self.energy_ports}
        self.unserved_stored_energy = claimed_stored if claimed_stored and stored_energy is None else None
        self._feedthrough = any(self.output_dependencies.values())
        self._primary: dict[str, Point] = {}
        for point in mapped:
            self._primary.setdefault(point.variable, point)
        self._written_points = [p for p in mapped if p.writable]
        self._input_points = {p.variable: p for p in self._written_points}
        self._read_points = [p for p in mapped if not p.writable or p.readback]
        self._trigger = register_map.points.get(settings.trigger) if settings.trigger else None
        self._heartbeat = register_map.points.get(settings.heartbeat) if settings.heartbeat else None
        self._time_point = register_map.points.get(settings.time) if settings.time else None
        readable = list(self._read_points) + ([self._time_point] if self._time_point else [])
        self._read_spans = plan_spans(readable, settings.max_read_registers)
        self._names = sorted(served)
        self._index = {n: i for i, n in enumerate(self._names)}
        self._read_plan = [
            (
                span,
                f"reading {span.table.value} {span.address}..{span.address + span.count - 1}",
                [self._plan_entry(point, span) for point in span.points],
            )
            for span in self._read_spans
        ]
        self._readers: dict[Table, Callable] = {}
        self._values = np.full(len(self._names), math.nan)
        self._pending: dict[str, float] = {}
        self._written_words: dict[str, tuple[int, ...]] = {}
        self._output_cache: dict[tuple[str, ...], np.ndarray] = {}

        self.faults: list[DeviceFault] = []
        self.exchanges = 0
        self.refreshes = 0
        self._sent: dict[str, float] = {}
        self._dirty = False
        self._time_now = 0.0
        self.requests = 0
        self.fallen_back = False
        self._client: ModbusTcpClient | None = None
        self._last_activity = 0.0
        self._reconnect_delay = _FIRST_RECONNECT_DELAY
        self._next_connect = 0.0
        self._last_exchange: float | None = None
        self._last_heartbeat: float | None = None
        self._heartbeat_counter = 0
        self._fault_since: float | None = None
        self._have_values = False
        self._closed = False
        self._set_up = False
        self._confirmed_time = 0.0
        self._time_known = True
        self._time_base = 0.0
        self._device_time = 0.0

    # ------------------------------------------------------------------ Component protocol

    def setup(self, start: float, stop: float | None, parameters: Mapping[str, float]) -> None:
        """Connect, write the parameters that the map carries, and read the outputs once.

        With an interface, ``parameters`` (a system file's ``parameters`` table) configure the
        fallback; those that a writable point carries (the interface's parameters, or constant
        inputs) are also written to the device here. A name that is none of the interface's
        parameters or inputs raises :class:`ComponentError`. Without an interface every parameter must
        be carried by a writable point of a parameter. The first read fills the outputs so that
        :meth:`get_outputs` works before the first step. Inputs are written from the first
        :meth:`set_inputs` on; an input never set keeps the device's own value (as an unconnected FMU
        input keeps its start value) and reads as NaN.
        """
        written = {}
        for key, value in parameters.items():
            point = self._input_points.get(key)
            if self.interface is not None:
                variable = self.interface.variables.get(key)
                if variable is None or variable.causality not in (Causality.PARAMETER, Causality.INPUT):
                    raise ComponentError(self.name, "not a parameter or input of the device's interface", key)
                if point is not None:
                    written[key] = value
            elif point is None or self.variables[key].causality is not Causality.PARAMETER:
                raise ComponentError(self.name, "no writable point of the register map carries this parameter", key)
            else:
                written[key] = value
        self._check_inputs(written)
        self._pending = dict(written)
        self._set_up = True
        self._start = start
        self._time_now = start
        if self._shadow:
            self.fallback.setup(start, stop, parameters)
        try:
            self._connect()
            self._write(start, trigger_dt=None)
            self._read(start, None)
            self._last_exchange = self._clock()
            self._time_base = self._confirmed_time = self._device_time
        except _Fault as fault:
            raise ComponentError(
                self.name, f"device at {self.host}:{self.port} not ready: {fault}", fault.point, start
            ) from None

    def set_inputs(self, values: Mapping[str, float]) -> None:
        """Queue inputs for the next exchange; each must be an input and within its point's range."""
        self._check_inputs(values)
        self._pending.update(values)
        if self._feedthrough and not self._dirty:  # only a device with feedthrough refreshes
            sent = self._sent
            self._dirty = any(sent.get(k) != v for k, v in values.items())
        if self._shadow:
            self.fallback.set_inputs(values)

    def do_step(self, t: float, dt: float) -> StepOutcome:
        """One exchange with the device (see the module docstring); the policy decides on faults."""
        shadow = self.fallback.do_step(t, dt) if self._shadow else None
        if self.fallen_back:
            return shadow
        now = self._clock()
        if self._last_exchange is not None and now - self._last_exchange < self.register_map.device.min_interval:
            wait = self.register_map.device.min_interval - (now - self._last_exchange)
            if self._trigger is None:
                return StepOutcome(StepStatus.OK, t + dt)
            time.sleep(wait)
        try:
            self._connect()
            if self._trigger is None:
                self._write(t, None)
                self._read(t, None)
            else:
                self._lock_step(t, dt)
        except _Fault as fault:
            self._time_known = False
            if fault.reconnect:
                self._disconnect()
            outcome = self._on_fault(t, dt, fault, shadow)
            if outcome.ok:
                self._time_now = t + dt
            return outcome
        self._time_now = t + dt
        self._last_exchange = self._clock()
        self.exchanges += 1
        if self._fault_since is not None:
            self._record(t, None, FaultKind.RECOVERED, "the device answers again", "continue")
            self._fault_since = None
        return StepOutcome(StepStatus.OK, t + dt)

    def get_outputs(self, names: Sequence[str]) -> np.ndarray:
        """The last values read (or the fallback's, after a fall-back), in the order of ``names``.

        With feedthrough (see the class docstring), inputs set since the last exchange are first
        written and the outputs read again (no step); a fault there follows the policy as in a step,
        and under ``stop`` raises :class:`ComponentError` naming the point.
        """
        if self._dirty and self._feedthrough and not self.fallen_back:
            self._refresh()
        if self.fallen_back:
            return self.fallback.get_outputs(names)
        key = tuple(names)
        index = self._output_cache.get(key)
        if index is None:
            for name in names:
                if name not in self._index:
                    raise ComponentError(self.name, "no point of the register map carries this variable", name)
            index = np.array([self._index[n] for n in names], dtype=np.intp)
            self._output_cache[key] = index
        return self._values[index]

    def save_state(self) -> object:
        """Not available: a device cannot be rolled back."""
        raise ComponentError(self.name, "a Modbus device cannot save its state (can_rollback is false)")

    def restore_state(self, state: object) -> None:
        """Not available: a device cannot be rolled back."""
        raise ComponentError(self.name, "a Modbus device cannot restore a state (can_rollback is false)")

    def close(self) -> None:
        """Write the safe values (best effort, one bounded attempt), disconnect, close the fallback.

        Safe values are only written to a device that was set up; closing twice does nothing more.
        """
        if self._closed:
            return
        self._closed = True
        safe = {p.variable: p.safe_value for p in self._written_points if p.safe_value is not None}
        if safe and self._set_up:
            self._pending.update(safe)
            try:
                self._connect(force=True)
                self._write(math.nan, trigger_dt=None, only=set(safe))
            except _Fault as fault:
                _log.warning("device '%s': safe values not written at close: %s", self.name, fault)
        self._disconnect()
        if self.fallback is not None:
            self.fallback.close()

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _served_dependencies(interface: Component, served: set[str], lock_step: bool) -> dict[str, list[str]]:
        """The interface's output dependencies among the served variables (lock step only).

        An interface that declares none has every output depend on every input (the master's rule).
        """
        outputs = [n for n, v in interface.variables.items() if v.causality is Causality.OUTPUT and n in served]
        if not lock_step:
            return {n: [] for n in outputs}
        inputs = [n for n, v in interface.variables.items() if v.causality is Causality.INPUT and n in served]
        declared = getattr(interface, "output_dependencies", None)
        if declared is None:
            return {n: list(inputs) for n in outputs}
        return {n: [d for d in declared.get(n, []) if d in served] for n in outputs}

    def _refresh(self) -> None:
        """Write the inputs set since the last exchange (no trigger) and read the outputs again."""
        t = self._time_now
        wait = (
            self.register_map.device.min_interval - (self._clock() - self._last_exchange)
            if self._last_exchange is not None
            else 0.0
        )
        if wait > 0:
            time.sleep(wait)
        try:
            self._connect()
            self._write(t, None)
            self._read(t, None)
        except _Fault as fault:
            if fault.reconnect:
                self._disconnect()
            self._dirty = False  # the next step writes every input again
            outcome = self._on_fault(t, 0.0, fault, None)  # the policy as in a step, over no time
            if outcome is not None and not outcome.ok:
                raise ComponentError(self.name, f"{fault.kind.value}: {fault}", fault.point, t) from None
            return
        self._last_exchange = self._clock()
        self.refreshes += 1
        if self._fault_since is not None:
            self._record(t, None, FaultKind.RECOVERED, "the device answers again", "continue")
            self._fault_since = None

    def _plan_entry(self, point: Point, span: Span) -> tuple[Point, int, int, int, int]:
        """How a read point is handled: (point, start, end in the reply, role, variable index or -1)."""
        start = point.address - span.address
        if point.writable and point.readback:
            return (point, start, start + point.count, _READBACK, -1)
        if point is self._time_point:
            return (point, start, start + point.count, _TIME, -1)
        primary = self._primary.get(point.variable) is point
        return (point, start, start + point.count, _VALUE, self._index[point.variable] if primary else -1)

    def _check_inputs(self, values: Mapping[str, float]) -> None:
        for key, value in values.items():
            point = self._input_points.get(key)
            if point is None:
                raise ComponentError(self.name, "not an input of the device (no writable point carries it)", key)
            if not point.in_range(value):
                raise ComponentError(
                    self.name,
                    f"{value!r} is outside the range of point '{point.name}' "
                    f"in '{self.register_map.source}', allowed {point.range_text()}",
                    key,
                )

    def _record(self, t: float, point: str | None, kind: FaultKind, message: str, action: str) -> None:
        fault = DeviceFault(t, time.time(), self.name, point, kind, message, action)
        self.faults.append(fault)
        _log.warning("%s", fault)

    def _on_fault(self, t: float, dt: float, fault: _Fault, shadow: StepOutcome | None) -> StepOutcome:
        message = str(fault)
        if self.policy is FaultPolicy.FALLBACK:
            self.fallen_back = True
            self._record(t, fault.point, fault.kind, message, f"fallback to '{self.fallback.name}'")
            return shadow
        if self.policy is FaultPolicy.HOLD:
            if self._fault_since is None:
                self._fault_since = t
            held = t + dt - self._fault_since
            if held <= self.hold_time and self._have_values:
                self._record(
                    t,
                    fault.point,
                    fault.kind,
                    message,
                    f"hold last values ({held:g} s of {self.hold_time:g} s)",
                )
                return StepOutcome(StepStatus.OK, t + dt)
        self._record(t, fault.point, fault.kind, message, "stop")
        where = f", point '{fault.point}'" if fault.point else ""
        return StepOutcome(StepStatus.ERROR, t, f"device '{self.name}'{where}: {fault.kind.value}: {message}")

    def _connect(self, force: bool = False) -> None:
        now = self._clock()
        if self._client is not None:
            if now - self._last_activity <= self.register_map.device.idle_reconnect:
                return
            # devices close idle connections; a fresh one avoids a spurious fault on a slow poll
            self._disconnect()
        if not force and now < self._next_connect:
            raise _Fault(
                FaultKind.CONNECTION,
                f"not connected to {self.host}:{self.port}; next attempt in {self._next_connect - now:.3f} s",
                reconnect=False,
            )
        client = ModbusTcpClient(self.host, port=self.port, timeout=self.timeout, retries=0)
        if not client.connect():
            client.close()
            self._next_connect = now + self._reconnect_delay
            delay = self._reconnect_delay
            self._reconnect_delay = min(2 * self._reconnect_delay, self.register_map.device.reconnect_delay_max)
            raise _Fault(
                FaultKind.CONNECTION,
                f"cannot connect to {self.host}:{self.port}; next attempt in {delay:.3f} s",
                reconnect=False,
            )
        self._client = client
        self._last_activity = now
        self._readers = {
            Table.HOLDING: client.read_holding_registers,
            Table.INPUT: client.read_input_registers,
            Table.COIL: client.read_coils,
            Table.DISCRETE_INPUT: client.read_discrete_inputs,
        }
        self._reconnect_delay = _FIRST_RECONNECT_DELAY

    def _disconnect(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _call(self, what: str, points: Sequence[Point], function: Callable, *args: object, **kwargs: object):
        self.requests += 1
        try:
            reply = function(*args, device_id=self.unit_id, **kwargs)
        except ConnectionException as exc:
            raise _Fault(FaultKind.CONNECTION, f"{what}: connection lost ({exc})", points[0].name) from None
        except ModbusException as exc:
            raise _Fault(
                FaultKind.TIMEOUT, f"{what}: no valid reply within {self.timeout:g} s ({exc})", points[0].name
            ) from None
        except OSError as exc:
            raise _Fault(FaultKind.CONNECTION, f"{what}: {exc}", points[0].name) from None
        if reply is None:
            raise _Fault(FaultKind.TIMEOUT, f"{what}: no reply", points[0].name)
        self._last_activity = self._clock()
        if reply.isError():
            code = getattr(reply, "exception_code", None)
            raise _Fault(
                FaultKind.EXCEPTION,
                f"{what}: the device answered with exception {code:02d} (points {_names(points)})",
                points[0].name,
                reconnect=False,
            )
        return reply

    def _write(self, t: float, trigger_dt: float | None, only: set[str] | None = None) -> None:
        words: dict[str, tuple[int, ...]] = {}
        points = []
        for point in self._written_points:
            if point.variable not in self._pending or (only is not None and point.variable not in only):
                continue
            value = self._pending[point.variable]
            words[point.name] = (1 if value else 0,) if point.table.is_bit else point.codec.encode(value)
            points.append(point)
        now = self._clock()
        if self._heartbeat is not None and only is None:
            if (
                self._last_heartbeat is None
                or now - self._last_heartbeat >= self.register_map.device.heartbeat_interval
            ):
                self._heartbeat_counter = (self._heartbeat_counter + 1) & 0xFFFF
                words[self._heartbeat.name] = self._heartbeat.codec.encode(self._heartbeat_counter)
                points.append(self._heartbeat)
                self._last_heartbeat = now
        if trigger_dt is not None:
            words[self._trigger.name] = self._trigger_words(t, trigger_dt)
            points.append(self._trigger)
        spans = plan_spans(points, self.register_map.device.max_write_registers)
        spans.sort(key=lambda s: self._trigger is not None and self._trigger in s.points)
        client = self._client
        for span in spans:
            values = [w for p in span.points for w in words[p.name]]
            what = f"writing {span.table.value} {span.address}..{span.address + span.count - 1}"
            if span.table is Table.COIL:
                self._call(what, span.points, client.write_coils, span.address, [bool(v) for v in values])
            else:
                self._call(what, span.points, client.write_registers, span.address, values)
        self._written_words.update(words)
        if self._feedthrough:
            pending = self._pending
            for point in points:
                if point.variable is not None:
                    self._sent[point.variable] = pending[point.variable]
        if only is None:
            self._dirty = False

    def _trigger_words(self, t: float, dt: float) -> tuple[int, ...]:
        trigger = self._trigger
        if not trigger.in_range(dt):
            raise ComponentError(
                self.name,
                f"step size {dt:g} s is outside the trigger point's range {trigger.range_text()}",
                trigger.name,
                t,
            )
        try:
            words = trigger.codec.encode(dt)
        except CodecError as exc:
            raise ComponentError(self.name, f"step size {dt:g} s: {exc}", trigger.name, t) from None
        sent = trigger.codec.decode(words)
        if abs(sent - dt) > 1e-9 * max(1.0, dt):
            raise ComponentError(
                self.name,
                f"step size {dt!r} s is not a multiple of the trigger point's resolution {trigger.codec.scale:g} s",
                trigger.name,
                t,
            )
        return words

    def _lock_step(self, t: float, dt: float) -> None:
        """Advance the device to ``t + dt`` (from the start of the run) by writing the trigger.

        After a fault the device time is unknown (the trigger may or may not have been applied), so
        it is read first from the map's time point: a device that went back in time has restarted
        (a desync fault); otherwise the trigger carries the time still missing, so that after a
        held outage the device catches up over the whole interval it missed.
        """
        target = t + dt - self._start + self._time_base
        tolerance = self._time_tolerance(target)
        if not self._time_known and self._time_point is not None:
            device_time = self._read_time()
            if device_time < self._confirmed_time - tolerance:
                raise _Fault(
                    FaultKind.DESYNC,
                    f"device model time went back from {self._confirmed_time:g} s to {device_time:g} s: "
                    "the device restarted",
                    self._time_point.name,
                )
            self._confirmed_time = device_time
        remaining = target - self._confirmed_time
        if abs(remaining - dt) <= tolerance:
            remaining = dt  # the usual case; avoids round-off below the trigger's minimum
        self._write(t, remaining if remaining > tolerance else None)
        self._read(t, target)
        self._confirmed_time = target
        self._time_known = True

    def _time_tolerance(self, target: float) -> float:
        resolution = self._time_point.codec.resolution if self._time_point is not None else 0.0
        return 1e-6 * max(1.0, abs(target)) + resolution

    def _read_time(self) -> float:
        point = self._time_point
        reply = self._call(
            f"reading {point.table.value} {point.address}",
            [point],
            self._readers[point.table],
            point.address,
            count=point.count,
        )
        if len(reply.registers) != point.count:
            raise _Fault(
                FaultKind.REPLY, f"the reply carries {len(reply.registers)} registers for {point.count}", point.name
            )
        return point.codec.decode(reply.registers)

    def _read(self, t: float, target: float | None) -> None:
        new_values = self._values.copy()
        for span, what, entries in self._read_plan:
            reply = self._call(what, span.points, self._readers[span.table], span.address, count=span.count)
            words = reply.bits if span.table.is_bit else reply.registers
            if len(words) < span.count or (not span.table.is_bit and len(words) != span.count):
                raise _Fault(
                    FaultKind.REPLY,
                    f"{what}: the reply carries {len(words)} values for {span.count} requested",
                    span.points[0].name,
                )
            for point, start, end, role, index in entries:
                if role == _READBACK:
                    written = self._written_words.get(point.name)
                    if written is not None and tuple(int(w) for w in words[start:end]) != written:
                        raise _Fault(
                            FaultKind.READBACK,
                            f"read back {tuple(int(w) for w in words[start:end])} after writing {written}",
                            point.name,
                        )
                    continue
                if point.table.is_bit:
                    value = 1.0 if words[start] else 0.0
                else:
                    codec = point.codec
                    raw = codec.raw(words[start:end])
                    if codec.not_available is not None and raw == codec.not_available:
                        raise _Fault(
                            FaultKind.NOT_AVAILABLE, "the device reports the value as not available", point.name
                        )
                    value = raw * codec.scale + codec.offset
                if role == _TIME:
                    if target is not None:
                        self._check_time(target, value)
                    self._device_time = value
                elif index >= 0:
                    new_values[index] = value
        for point in self._written_points:
            new_values[self._index[point.variable]] = self._pending.get(point.variable, math.nan)
        self._values = new_values
        self._have_values = True

    def _check_time(self, expected: float, device_time: float) -> None:
        if abs(device_time - expected) > self._time_tolerance(expected):
            raise _Fault(
                FaultKind.DESYNC,
                f"device model time {device_time:g} s, expected {expected:g} s (a missed or repeated step)",
                self._time_point.name,
            )


class DeviceOptionsError(ValueError):
    """A ``device = {...}`` entry of a system file is invalid; names the component and the option."""

    def __init__(self, component: str, option: str, message: str):
        self.component = component
        self.option = option
        super().__init__(f"component '{component}', device option '{option}': {message}")


DEVICE_OPTIONS = {
    "map": "register map file (TOML), relative to the system file",
    "host": "device address (default 127.0.0.1)",
    "port": "TCP port 1..65535 (default 502)",
    "unit_id": "Modbus unit id 0..255 (default: the map's)",
    "policy": "stop | hold | fallback (default stop)",
    "hold_time": "seconds the hold policy keeps the last values (default 5)",
    "timeout": "seconds per request (default: the map's)",
    "fallback": "the component that takes over under policy fallback (default: the entry's model or fmu)",
}


def device_from_options(
    name: str,
    options: Mapping[str, object],
    base_dir: str | os.PathLike[str] = ".",
    *,
    fallback: Component | None = None,
    interface: Component | None = None,
    variables: Mapping[str, Variable] | None = None,
) -> ModbusDevice:
    """Build the :class:`ModbusDevice` of a system-file entry ``device = {map = ..., host = ..., ...}``.

    ``options`` are the entry's keys (see :data:`DEVICE_OPTIONS`); the ``fallback`` option names a
    component that the caller builds and passes as ``fallback``. ``interface`` is the component the
    entry describes beside the device (its ``model``/``fmu``), which the device stands in for and
    falls back to. Raises :class:`DeviceOptionsError` for a bad option and
    :class:`~kreislauf.hil.registermap.RegisterMapError` for a bad map.
    """
    for key in options:
        if key not in DEVICE_OPTIONS:
            raise DeviceOptionsError(name, key, f"unknown option; allowed: {', '.join(DEVICE_OPTIONS)}")
    map_file = options.get("map")
    if not isinstance(map_file, str):
        raise DeviceOptionsError(name, "map", "required: the register map file as a string")
    path = Path(map_file)
    if not path.is_absolute():
        path = Path(base_dir) / path
    host = options.get("host", "127.0.0.1")
    if not isinstance(host, str) or not host:
        raise DeviceOptionsError(name, "host", f"must be a host name or address, got {host!r}")
    port = options.get("port", 502)
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise DeviceOptionsError(name, "port", f"must be an integer in [1, 65535], got {port!r}")
    unit_id = options.get("unit_id")
    if unit_id is not None and (isinstance(unit_id, bool) or not isinstance(unit_id, int) or not 0 <= unit_id <= 255):
        raise DeviceOptionsError(name, "unit_id", f"must be an integer in [0, 255], got {unit_id!r}")
    policy = options.get("policy", "stop")
    if policy not in {p.value for p in FaultPolicy}:
        raise DeviceOptionsError(name, "policy", f"must be one of stop | hold | fallback, got {policy!r}")
    if policy == FaultPolicy.FALLBACK.value and fallback is None and interface is None:
        raise DeviceOptionsError(
            name, "fallback", "policy 'fallback' needs a fallback component (the entry's model or fmu)"
        )
    numbers = {}
    for key, default in (("hold_time", 5.0), ("timeout", None)):
        value = options.get(key, default)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0
        ):
            raise DeviceOptionsError(name, key, f"must be a number of seconds >= 0, got {value!r}")
        numbers[key] = value
    if numbers["timeout"] is not None and numbers["timeout"] <= 0:
        raise DeviceOptionsError(name, "timeout", f"must be > 0 s, got {numbers['timeout']!r}")
    return ModbusDevice(
        name,
        load_register_map(path),
        host,
        port,
        unit_id=unit_id,
        policy=policy,
        hold_time=float(numbers["hold_time"]),
        fallback=fallback,
        interface=interface,
        variables=variables,
        timeout=numbers["timeout"],
    )


def read_points(
    register_map: RegisterMap, host: str = "127.0.0.1", port: int = 502, *, unit_id: int | None = None
) -> dict[str, float]:
    """Read every point of ``register_map`` from the device once, in as few requests as the map allows.

    Returns engineering values by point name (NaN for a not-available value). For checking a map
    against a device on the bench; raises :class:`ComponentError` naming the point when a request
    fails or a reply has the wrong length.
    """
    settings = register_map.device
    unit = settings.unit_id if unit_id is None else unit_id
    client = ModbusTcpClient(host, port=port, timeout=settings.timeout, retries=0)
    device = f"{settings.name} at {host}:{port}"
    if not client.connect():
        raise ComponentError(device, "cannot connect")
    readers = {
        Table.HOLDING: client.read_holding_registers,
        Table.INPUT: client.read_input_registers,
        Table.COIL: client.read_coils,
        Table.DISCRETE_INPUT: client.read_discrete_inputs,
    }
    values: dict[str, float] = {}
    try:
        for span in plan_spans(list(register_map.points.values()), settings.max_read_registers):
            what = f"reading {span.table.value} {span.address}..{span.address + span.count - 1}"
            try:
                reply = readers[span.table](span.address, count=span.count, device_id=unit)
            except ModbusException as exc:
                raise ComponentError(device, f"{what}: {exc}", span.points[0].name) from None
            if reply.isError():
                raise ComponentError(
                    device,
                    f"{what}: exception {reply.exception_code:02d} (points {_names(span.points)})",
                    span.points[0].name,
                )
            words = reply.bits if span.table.is_bit else reply.registers
            if len(words) < span.count or (not span.table.is_bit and len(words) != span.count):
                raise ComponentError(device, f"{what}: {len(words)} values for {span.count}", span.points[0].name)
            for point in span.points:
                start = point.address - span.address
                if point.table.is_bit:
                    values[point.name] = 1.0 if words[start] else 0.0
                else:
                    values[point.name] = point.codec.decode(words[start : start + point.count])
    finally:
        client.close()
    return values
