"""The device server against a pymodbus client and raw sockets on 127.0.0.1."""

from __future__ import annotations

import math
import socket
import struct
import time

import pytest
from hil_tank_double import UA, HeatedTank
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymodbus.client import ModbusTcpClient

from kreislauf.component import ComponentError, StepOutcome
from kreislauf.hil.codec import CodecError
from kreislauf.hil.registermap import Table
from kreislauf.hil.server import DeviceServer, ExceptionCode, WriteGuard

F32 = ModbusTcpClient.DATATYPE.FLOAT32
F64 = ModbusTcpClient.DATATYPE.FLOAT64
I32 = ModbusTcpClient.DATATYPE.INT32
U32 = ModbusTcpClient.DATATYPE.UINT32


@pytest.fixture
def client_factory():
    clients = []

    def make(port: int) -> ModbusTcpClient:
        client = ModbusTcpClient("127.0.0.1", port=port, timeout=1.0, retries=0)
        assert client.connect()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def tank_temperature(t: float, t0: float, ambient: float, power: float, capacity: float = 4.18e6) -> float:
    """Closed form of C dT/dt = P - UA (T - T_amb) at constant inputs."""
    t_inf = ambient + power / UA
    return t_inf + (t0 - t_inf) * math.exp(-t * UA / capacity)


def raw_request(sock: socket.socket, pdu: bytes, transaction: int = 7, unit: int = 1) -> tuple[int, bytes]:
    sock.sendall(struct.pack(">HHHB", transaction, 0, len(pdu) + 1, unit) + pdu)
    header = recv_exactly(sock, 7)
    tid, _, length, _ = struct.unpack(">HHHB", header)
    return tid, recv_exactly(sock, length - 1)


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def test_binds_to_loopback_by_default(served_tank):
    assert served_tank.host == "127.0.0.1"
    with socket.create_connection(("127.0.0.1", served_tank.port), timeout=2):
        pass


def test_lock_step_trigger_advances_the_tank_by_the_closed_form(served_tank, client_factory):
    client = client_factory(served_tank.port)
    assert not client.write_registers(0, client.convert_to_registers(8000.0, F32), device_id=1).isError()
    assert not client.write_registers(
        2, client.convert_to_registers(-2000, I32, word_order="little"), device_id=1
    ).isError()
    assert not client.write_register(4, 100, device_id=1).isError()  # 273.15 + 10.0 K
    for _ in range(3):  # three steps of 600 s (600000 ms)
        assert not client.write_registers(5, client.convert_to_registers(600000, U32), device_id=1).isError()
    regs = client.read_input_registers(0, count=16, device_id=1).registers
    expected = tank_temperature(1800.0, 313.15, 283.15, 6000.0)
    assert client.convert_from_registers(regs[0:2], F32) == pytest.approx(expected, rel=1e-7)
    assert client.convert_from_registers(regs[2:4], F32, word_order="little") == pytest.approx(expected, rel=1e-7)
    assert regs[9] * 0.01 == pytest.approx(expected, abs=0.006)
    assert client.convert_from_registers(regs[10:14], F64) == 1800.0
    stored = 4.18e6 * (expected - 313.15)
    assert client.convert_from_registers(regs[4:6], I32) * 1000.0 == pytest.approx(stored, abs=500.0)
    assert client.convert_from_registers(regs[6:8], I32, word_order="little") * 1000.0 == pytest.approx(
        stored, abs=500.0
    )
    assert client.convert_from_registers(regs[14:16], U32) * 1000.0 == pytest.approx(8000.0 * 1800.0, abs=500.0)
    assert served_tank.stats.steps == 3


def test_writes_beyond_min_max_are_refused_with_exception_03(served_tank, client_factory):
    client = client_factory(served_tank.port)
    before = served_tank.value("heater_power_set")
    for value in (20000.5, -1.0, math.nan, math.inf):
        reply = client.write_registers(0, client.convert_to_registers(value, F32), device_id=1)
        assert reply.isError() and reply.exception_code == ExceptionCode.ILLEGAL_DATA_VALUE
    assert served_tank.value("heater_power_set") == before
    reply = client.write_registers(0, client.convert_to_registers(20000.0, F32), device_id=1)
    assert not reply.isError() and served_tank.value("heater_power_set") == 20000.0


