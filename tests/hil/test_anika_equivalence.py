"""Equivalence: ANIKA with the heat pump as an FMU, and with the heat pump served over Modbus TCP.

The first run is examples/anika.toml as it is. For the second, a copy of the file differs in exactly
one line: the heat pump's entry keeps ``model = "heat_pump"`` and its parameters and gains
``device = {map = ..., port = ...}`` (the bench map, examples/bench/heat_pump_map.toml). The heat
pump the device talks to is the same entry of examples/anika.toml served by ``DeviceServer`` as
``kreislauf hil serve examples/anika.toml:heat_pump`` serves it (same model, same parameters), in
lock step (trigger register) on 127.0.0.1 and a free port. Everything stays: the heat pump's four
stream bonds (the map carries every port's power and energy counter), every recorded output, the
ledger.

Feedthrough: the heat pump's heat, power, COP and port powers depend on its inputs at once. The
master sets the inputs of the communication point on the device and asks for its outputs again;
the device writes them without a trigger and the server re-evaluates the FMU's outputs for them
(set inputs, get outputs, no step), as the master does with the FMU itself. So those outputs follow
the FMU run within codec resolution too, with no exemption.

Codec resolution, from the map's codecs: every number the heat pump exchanges is float32 (a 24-bit
significand: relative rounding at most 2**-24 = 6e-8 per exchange), except the energy counters and
the stored energy (float64: exact), the status (uint16: exact integers) and the COP (uint16 in steps
of 0.01: ``Codec.resolution`` = 0.005). The rounded temperatures go round the loops every minute, so
a temperature column may drift by a few float32 steps of the largest temperature
(``TEMPERATURE_STEPS`` spacings of float32 at 368 K, 3.1e-5 K each). Powers, flows and energies feel
those rounded temperatures through capacity rates (m c_p ~ 0.7 MW/K) over temperature differences of
a few K (the exchanger's approach): relative to their largest value, about 2e-5 K / 5 K = 4e-6,
bounded here by ``RELATIVE_BOUND`` = 1e-5. The per-step bond energies and residuals of the ledger are
compared to the largest step energy sent over the bond, with the same bound.
"""

from __future__ import annotations

import difflib
import sys
from pathlib import Path

import numpy as np
import pytest

from kreislauf.api import load
from kreislauf.cli import main
from kreislauf.commands.hil import system_component
from kreislauf.hil import DataType, DeviceServer, load_register_map

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
ANIKA = ROOT / "examples" / "anika.toml"
BENCH_MAP = ROOT / "examples" / "bench" / "heat_pump_map.toml"
HOURS = 24
FLOAT32_ULP_RELATIVE = 2.0**-23  # float32 spacing relative to a value's binade (2**-24 is half of it)
TEMPERATURE_STEPS = 4  # float32 spacings of the largest temperature a temperature column may drift
RELATIVE_BOUND = 1e-5  # powers, flows, energies: capacity rates times those steps, over a few K
SCALE_OF = {"network.unmet_demand": "network.heat_demand"}


def device_line(map_file: Path, port: int) -> str:
    """The one line that puts the heat pump on the bench."""
    return f'device = {{ map = "{map_file}", port = {port}, timeout = 2.0 }}'


def with_device(text: str, line: str) -> str:
    """``text`` with ``line`` added to the heat pump's entry, right after its ``model`` line."""
    entry = text.index("[components.heat_pump]")
    model = text.index('model = "heat_pump"\n', entry) + len('model = "heat_pump"\n')
    return text[:model] + line + "\n" + text[model:]


def changed_lines(before: str, after: str) -> list[str]:
    """The lines a unified diff adds or removes."""
    diff = difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
    return [d for d in diff if d[:1] in "+-" and not d.startswith(("+++", "---"))]


