"""Equivalence: ANIKA with the heat pump as an FMU, and with the heat pump served over Modbus TCP.

The first run is examples/anika.toml as it is. In the second, the heat pump's FMU (the same model, with
the same parameters) is served by ``DeviceServer`` in lock step (trigger register) on 127.0.0.1 and a
free port, with the bench heat pump's register map, and the system file says
``device = {map = ..., port = ...}`` for that component. Everything else in the file stays, except
what the map does not carry: the heat pump's energy counters (so its four stream bonds) and the
outputs the map has no point for.

Codec resolution: the set point, the source and return temperatures, the mass flows, the two outlet
temperatures, the condenser heat and the electrical power are float32 points (relative rounding at most
2**-24 = 6e-8 per exchange: 2**-15 K = 3e-5 K between 256 and 512 K); the energy counters are int32 Wh;
the COP is a uint16 in steps of 0.01. Each minute the rounded temperatures go round the loops again, so
temperatures are compared to 1e-4 K (three float32 steps) and other columns to 1e-5 of their largest
value (capacity rates times such steps, over temperature differences of a few K). The heat pump's
outputs that depend on its inputs at once (heat, power, COP) differ by more than rounding: a device's
outputs are those of its exchange, an FMU's are re-evaluated with the step's new inputs (see the test).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest

from kreislauf.api import load
from kreislauf.fmu import FmuComponent, build_fmu
from kreislauf.hil import DeviceServer, load_register_map
from kreislauf.system import default_cache_dir

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
ANIKA = ROOT / "examples" / "anika.toml"
BENCH_MAP = ROOT / "examples" / "bench" / "heat_pump_map.toml"
HOURS = 3
TEMPERATURE_BOUND = 1e-4  # K: three float32 steps (2**-15 K between 256 and 512 K)
RELATIVE_BOUND = 1e-5  # powers and flows: capacity rates times those steps, over differences of a few K
SCALE_OF = {"network.unmet_demand": "network.heat_demand"}
FEEDTHROUGH = ["heat_pump.condenser_heat", "heat_pump.electrical_power", "heat_pump.cop"]


def served_map_file(tmp_path: Path) -> Path:
    """The bench map with the set point's write limit raised from 80 to 95 degC.

    ANIKA's heat pump supplies up to 90 degC + 3 K (the heating curve's design point), above the bench
    map's 80 degC allow-list; 95 degC is the heat pump model's highest condenser outlet temperature.
    """
    text = BENCH_MAP.read_text()
    edited, count = re.subn(r"(\[points\.supply_temperature_setpoint\][^\[]*?max = )353\.15", r"\g<1>368.15", text)
    assert count == 1, "the bench map's supply_temperature_setpoint point changed"
    path = tmp_path / "heat_pump_map.toml"
    path.write_text(edited)
    return path


def device_system_text(map_file: Path, port: int) -> str:
    """examples/anika.toml with the heat pump as a Modbus device and what the map cannot carry left out."""
    text = ANIKA.read_text()
    start, end = text.index("[components.heat_pump]"), text.index("[components.store]")
    device = f'[components.heat_pump]\ndevice = {{ map = "{map_file}", port = {port}, timeout = 2.0 }}\n\n'
    text = text[:start] + device + text[end:]
    # the heat pump's stream bonds need its energy counters, which the map does not carry
    bonds_start = text.index("bonds = [")
    bonds_end = text.index("]", bonds_start)
    bonds = "\n".join(line for line in text[bonds_start:bonds_end].splitlines() if "heat_pump." not in line)
    text = text[:bonds_start] + bonds + "\n" + text[bonds_end:]
    outputs = text.index("[outputs]")
    recorded = ", ".join(f'"{c}.*"' for c in ("effluent", "exchanger", "heat_pump", "store", "network", "boiler"))
    return text[:outputs] + f"[outputs]\nvariables = [{recorded}]\n"


def heat_pump_parameters() -> dict[str, float]:
    """The heat pump's parameters (and constant inputs) from examples/anika.toml."""
    table = tomllib.loads(ANIKA.read_text())["components"]["heat_pump"]
    assert table["model"] == "heat_pump" and table.get("fmi_version", "2.0") == "2.0"
    return {name: float(value) for name, value in table["parameters"].items()}


