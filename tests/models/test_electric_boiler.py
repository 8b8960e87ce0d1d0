"""The electric boiler: the exact first law P_el = Q + Q_loss, the set point reached whenever the
rated power allows, ANIKA's 4 MW capacity, in Python and through its exported FMI 2/3 FMUs."""

from __future__ import annotations

import numpy as np
import pytest
from fmpy import simulate_fmu
from fmpy.validation import validate_fmu
from hypothesis import given, settings
from hypothesis import strategies as st

from kreislauf.fmu import FmuComponent, export_fmu
from kreislauf.models import T_REF, ModelInputError, get_model

CP = 4190.0
PORTS = ("water_inlet", "water_outlet", "electricity", "losses")


@pytest.fixture(scope="module")
def boiler():
    return get_model("electric_boiler")


def test_default_capacity_is_anikas_four_megawatts(boiler):
    # 80 kg/s from 60 to 90 degC needs 10 MW: the boiler runs at its 4 MW rating and misses the set point
    out = boiler.evaluate(water_mass_flow=80.0, water_inlet_temperature=333.15, outlet_temperature_setpoint=363.15)
    assert float(out["electrical_power"]) == pytest.approx(4e6, rel=1e-12)
    assert float(out["heat_output"]) == pytest.approx(0.99 * 4e6, rel=1e-12)
    assert float(out["capacity_limited"]) == 1.0
    assert float(out["water_outlet_temperature"]) == pytest.approx(333.15 + 0.99 * 4e6 / (80.0 * CP), rel=1e-12)


def test_set_point_is_reached_when_the_capacity_allows(boiler):
    # 20 kg/s from 60 to 90 degC: 2.514 MW of heat, 2.539 MW electric at 99 %
    out = boiler.evaluate(water_mass_flow=20.0, water_inlet_temperature=333.15, outlet_temperature_setpoint=363.15)
    assert float(out["water_outlet_temperature"]) == 363.15
    assert float(out["heat_output"]) == pytest.approx(20.0 * CP * 30.0, rel=1e-12)
    assert float(out["electrical_power"]) == pytest.approx(20.0 * CP * 30.0 / 0.99, rel=1e-12)
    assert float(out["capacity_limited"]) == 0.0


@pytest.mark.parametrize(
    ("flow", "t_in", "t_set", "enable"),
    [(0.0, 333.15, 363.15, 1), (20.0, 363.15, 333.15, 1), (20.0, 333.15, 363.15, 0)],
)
def test_no_flow_warm_inlet_or_disabled_draws_nothing_and_passes_the_water_through(boiler, flow, t_in, t_set, enable):
    out = boiler.evaluate(water_mass_flow=flow, water_inlet_temperature=t_in, outlet_temperature_setpoint=t_set,
                          enable=enable)
    assert float(out["electrical_power"]) == 0.0
    assert float(out["heat_loss"]) == 0.0
    assert float(out["water_outlet_temperature"]) == t_in


def test_inputs_outside_their_range_are_rejected_by_name(boiler):
    with pytest.raises(ModelInputError, match="water_mass_flow.*outside"):
        boiler.evaluate(water_mass_flow=-1.0)
    with pytest.raises(ModelInputError, match="efficiency"):
        boiler.evaluate(efficiency=1.2)


