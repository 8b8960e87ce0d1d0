"""Measured data as a component: interpolation, units, periodic repetition, exact port energy, and
clear errors for bad files."""

from __future__ import annotations

import numpy as np
import pytest

from kreislauf.component import ComponentError, StepStatus
from kreislauf.timeseries import TimeSeries, TimeSeriesError

CP = 4190.0


def write(tmp_path, text: str, name: str = "data.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.fixture
def effluent(tmp_path):
    return write(tmp_path, "time [h],temperature [degC],mass_flow [kg/s]\n0,12,100\n1,14,160\n2,12,100\n")


def test_linear_interpolation_in_si_units(effluent):
    ts = TimeSeries("effluent", effluent)
    ts.setup(0.0, 7200.0, {})
    assert ts.variables["temperature"].unit == "K"
    ts.do_step(0.0, 1800.0)
    np.testing.assert_allclose(ts.get_outputs(["temperature", "mass_flow"]), [273.15 + 13.0, 130.0])


def test_hold_keeps_the_last_sample(effluent):
    ts = TimeSeries("effluent", effluent, interpolation="hold")
    ts.setup(0.0, 7200.0, {})
    ts.do_step(0.0, 3599.0)
    assert ts.get_outputs(["mass_flow"])[0] == 100.0
    ts.do_step(3599.0, 1.0)
    assert ts.get_outputs(["mass_flow"])[0] == 160.0


def test_outside_the_data_is_an_error_naming_file_and_time(effluent):
    ts = TimeSeries("effluent", effluent)
    with pytest.raises(ComponentError, match=r"t = 10800 s is outside the data of .*data.csv"):
        ts.setup(0.0, 3 * 3600.0, {})
    ts.setup(0.0, None, {})
    outcome = ts.do_step(7000.0, 400.0)
    assert outcome.status is StepStatus.ERROR and "data.csv" in outcome.message


def test_periodic_series_repeats(effluent):
    ts = TimeSeries("effluent", effluent, periodic=True)
    ts.setup(0.0, 10 * 7200.0, {})
    ts.do_step(0.0, 5 * 7200.0 + 1800.0)
    np.testing.assert_allclose(ts.get_outputs(["temperature"]), [273.15 + 13.0])


@pytest.mark.parametrize("interpolation", ["linear", "hold"])
@pytest.mark.parametrize("periodic", [False, True])
def test_port_energy_is_the_exact_integral_of_the_enthalpy_flow(effluent, interpolation, periodic):
    ts = TimeSeries("effluent", effluent, interpolation=interpolation, periodic=periodic,
                    fluid_ports={"outlet": {"mass_flow": "mass_flow", "temperature": "temperature"}})
    ts.setup(0.0, None, {})
    t, step = 0.0, 700.0
    while t + step <= 7200.0:
        assert ts.do_step(t, step).ok
        t += step
    energy = ts.get_outputs(["outlet_energy"])[0]
    # by hand: m(t), T(t) linear on each hour; the integral of a product of linear functions
    if interpolation == "linear":
        def hour(m0, m1, dt0, dt1, length):  # integral over [0, length] of a full hour segment
            dm, dtt = (m1 - m0) / 3600.0, (dt1 - dt0) / 3600.0
            return m0 * dt0 * length + (m0 * dtt + dm * dt0) * length**2 / 2 + dm * dtt * length**3 / 3
        rest = t - 3600.0
        exact = -CP * (hour(100.0, 160.0, 12.0, 14.0, 3600.0) + hour(160.0, 100.0, 14.0, 12.0, rest))
    else:
        exact = -CP * (100.0 * 12.0 * 3600.0 + 160.0 * 14.0 * (t - 3600.0))
    assert energy == pytest.approx(exact, rel=1e-12)
    assert ts.energy_ports["outlet"].power == "outlet_power"


@pytest.mark.parametrize(("text", "message"), [
    ("time,temperature [degC]\n0,12\n", "at least two samples"),
    ("time,temperature [degC]\n0,12\n0,13\n", "row 3: times must increase"),
    ("time,temperature [degC]\n0,12\n60,warm\n", "row 3, column 'temperature': 'warm' is not a number"),
    ("time,temperature [furlong]\n0,12\n60,13\n", "column 'temperature'"),
    ("time [fortnight],t\n0,12\n60,13\n", "time unit 'fortnight'"),
    ("time,temperature\n0,12\n60\n", "row 3: 1 cells"),
])
def test_bad_files_name_row_and_column(tmp_path, text, message):
    with pytest.raises(TimeSeriesError, match=message):
        TimeSeries("bad", write(tmp_path, text))


def test_iso_dates_count_seconds_from_the_first_row(tmp_path):
    ts = TimeSeries("weather", write(tmp_path, "time,t_out [degC]\n2024-01-01T00:00,0\n2024-01-01T06:00,6\n"))
    ts.setup(0.0, 21600.0, {})
    ts.do_step(0.0, 3600.0)
    assert ts.get_outputs(["t_out"])[0] == pytest.approx(274.15)


def test_a_system_file_reads_its_data_relative_to_itself(tmp_path, effluent):
    from kreislauf.api import load

    (tmp_path / "data").mkdir()
    effluent.rename(tmp_path / "data" / "effluent.csv")
    system = tmp_path / "plant.toml"
    system.write_text("""
[master]
step = "15min"
stop = "2h"
[components.effluent]
python = "kreislauf.timeseries:TimeSeries"
[components.effluent.arguments]
file = "data/effluent.csv"
fluid_ports = { outlet = { mass_flow = "mass_flow", temperature = "temperature" } }
""")
    result = load(system).run(out_dir=tmp_path / "out", progress=False)
    rows = result.read(["time", "effluent.temperature", "effluent.outlet_energy"])
    assert rows["effluent.temperature"][2] == pytest.approx(273.15 + 13.0)  # t = 30 min
    assert rows["effluent.outlet_energy"][-1] < 0  # the source delivers enthalpy


@pytest.mark.parametrize(("rows", "message"), [
    (["2024-01-01T00:00+01:00,1", "2024-01-01T01:00,2"], r"row 3: .*UTC offset"),
    (["0,1", "2024-01-01T01:00,2"], r"row 3: .*mixes numbers and ISO dates"),
    (["2024-01-01T00:00,1", "3600,2"], r"row 3: .*mixes numbers and ISO dates"),
])
def test_inconsistent_time_columns_are_errors_naming_the_row(tmp_path, rows, message):
    path = tmp_path / "mixed.csv"
    path.write_text("\n".join(["time,heat [W]", *rows]) + "\n")
    with pytest.raises(TimeSeriesError, match=r"mixed.csv, " + message):
        TimeSeries("data", path)


def test_a_bonded_stream_from_data_enters_the_balance_at_the_boundary(tmp_path, effluent):
    """Measured effluent bonded into a heat exchanger: the time series books the stream's enthalpy as
    entering from outside the system (the twin port ``outlet_boundary``), so every component conserves
    energy and the system's imbalance is exactly the coupling residual of the bond (sign reversed)."""
    from kreislauf.api import load

    system = tmp_path / "plant.toml"
    system.write_text(f"""
connections = [
    "effluent.temperature -> exchanger.wastewater_inlet_temperature",
    "effluent.mass_flow -> exchanger.wastewater_mass_flow",
]
bonds = ["effluent.outlet -> exchanger.wastewater_inlet"]
[master]
step = "5min"
stop = "2h"
[components.effluent]
python = "kreislauf.timeseries:TimeSeries"
[components.effluent.arguments]
file = "{effluent.as_posix()}"
fluid_ports = {{ outlet = {{ mass_flow = "mass_flow", temperature = "temperature" }} }}
[components.exchanger]
model = "fouling_heat_exchanger"
[components.exchanger.parameters]
loop_mass_flow = 80.0
loop_inlet_temperature = 278.15
""")
    result = load(system).run(out_dir=tmp_path / "out", progress=False)
    balance = result.balance
    rows = result.read(["effluent.outlet_energy", "effluent.outlet_boundary_energy"])
    np.testing.assert_array_equal(rows["effluent.outlet_boundary_energy"], -rows["effluent.outlet_energy"])
    # the boundary holds the data's inflow (~ -outlet energy) and the exchanger's outflows
    assert balance.bond_residual != 0.0  # the held inputs differ from the exact integral of the data
    assert abs(balance.imbalance + balance.bond_residual) <= 1e-9 * balance.scale
