"""The biogas CHP unit against published efficiencies (physics notes §6.3) and the exact energy balance
V_CH4 LHV = P_el + Q_th + Q_loss, in Python and through its exported FMUs."""

from __future__ import annotations

import numpy as np
import pytest
from fmpy import simulate_fmu
from fmpy.validation import validate_fmu
from hypothesis import example, given, settings
from hypothesis import strategies as st

from kreislauf.fmu import FmuComponent, export_fmu
from kreislauf.models import ModelInputError, get_model

HOUR = 3600.0
NORMAL_MOLAR_VOLUME = 0.022414  # m3/mol, ideal gas at 0 degC and 1 atm
METHANE_MOLAR_MASS = 16.043e-3  # kg/mol


@pytest.fixture(scope="module")
def chp():
    return get_model("chp_unit")


def at_load(chp, load, **values):
    """Outputs with methane offered for exactly ``load`` of the rated fuel input."""
    params = {d.name: d.start for d in chp.parameters}
    params.update(values)
    offer = load * params["rated_fuel_power"] / params["methane_lower_heating_value"]
    return chp.evaluate(methane_mass_flow=offer, **values)


def test_full_load_efficiencies_match_published_biogas_engines(chp):
    out = at_load(chp, 1.0)
    # 500 kW class biogas engines: 39 % electrical, 42 % for new flex engines [S71]
    assert 0.39 <= float(out["electrical_efficiency"]) <= 0.42
    # CHP example: 4.0 kWh_el + 4.6 kWh_th per m3 of gas [S73]
    assert float(out["electrical_efficiency"] / out["thermal_efficiency"]) == pytest.approx(4.0 / 4.6, rel=1e-3)
    assert 0.85 <= float(out["electrical_efficiency"] + out["thermal_efficiency"]) <= 0.90


@pytest.mark.parametrize(("load", "low", "high"), [(0.8, 0.009, 0.025), (0.6, 0.027, 0.050)])
def test_part_load_drop_lies_in_the_published_field_range(chp, load, low, high):
    """Renewable Energy 114 (2017): 0.9-2.5 %-points lower at 80 % load, 2.7-5.0 at 60 % load."""
    full = float(at_load(chp, 1.0)["electrical_efficiency"])
    part = float(at_load(chp, load)["electrical_efficiency"])
    assert low <= full - part <= high


def test_ageing_over_ten_thousand_hours_lies_in_the_published_range(chp):
    """0.2-0.7 %-points lower electrical efficiency per 10 000 operating hours (same field study)."""
    new = float(at_load(chp, 1.0)["electrical_efficiency"])
    old = float(at_load(chp, 1.0, operating_time=1e4 * HOUR)["electrical_efficiency"])
    assert 0.002 <= new - old <= 0.007


def test_methane_heating_value_matches_the_normal_volume_figure(chp):
    """35.9 MJ/Nm3 (physics notes §6.2) from the mass-based default through the molar volume."""
    lhv = {d.name: d.start for d in chp.parameters}["methane_lower_heating_value"]
    per_normal_m3 = lhv * METHANE_MOLAR_MASS / NORMAL_MOLAR_VOLUME
    assert per_normal_m3 == pytest.approx(35.9e6, rel=5e-3)


def test_below_minimum_load_the_engine_stops_and_all_methane_is_surplus(chp):
    out = at_load(chp, 0.3, minimum_load=0.5)
    assert float(out["load"]) == 0.0
    assert float(out["electrical_power"]) == 0.0
    offered = float(out["offered_fuel_power"]) / {d.name: d.start for d in chp.parameters}[
        "methane_lower_heating_value"]
    assert float(out["surplus_methane_mass_flow"]) == pytest.approx(offered, rel=1e-12)