@settings(max_examples=300, deadline=None)
@given(
    flow=st.one_of(st.just(0.0), st.floats(1e-6, 500.0)), t_in=st.floats(275.0, 420.0),
    t_set=st.floats(275.0, 420.0), enable=st.sampled_from([0, 1]), eta=st.floats(0.5, 1.0),
    rated=st.floats(0.0, 2e7), cp=st.floats(3500.0, 4300.0),
)
def test_first_law_and_bounds_hold_everywhere(boiler, flow, t_in, t_set, enable, eta, rated, cp):
    out = boiler.evaluate(water_mass_flow=flow, water_inlet_temperature=t_in, outlet_temperature_setpoint=t_set,
                          enable=enable, efficiency=eta, rated_electrical_power=rated, water_specific_heat=cp)
    p_el, q, loss = (float(out[k]) for k in ("electrical_power", "heat_output", "heat_loss"))
    t_out = float(out["water_outlet_temperature"])
    scale = p_el + flow * cp * (420.0 - T_REF) + 1e-6
    # P_el = Q + losses, and the water carries exactly Q
    assert abs(p_el - q - loss) <= 1e-12 * scale
    assert abs(flow * cp * (t_out - t_in) - q) <= 1e-9 * scale
    assert abs(sum(float(out[f"{p}_power"]) for p in PORTS)) <= 1e-9 * scale
    # never above the rating, never cools, never overshoots the set point
    assert 0.0 <= p_el <= rated * (1 + 1e-12)
    assert loss >= 0.0
    assert t_in <= t_out <= max(t_in, t_set) + 1e-9
    if enable and flow > 0 and flow * cp * (t_set - t_in) <= eta * rated * (1 - 1e-9):
        assert t_out == pytest.approx(max(t_in, t_set), abs=1e-9)
        assert float(out["capacity_limited"]) == 0.0


@pytest.fixture(scope="module")
def boiler_fmus(tmp_path_factory, boiler):
    out = tmp_path_factory.mktemp("boiler_fmus")
    return {v: export_fmu(boiler, out, v) for v in (2, 3)}


@pytest.mark.parametrize("version", [2, 3])
def test_exported_fmu_validates_and_its_counters_close_the_balance(boiler_fmus, version):
    path = str(boiler_fmus[version])
    assert validate_fmu(path) == []
    # 20 kg/s (set point reached), then 80 kg/s (capacity-limited), then disabled
    times = [0.0, 1800.0, 1800.0, 3600.0, 3600.0, 5400.0]
    flows = [20.0, 20.0, 80.0, 80.0, 80.0, 80.0]
    enables = [1, 1, 1, 1, 0, 0]
    signal = np.array(
        [(t, f, 333.15, 363.15, e) for t, f, e in zip(times, flows, enables, strict=True)],
        dtype=[("time", float), ("water_mass_flow", float), ("water_inlet_temperature", float),
               ("outlet_temperature_setpoint", float), ("enable", bool)],
    )
    counters = [f"{p}_energy" for p in PORTS]
    res = simulate_fmu(path, stop_time=5400.0, output_interval=300.0, input=signal,
                       output=[*counters, "electrical_power", "water_outlet_temperature", "capacity_limited"])
    for name in res.dtype.names:
        assert np.all(np.isfinite(res[name].astype(float))), name
    electricity = res["electricity_energy"][-1]
    expected = (20.0 * CP * 30.0 / 0.99 + 4e6) * 1800.0
    assert electricity == pytest.approx(expected, rel=1e-9)
    assert abs(sum(res[c][-1] for c in counters)) <= 1e-9 * electricity
    limited = res["capacity_limited"][(res["time"] > 1800.0) & (res["time"] < 3600.0)]
    assert np.all(limited)


@settings(max_examples=20, deadline=None)
@given(st.lists(
    st.tuples(st.one_of(st.just(0.0), st.floats(0.0, 200.0)), st.floats(280.0, 400.0), st.floats(280.0, 400.0),
              st.sampled_from([0.0, 1.0]), st.floats(1.0, 7200.0)),
    min_size=1, max_size=6,
))
def test_fmu_counters_sum_to_zero_over_random_input_sequences(boiler_fmus, steps):
    comp = FmuComponent(boiler_fmus[3], "boiler")
    counters = [f"{p}_energy" for p in PORTS]
    try:
        comp.setup(0.0, None, {})
        t = 0.0
        for flow, t_in, t_set, enable, dt in steps:
            comp.set_inputs({"water_mass_flow": flow, "water_inlet_temperature": t_in,
                             "outlet_temperature_setpoint": t_set, "enable": enable})
            assert comp.do_step(t, dt).ok
            t += dt
        after = comp.get_outputs(counters)
    finally:
        comp.close()
    assert abs(float(np.sum(after))) <= 1e-9 * float(np.sum(np.abs(after))) + 1e-6