def test_half_of_a_32_bit_point_cannot_be_written(served_tank, client_factory):
    client = client_factory(served_tank.port)
    reply = client.write_register(1, 0, device_id=1)
    assert reply.isError() and reply.exception_code == ExceptionCode.ILLEGAL_DATA_VALUE


def test_read_only_and_unmapped_registers_are_refused_with_exception_02(served_tank, client_factory):
    client = client_factory(served_tank.port)
    reply = client.write_registers(22, client.convert_to_registers(300.0, F32), device_id=1)
    assert reply.isError() and reply.exception_code == ExceptionCode.ILLEGAL_DATA_ADDRESS
    reply = client.write_register(100, 1, device_id=1)
    assert reply.isError() and reply.exception_code == ExceptionCode.ILLEGAL_DATA_ADDRESS
    reply = client.read_holding_registers(14, count=2, device_id=1)  # gap between points
    assert reply.isError() and reply.exception_code == ExceptionCode.ILLEGAL_DATA_ADDRESS


def test_a_multi_point_write_is_all_or_nothing(served_tank, client_factory):
    client = client_factory(served_tank.port)
    good = client.convert_to_registers(1000.0, F32)
    bad = client.convert_to_registers(60000, I32, word_order="little")  # external_heat max is 50000
    reply = client.write_registers(0, good + bad, device_id=1)
    assert reply.isError() and reply.exception_code == ExceptionCode.ILLEGAL_DATA_VALUE
    assert served_tank.value("heater_power_set") == 0.0


def test_coils_and_discrete_inputs(served_tank, client_factory):
    client = client_factory(served_tank.port)
    assert not client.write_coil(0, True, device_id=1).isError()
    assert client.read_coils(0, count=1, device_id=1).bits[0] is True
    client.write_registers(5, client.convert_to_registers(1000, U32), device_id=1)
    assert client.read_discrete_inputs(0, count=1, device_id=1).bits[0] is True
    reply = client.write_coil(1, True, device_id=1)
    assert reply.isError() and reply.exception_code == ExceptionCode.ILLEGAL_DATA_ADDRESS


def test_unknown_function_and_pipelined_requests_over_a_raw_socket(served_tank):
    with socket.create_connection(("127.0.0.1", served_tank.port), timeout=2) as sock:
        tid, pdu = raw_request(sock, bytes([0x41, 0, 0]), transaction=11)
        assert (tid, pdu) == (11, bytes([0xC1, 0x01]))
        tid, pdu = raw_request(sock, bytes([0x03, 0, 0, 0, 0]), transaction=12)  # count 0
        assert (tid, pdu) == (12, bytes([0x83, 0x03]))
        frames = b"".join(struct.pack(">HHHB", 100 + i, 0, 6, 1) + bytes([0x04, 0, 10, 0, 4]) for i in range(3))
        sock.sendall(frames)  # three requests in one segment: all three answered, in order
        for i in range(3):
            header = recv_exactly(sock, 7)
            tid, _, length, _ = struct.unpack(">HHHB", header)
            body = recv_exactly(sock, length - 1)
            assert tid == 100 + i and body[:2] == bytes([0x04, 8])


def assert_serves_well_formed_client(port: int) -> None:
    client = ModbusTcpClient("127.0.0.1", port=port, timeout=1.0, retries=0)
    try:
        assert client.connect()
        reply = client.read_input_registers(10, count=4, device_id=1)
        assert not reply.isError() and len(reply.registers) == 4
    finally:
        client.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(garbage=st.binary(min_size=1, max_size=600))
def test_random_bytes_never_stop_the_server(served_tank, garbage):
    with socket.create_connection(("127.0.0.1", served_tank.port), timeout=2) as sock:
        sock.sendall(garbage)
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(0.5)
        try:
            while sock.recv(4096):
                pass
        except (TimeoutError, ConnectionError):
            pass
    assert_serves_well_formed_client(served_tank.port)


