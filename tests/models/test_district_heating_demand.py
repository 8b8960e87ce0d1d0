"""District-heating demand: the ANIKA yearly heat, the heating signature and curve, the exact energy
balance of supply, return and consumers, and the exported FMI 2.0 and 3.0 FMUs."""

from __future__ import annotations

import numpy as np
import pytest
from fmpy import simulate_fmu
from fmpy.validation import validate_fmu
from hypothesis import given, settings
from hypothesis import strategies as st

from kreislauf.fmu import FmuComponent, export_fmu
from kreislauf.models import get_model
from kreislauf.models.district_heating_demand import DAY, OUTDOOR_INPUT, YEAR

C0 = 273.15
PORTS = ["supply", "return_stream", "consumers"]


@pytest.fixture(scope="module")
def dh():
    return get_model("district_heating_demand")


def test_default_year_delivers_the_anika_heat(dh):
    """ANIKA: about 120 GWh/a usable heat (physics notes §1.1), about 12 MWh per household and year."""
    t = np.arange(0.0, YEAR, 600.0)
    out = dh.evaluate(time=t)
    energy = float(np.sum(out["heat_demand"]) * 600.0)
    assert energy / 3.6e12 == pytest.approx(120.0, rel=0.01)
    assert energy / 3.6e9 / 10_000 == pytest.approx(12.0, rel=0.01)
    # with the default 90 °C supply, the network covers it all
    assert float(np.max(out["unmet_demand"])) <= 1e-6 * float(np.max(out["heat_demand"]))
    # coldest in mid-January; in midsummer mostly hot water only (cool nights still ask for a little heat)
    assert np.argmin(out["outdoor_temperature_used"]) * 600.0 == pytest.approx(15 * DAY, abs=DAY)
    summer = out["heat_demand"][(t > 190 * DAY) & (t < 210 * DAY)]
    assert np.median(summer) == pytest.approx(2.0e6, rel=1e-12)
    assert np.mean(summer) < 1.05 * 2.0e6


def test_heating_signature_is_linear_below_the_heating_limit(dh):
    t_out = np.array([C0 - 12, C0, C0 + 10, C0 + 15, C0 + 25])
    out = dh.evaluate(outdoor_model=OUTDOOR_INPUT, outdoor_temperature=t_out)
    q = out["heat_demand"]
    h = 1.768e6
    np.testing.assert_allclose(np.diff(q[:4]) / np.diff(t_out[:4]), -h, rtol=1e-12)
    assert q[3] == q[4] == pytest.approx(2.0e6)
    np.testing.assert_allclose(out["supply_temperature_setpoint"], [C0 + 90, C0 + 90 - 20 * 12 / 27,
                                                                    C0 + 90 - 20 * 22 / 27, C0 + 70, C0 + 70])


def test_low_supply_temperature_leaves_demand_unmet(dh):
    out = dh.evaluate(outdoor_model=OUTDOOR_INPUT, outdoor_temperature=C0 - 12, supply_temperature=C0 + 57.0,
                      maximum_mass_flow=1e5)
    # 2 K spread below the 5 K minimum: the flow is sized for 5 K, so 3/5 of the demand is not delivered
    assert float(out["unmet_demand"]) == pytest.approx(0.6 * float(out["heat_demand"]), rel=1e-12)
    assert float(out["return_temperature"]) == pytest.approx(C0 + 55)


@settings(max_examples=300, deadline=None)
@given(t_out=st.floats(C0 - 30, C0 + 40), t_sup=st.floats(C0 + 1, C0 + 140), m_max=st.floats(0.0, 2000.0),
       time=st.floats(0.0, 2 * YEAR), mode=st.sampled_from([1, 2]))
def test_energy_balance_is_exact_and_bounds_hold(dh, t_out, t_sup, m_max, time, mode):
    out = dh.evaluate(time=time, outdoor_model=mode, outdoor_temperature=t_out, supply_temperature=t_sup,
                      maximum_mass_flow=m_max)
    powers = [float(out[f"{p}_power"]) for p in PORTS]
    assert abs(sum(powers)) <= 1e-12 * sum(abs(p) for p in powers) + 1e-6
    assert 0.0 <= float(out["mass_flow"]) <= m_max
    assert float(out["return_temperature"]) <= t_sup
    assert float(out["unmet_demand"]) >= -1e-9 * float(out["heat_demand"])
    assert float(out["heat_delivered"]) >= 0.0


@pytest.fixture(scope="module")
def fmus(tmp_path_factory):
    out = tmp_path_factory.mktemp("dh_fmus")
    return {v: export_fmu("district_heating_demand", out, v) for v in (2, 3)}


@pytest.mark.parametrize("version", [2, 3])
def test_fmu_validates_simulates_and_its_counters_balance(fmus, version, dh):
    assert validate_fmu(str(fmus[version])) == []
    res = simulate_fmu(str(fmus[version]), stop_time=3 * DAY, output_interval=3600.0,
                       start_values={"solver_relative_tolerance": 1e-9},
                       output=["heat_demand", *(f"{p}_energy" for p in PORTS)])
    for name in res.dtype.names:
        assert np.all(np.isfinite(res[name])), name
    total = sum(res[f"{p}_energy"] for p in PORTS)
    assert np.all(np.abs(total) <= 1e-7 * np.abs(res["consumers_energy"]) + 1.0)
    np.testing.assert_allclose(res["heat_demand"], dh.evaluate(time=res["time"])["heat_demand"], rtol=1e-9)


@settings(max_examples=20, deadline=None)
@given(st.lists(st.tuples(st.floats(C0 - 30, C0 + 40), st.floats(C0 + 30, C0 + 140), st.floats(60.0, 2 * DAY)),
                min_size=1, max_size=6))
def test_fmu_counters_sum_to_zero_over_random_outdoor_and_supply_sequences(fmus, steps):
    """Random held outdoor and supply temperatures through the FMI 3 FMU: supply in = return out + heat to
    the consumers, from the counters, and the consumers only ever take heat."""
    comp = FmuComponent(fmus[3], "demand")
    counters = [f"{p}_energy" for p in PORTS]
    try:
        comp.setup(0.0, None, {"outdoor_model": OUTDOOR_INPUT, "solver_relative_tolerance": 1e-9})
        t = 0.0
        for t_out, t_sup, dt in steps:
            comp.set_inputs({"outdoor_temperature": t_out, "supply_temperature": t_sup})
            assert comp.do_step(t, dt).ok
            t += dt
        energies = comp.get_outputs(counters)
    finally:
        comp.close()
    supply, returned, consumers = (float(e) for e in energies)
    assert consumers <= 0.0 and supply >= 0.0 and returned <= 0.0
    assert abs(supply + returned + consumers) <= 1e-7 * (abs(supply) + abs(returned) + abs(consumers)) + 1.0
