"""A device with an interface: the component it replaces gives it its variables, ports, dependencies
and fallback; at the communication point its feedthrough outputs follow the inputs set there.

The served device is the tank double (closed-form physics, tests/hil/hil_tank_double.py) in lock step
on 127.0.0.1; its heat loss ``UA (T - T_ambient)`` depends at once on the ambient temperature input.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hil_tank_double import HEAT_CAPACITY, UA, HeatedTank

from kreislauf.cli import main
from kreislauf.component import Causality, ComponentError, VariableType
from kreislauf.hil import ModbusDevice

REPO = Path(__file__).resolve().parents[2]
ANIKA = REPO / "examples" / "anika.toml"
BENCH_MAP = REPO / "examples" / "bench" / "heat_pump_map.toml"


@pytest.fixture
def devices():
    made = []

    def make(*args, **kwargs) -> ModbusDevice:
        device = ModbusDevice(*args, **kwargs)
        made.append(device)
        return device

    yield make
    for device in made:
        device.close()


def test_the_interface_gives_the_device_its_variables_and_output_dependencies(tank_map, free_map):
    interface = HeatedTank()
    device = ModbusDevice("tank", tank_map, interface=interface)
    served = {p.variable for p in tank_map.points.values() if p.variable}
    # the interface's parameters and the variables the map serves, with the interface's metadata
    assert set(device.variables) == served | {"heat_capacity"}
    assert device.variables["external_heat"] is interface.variables["external_heat"]
    assert device.variables["external_heat"].type is VariableType.INTEGER
    assert device.variables["heat_capacity"].causality is Causality.PARAMETER
    assert device.fallback is interface and device.can_rollback is False
    # the tank declares no dependencies: every served output depends on every served input (lock step)
    inputs = sorted(n for n in served if interface.variables[n].causality is Causality.INPUT)
    assert {k: sorted(v) for k, v in device.output_dependencies.items()} == {
        n: inputs for n in served if interface.variables[n].causality is Causality.OUTPUT
    }
    # free-running, a device's outputs are those of its last poll: no direct dependency
    free = ModbusDevice("tank", free_map, interface=HeatedTank())
    assert free.output_dependencies and not any(free.output_dependencies.values())


def test_feedthrough_outputs_follow_inputs_set_at_the_communication_point(tank_map, served_tank, devices):
    device = devices("tank", tank_map, "127.0.0.1", served_tank.port, interface=HeatedTank())
    device.setup(0.0, None, {})
    device.set_inputs({"ambient_temperature": 290.15, "heater_power": 1000.0})
    assert device.do_step(0.0, 60.0).ok
    names = ["tank_temperature", "heat_loss"]
    temperature, loss = device.get_outputs(names)
    resolution = tank_map.point("heat_loss").codec.resolution + UA * 1e-4  # int16 steps of 10 W, float32 T
    assert abs(loss - UA * (temperature - 290.15)) <= resolution
    assert device.refreshes == 0  # the step's exchange already carried these inputs

    # the master's refresh: new inputs at the same time, outputs asked for again; no step
    device.set_inputs({"ambient_temperature": 300.15, "heater_power": 1000.0})
    temperature_after, loss_after = device.get_outputs(names)
    assert temperature_after == temperature
    assert abs(loss_after - UA * (temperature - 300.15)) <= resolution
    assert (device.refreshes, served_tank.stats.refreshes, served_tank.stats.steps) == (1, 1, 1)
    device.get_outputs(names)
    assert device.refreshes == 1  # nothing new to write: no exchange

    # the next step goes on from the served state at t = 60 s with the refreshed inputs
    assert device.do_step(60.0, 60.0).ok
    assert served_tank.stats.steps == 2 and served_tank.component.steps == 2


def test_without_an_interface_a_device_declares_no_feedthrough(tank_map, served_tank, devices):
    device = devices("tank", tank_map, "127.0.0.1", served_tank.port)
    assert not any(device.output_dependencies.values())
    device.setup(0.0, None, {})
    device.set_inputs({"ambient_temperature": 290.15})
    device.do_step(0.0, 60.0)
    before = device.get_outputs(["heat_loss"])
    device.set_inputs({"ambient_temperature": 300.15})
    assert device.get_outputs(["heat_loss"]) == before
    assert device.refreshes == 0 and served_tank.stats.refreshes == 0


def test_parameters_configure_the_interface_and_the_mapped_ones_are_written(tank_map, served_tank, devices):
    device = devices("tank", tank_map, "127.0.0.1", served_tank.port, interface=HeatedTank())
    # heat_capacity has no point (it configures the fallback); the constant input has one
    device.setup(0.0, None, {"heat_capacity": 5.0e6, "ambient_temperature": 295.0})
    assert served_tank.value("ambient_temperature_set") == pytest.approx(295.0, abs=0.05)
    other = devices("tank", tank_map, "127.0.0.1", served_tank.port, interface=HeatedTank())
    with pytest.raises(ComponentError, match="'heater_energy'.*not a parameter or input"):
        other.setup(0.0, None, {"heater_energy": 1.0})


def test_a_fault_at_the_refresh_follows_the_policy(tank_map, served_tank, devices, proxy_factory):
    """Under fallback the interface, stepped in the shadow, answers for the device from then on."""
    proxy = proxy_factory(served_tank.port)
    interface = HeatedTank()
    device = devices("tank", tank_map, "127.0.0.1", proxy.port, interface=interface, policy="fallback")
    device.setup(0.0, None, {})
    device.set_inputs({"ambient_temperature": 290.15})
    assert device.do_step(0.0, 60.0).ok
    proxy.rewrite(lambda pdu: bytes([pdu[0] | 0x80, 0x04]), n=10**6)  # the device fails from now on
    device.set_inputs({"ambient_temperature": 300.15})
    (loss,) = device.get_outputs(["heat_loss"])
    assert device.fallen_back and device.faults[-1].kind.value == "exception"
    assert device.faults[-1].time == 60.0 and device.faults[-1].action == "fallback to 'tank'"
    (expected,) = interface.get_outputs(["heat_loss"])
    assert loss == expected == UA * (interface.get_outputs(["tank_temperature"])[0] - 300.15)


def test_a_fault_at_the_refresh_under_stop_names_the_point(tank_map, served_tank, devices, proxy_factory):
    proxy = proxy_factory(served_tank.port)
    device = devices("tank", tank_map, "127.0.0.1", proxy.port, interface=HeatedTank(), policy="stop")
    device.setup(0.0, None, {})
    device.set_inputs({"ambient_temperature": 290.15})
    assert device.do_step(0.0, 60.0).ok
    proxy.rewrite(lambda pdu: bytes([pdu[0] | 0x80, 0x04]), n=10**6)
    device.set_inputs({"ambient_temperature": 300.15})
    with pytest.raises(ComponentError, match=r"component 'tank', variable '\w+', t = 60 s: exception") as info:
        device.get_outputs(["heat_loss"])
    assert info.value.variable in tank_map.points
    assert device.faults[-1].action == "stop"


def _anika_with_map(tmp_path: Path, map_text: str) -> Path:
    map_file = tmp_path / "map.toml"
    map_file.write_text(map_text)
    text = ANIKA.read_text()
    line = 'model = "heat_pump"\n'
    system = tmp_path / "anika.toml"
    system.write_text(text.replace(line, line + f'device = {{ map = "{map_file}", port = 5020 }}\n', 1))
    return system


def test_check_names_every_point_that_does_not_fit_the_interface(tmp_path, capsys):
    text = BENCH_MAP.read_text()
    text = text.replace('unit = "W"\ndescription = "heat delivered', 'unit = "kW"\ndescription = "heat delivered')
    text = text.replace('variable = "heat_demand"', 'variable = "heat_demnd"')
    assert main(["check", str(_anika_with_map(tmp_path, text))]) == 1
    problems = capsys.readouterr().out.splitlines()
    assert len(problems) == 2, problems
    unit, unknown = problems
    assert "component 'heat_pump'" in unit and "point 'condenser_heat'" in unit and "unit 'kW'" in unit
    assert "component 'heat_pump'" in unknown and "point 'heat_demand'" in unknown
    assert "did you mean 'heat_demand'" in unknown


def test_check_names_a_connected_input_that_no_point_serves(tmp_path, capsys):
    text = BENCH_MAP.read_text()
    start = text.index("[points.evaporator_inlet_temperature]")
    text = text[:start] + text[text.index("[points.", start + 1) :]
    assert main(["check", str(_anika_with_map(tmp_path, text))]) == 1
    problems = capsys.readouterr().out.splitlines()
    assert len(problems) == 1, problems
    assert "connection 'exchanger.loop_outlet_temperature -> heat_pump.evaporator_inlet_temperature'" in problems[0]
    assert "no point of the register map" in problems[0] and "'evaporator_inlet_temperature'" in problems[0]


def test_check_names_a_recorded_output_that_no_point_serves(tmp_path, capsys):
    text = BENCH_MAP.read_text()
    start = text.index("[points.part_load]")
    text = text[:start] + text[text.index("[points.", start + 1) :]
    assert main(["check", str(_anika_with_map(tmp_path, text))]) == 1
    problems = capsys.readouterr().out.splitlines()
    assert len(problems) == 1, problems
    assert "[outputs] 'heat_pump.part_load'" in problems[0] and "no point of the register map" in problems[0]


def test_the_bench_map_serves_everything_anika_uses_of_the_heat_pump(tmp_path, capsys):
    """Connections, the four stream bonds, every recorded output: check finds nothing missing."""
    system = _anika_with_map(tmp_path, BENCH_MAP.read_text())
    assert main(["check", str(system)]) == 0, capsys.readouterr().out


@pytest.mark.parametrize("form", ["interface", "fallback table"])
def test_a_device_entry_falls_back_to_its_component_in_a_run(tmp_path, served_tank, proxy_factory, form):
    """The entry's python component (new form) or the device's fallback table (old form) takes over
    when the device fails mid-run; every step is recorded and the fault is in the summary."""
    import json

    from kreislauf.api import load

    proxy = proxy_factory(served_tank.port)
    reads = []

    def fail_from_the_sixth_step(pdu: bytes) -> bytes:
        if pdu[0] == 0x04:
            reads.append(pdu)
            if len(reads) > 6:  # the setup read and five steps pass
                return bytes([0x84, 0x04])
        return pdu

    proxy.rewrite(fail_from_the_sixth_step, n=10**6)
    double = Path(__file__).resolve().parent / "hil_tank_double.py"
    device = f'map = "{Path(__file__).resolve().parent / "tank_map.toml"}", port = {proxy.port}, policy = "fallback"'
    entry = {
        "interface": f'python = "{double}:HeatedTank"\ndevice = {{ {device} }}',
        "fallback table": f'device = {{ {device}, fallback = {{ python = "{double}:HeatedTank" }} }}',
    }[form]
    system = tmp_path / "tank.toml"
    system.write_text(
        f'[master]\nstop = "10min"\nstep = "60s"\n\n[components.tank]\n{entry}\n\n'
        '[outputs]\nvariables = ["tank.tank_temperature"]\n'
    )
    result = load(system).run(out_dir=tmp_path / "out", progress=False)
    assert result.ok
    temperature = result.read()["tank.tank_temperature"]
    assert len(temperature) == 11
    # no inputs set: the tank cools from 313.15 K towards its 283.15 K ambient by the closed form, read
    # from float32 registers for five steps and from the shadow-stepped fallback after that
    minutes = np.arange(11) * 60.0
    expected = 283.15 + 30.0 * np.exp(-minutes * UA / HEAT_CAPACITY)
    np.testing.assert_allclose(temperature, expected, rtol=0, atol=1e-4)
    faults = json.loads((tmp_path / "out" / "summary.json").read_text())["faults"]
    assert [(f["time_s"], f["action"]) for f in faults] == [(300.0, "fallback to 'tank'")]