def test_oversized_length_and_foreign_protocol_id_are_dropped(served_tank):
    with socket.create_connection(("127.0.0.1", served_tank.port), timeout=2) as sock:
        sock.sendall(struct.pack(">HHHB", 1, 7, 6, 1) + bytes([0x04, 0, 10, 0, 4]))  # protocol 7: ignored
        tid, pdu = raw_request(sock, bytes([0x04, 0, 10, 0, 4]), transaction=2)
        assert tid == 2 and pdu[0] == 0x04
        sock.sendall(struct.pack(">HHHB", 3, 0, 0xFFFF, 1) + b"\x04")  # impossible length: closed
        sock.settimeout(2)
        assert sock.recv(10) == b""
    assert served_tank.stats.malformed == 2
    assert_serves_well_formed_client(served_tank.port)


def test_connections_beyond_the_cap_are_refused(tank_map):
    with DeviceServer(HeatedTank(), tank_map, max_connections=2) as server:
        first = socket.create_connection(("127.0.0.1", server.port), timeout=2)
        second = socket.create_connection(("127.0.0.1", server.port), timeout=2)
        try:
            raw_request(first, bytes([0x04, 0, 10, 0, 4]))
            raw_request(second, bytes([0x04, 0, 10, 0, 4]))
            with socket.create_connection(("127.0.0.1", server.port), timeout=2) as third:
                third.settimeout(2)
                assert third.recv(10) == b""
        finally:
            first.close()
            second.close()
        deadline = time.monotonic() + 5
        while server.connections and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.stats.refused_connections == 1
        assert_serves_well_formed_client(server.port)


def test_free_running_server_follows_the_wall_clock_and_the_closed_form(free_map, client_factory):
    with DeviceServer(HeatedTank(), free_map, period=0.01) as server:
        client = client_factory(server.port)
        client.write_registers(0, client.convert_to_registers(15000.0, F32), device_id=1)
        client.write_register(4, 0, device_id=1)  # 273.15 K
        time.sleep(0.4)
        regs = client.read_input_registers(0, count=16, device_id=1).registers
        model_time = client.convert_from_registers(regs[10:14], F64)
        temperature = client.convert_from_registers(regs[0:2], F32)
    report = server.realtime_report()
    steps = round(model_time / 0.01)
    assert steps >= 10 and model_time == pytest.approx(steps * 0.01, abs=1e-9)  # whole steps of 10 ms
    assert steps <= server.stats.steps == report.steps
    # inputs changed once, early; the tank is linear, so T stays between the two constant-input closed forms
    low = tank_temperature(model_time, 313.15, 283.15, 0.0)
    high = tank_temperature(model_time, 313.15, 273.15, 15000.0)
    assert min(low, high) - 1e-4 <= temperature <= max(low, high) + 1e-4


def test_heartbeat_watchdog_restores_safe_values(free_map):
    from dataclasses import replace

    watched = replace(free_map, device=replace(free_map.device, heartbeat_timeout=0.1))
    with DeviceServer(HeatedTank(), watched, period=0.01) as server:
        client = ModbusTcpClient("127.0.0.1", port=server.port, timeout=1.0, retries=0)
        try:
            client.connect()
            client.write_registers(0, client.convert_to_registers(5000.0, F32), device_id=1)
            client.write_register(20, 1, device_id=1)
            assert server.value("heater_power_set") == 5000.0
            deadline = time.monotonic() + 3
            while server.stats.watchdog_trips == 0 and time.monotonic() < deadline:
                time.sleep(0.01)
        finally:
            client.close()
        assert server.stats.watchdog_trips >= 1
        assert server.value("heater_power_set") == 0.0  # the safe value in the map


class FailingTank(HeatedTank):
    """Fails every step after the second one: with a ComponentError, then with a plain bug."""

    def do_step(self, t: float, dt: float) -> StepOutcome:
        if self.steps == 2:
            self.steps += 1
            raise ComponentError(self.name, "solver diverged", time=t)
        if self.steps > 2:
            raise ZeroDivisionError("division by zero")
        return super().do_step(t, dt)