@pytest.fixture
def served_heat_pump(tmp_path):
    """The heat pump FMU with ANIKA's parameters, served in lock step on 127.0.0.1 (stopped afterwards)."""
    map_file = served_map_file(tmp_path)
    fmu = build_fmu("heat_pump", default_cache_dir(), 2)
    server = DeviceServer(FmuComponent(fmu, name="heat_pump"), load_register_map(map_file),
                          parameters=heat_pump_parameters())
    server.start()
    try:
        yield server, map_file
    finally:
        server.stop()


def test_anika_with_the_heat_pump_served_over_modbus_follows_the_fmu_run(tmp_path, served_heat_pump):
    server, map_file = served_heat_pump
    assert server.mode == "trigger"
    reference = load(ANIKA).run(stop=f"{HOURS}h", out_dir=tmp_path / "fmu", progress=False)
    assert reference.ok, reference.error
    device_file = tmp_path / "anika_device.toml"
    device_file.write_text(device_system_text(map_file, server.port))
    bench = load(device_file).run(stop=f"{HOURS}h", out_dir=tmp_path / "device", progress=False)
    assert bench.ok, bench.error

    want, got = reference.read(), bench.read()
    steps = HOURS * 60
    assert len(got["time"]) == len(want["time"]) == steps + 1
    assert server.stats.steps == steps  # one trigger per macro step: lock step
    assert server.stats.step_errors == []
    np.testing.assert_array_equal(got["time"], want["time"])

    # the effluent does not see the heat pump: identical to the bit
    for name in ("effluent.temperature", "effluent.mass_flow"):
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)
    compared = sorted({c for c in want if c in got and c != "time" and not c.startswith("bond:")}
                      - set(FEEDTHROUGH))
    assert {"exchanger.heat_flow", "store.top_temperature", "network.heat_delivered", "boiler.heat_output",
            "heat_pump.condenser_outlet_temperature", "heat_pump.compressor_energy"} <= set(compared)
    for name in compared:
        a, b = np.asarray(got[name], dtype=float), np.asarray(want[name], dtype=float)
        if name.endswith("temperature"):
            deviation = float(np.max(np.abs(a - b)))
            assert deviation <= TEMPERATURE_BOUND, f"{name}: max deviation {deviation:.2e} K"
        else:
            # unmet demand is a difference of equal numbers (round-off only): scaled by the demand
            scale = float(np.max(np.abs(want[SCALE_OF.get(name, name)]))) or 1.0
            deviation = float(np.max(np.abs(a - b))) / scale
            assert deviation <= RELATIVE_BOUND, f"{name}: max deviation {deviation:.2e} of its largest value"
    # the int32 Wh counters: half a Wh of rounding on top of the float32 effects
    for name in ("heat_pump.compressor_energy", "heat_pump.condenser_outlet_energy"):
        assert np.max(np.abs(got[name] - want[name])) <= 1800.0 + RELATIVE_BOUND * np.max(np.abs(want[name]))
    # the heat pump really worked: several MW, and not a constant
    assert np.min(want["heat_pump.condenser_heat"][1:]) > 1e6
    assert np.ptp(want["heat_pump.condenser_outlet_temperature"]) > 0.5
    assert np.array_equal(got["heat_pump.status"], want["heat_pump.status"])
    # outputs that depend on the inputs at once: the device's are those of its exchange (inputs of the
    # step's start; at row 0 those it had before any input), the FMU's are re-evaluated with the inputs
    # at the step's end. Over a minute the inputs move little: within 0.5 % from row 1 on, and the COP
    # point (uint16 in steps of 0.01) is the device's own heat over power rounded to the nearest step
    for name in FEEDTHROUGH:
        np.testing.assert_allclose(got[name][1:], want[name][1:], rtol=5e-3, err_msg=name)
    own_cop = got["heat_pump.condenser_heat"][1:] / got["heat_pump.electrical_power"][1:]
    np.testing.assert_allclose(got["heat_pump.cop"][1:], own_cop, atol=0.005 + 1e-6)