@pytest.fixture
def served_heat_pump():
    """examples/anika.toml's heat pump entry served in lock step on 127.0.0.1 (stopped afterwards)."""
    component, parameters = system_component(f"{ANIKA}:heat_pump")
    table = tomllib.loads(ANIKA.read_text())["components"]["heat_pump"]
    assert parameters == {k: float(v) for k, v in table["parameters"].items()}
    server = DeviceServer(component, load_register_map(BENCH_MAP), parameters=parameters)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_anika_with_the_heat_pump_served_over_modbus_follows_the_fmu_run(tmp_path, served_heat_pump):
    server = served_heat_pump
    assert server.mode == "trigger"
    original = ANIKA.read_text()
    line = device_line(BENCH_MAP, server.port)
    device_text = with_device(original, line)
    assert changed_lines(original, device_text) == [f"+{line}"]  # one entry, one line: nothing else
    device_file = tmp_path / "anika_device.toml"
    device_file.write_text(device_text)

    reference = load(ANIKA).run(stop=f"{HOURS}h", out_dir=tmp_path / "fmu", progress=False)
    assert reference.ok, reference.error
    bench = load(device_file).run(stop=f"{HOURS}h", out_dir=tmp_path / "device", progress=False)
    assert bench.ok, bench.error

    want, got = reference.read(), bench.read()
    steps = HOURS * 60
    assert set(got) == set(want)  # every column, the heat pump's and the ledger's bonds included
    assert len(got["time"]) == len(want["time"]) == steps + 1
    assert server.stats.steps == steps  # one trigger per macro step: lock step
    assert server.stats.refreshes >= steps  # the communication point reached the served FMU
    assert server.stats.step_errors == []
    bonds = [c for c in want if c.startswith("bond:") and "heat_pump." in c]
    assert len(bonds) == 4 * 3  # sent, received, residual of the four stream bonds

    register_map = load_register_map(BENCH_MAP)
    largest_temperature = register_map.point("supply_temperature_setpoint").maximum
    temperature_bound = TEMPERATURE_STEPS * FLOAT32_ULP_RELATIVE * 2.0 ** np.floor(np.log2(largest_temperature))
    cop = register_map.point("cop")
    assert cop.codec.data_type is DataType.UINT16 and register_map.point("status").codec.data_type is DataType.UINT16
    assert all(p.codec.data_type is DataType.FLOAT64 for n, p in register_map.points.items() if n.endswith("energy"))

    # the effluent does not see the heat pump: identical to the bit
    for name in ("time", "effluent.temperature", "effluent.mass_flow"):
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)
    np.testing.assert_array_equal(got["heat_pump.status"], want["heat_pump.status"])
    checked = []
    for name in sorted(want):
        a, b = np.asarray(got[name], dtype=float), np.asarray(want[name], dtype=float)
        deviation = float(np.max(np.abs(a - b)))
        if name.endswith("temperature"):
            assert deviation <= temperature_bound, f"{name}: max deviation {deviation:.2e} K > {temperature_bound:.2e}"
        elif name == "heat_pump.cop":
            bound = cop.codec.resolution + RELATIVE_BOUND * float(np.max(np.abs(b)))
            assert deviation <= bound, f"{name}: max deviation {deviation:.2e} > {bound:.2e}"
        else:
            if name.startswith("bond:"):
                scale_column = name.rsplit(":", 1)[0] + ":sent"
            else:
                scale_column = SCALE_OF.get(name, name)
            scale = float(np.max(np.abs(want[scale_column]))) or 1.0
            assert deviation / scale <= RELATIVE_BOUND, f"{name}: max deviation {deviation / scale:.2e} of {scale:g}"
        checked.append(name)
    assert len(checked) == len(want)

    # the heat pump really worked: several MW, not a constant; the boiler took the peaks
    assert np.min(want["heat_pump.condenser_heat"][1:]) > 1e6
    assert np.ptp(want["heat_pump.condenser_outlet_temperature"]) > 0.5
    assert np.max(want["heat_pump.electrical_power"]) > 1e6
    assert np.ptp(want["bond:heat_pump.condenser_outlet->store.charge_inlet:sent"][1:]) > 0.0
    # the COP on the wire is the device's own heat over power, rounded to the point's 0.01 steps
    own_cop = got["heat_pump.condenser_heat"][1:] / got["heat_pump.electrical_power"][1:]
    np.testing.assert_allclose(got["heat_pump.cop"][1:], own_cop, atol=cop.codec.resolution + 1e-6)


def test_a_device_map_without_a_bonded_ports_counter_fails_check(tmp_path, capsys):
    """The heat pump's condenser outlet is bonded to the storage; a map that lacks the port's energy
    counter cannot stand in for it, and ``kreislauf check`` says which bond needs which point."""
    map_text = BENCH_MAP.read_text()
    start = map_text.index("[points.condenser_outlet_energy]")
    end = map_text.index("[points.", start + 1)
    short_map = tmp_path / "short_map.toml"
    short_map.write_text(map_text[:start] + map_text[end:])
    system = tmp_path / "anika_device.toml"
    system.write_text(with_device(ANIKA.read_text(), device_line(short_map, 5020)))

    assert main(["check", str(system)]) == 1
    out = capsys.readouterr().out
    problems = [line for line in out.splitlines() if "heat_pump" in line]
    bond = "bond 'heat_pump.condenser_outlet->store.charge_inlet'"
    assert any(bond in p and "'condenser_outlet_energy'" in p and str(short_map) in p for p in problems), out
    # the recorded counter is named too; nothing else about the heat pump is wrong
    assert any("[outputs]" in p or "condenser_outlet_energy" in p for p in problems)
    assert all("condenser_outlet_energy" in p for p in problems), out
