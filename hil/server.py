"""The device server: any Component served as a Modbus TCP device described by a register map.

The server keeps a register image of every point in the map. Client writes land in the image (after
the :class:`WriteGuard` allowed them); the component reads its inputs from the image and its outputs
are published into it. An input the clients have not written yet is not passed to the component,
which keeps its own start value (the register shows that start value as the map encodes it).

Two ways of advancing the component:

- ``free``: a task steps the component every ``period`` simulated seconds against the wall clock
  (absolute deadlines, see :mod:`kreislauf.hil.realtime`), whatever the clients do;
- ``trigger`` (lock-step): a client writes the step size dt (s) to the map's trigger point; the
  server then takes the inputs from the image, advances the component from its current time by dt
  and publishes the outputs *before* it answers the write. One FC 16 can carry the inputs and the
  trigger together when the trigger register follows them. Inputs written without the trigger are
  set on the component before the next read is answered, and its outputs re-evaluated for them
  without a step (as an FMU at a communication point), so outputs that depend directly on inputs
  follow at once.

Security by default: the server binds 127.0.0.1 unless given another host; a client may write only
points with ``access = "rw"``, each completely and within its ``[min, max]`` (NaN never passes).
A write to an unmapped or read-only register is answered with exception 02 (illegal data address);
a partial multi-register write, an out-of-range value or a malformed count with exception 03
(illegal data value). Malformed MBAP headers close that connection only; other clients keep being
served. Connections are capped and closed after an idle time.

The Modbus TCP framing is implemented here on asyncio streams (a few dozen lines), rather than on
pymodbus's server: it answers pipelined requests in order, replies to an unknown function code with
``fc | 0x80`` and code 01 as the specification says, and validates a whole multi-point write before
applying any of it.
"""

from __future__ import annotations

import asyncio
import enum
import math
import struct
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kreislauf.component import Component, ComponentError, VariableType

from .codec import CodecError, encode_raw
from .realtime import DeadlineRecorder, RealTimeReport
from .registermap import Point, RegisterMap, RegisterMapError, Table

__all__ = ["DeviceServer", "ExceptionCode", "ServerStats", "WriteGuard"]

_MBAP = struct.Struct(">HHHB")


class ExceptionCode(enum.IntEnum):
    """Modbus exception codes used by the server."""

    ILLEGAL_FUNCTION = 0x01
    ILLEGAL_DATA_ADDRESS = 0x02
    ILLEGAL_DATA_VALUE = 0x03
    SERVER_DEVICE_FAILURE = 0x04
    GATEWAY_TARGET_FAILED = 0x0B


class WriteGuard:
    """Decides whether a client write may land: allow-listed points, whole, within [min, max].

    Pure (no I/O): :meth:`check` takes the table, the start address and the raw values of a write
    request and returns ``None`` (allowed) or the exception code to answer with.
    """

    def __init__(self, register_map: RegisterMap):
        self.register_map = register_map
        self._owner: dict[Table, dict[int, Point]] = {t: {} for t in Table}
        for point in register_map.points.values():
            for address in range(point.address, point.end):
                self._owner[point.table][address] = point

    def owner(self, table: Table, address: int) -> Point | None:
        """The point occupying ``address`` of ``table``, if any."""
        return self._owner[table].get(address)

    def check(self, table: Table, address: int, values: Sequence[int]) -> ExceptionCode | None:
        """``None`` when writing ``values`` from ``address`` on is allowed, else the exception code."""
        owners = self._owner[table]
        touched: list[Point] = []
        for offset in range(len(values)):
            point = owners.get(address + offset)
            if point is None or not point.writable:
                return ExceptionCode.ILLEGAL_DATA_ADDRESS
            if not touched or touched[-1] is not point:
                touched.append(point)
        end = address + len(values)
        for point in touched:
            if point.address < address or point.end > end:
                return ExceptionCode.ILLEGAL_DATA_VALUE
            words = values[point.address - address : point.end - address]
            try:
                value = float(words[0] != 0) if table.is_bit else point.codec.decode(words)
            except CodecError:
                return ExceptionCode.ILLEGAL_DATA_VALUE
            if not point.in_range(value):
                return ExceptionCode.ILLEGAL_DATA_VALUE
        return None