def test_a_failing_component_answers_exception_04_and_keeps_serving(tank_map, client_factory):
    with DeviceServer(FailingTank(), tank_map) as server:
        client = client_factory(server.port)
        trigger = client.convert_to_registers(1000, U32)
        assert not client.write_registers(5, trigger, device_id=1).isError()
        assert not client.write_registers(5, trigger, device_id=1).isError()
        reply = client.write_registers(5, trigger, device_id=1)
        assert reply.isError() and reply.exception_code == ExceptionCode.SERVER_DEVICE_FAILURE
        assert "solver diverged" in server.stats.step_errors[0]
        reply = client.write_registers(5, trigger, device_id=1)
        assert reply.isError() and reply.exception_code == ExceptionCode.SERVER_DEVICE_FAILURE
        assert "ZeroDivisionError" in server.stats.step_errors[1]
        assert not client.read_input_registers(10, count=4, device_id=1).isError()


def test_a_map_that_does_not_fit_the_component_is_refused(tank_map):
    from kreislauf.hil.registermap import RegisterMapError

    class Smaller(HeatedTank):
        def __init__(self):
            super().__init__()
            del self.variables["heat_loss"]

    with pytest.raises(RegisterMapError, match="heat_loss"):
        DeviceServer(Smaller(), tank_map)


# ---------------------------------------------------------------- the write guard, property-tested


def oracle_allows(register_map, table: Table, address: int, words: list[int]) -> bool:
    """Independent statement of the rule: every register belongs to a writable point, every touched
    point is written completely, and its value lies within [min, max]."""
    end = address + len(words)
    for point in register_map.points.values():
        if point.table is not table or point.end <= address or point.address >= end:
            continue
        if not point.writable or point.address < address or point.end > end:
            return False
        chunk = words[point.address - address : point.end - address]
        if table.is_bit:
            value = float(chunk[0] != 0)
        else:
            try:
                value = point.codec.decode(chunk)
            except CodecError:
                return False
        if not (point.minimum <= value <= point.maximum):
            return False
    covered = sum(
        max(0, min(p.end, end) - max(p.address, address)) for p in register_map.points.values() if p.table is table
    )
    return covered == len(words)


@st.composite
def writes(draw, register_map):
    points = [p for p in register_map.points.values() if p.table in (Table.HOLDING, Table.COIL)]
    point = draw(st.sampled_from(points))
    start = point.address + draw(st.integers(-2, 2))
    count = draw(st.integers(1, 8))
    if point.table.is_bit:
        words = draw(st.lists(st.integers(0, 1), min_size=count, max_size=count))
    elif draw(st.booleans()) and point.minimum is not None:
        span = point.maximum - point.minimum
        value = draw(st.floats(point.minimum - span, point.maximum + span))
        try:
            encoded = list(point.codec.encode(value))
        except CodecError:
            encoded = [0] * point.count
        start = point.address
        words = encoded + draw(st.lists(st.integers(0, 0xFFFF), max_size=3))
    else:
        words = draw(st.lists(st.integers(0, 0xFFFF), min_size=count, max_size=count))
    return point.table, max(0, start), words


def test_write_guard_never_lets_a_bad_write_through(tank_map):
    guard = WriteGuard(tank_map)

    @settings(max_examples=400, deadline=None)
    @given(writes(tank_map))
    def check(write):
        table, address, words = write
        allowed = guard.check(table, address, words) is None
        assert allowed == oracle_allows(tank_map, table, address, words)

    check()


def test_a_port_in_use_is_reported_at_start(served_tank, tank_map):
    second = DeviceServer(HeatedTank(), tank_map, port=served_tank.port)
    with pytest.raises(OSError):
        second.start()
    assert not second.running


def test_other_unit_ids_are_answered_with_exception_0b(served_tank):
    with socket.create_connection(("127.0.0.1", served_tank.port), timeout=2) as sock:
        assert raw_request(sock, bytes([0x04, 0, 10, 0, 4]), unit=7)[1] == bytes([0x84, 0x0B])
        assert raw_request(sock, bytes([0x04, 0, 10, 0, 4]), unit=0xFF)[1][:2] == bytes([0x04, 8])


