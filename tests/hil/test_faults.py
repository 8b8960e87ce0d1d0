"""Faults injected by a loopback proxy between ModbusDevice and the device server.

Each test checks that the device follows its policy (stop / hold / fallback) and records the fault
with the simulated time of the step and the point concerned.
"""

from __future__ import annotations

import json
import time

import pytest
from hil_tank_double import HeatedTank

from kreislauf.component import StepStatus
from kreislauf.hil.device import FaultKind, ModbusDevice
from kreislauf.hil.server import DeviceServer

DT = 1.0


@pytest.fixture
def rig(tank_map, served_tank, proxy_factory):
    """A device talking to the served tank through a fault proxy; closed afterwards."""
    made = []

    def make(**kwargs):
        proxy = proxy_factory(served_tank.port)
        device = ModbusDevice("tank", tank_map, "127.0.0.1", proxy.port, **kwargs)
        device.setup(0.0, None, {})
        made.append(device)
        return device, proxy

    yield make
    for device in made:
        device.close()


def run(device, steps, start=0):
    outcomes = []
    for k in range(start, start + steps):
        device.set_inputs({"heater_power": 1000.0 + k})
        outcomes.append(device.do_step(k * DT, DT))
    return outcomes


def test_latency_below_the_timeout_is_no_fault(rig):
    device, proxy = rig()
    proxy.delay(0.03)  # timeout in the map is 0.2 s
    assert all(o.ok for o in run(device, 3))
    assert device.faults == []


def test_latency_above_the_timeout_stops_the_run_with_time_and_point(rig):
    device, proxy = rig(policy="stop")
    assert all(o.ok for o in run(device, 2))
    proxy.delay(0.5)
    started = time.monotonic()
    (outcome,) = run(device, 1, start=2)
    assert time.monotonic() - started < 0.2 + 0.3  # bounded by the 0.2 s timeout, not pymodbus' 12 s
    assert outcome.status is StepStatus.ERROR and outcome.time_reached == 2 * DT
    fault = device.faults[-1]
    assert (fault.kind, fault.time, fault.action) == (FaultKind.TIMEOUT, 2 * DT, "stop")
    record = json.loads(json.dumps(fault.as_dict()))
    assert (record["time_s"], record["kind"], record["point"]) == (2.0, "timeout", "heater_power_set")
    assert fault.point == "heater_power_set"  # the first request of the step: the set point write
    assert "heater_power_set" in outcome.message and "timeout" in outcome.message


def test_dropped_reply_is_a_timeout_fault(rig):
    device, proxy = rig(policy="stop")
    proxy.drop(2)  # the replies to the first two requests of the step vanish
    (outcome,) = run(device, 1)
    assert not outcome.ok
    assert device.faults[-1].kind is FaultKind.TIMEOUT and device.faults[-1].time == 0.0


def test_connection_reset_is_a_connection_fault_and_the_device_reconnects(rig):
    device, proxy = rig(policy="hold", hold_time=10.0)
    proxy.reset(1)
    outcomes = run(device, 1)
    assert outcomes[0].ok  # held
    fault = device.faults[0]
    assert fault.kind in (FaultKind.CONNECTION, FaultKind.TIMEOUT) and fault.action.startswith("hold")
    time.sleep(0.06)  # first reconnect back-off is 50 ms
    assert run(device, 1, start=1)[0].ok
    assert device.faults[-1].kind is FaultKind.RECOVERED and device.faults[-1].time == 1.0


def test_exception_response_is_reported_with_its_code_and_held(rig, served_tank):
    device, proxy = rig(policy="hold", hold_time=5.0)
    before = device.get_outputs(["tank_temperature"])[0]
    proxy.exception(0x06, n=1)  # server device busy
    (outcome,) = run(device, 1)
    assert outcome.ok
    fault = device.faults[0]
    assert fault.kind is FaultKind.EXCEPTION and "exception 06" in fault.message
    assert device.get_outputs(["tank_temperature"])[0] == before  # last good value held
    assert run(device, 1, start=1)[0].ok and device.faults[-1].kind is FaultKind.RECOVERED
    # the first trigger was refused, so the device caught up over both seconds in one step
    assert (served_tank.time, served_tank.stats.steps) == (2.0, 1)


