"""An exported FMU served over Modbus TCP and driven through ModbusDevice in lock step gives the same
trajectory as the FMU driven directly (within the map's codec resolution).

The inputs are chosen exactly representable in float32, so both FMU instances see identical inputs;
float64 points then agree exactly and float32 / scaled points within their resolution.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kreislauf.fmu import FmuComponent
from kreislauf.hil import DeviceServer, ModbusDevice, load_register_map

HERE = Path(__file__).resolve().parent
EXACT = ["heat_flow", "wastewater_outlet_temperature", "loop_outlet_temperature"]


def inputs_at(k: int) -> dict[str, float]:
    return {
        "wastewater_mass_flow": 100.0 + 4.0 * (k % 5),
        "wastewater_inlet_temperature": 285.5 + 0.25 * (k % 8),
        "loop_mass_flow": 120.0 - 2.5 * (k % 3),
        "loop_inlet_temperature": 279.25 + 0.125 * (k % 4),
        "cleaning_request": 1.0 if k == 30 else 0.0,
    }


def test_served_fmu_matches_the_fmu_driven_directly(hx_fmu):
    register_map = load_register_map(HERE / "hx_map.toml")
    reference = FmuComponent(hx_fmu, name="hx")
    server = DeviceServer(FmuComponent(hx_fmu, name="hx"), register_map).start()
    device = ModbusDevice("hx", register_map, "127.0.0.1", server.port, variables=reference.variables)
    names = [*EXACT, "fouling_resistance", "effectiveness"]
    try:
        reference.setup(0.0, None, {})
        device.setup(0.0, None, {})
        dt = 3600.0
        fouling = []
        for k in range(48):  # two days in hourly steps, a cleaning at hour 30
            u = inputs_at(k)
            device.set_inputs(u)
            reference.set_inputs(u)
            assert device.do_step(k * dt, dt).ok
            assert reference.do_step(k * dt, dt).ok
            got, want = device.get_outputs(names), reference.get_outputs(names)
            assert list(got[:3]) == list(want[:3])  # float64 on the wire: identical
            assert got[3] == pytest.approx(want[3], rel=2.0**-24, abs=1e-30)  # float32
            assert abs(got[4] - want[4]) <= 0.00005 + 1e-12  # uint16 in steps of 1e-4
            fouling.append(want[3])
        assert fouling[29] > fouling[5] > 0.0 and fouling[30] < fouling[29]  # fouling grew, cleaning reset it
        assert device.faults == []
        assert server.stats.steps == 48
    finally:
        device.close()
        server.stop()
        reference.close()
