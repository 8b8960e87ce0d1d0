"""The effluent source against Jena's published numbers (≥ 12 °C all year, 14 000 m³/d), the exact
annual means of its patterns, the floor, the calendar shift, and the zero balance of its ports, in
Python and through its exported FMI 2/3 FMUs."""

from __future__ import annotations

import numpy as np
import pytest
from fmpy import simulate_fmu
from fmpy.validation import validate_fmu
from hypothesis import given, settings
from hypothesis import strategies as st

from kreislauf.fmu import FmuComponent, export_fmu
from kreislauf.models import T_REF, ModelInputError, get_model
from kreislauf.models.effluent_source import DAY, YEAR

CELSIUS = 273.15
WATER_DENSITY_15C = 999.1  # kg/m3
# one year at 10-minute resolution: a whole number of samples per day and per year
YEAR_GRID = np.arange(0.0, YEAR, 600.0)


@pytest.fixture(scope="module")
def source():
    return get_model("effluent_source")


def test_defaults_keep_jenas_effluent_at_or_above_12_degc_all_year(source):
    out = source.evaluate(time=YEAR_GRID)
    assert out["temperature"].min() >= 12.0 + CELSIUS
    assert not np.any(out["at_minimum_temperature"])
    # the winter minimum is close to the published floor, not far above it
    assert out["temperature"].min() < 12.5 + CELSIUS


def test_default_mean_flow_is_jenas_14000_cubic_metres_a_day(source):
    out = source.evaluate(time=YEAR_GRID)
    daily_volume = out["mass_flow"].mean() * DAY / WATER_DENSITY_15C
    assert daily_volume == pytest.approx(14000.0, rel=1e-3)
    # physics notes §1.1: cooling 162 kg/s by 8 K gives about 5.4 MW at the evaporator
    assert out["mass_flow"].mean() * 4190.0 * 8.0 == pytest.approx(5.4e6, rel=0.01)


def test_annual_mean_temperature_is_the_declared_mean(source):
    out = source.evaluate(time=YEAR_GRID)
    assert np.trapezoid(out["temperature"], YEAR_GRID) / YEAR_GRID[-1] == pytest.approx(15.0 + CELSIUS, abs=1e-3)
    assert out["temperature"].mean() == pytest.approx(15.0 + CELSIUS, abs=1e-9)


def test_diurnal_flow_is_low_at_night_and_peaks_in_the_late_morning(source):
    day = np.arange(0.0, DAY, 60.0)
    flow = source.evaluate(time=day)["mass_flow"]
    hour_min, hour_max = day[flow.argmin()] / 3600.0, day[flow.argmax()] / 3600.0
    assert 0.0 <= hour_min <= 6.0
    assert 9.0 <= hour_max <= 13.0
    assert flow.mean() == pytest.approx(162.0, rel=1e-9)


def test_a_cold_pattern_is_clipped_at_the_minimum_and_flagged(source):
    params = {"mean_temperature": 13.0 + CELSIUS, "seasonal_temperature_amplitude": 3.0}
    out = source.evaluate(time=YEAR_GRID, **params)
    assert out["temperature"].min() == 12.0 + CELSIUS
    clipped = out["at_minimum_temperature"] == 1
    assert clipped.any() and not clipped.all()
    assert np.all(out["temperature"][clipped] == 12.0 + CELSIUS)
    # the floor only ever raises the temperature, so the annual mean rises above the pattern's mean
    assert out["temperature"].mean() > 13.0 + CELSIUS


@settings(max_examples=40, deadline=None)
@given(start_day=st.floats(0.0, 366.0), offset=st.floats(0.0, YEAR), a_f=st.floats(0.0, 0.5),
       a_1=st.floats(0.0, 0.5), a_2=st.floats(0.0, 0.5), t_1=st.floats(0.0, DAY), t_f=st.floats(0.0, YEAR))