def test_hold_is_bounded_in_time_then_the_run_stops(rig):
    device, proxy = rig(policy="hold", hold_time=2.5)
    proxy.exception(0x04, n=100)
    outcomes = run(device, 4)
    assert [o.ok for o in outcomes] == [True, True, False, False]  # held 1 s, 2 s; 3 s > 2.5 s
    assert [f.action for f in device.faults][2] == "stop"
    assert [f.time for f in device.faults] == [0.0, 1.0, 2.0, 3.0]


def test_device_restart_mid_run_falls_back_to_the_shadow_model(tank_map, proxy_factory):
    server = DeviceServer(HeatedTank(), tank_map).start()
    port = server.port
    proxy = proxy_factory(port)
    reference = HeatedTank()
    reference.setup(0.0, None, {})
    device = ModbusDevice("tank", tank_map, "127.0.0.1", proxy.port, policy="fallback", fallback=HeatedTank())
    try:
        device.setup(0.0, None, {})
        for k in range(6):
            if k == 3:  # the device restarts: it is gone for this step and comes back with a fresh state
                server.stop()
            if k == 4:
                server = DeviceServer(HeatedTank(), tank_map, port=port).start()
            u = {"heater_power": 2000.0 * k, "external_heat": 0.0, "ambient_temperature": 283.15, "pump_on": 0.0}
            device.set_inputs(u)
            reference.set_inputs(u)
            assert device.do_step(k * DT, DT).ok
            reference.do_step(k * DT, DT)
        assert device.fallen_back
        fault = device.faults[0]
        assert fault.time == 3 * DT and fault.kind in (FaultKind.CONNECTION, FaultKind.TIMEOUT)
        assert fault.point == "pump_on_set"  # the first request of the step: the coil write
        assert fault.action == "fallback to 'tank'"
        # the fallback ran in the shadow all along, so it continues exactly where the plant was
        names = ["tank_temperature", "heater_energy"]
        assert list(device.get_outputs(names)) == list(reference.get_outputs(names))
    finally:
        device.close()
        server.stop()


def test_restarted_lock_step_device_is_detected_as_out_of_step(tank_map, proxy_factory):
    server = DeviceServer(HeatedTank(), tank_map).start()
    port = server.port
    proxy = proxy_factory(port)
    device = ModbusDevice("tank", tank_map, "127.0.0.1", proxy.port, policy="stop")
    try:
        device.setup(0.0, None, {})
        assert device.do_step(0.0, DT).ok and device.do_step(DT, DT).ok
        server.stop()
        server = DeviceServer(HeatedTank(), tank_map, port=port).start()
        outcome = device.do_step(2 * DT, DT)
        for _ in range(3):  # the restart closed the old connection: retry after the back-off
            if not device.faults or device.faults[-1].kind not in (FaultKind.CONNECTION, FaultKind.TIMEOUT):
                break
            time.sleep(0.06)
            outcome = device.do_step(2 * DT, DT)
        assert not outcome.ok
        fault = device.faults[-1]
        assert (fault.kind, fault.point, fault.time) == (FaultKind.DESYNC, "model_time", 2 * DT)
        assert "went back from 2 s to 0 s: the device restarted" in fault.message
    finally:
        device.close()
        server.stop()


def test_free_running_device_restart_is_held_and_recovers(free_map, proxy_factory):
    server = DeviceServer(HeatedTank(), free_map, period=0.01).start()
    port = server.port
    proxy = proxy_factory(port)
    device = ModbusDevice("tank", free_map, "127.0.0.1", proxy.port, policy="hold", hold_time=100.0)
    try:
        device.setup(0.0, None, {})
        server.stop()
        outage = [device.do_step(k * 0.05, 0.05) for k in range(10)]
        assert all(o.ok for o in outage)
        server = DeviceServer(HeatedTank(), free_map, port=port, period=0.01).start()
        deadline = time.monotonic() + 5.0
        k = 10
        while not (device.faults and device.faults[-1].kind is FaultKind.RECOVERED) and time.monotonic() < deadline:
            assert device.do_step(k * 0.05, 0.05).ok
            k += 1
            time.sleep(0.02)
        assert device.faults[-1].kind is FaultKind.RECOVERED
        assert device.faults[0].time == 0.0 and device.faults[0].action.startswith("hold")
    finally:
        device.close()
        server.stop()