def test_an_output_without_a_sentinel_that_cannot_be_encoded_reads_as_exception_04(tank_map, client_factory):
    class HotTank(HeatedTank):
        def _value(self, name: str) -> float:
            return 1e6 if name == "tank_temperature" else super()._value(name)  # beyond uint16 * 0.01 K

    with DeviceServer(HotTank(), tank_map) as server:
        client = client_factory(server.port)
        assert client.convert_from_registers(client.read_input_registers(0, count=2, device_id=1).registers, F32) == 1e6
        reply = client.read_input_registers(9, count=1, device_id=1)
        assert reply.isError() and reply.exception_code == ExceptionCode.SERVER_DEVICE_FAILURE


def test_a_reader_never_sees_a_half_published_step(served_tank):
    import threading

    stepper = ModbusTcpClient("127.0.0.1", port=served_tank.port, timeout=2.0, retries=0)
    reader = ModbusTcpClient("127.0.0.1", port=served_tank.port, timeout=2.0, retries=0)
    assert stepper.connect() and reader.connect()
    seen: list[tuple[float, float]] = []
    errors: list[str] = []

    def step() -> None:
        trigger = stepper.convert_to_registers(10000, U32)
        for _ in range(150):
            if stepper.write_registers(5, trigger, device_id=1).isError():
                errors.append("trigger refused")
                return

    try:
        stepper.write_registers(0, stepper.convert_to_registers(12000.0, F32), device_id=1)
        thread = threading.Thread(target=step)
        thread.start()
        while thread.is_alive():
            regs = reader.read_input_registers(0, count=14, device_id=1).registers
            seen.append(
                (reader.convert_from_registers(regs[10:14], F64), reader.convert_from_registers(regs[0:2], F32))
            )
        thread.join(timeout=30)
    finally:
        stepper.close()
        reader.close()
    assert not errors and len(seen) > 10
    assert len({t for t, _ in seen}) > 5  # the reader saw the tank at many different times
    for model_time, temperature in seen:  # each read is one consistent state: T(t) of the closed form
        assert temperature == pytest.approx(tank_temperature(model_time, 313.15, 283.15, 12000.0), rel=2.0**-23)


def test_a_free_running_component_that_fails_turns_every_answer_into_exception_04(free_map, client_factory):
    with DeviceServer(FailingTank(), free_map, period=0.01) as server:
        client = client_factory(server.port)
        deadline = time.monotonic() + 5
        while not server.stats.step_errors and time.monotonic() < deadline:
            time.sleep(0.01)
        assert "solver diverged" in server.stats.step_errors[0]
        reply = client.read_input_registers(0, count=2, device_id=1)
        assert reply.isError() and reply.exception_code == ExceptionCode.SERVER_DEVICE_FAILURE


frames = st.lists(
    st.one_of(
        st.tuples(st.just("read"), st.integers(0, 12), st.integers(1, 4)),  # within input 0..15
        st.tuples(st.just("junk"), st.binary(min_size=1, max_size=40)),
        st.tuples(st.just("foreign"), st.binary(min_size=1, max_size=10)),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=frames)
def test_pipelined_mixed_frames_are_answered_in_order(served_tank, sequence):
    """Every frame of protocol 0 gets exactly one reply with its transaction id, in order (data or an
    exception for junk PDUs); frames of another protocol get none; all sent in one segment."""
    payload, expected = b"", []
    for tid, frame in enumerate(sequence, start=1):
        if frame[0] == "read":
            pdu = struct.pack(">BHH", 0x04, frame[1], frame[2])
        else:
            pdu = frame[1]
        protocol = 5 if frame[0] == "foreign" else 0
        payload += struct.pack(">HHHB", tid, protocol, len(pdu) + 1, 1) + pdu
        if protocol == 0:
            expected.append((tid, frame))
    with socket.create_connection(("127.0.0.1", served_tank.port), timeout=5) as sock:
        sock.sendall(payload)
        for tid, frame in expected:
            header = recv_exactly(sock, 7)
            got_tid, protocol, length, unit = struct.unpack(">HHHB", header)
            body = recv_exactly(sock, length - 1)
            assert (got_tid, protocol, unit) == (tid, 0, 1)
            if frame[0] == "read":
                assert body[:2] == bytes([0x04, 2 * frame[2]])
            else:
                assert len(body) >= 2
                assert body[0] & 0x80 or body[0] in (0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x0F, 0x10)
    assert_serves_well_formed_client(served_tank.port)