def test_means_over_any_year_are_the_declared_means_and_the_flow_is_never_negative(
        source, start_day, offset, a_f, a_1, a_2, t_1, t_f):
    params = {"start_day_of_year": start_day, "seasonal_flow_amplitude": a_f, "daily_flow_amplitude": a_1,
              "half_day_flow_amplitude": a_2, "daily_flow_peak_time": t_1, "wettest_time_of_year": t_f}
    out = source.evaluate(time=YEAR_GRID + offset, **params)
    assert out["temperature"].mean() == pytest.approx(15.0 + CELSIUS, abs=1e-9)
    assert out["mass_flow"].mean() == pytest.approx(162.0, rel=1e-9)
    assert out["mass_flow"].min() >= 0.0
    # the ports balance exactly: the boundary brings what the outlet carries away
    total = out["outlet_power"] + out["boundary_power"]
    assert np.all(np.abs(total) <= 1e-12 * np.abs(out["outlet_power"]))
    assert np.all(out["stored_energy"] == 0.0)


def test_start_day_of_year_shifts_the_calendar(source):
    t = np.arange(0.0, 10 * DAY, 3600.0)
    shifted = source.evaluate(time=t, start_day_of_year=40.5)
    reference = source.evaluate(time=t + 40.5 * DAY)
    for name in ("temperature", "mass_flow"):
        np.testing.assert_allclose(shifted[name], reference[name], rtol=1e-12)


def test_parameters_outside_their_range_are_rejected_by_name(source):
    with pytest.raises(ModelInputError, match="daily_flow_amplitude.*outside"):
        source.evaluate(daily_flow_amplitude=0.8)
    with pytest.raises(ModelInputError, match="start_day_of_year"):
        source.evaluate(start_day_of_year=-1.0)


@pytest.fixture(scope="module")
def source_fmus(tmp_path_factory, source):
    out = tmp_path_factory.mktemp("effluent_fmus")
    return {v: export_fmu(source, out, v) for v in (2, 3)}


@pytest.mark.parametrize("version", [2, 3])
def test_exported_fmu_validates_follows_the_pattern_and_its_counters_close(source, source_fmus, version):
    path = str(source_fmus[version])
    assert validate_fmu(path) == []
    res = simulate_fmu(path, stop_time=2 * DAY, output_interval=600.0, start_values={"start_day_of_year": 20.0},
                       output=["temperature", "mass_flow", "outlet_energy", "boundary_energy"])
    for name in res.dtype.names:
        assert np.all(np.isfinite(res[name])), name
    expected = source.evaluate(time=res["time"], start_day_of_year=20.0)
    np.testing.assert_allclose(res["temperature"], expected["temperature"], rtol=1e-12)
    np.testing.assert_allclose(res["mass_flow"], expected["mass_flow"], rtol=1e-12)
    carried = -res["outlet_energy"][-1]
    fine = np.arange(0.0, 2 * DAY + 1.0, 60.0)
    dense = source.evaluate(time=fine, start_day_of_year=20.0)
    integral = np.trapezoid(dense["mass_flow"] * 4190.0 * (dense["temperature"] - T_REF), fine)
    assert carried == pytest.approx(integral, rel=1e-5)
    assert abs(res["outlet_energy"][-1] + res["boundary_energy"][-1]) <= 1e-9 * carried


@settings(max_examples=15, deadline=None)
@given(start_day=st.floats(0.0, 366.0), steps=st.lists(st.floats(1.0, 2 * DAY), min_size=1, max_size=5))
def test_fmu_counters_sum_to_zero_for_any_start_day_and_steps(source_fmus, start_day, steps):
    comp = FmuComponent(source_fmus[3], "effluent")
    try:
        comp.setup(0.0, None, {"start_day_of_year": start_day})
        t = 0.0
        for dt in steps:
            assert comp.do_step(t, dt).ok
            t += dt
        outlet, boundary = comp.get_outputs(["outlet_energy", "boundary_energy"])
    finally:
        comp.close()
    assert outlet < 0.0
    assert abs(outlet + boundary) <= 1e-9 * abs(outlet)