def test_reconnects_are_capped_while_the_device_is_down(tank_map, proxy_factory):
    server = DeviceServer(HeatedTank(), tank_map).start()
    device = ModbusDevice("tank", tank_map, "127.0.0.1", server.port, policy="hold", hold_time=1e9)
    try:
        device.setup(0.0, None, {})
        server.stop()
        started = time.monotonic()
        k = 0
        while time.monotonic() - started < 1.0:
            step_start = time.monotonic()
            assert device.do_step(k * DT, DT).ok
            assert time.monotonic() - step_start < 0.2 + 0.1  # never blocks beyond one timeout
            k += 1
            time.sleep(0.005)
        attempts = sum("cannot connect" in f.message for f in device.faults)
        # back-off 0.05, 0.1, 0.2, 0.4 (cap), 0.4 ... s: about 5 attempts in 1 s, while ~100 steps ran
        assert k > 30
        assert 3 <= attempts <= 8
    finally:
        device.close()
        server.stop()


def test_reply_with_a_foreign_transaction_id_is_not_taken_as_the_answer(rig):
    device, proxy = rig(policy="hold", hold_time=10.0)
    proxy.transaction(0, n=1)  # transaction id 0, which pymodbus' async client would accept
    (outcome,) = run(device, 1)
    assert outcome.ok  # held
    fault = device.faults[0]
    assert fault.kind is FaultKind.TIMEOUT and fault.time == 0.0 and fault.point == "heater_power_set"
    assert run(device, 1, start=1)[0].ok and device.faults[-1].kind is FaultKind.RECOVERED


class NaNTank(HeatedTank):
    """A tank whose temperature turns NaN after the first step (a diverged model)."""

    def _value(self, name: str) -> float:
        if self.steps >= 2 and name in ("tank_temperature", "heat_loss"):
            return float("nan")
        return super()._value(name)


def test_values_the_map_cannot_carry_are_faults_at_the_device(tank_map, proxy_factory):
    server = DeviceServer(NaNTank(), tank_map).start()
    device = ModbusDevice("tank", tank_map, "127.0.0.1", server.port, policy="stop")
    try:
        device.setup(0.0, None, {})
        assert device.do_step(0.0, DT).ok
        outcome = device.do_step(DT, DT)
        # NaN fits float32, but not the uint16 copy at input 9 (no sentinel): the server answers 04
        assert not outcome.ok
        fault = device.faults[-1]
        assert fault.kind is FaultKind.EXCEPTION and "exception 04" in fault.message
        assert "tank_temperature_centi" in fault.message
    finally:
        device.close()
        server.stop()


def test_an_idle_connection_is_replaced_before_it_can_fail(tank_map, served_tank, proxy_factory):
    now = [0.0]
    proxy = proxy_factory(served_tank.port)
    device = ModbusDevice("tank", tank_map, "127.0.0.1", proxy.port, clock=lambda: now[0])
    try:
        device.setup(0.0, None, {})
        assert device.do_step(0.0, DT).ok
        assert proxy.connections == 1
        now[0] = 9.0  # idle 9 s: within the default 10 s, the connection is kept
        assert device.do_step(DT, DT).ok
        now[0] = 30.0  # idle 21 s: a fresh connection first
        assert device.do_step(2 * DT, DT).ok
        assert proxy.connections == 2 and device.faults == []
    finally:
        device.close()


def test_a_device_closing_idle_connections_causes_no_fault(free_map, tank_map):
    from dataclasses import replace

    quick = replace(free_map, device=replace(free_map.device, idle_reconnect=0.1))
    with DeviceServer(HeatedTank(), quick, period=0.01, idle_timeout=0.3) as server:
        device = ModbusDevice("tank", quick, "127.0.0.1", server.port, policy="stop")
        try:
            device.setup(0.0, None, {})
            for k in range(3):
                time.sleep(0.5)  # longer than the server keeps an idle connection
                assert device.do_step(k * DT, DT).ok
            assert device.faults == []
        finally:
            device.close()
