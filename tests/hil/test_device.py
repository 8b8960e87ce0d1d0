"""ModbusDevice against the served tank on 127.0.0.1: values, batching, validation, set-point read-back."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hil_tank_double import HeatedTank
from hypothesis import given
from hypothesis import strategies as st

from kreislauf.component import Component, ComponentError
from kreislauf.hil.codec import Codec, DataType
from kreislauf.hil.device import FaultKind, ModbusDevice, plan_spans
from kreislauf.hil.registermap import Point, Table
from kreislauf.hil.server import DeviceServer

OUTPUTS = ["tank_temperature", "stored_energy_change", "heat_loss", "heater_energy", "pump_running"]


@pytest.fixture
def device_factory():
    devices = []

    def make(register_map, port, **kwargs) -> ModbusDevice:
        device = ModbusDevice("tank", register_map, "127.0.0.1", port, **kwargs)
        devices.append(device)
        return device

    yield make
    for device in devices:
        device.close()


def inputs_at(k: int) -> dict[str, float]:
    return {
        "heater_power": 4000.0 + 25.0 * k,
        "external_heat": float(-3000 + 41 * k),
        "ambient_temperature": 273.15 + 0.1 * (k % 200),
        "pump_on": float(k % 3 == 0),
    }


def test_device_is_a_component_that_never_rolls_back(tank_map, served_tank, device_factory):
    device = device_factory(tank_map, served_tank.port)
    assert isinstance(device, Component)
    assert device.can_rollback is False
    with pytest.raises(ComponentError, match="cannot save"):
        device.save_state()


def test_lock_step_device_matches_the_simulated_tank_within_codec_resolution(tank_map, served_tank, device_factory):
    device = device_factory(tank_map, served_tank.port)
    reference = HeatedTank()
    device.setup(0.0, None, {})
    reference.setup(0.0, None, {})
    dt = 30.0
    for k in range(60):
        u = inputs_at(k)
        device.set_inputs(u)
        # the reference sees what the wire carries: ambient temperature in 0.1 K steps
        reference.set_inputs(
            dict(u, ambient_temperature=273.15 + round((u["ambient_temperature"] - 273.15) / 0.1) * 0.1)
        )
        assert device.do_step(k * dt, dt).ok
        reference.do_step(k * dt, dt)
        got = device.get_outputs(OUTPUTS)
        want = reference.get_outputs(OUTPUTS)
        assert got[0] == pytest.approx(want[0], rel=2.0**-24)  # float32
        assert abs(got[1] - want[1]) <= 500.0  # int32 in kJ
        assert abs(got[2] - want[2]) <= 5.0 + 1e-6  # int16 in 10 W
        assert abs(got[3] - want[3]) <= 500.0  # uint32 in kJ
        assert got[4] == want[4]
    assert device.faults == []
    # per step: one write for inputs + trigger (holding 0..6), one coil write, and four reads (holding
    # 0..1 read-back, holding 22..23, input 0..15, discrete 0); setup: the first heartbeat (holding 20)
    # and the four reads; a further heartbeat write at most once per wall second
    heartbeats = device.requests - (1 + 4) - 60 * 6
    assert 0 <= heartbeats <= 5


def test_out_of_range_inputs_are_errors_naming_the_variable_and_range(tank_map, served_tank, device_factory):
    device = device_factory(tank_map, served_tank.port)
    device.setup(0.0, None, {})
    with pytest.raises(ComponentError) as info:
        device.set_inputs({"heater_power": 25000.0})
    message = str(info.value)
    assert "heater_power" in message and "heater_power_set" in message and "[0, 20000] W" in message
    with pytest.raises(ComponentError, match="not an input"):
        device.set_inputs({"tank_temperature": 300.0})
    with pytest.raises(ComponentError, match="heater_power"):
        device.set_inputs({"heater_power": math.nan})
    with pytest.raises(ComponentError, match="no point"):
        device.get_outputs(["nonexistent"])


def test_step_size_the_trigger_cannot_carry_is_an_error(tank_map, served_tank, device_factory):
    device = device_factory(tank_map, served_tank.port)
    device.setup(0.0, None, {})
    with pytest.raises(ComponentError, match="resolution 0.001 s"):
        device.do_step(0.0, 0.0005 + 0.001)


def test_device_variables_come_from_the_map_or_the_component(tank_map, served_tank, device_factory):
    derived = device_factory(tank_map, served_tank.port)
    assert derived.variables["heater_power"].causality.value == "input"
    assert derived.variables["heater_power"].maximum == 20000.0
    assert derived.variables["tank_temperature"].causality.value == "output"
    given_vars = device_factory(tank_map, served_tank.port, variables=HeatedTank().variables)
    assert given_vars.variables["external_heat"].type.value == "Integer"


def test_readback_mismatch_is_a_fault_naming_the_point(tank_map, served_tank, proxy_factory, device_factory):
    proxy = proxy_factory(served_tank.port)
    device = device_factory(tank_map, proxy.port)
    device.setup(0.0, None, {})
    device.set_inputs({"heater_power": 1000.0})

    def tamper(pdu: bytes) -> bytes:
        return pdu[:2] + bytes([pdu[2] ^ 0x01]) + pdu[3:] if pdu[0] == 0x03 else pdu

    proxy.rewrite(tamper, n=10)  # only holding-register replies are altered: the read-back of the set point
    outcome = device.do_step(0.0, 1.0)
    assert not outcome.ok
    fault = device.faults[-1]
    assert fault.kind is FaultKind.READBACK and fault.point == "heater_power_set"
    assert "heater_power_set" in outcome.message


def test_short_reply_is_detected(tank_map, served_tank, proxy_factory, device_factory):
    proxy = proxy_factory(served_tank.port)
    device = device_factory(tank_map, proxy.port)
    device.setup(0.0, None, {})

    def shorten(pdu: bytes) -> bytes:  # an input-register reply with one register less
        if pdu[0] == 0x04:
            return bytes([0x04, pdu[1] - 2]) + pdu[2:-2]
        return pdu

    proxy.rewrite(shorten, n=10)
    outcome = device.do_step(0.0, 1.0)
    assert not outcome.ok
    assert device.faults[-1].kind is FaultKind.REPLY
    assert device.faults[-1].point == "tank_temperature"


def test_not_available_value_is_a_fault(tank_map, served_tank, proxy_factory, device_factory):
    proxy = proxy_factory(served_tank.port)
    device = device_factory(tank_map, proxy.port)
    device.setup(0.0, None, {})

    def sentinel(pdu: bytes) -> bytes:  # heat_loss is input register 8 -> bytes 2 + 16 .. 18
        if pdu[0] == 0x04:
            return pdu[:18] + b"\x80\x00" + pdu[20:]
        return pdu

    proxy.rewrite(sentinel, n=10)
    assert not device.do_step(0.0, 1.0).ok
    assert (device.faults[-1].kind, device.faults[-1].point) == (FaultKind.NOT_AVAILABLE, "heat_loss")


def test_rate_limit_holds_values_between_polls_of_a_free_running_device(free_map, device_factory):
    from dataclasses import replace

    limited = replace(free_map, device=replace(free_map.device, min_interval=10.0))
    with DeviceServer(HeatedTank(), limited, period=0.01) as server:
        device = device_factory(limited, server.port)
        device.setup(0.0, None, {})
        for k in range(20):
            assert device.do_step(k * 0.01, 0.01).ok
        assert device.exchanges == 0  # within 10 s of the setup exchange: no step talks to the device
        # the setup exchange only: the heartbeat (holding 20); reads of discrete 0, holding 0..1
        # (read-back), holding 22..23, input 0..15
        assert device.requests == 5
        device.close()


def point(name: str, table: Table, address: int, data_type: DataType) -> Point:
    return Point(name, table, address, Codec(data_type))


@given(
    st.lists(
        st.tuples(st.sampled_from(list(Table)), st.sampled_from([DataType.INT16, DataType.FLOAT32, DataType.FLOAT64])),
        min_size=1,
        max_size=30,
    ),
    st.lists(st.booleans(), min_size=30, max_size=30),
    st.integers(4, 125),
)
def test_spans_cover_every_point_once_and_merge_every_contiguous_run(layout, gaps, limit):
    points, next_free = [], {t: 0 for t in Table}
    for i, (table, data_type) in enumerate(layout):
        if table.is_bit:
            data_type = DataType.BOOL
        address = next_free[table] + (1 if gaps[i] else 0)
        p = point(f"p{i}", table, address, data_type)
        points.append(p)
        next_free[table] = p.end
    spans = plan_spans(points, limit)
    covered = [p.name for s in spans for p in s.points]
    assert sorted(covered) == sorted(p.name for p in points)
    for s in spans:
        assert s.count <= limit
        assert all(p.table is s.table for p in s.points)
        assert s.points[0].address == s.address and s.points[-1].end == s.address + s.count
        assert all(a.end == b.address for a, b in zip(s.points, s.points[1:], strict=False))  # no gaps inside
    # minimal: two consecutive spans are only separate when a gap, a table change or the limit splits them
    for a, b in zip(spans, spans[1:], strict=False):
        joined = a.count + b.count
        assert a.table is not b.table or a.address + a.count != b.address or joined > limit


def test_device_values_are_numpy_arrays_in_the_order_asked(tank_map, served_tank, device_factory):
    device = device_factory(tank_map, served_tank.port)
    device.setup(0.0, None, {})
    values = device.get_outputs(["heater_power", "tank_temperature"])
    assert isinstance(values, np.ndarray) and values.shape == (2,)
    assert math.isnan(values[0])  # never set: the device keeps its own value, unknown to the master
    assert values[1] == pytest.approx(313.15, rel=2.0**-24)
    device.set_inputs({"heater_power": 1500.0})
    assert device.do_step(0.0, 1.0).ok
    assert list(device.get_outputs(["heater_power"])) == [1500.0]


def test_inputs_never_set_keep_the_device_values(tank_map, served_tank, device_factory):
    device = device_factory(tank_map, served_tank.port)
    device.setup(0.0, None, {})
    device.set_inputs({"heater_power": 1500.0})
    assert device.do_step(0.0, 1.0).ok
    assert served_tank.value("heater_power_set") == 1500.0
    assert served_tank.value("ambient_temperature_set") == pytest.approx(283.15)  # the tank's start value
    assert served_tank.value("external_heat_set") == 0.0


def test_heartbeat_counter_is_written_once_per_interval(tank_map, served_tank, device_factory):
    now = [0.0]
    device = device_factory(tank_map, served_tank.port, clock=lambda: now[0])
    device.setup(0.0, None, {})
    assert served_tank.value("heartbeat") == 1.0
    for k, wall in enumerate([0.3, 0.6, 1.0, 1.5, 2.2, 2.4]):
        now[0] = wall
        assert device.do_step(k * 1.0, 1.0).ok
    # interval 1 s: written at 0 (setup), 1.0 and 2.2
    assert served_tank.value("heartbeat") == 3.0


def test_bool_inputs_must_be_0_or_1(tank_map, served_tank, device_factory):
    device = device_factory(tank_map, served_tank.port)
    with pytest.raises(ComponentError, match="pump_on"):
        device.set_inputs({"pump_on": 0.5})


def test_parameters_without_a_point_are_errors(tank_map, served_tank, device_factory):
    device = device_factory(tank_map, served_tank.port, variables=HeatedTank().variables)
    with pytest.raises(ComponentError, match="heat_capacity"):
        device.setup(0.0, None, {"heat_capacity": 1e6})


def test_device_from_system_file_options(served_tank):
    from kreislauf.hil import DeviceOptionsError, device_from_options

    here = Path(__file__).resolve().parent
    device = device_from_options(
        "hp", {"map": "tank_map.toml", "port": served_tank.port, "policy": "hold", "hold_time": 3}, here
    )
    try:
        device.setup(0.0, None, {})
        assert device.do_step(0.0, 1.0).ok
        assert (device.policy.value, device.hold_time, device.port) == ("hold", 3.0, served_tank.port)
    finally:
        device.close()
    bad = [
        ({"map": "tank_map.toml", "port": 70000}, "'port': must be an integer in [1, 65535]"),
        ({"map": "tank_map.toml", "policy": "retry"}, "'policy': must be one of stop | hold | fallback"),
        ({"map": "tank_map.toml", "policy": "fallback"}, "'fallback': policy 'fallback' needs"),
        ({"map": "tank_map.toml", "hold_time": -1}, "'hold_time': must be a number of seconds >= 0"),
        ({"map": "tank_map.toml", "adress": "x"}, "'adress': unknown option"),
        ({"port": 502}, "'map': required"),
    ]
    for options, fragment in bad:
        with pytest.raises(DeviceOptionsError) as info:
            device_from_options("hp", options, here)
        assert str(info.value).startswith("component 'hp', device option") and fragment in str(info.value)


def test_a_device_standing_in_for_a_component_keeps_the_ports_its_map_carries(tank_map, served_tank):
    from kreislauf.component import EnergyPort, PortKind

    class PortedTank(HeatedTank):
        energy_ports = {
            "heater": EnergyPort("heater", PortKind.ELECTRICAL, power="heater_power", energy="heater_energy"),
            "wall": EnergyPort("wall", PortKind.HEAT, power="wall_heat", energy="wall_energy"),  # not in the map
        }
        stored_energy = "stored_energy_change"

    device = ModbusDevice("tank", tank_map, "127.0.0.1", served_tank.port, policy="fallback", fallback=PortedTank())
    try:
        assert set(device.energy_ports) == {"heater"}
        assert device.stored_energy == "stored_energy_change"
    finally:
        device.close()