@dataclass
class ServerStats:
    """Counters of a running server."""

    requests: int = 0
    exceptions: dict[int, int] = field(default_factory=dict)
    malformed: int = 0
    refused_connections: int = 0
    steps: int = 0
    refreshes: int = 0
    step_errors: list[str] = field(default_factory=list)
    watchdog_trips: int = 0


class DeviceServer:
    """Serves ``component`` over Modbus TCP as the device described by ``register_map``.

    ``mode`` is ``"trigger"`` when the map names a trigger point and ``"free"`` otherwise, unless
    given. In free mode the component advances by ``period`` simulated seconds every
    ``period / realtime_factor`` wall seconds. The server owns the component's life cycle: it calls
    ``setup(start, None, parameters)`` in :meth:`start` and ``close()`` in :meth:`stop`; an input
    point shows the value ``parameters`` give its variable (else the variable's start value) until a
    client writes it.

    Use as a context manager, or :meth:`start` / :meth:`stop`; the network runs in a thread of its
    own. ``port=0`` picks a free port, see :attr:`port`. In free mode a map with a heartbeat
    ``timeout`` arms a watchdog: without a heartbeat write for that long, the writable points get
    their safe values. A free-running server that falls behind by more than a period re-bases its
    schedule instead of catching up; when the component fails, the server answers every request
    with exception 04 (server device failure) rather than serve values that no longer advance.
    """

    def __init__(
        self,
        component: Component,
        register_map: RegisterMap,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        mode: str | None = None,
        period: float = 1.0,
        realtime_factor: float = 1.0,
        start_time: float = 0.0,
        parameters: Mapping[str, float] | None = None,
        max_connections: int = 8,
        idle_timeout: float = 600.0,
    ):
        register_map.bind(component.variables, component.name)
        self.component = component
        self.register_map = register_map
        self.host = host
        self.port = port
        self.mode = mode or ("trigger" if register_map.device.trigger else "free")
        if self.mode not in ("free", "trigger"):
            raise ValueError(f"device server for '{component.name}': mode '{self.mode}' is not free | trigger")
        if self.mode == "trigger":
            if register_map.device.trigger is None:
                raise RegisterMapError(register_map.source, "mode 'trigger' needs [device] trigger = \"POINT\"")
            trigger = register_map.point(register_map.device.trigger)
            if trigger.minimum is None or trigger.minimum <= 0:
                raise RegisterMapError(
                    register_map.source,
                    "the trigger point carries dt in s: its min must be > 0",
                    trigger.name,
                )
        if not (math.isfinite(period) and period > 0):
            raise ValueError(f"device server for '{component.name}': period must be > 0 s, got {period!r}")
        self.period = period
        self.realtime_factor = realtime_factor
        self.start_time = start_time
        self.parameters = dict(parameters or {})
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self.guard = WriteGuard(register_map)
        self.stats = ServerStats()
        self.deadlines = DeadlineRecorder()
        self.time = start_time
        self._image: dict[Table, dict[int, int]] = {t: {} for t in Table}
        self._failed_points: set[str] = set()
        self._written: set[str] = set()
        self._stale = False  # lock step: inputs written since the outputs were last evaluated
        self._stopped_by_error = False
        device = register_map.device
        self._trigger = register_map.points.get(device.trigger) if device.trigger else None
        self._time_point = register_map.points.get(device.time) if device.time else None
        self._heartbeat = register_map.points.get(device.heartbeat) if device.heartbeat else None
        self._inputs = [p for p in register_map.points.values() if p.writable and p.variable is not None]
        self._outputs = [p for p in register_map.points.values() if not p.writable and p.variable is not None]
        self._output_names = sorted({p.variable for p in self._outputs})
        self._output_index = {name: i for i, name in enumerate(self._output_names)}
        self._last_heartbeat = time.monotonic()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._connections = 0
        self._wall_start = 0.0

    # ------------------------------------------------------------------ life cycle

    def start(self, timeout: float = 10.0) -> DeviceServer:
        """Set the component up, bind the socket and start serving in a background thread."""
        if self._thread is not None:
            raise RuntimeError(f"device server for '{self.component.name}' is already running")
        self.component.setup(self.start_time, None, self.parameters)
        self._initialise_image()
        self._thread = threading.Thread(target=self._run, name=f"hil-server-{self.component.name}", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError(f"device server for '{self.component.name}' did not start within {timeout} s")
        if self._startup_error is not None:
            self._thread.join(timeout)
            self._thread = None
            self.component.close()
            raise self._startup_error
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving, close every connection, join the thread and close the component."""
        if self._thread is None:
            return
        if self._loop is not None and self._stop_event is not None:
            self._loop.call_soon_threadsafe(self._stop_event.set)
        self._thread.join(timeout)
        alive = self._thread.is_alive()
        self._thread = None
        self.component.close()
        if alive:
            raise TimeoutError(f"device server for '{self.component.name}' did not stop within {timeout} s")

    def __enter__(self) -> DeviceServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def connections(self) -> int:
        """Client connections open now."""
        return self._connections

    @property
    def running(self) -> bool:
        """True while the server thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def realtime_report(self) -> RealTimeReport:
        """Deadline statistics of the free-running stepper."""
        wall = time.perf_counter() - self._wall_start if self._wall_start else 0.0
        return self.deadlines.report(self.time - self.start_time, wall)

    # ------------------------------------------------------------------ register image

    def _initialise_image(self) -> None:
        variables = self.component.variables
        for point in self.register_map.points.values():
            self._store(point, 0.0, initial=True)
        for point in self._inputs:
            variable = variables[point.variable]
            given = self.parameters.get(point.variable)
            if given is not None and point.in_range(given):
                value = given
            elif variable.start is not None and point.in_range(variable.start):
                value = variable.start
            elif point.safe_value is not None:
                value = point.safe_value
            else:
                value = point.minimum
            self._store(point, value)
        if self._trigger is not None:
            self._store(self._trigger, self._trigger.minimum)
        if self._heartbeat is not None:
            self._store(self._heartbeat, 0.0)
        self._publish()

    def _store(self, point: Point, value: float, initial: bool = False) -> None:
        image = self._image[point.table]
        if initial:
            for address in range(point.address, point.end):
                image[address] = 0
            return
        if point.table.is_bit:
            image[point.address] = 1 if value else 0
            return
        words = point.codec.encode(value)
        for offset, word in enumerate(words):
            image[point.address + offset] = word

    def value(self, point_name: str) -> float:
        """The engineering value of a point in the register image now (for monitoring and tests)."""
        point = self.register_map.point(point_name)
        return self._load(point)

    def _load(self, point: Point) -> float:
        image = self._image[point.table]
        if point.table.is_bit:
            return float(image[point.address])
        return point.codec.decode([image[a] for a in range(point.address, point.end)])

    def _publish(self) -> None:
        """Encode the component's current outputs (and model time) into the image."""
        try:
            values = self.component.get_outputs(self._output_names) if self._output_names else np.empty(0)
        except ComponentError:
            raise
        except Exception as exc:  # as in _step: a failing component is a device failure
            raise ComponentError(self.component.name, f"{type(exc).__name__}: {exc}", time=self.time) from exc
        for point in self._outputs:
            value = float(values[self._output_index[point.variable]])
            try:
                self._store(point, value)
                self._failed_points.discard(point.name)
            except CodecError:
                if point.codec.not_available is not None:
                    sentinel = encode_raw(point.codec.not_available, point.codec.data_type, point.codec.word_order)
                    for offset, word in enumerate(sentinel):
                        self._image[point.table][point.address + offset] = word
                    self._failed_points.discard(point.name)
                else:
                    self._failed_points.add(point.name)
        if self._time_point is not None:
            self._store(self._time_point, self.time)

    def _step(self, dt: float) -> None:
        """Inputs from the image -> component -> outputs into the image. Raises ComponentError."""
        self._guarded(self.component.set_inputs, self._image_inputs())
        outcome = self._guarded(self.component.do_step, self.time, dt)
        if not outcome.ok:
            raise ComponentError(
                self.component.name,
                f"step from t = {self.time:g} s by {dt:g} s ended {outcome.status.value}: {outcome.message}",
                time=self.time,
            )
        self.time += dt
        self.stats.steps += 1
        self._publish()

    def _refresh(self) -> None:
        """Inputs from the image -> component, outputs re-evaluated into the image, no step.

        In lock step this answers the first read after an input write without the trigger, as an FMU
        re-evaluates its outputs when inputs are set at a communication point. Raises ComponentError.
        """
        self._guarded(self.component.set_inputs, self._image_inputs())
        self.stats.refreshes += 1
        self._publish()

    def _guarded(self, call: Callable[..., Any], *args: Any) -> Any:
        """``call(*args)`` on the served component: any failure of it is a device failure (ComponentError
        naming the component), never a crash of the server."""
        try:
            return call(*args)
        except ComponentError:
            raise
        except Exception as exc:
            raise ComponentError(self.component.name, f"{type(exc).__name__}: {exc}", time=self.time) from exc

    def _image_inputs(self) -> dict[str, float]:
        """The inputs clients have written, as the component takes them (integers rounded)."""
        inputs = {point.variable: self._load(point) for point in self._inputs if point.name in self._written}
        variables = self.component.variables
        for point in self._inputs:
            if point.name in self._written and variables[point.variable].type is not VariableType.REAL:
                inputs[point.variable] = float(round(inputs[point.variable]))
        return inputs

    def _apply_safe_values(self) -> None:
        for point in self._inputs:
            if point.safe_value is not None:
                self._store(point, point.safe_value)
                self._written.add(point.name)

    # ------------------------------------------------------------------ PDU handling

    def handle_pdu(self, pdu: bytes) -> bytes:
        """The response PDU for one request PDU (function code + data). Never raises."""
        self.stats.requests += 1
        if not pdu:
            return self._exception(0, ExceptionCode.ILLEGAL_FUNCTION)
        function = pdu[0]
        data = pdu[1:]
        handler = _HANDLERS.get(function)
        if handler is None:
            return self._exception(function, ExceptionCode.ILLEGAL_FUNCTION)
        if self._stopped_by_error:
            return self._exception(function, ExceptionCode.SERVER_DEVICE_FAILURE)
        try:
            return handler(self, function, data)
        except ComponentError as exc:
            self.stats.step_errors.append(str(exc))
            return self._exception(function, ExceptionCode.SERVER_DEVICE_FAILURE)

    def _exception(self, function: int, code: ExceptionCode) -> bytes:
        self.stats.exceptions[int(code)] = self.stats.exceptions.get(int(code), 0) + 1
        return bytes([(function | 0x80) & 0xFF, int(code)])

    def _read(self, function: int, data: bytes) -> bytes:
        table = _READ_TABLE[function]
        limit = 2000 if table.is_bit else 125
        if len(data) != 4:
            return self._exception(function, ExceptionCode.ILLEGAL_DATA_VALUE)
        address, count = struct.unpack(">HH", data)
        if not 1 <= count <= limit:
            return self._exception(function, ExceptionCode.ILLEGAL_DATA_VALUE)
        if self._stale:
            self._stale = False
            self._refresh()
        image = self._image[table]
        try:
            words = [image[a] for a in range(address, address + count)]
        except KeyError:
            return self._exception(function, ExceptionCode.ILLEGAL_DATA_ADDRESS)
        if self._failed_points:
            for a in range(address, address + count):
                owner = self.guard.owner(table, a)
                if owner is not None and owner.name in self._failed_points:
                    return self._exception(function, ExceptionCode.SERVER_DEVICE_FAILURE)
        if table.is_bit:
            packed = _pack_bits(words)
            return bytes([function, len(packed)]) + packed
        return bytes([function, 2 * count]) + struct.pack(f">{count}H", *words)

    def _write(self, function: int, table: Table, address: int, values: list[int]) -> ExceptionCode | None:
        code = self.guard.check(table, address, values)
        if code is not None:
            return code
        image = self._image[table]
        for offset, word in enumerate(values):
            image[address + offset] = word
        end = address + len(values)
        inputs_written = False
        for point in self._inputs:
            if point.table is table and address <= point.address < end:
                self._written.add(point.name)
                inputs_written = True
        if self._heartbeat is not None and table is Table.HOLDING and address <= self._heartbeat.address < end:
            self._last_heartbeat = time.monotonic()
        if self.mode == "trigger":
            if table is Table.HOLDING and address <= self._trigger.address < end:
                self._stale = False
                self._step(self._load(self._trigger))
            elif inputs_written:
                self._stale = True
        return None

    def _write_single(self, function: int, data: bytes) -> bytes:
        if len(data) != 4:
            return self._exception(function, ExceptionCode.ILLEGAL_DATA_VALUE)
        address, value = struct.unpack(">HH", data)
        if function == 0x05:
            if value not in (0x0000, 0xFF00):
                return self._exception(function, ExceptionCode.ILLEGAL_DATA_VALUE)
            code = self._write(function, Table.COIL, address, [1 if value else 0])
        else:
            code = self._write(function, Table.HOLDING, address, [value])
        if code is not None:
            return self._exception(function, code)
        return bytes([function]) + data

    def _write_multiple(self, function: int, data: bytes) -> bytes:
        if len(data) < 5:
            return self._exception(function, ExceptionCode.ILLEGAL_DATA_VALUE)
        address, count, byte_count = struct.unpack(">HHB", data[:5])
        payload = data[5:]
        if function == 0x0F:
            if not 1 <= count <= 1968 or byte_count != (count + 7) // 8 or len(payload) != byte_count:
                return self._exception(function, ExceptionCode.ILLEGAL_DATA_VALUE)
            values = [(payload[i // 8] >> (i % 8)) & 1 for i in range(count)]
            code = self._write(function, Table.COIL, address, values)
        else:
            if not 1 <= count <= 123 or byte_count != 2 * count or len(payload) != byte_count:
                return self._exception(function, ExceptionCode.ILLEGAL_DATA_VALUE)
            values = list(struct.unpack(f">{count}H", payload))
            code = self._write(function, Table.HOLDING, address, values)
        if code is not None:
            return self._exception(function, code)
        return bytes([function]) + data[:4]

    # ------------------------------------------------------------------ network

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        except BaseException as exc:  # reported to start(); the thread must not die silently
            self._startup_error = exc
            self._ready.set()
        finally:
            loop.close()

    async def _main(self) -> None:
        self._stop_event = asyncio.Event()
        server = await asyncio.start_server(self._serve_client, self.host, self.port)
        self.port = server.sockets[0].getsockname()[1]
        tasks = []
        self._wall_start = time.perf_counter()
        if self.mode == "free":
            tasks.append(asyncio.ensure_future(self._free_run()))
        self._ready.set()
        try:
            await self._stop_event.wait()
        finally:
            server.close()
            pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def _free_run(self) -> None:
        loop = asyncio.get_running_loop()
        wall_period = self.period / self.realtime_factor
        t0 = loop.time()
        tick = 0
        while True:
            tick += 1
            due = t0 + tick * wall_period
            await asyncio.sleep(max(0.0, due - loop.time()))
            now = loop.time()
            overrun = now > due + wall_period
            self.deadlines.record(now - due, overrun)
            hb = self.register_map.device.heartbeat_timeout
            if self._heartbeat is not None and hb is not None and time.monotonic() - self._last_heartbeat > hb:
                self._apply_safe_values()
                self.stats.watchdog_trips += 1
                self._last_heartbeat = time.monotonic()
            try:
                self._step(self.period)
            except ComponentError as exc:
                self.stats.step_errors.append(str(exc))
                self._stopped_by_error = True
                return
            if overrun:
                t0 = now - tick * wall_period

    async def _serve_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._connections >= self.max_connections:
            self.stats.refused_connections += 1
            writer.close()
            return
        self._connections += 1
        try:
            while True:
                header = await asyncio.wait_for(reader.readexactly(7), self.idle_timeout)
                transaction, protocol, length, unit = _MBAP.unpack(header)
                if not 2 <= length <= 254:
                    self.stats.malformed += 1
                    break
                pdu = await asyncio.wait_for(reader.readexactly(length - 1), 5.0)
                if protocol != 0:
                    self.stats.malformed += 1
                    continue
                if unit not in (self.register_map.device.unit_id, 0xFF):
                    response = self._exception(pdu[0], ExceptionCode.GATEWAY_TARGET_FAILED)
                else:
                    response = self.handle_pdu(pdu)
                writer.write(_MBAP.pack(transaction, 0, len(response) + 1, unit) + response)
                await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._connections -= 1
            writer.close()


def _pack_bits(bits: Sequence[int]) -> bytes:
    packed = bytearray((len(bits) + 7) // 8)
    for i, bit in enumerate(bits):
        if bit:
            packed[i // 8] |= 1 << (i % 8)
    return bytes(packed)


_READ_TABLE = {0x01: Table.COIL, 0x02: Table.DISCRETE_INPUT, 0x03: Table.HOLDING, 0x04: Table.INPUT}
_HANDLERS = {
    0x01: DeviceServer._read,
    0x02: DeviceServer._read,
    0x03: DeviceServer._read,
    0x04: DeviceServer._read,
    0x05: DeviceServer._write_single,
    0x06: DeviceServer._write_single,
    0x0F: DeviceServer._write_multiple,
    0x10: DeviceServer._write_multiple,
}