def test_more_methane_than_rated_is_reported_as_surplus_not_burnt(chp):
    out = at_load(chp, 1.7)
    assert float(out["load"]) == 1.0
    assert float(out["surplus_methane_mass_flow"]) == pytest.approx(0.7 * float(out["methane_burnt"]), rel=1e-9)


def test_hot_loop_sends_heat_to_the_emergency_cooler(chp):
    out = chp.evaluate(water_mass_flow=2.0, water_inlet_temperature=360.0)
    cap = 2.0 * 4190.0 * (368.15 - 360.0)
    assert float(out["heat_to_water"]) == pytest.approx(cap, rel=1e-12)
    assert float(out["water_outlet_temperature"]) == pytest.approx(368.15, abs=1e-9)
    assert float(out["dumped_heat"]) == pytest.approx(float(out["engine_heat"]) - cap, rel=1e-12)


def test_inputs_outside_their_range_are_rejected_by_name(chp):
    with pytest.raises(ModelInputError, match="methane_mass_flow"):
        chp.evaluate(methane_mass_flow=-0.01)
    with pytest.raises(ModelInputError, match="load_limit.*1"):
        chp.evaluate(load_limit=1.5)


@settings(max_examples=300, deadline=None)
@given(
    offer=st.one_of(st.just(0.0), st.floats(1e-6, 0.06)), limit=st.floats(0.0, 1.0),
    m_w=st.one_of(st.just(0.0), st.floats(1e-3, 50.0)), t_in=st.floats(280.0, 367.0),
    eta=st.floats(0.25, 0.55), recovery=st.floats(0.0, 0.99), l_min=st.floats(0.2, 1.0),
    a=st.floats(0.0, 0.1), b=st.floats(0.0, 0.1), hours=st.floats(0.0, 2.5e8),
)
def test_first_law_and_efficiency_bounds_everywhere(chp, offer, limit, m_w, t_in, eta, recovery, l_min, a, b, hours):
    out = chp.evaluate(
        methane_mass_flow=offer, load_limit=limit, water_mass_flow=m_w, water_inlet_temperature=t_in,
        rated_electrical_efficiency=eta, heat_recovery_share=recovery, minimum_load=l_min,
        part_load_linear=a, part_load_quadratic=b, operating_time=hours,
    )
    fuel = float(out["burnt_fuel_power"])
    p_el, q_th, q_water, loss = (float(out[k]) for k in ("electrical_power", "engine_heat", "heat_to_water",
                                                         "heat_loss"))
    scale = max(fuel, 1e-6)
    # V_CH4 LHV = P_el + Q_th + Q_loss,engine, and with the cooler P_fuel = P_el + Q_water + Q_loss
    assert abs(fuel - (p_el + q_water + loss)) <= 1e-9 * scale
    assert abs(fuel - (p_el + q_th + (loss - float(out["dumped_heat"])))) <= 1e-9 * scale
    # the port powers sum to zero (no storage); the water ports carry exactly the heat to water
    ports = sum(float(out[f"{p}_power"]) for p in chp.ports)
    assert abs(ports) <= 1e-9 * scale + 1e-12 * abs(float(out["water_inlet_power"]))
    if fuel > 0:
        eta_el, eta_th = float(out["electrical_efficiency"]), float(out["thermal_efficiency"])
        assert 0 < eta_el and 0 <= eta_th and eta_el + eta_th < 1
        assert loss >= -1e-9 * scale
    # methane offered = burnt + surplus, neither negative
    assert float(out["surplus_methane_mass_flow"]) >= -1e-15
    assert float(out["methane_burnt"]) + float(out["surplus_methane_mass_flow"]) == pytest.approx(offer, abs=1e-15)
    # the loop is heated, never beyond its maximum
    assert t_in - 1e-9 <= float(out["water_outlet_temperature"]) <= max(t_in, 368.15) + 1e-9


@pytest.fixture(scope="module")
def chp_fmus(tmp_path_factory, chp):
    out = tmp_path_factory.mktemp("chp_fmus")
    return {v: export_fmu(chp, out, v) for v in (2, 3)}


@pytest.mark.parametrize("version", [2, 3])
def test_exported_fmu_validates_and_its_counters_close_the_balance(chp_fmus, version):
    path = str(chp_fmus[version])
    assert validate_fmu(path) == []
    # piecewise-constant methane offer (a repeated time is a step in fmpy's input table)
    times = [0.0, 1800.0, 1800.0, 3600.0, 3600.0, 5400.0, 5400.0, 7200.0]
    offers = [0.025, 0.025, 0.018, 0.018, 0.012, 0.012, 0.03, 0.03]
    signal = np.array(
        [(t, m, 10.0, 330.0) for t, m in zip(times, offers, strict=True)],
        dtype=[("time", float), ("methane_mass_flow", float), ("water_mass_flow", float),
               ("water_inlet_temperature", float)],
    )
    counters = [f"{p}_energy" for p in ("fuel", "generator", "losses", "water_inlet", "water_outlet")]
    res = simulate_fmu(path, stop_time=2 * HOUR, output_interval=300.0, input=signal,
                       output=[*counters, "electrical_power", "load", "operating_time"])
    for name in res.dtype.names:
        assert np.all(np.isfinite(res[name])), name
    fuel = res["fuel_energy"][-1]
    assert fuel > 1e9
    assert abs(sum(res[c][-1] for c in counters)) <= 1e-9 * fuel
    # 0.012 kg/s is below the minimum load: the engine stops from 1 h to 1.5 h, and so does its running time
    stopped = (res["time"] > 3600.0) & (res["time"] <= 5400.0)
    assert np.all(res["load"][stopped] == 0.0)
    assert res["operating_time"][-1] == pytest.approx(1.5 * HOUR, rel=1e-9)
    assert res["load"][-1] == 1.0


def test_digester_methane_carries_the_same_chemical_power_into_the_engine(chp):
    """The digester's biogas port (molar flow x molar LHV) and the engine's fuel port (mass flow x LHV)
    count the same methane with the same energy."""
    ad = get_model("anaerobic_digester")
    gas = ad.evaluate()
    engine = chp.evaluate(methane_mass_flow=float(gas["methane_mass_flow"]), minimum_load=0.2)
    assert float(engine["load"]) > 0
    assert abs(float(engine["surplus_methane_mass_flow"])) <= 1e-12 * float(gas["methane_mass_flow"])
    assert float(engine["fuel_power"]) == pytest.approx(-float(gas["biogas_power"]), rel=1e-12)


@settings(max_examples=25, deadline=None)
@given(st.lists(
    st.tuples(st.floats(0.0, 0.05), st.floats(0.0, 1.0), st.one_of(st.just(0.0), st.floats(0.1, 30.0)),
              st.floats(300.0, 367.0), st.floats(1.0, 7200.0)),
    min_size=1, max_size=8,
))
@example(steps=[(5e-324, 1.0, 5e-324, 330.0, 1.0), (0.025, 1.0, 1e-310, 330.0, 1.0)])  # subnormal flows
def test_fmu_counters_sum_to_zero_over_random_input_sequences(chp_fmus, steps):
    comp = FmuComponent(chp_fmus[3], "chp")
    counters = [f"{p}_energy" for p in ("fuel", "generator", "losses", "water_inlet", "water_outlet")]
    try:
        comp.setup(0.0, None, {})
        t = 0.0
        for offer, limit, m_w, t_in, dt in steps:
            comp.set_inputs({"methane_mass_flow": offer, "load_limit": limit, "water_mass_flow": m_w,
                             "water_inlet_temperature": t_in})
            assert comp.do_step(t, dt).ok
            t += dt
        after = comp.get_outputs(counters)
    finally:
        comp.close()
    assert abs(float(np.sum(after))) <= 1e-9 * float(np.sum(np.abs(after))) + 1e-6
