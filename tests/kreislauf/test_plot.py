"""Figures of run results: PNG files, the Sankey diagram's energies, resampling of long runs, clear errors."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cosim_doubles import HeatCapacity

from kreislauf.api import System, load
from kreislauf.cli import main
from kreislauf.master import NonFiniteValueError
from kreislauf.plot import MAX_POINTS, PlotError, classify, plot_results, resample, sankey_data
from kreislauf.results import ResultWriter, read_results

DAY = 86400.0
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
BOND = "a.cond->b.heat"

# the synthetic heat-pump system: mean powers (W); every power swings ±25 % once a day, so its
# integral over whole days is the mean times the duration, also for step-wise sums
Q_EVAPORATOR = 4.0e5
P_COMPRESSOR = 1.2e5
LOSS_SHARE = 0.08


def png_size(path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk (and proof that the file is a PNG)."""
    head = path.read_bytes()[:24]
    assert head[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    assert head[12:16] == b"IHDR"
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def assert_image_has_content(path) -> None:
    import matplotlib.image as mpimg

    pixels = mpimg.imread(path)[..., :3]
    # more than a blank canvas: a good share of the pixels are not white, and there are many colours
    assert (pixels.min(axis=-1) < 0.9).mean() > 0.02
    rgb = np.round(pixels * 255).astype(np.uint32)
    assert len(np.unique(rgb[..., 0] << 16 | rgb[..., 1] << 8 | rgb[..., 2])) > 20


def heat_pump_results(path, days: float = 30.0, step: float = 60.0, row_group_size: int = 4096, meta=None):
    """Results of a wastewater heat-pump system written with the ResultWriter; returns the columns.

    exchanger: takes wastewater heat Q_e (net of its inlet and outlet enthalpy) and sends it on the
    bond ``exchanger.loop->heat_pump.evaporator``; heat_pump: adds compressor power P and sends
    Q_e + P to the network; network: loses 8 % and delivers the rest to consumers. Energies per step
    hold the power at the end of the step; the counters are the running sums of those energies.
    """
    n = int(round(days * DAY / step)) + 1
    t = np.arange(n) * step
    swing = 1 + 0.25 * np.sin(2 * np.pi * t / DAY)
    q_e, p_el = Q_EVAPORATOR * swing, P_COMPRESSOR * swing
    q_c = q_e + p_el
    per_step = {name: np.concatenate(([0.0], p[1:] * step)) for name, p in {"e": q_e, "p": p_el, "c": q_c}.items()}
    counter = {name: np.cumsum(e) for name, e in per_step.items()}
    enthalpy_in = np.cumsum(np.concatenate(([0.0], np.full(n - 1, 3.0e6 * step))))
    cols = {
        "time": t,
        "exchanger.wastewater_inlet_temperature": 285.15 + 2 * np.sin(2 * np.pi * t / (7 * DAY)),
        "exchanger.fouling_resistance": 1e-4 * (1 - np.exp(-t / (10 * DAY))),
        "exchanger.heat_flow": q_e,
        "exchanger.wastewater_inlet_energy": enthalpy_in + counter["e"],
        "exchanger.wastewater_outlet_energy": -enthalpy_in,
        "exchanger.loop_energy": -counter["e"],
        "heat_pump.cop": q_c / p_el,
        "heat_pump.condenser_heat": q_c,
        "heat_pump.electrical_power": p_el,
        "heat_pump.condenser_outlet_temperature": 338.15 + 3 * np.sin(2 * np.pi * t / DAY),
        "heat_pump.evaporator_energy": counter["e"],
        "heat_pump.compressor_energy": counter["p"],
        "heat_pump.condenser_energy": -counter["c"],
        "network.supply_energy": counter["c"],
        "network.losses_energy": -LOSS_SHARE * counter["c"],
        "network.consumers_energy": -(1 - LOSS_SHARE) * counter["c"],
    }
    for bond, key in (("exchanger.loop->heat_pump.evaporator", "e"), ("heat_pump.condenser->network.supply", "c")):
        cols[f"bond:{bond}:sent"] = per_step[key]
        cols[f"bond:{bond}:received"] = per_step[key]
        cols[f"bond:{bond}:residual"] = np.zeros(n)
    metadata = {"system": "heat-pump", "components": ["exchanger", "heat_pump", "network"], **(meta or {})}
    names = list(cols)
    block = np.column_stack([cols[c] for c in names])
    with ResultWriter(path, names, metadata, row_group_size) as writer:
        for row in block:
            writer.append(row)
    return cols


@pytest.fixture(scope="module")
def heat_pump_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("heat_pump")
    heat_pump_results(folder / "results.parquet")
    return folder


@pytest.fixture(scope="module")
def capacity_run(tmp_path_factory):
    """A real run of the master: two heat capacities joined by a power bond."""
    folder = tmp_path_factory.mktemp("capacities")
    a = HeatCapacity("a", C=2e6, T0=350.0, G=100.0)
    b = HeatCapacity("b", C=1e6, T0=290.0)
    system = System.from_components(
        [a, b], ["b.T -> a.T_neighbour", "a.Q_cond -> b.Q_in"], bonds=["a.cond -> b.heat"], stop="2d", step=300.0
    )
    system.run(out_dir=folder, progress=False)
    return folder


def test_a_real_run_gives_png_figures_and_a_sankey_link_carrying_the_bond_energy(capacity_run, tmp_path):
    paths = plot_results(capacity_run, tmp_path / "figures")
    names = {p.name for p in paths}
    assert {"temperature.png", "energy.png", "sankey.png"} <= names
    for path in paths:
        width, height = png_size(path)
        assert 600 <= width <= 4000 and 300 <= height <= 4000
        assert_image_has_content(path)
    data = sankey_data(capacity_run)
    (link,) = [link for link in data.links if link.bond == BOND]
    columns = read_results(capacity_run / "results.parquet", [f"bond:{BOND}:sent", f"bond:{BOND}:received"])
    assert link.sent == pytest.approx(columns[f"bond:{BOND}:sent"].sum(), rel=1e-12)
    assert link.received == pytest.approx(columns[f"bond:{BOND}:received"].sum(), rel=1e-12)
    # the ledger's own totals in summary.json, booked from the counters, agree with the column sums
    (total,) = json.loads((capacity_run / "summary.json").read_text())["bonds"]
    assert link.sent == pytest.approx(total["sent_J"], rel=1e-9)
    assert link.received == pytest.approx(total["received_J"], rel=1e-9)
    # heat flows from the hot capacity a (350 K) to the cold one b (290 K)
    assert (link.source, link.target) == ("a", "b") and link.energy == pytest.approx(link.sent)
    assert link.energy > 0


def test_a_failed_run_is_plotted_up_to_its_failure(tmp_path):
    a = HeatCapacity("a", C=2e6, T0=350.0, G=100.0)
    b = HeatCapacity("b", C=1e6, T0=290.0, fail_after=3000.0)
    system = System.from_components(
        [a, b], ["b.T -> a.T_neighbour", "a.Q_cond -> b.Q_in"], bonds=["a.cond -> b.heat"], stop="1d", step=60.0
    )
    with pytest.raises(NonFiniteValueError):
        system.run(out_dir=tmp_path, progress=False)
    paths = plot_results(tmp_path, tmp_path / "figures")
    assert "sankey.png" in {p.name for p in paths}
    data = sankey_data(tmp_path)
    assert (data.start, data.stop) == (0.0, 3000.0)
    (total,) = json.loads((tmp_path / "summary.json").read_text())["bonds"]
    (link,) = [x for x in data.links if x.bond is not None]
    assert link.sent == pytest.approx(total["sent_J"], rel=1e-9)


def test_bins_skip_missing_values_in_their_extremes(tmp_path):
    path = tmp_path / "results.parquet"
    n = 20_000  # 333 h at 60 s: bins of 1 h
    assert n > MAX_POINTS
    with ResultWriter(path, ["time", "x.cop"], {}) as writer:
        for k in range(n):
            writer.append(np.array([60.0 * k, math.nan if k == 10 else 3.0 + (k % 7)]))
    binned = resample(path, ["x.cop"])
    assert binned.bin_width == 3600.0
    assert binned.low[0, 0] == 3.0 and binned.high[0, 0] == 9.0
    assert math.isnan(binned.mean[0, 0]) and binned.mean[1, 0] == pytest.approx(np.mean(3.0 + np.arange(60, 120) % 7))


@pytest.mark.skipif(
    shutil.which("cc") is None and shutil.which("gcc") is None, reason="needs a C compiler to export FMUs"
)
def test_the_sankey_of_an_exported_chp_fmu_balances_and_finds_its_ports(tmp_path):
    """The chp_unit model exported to an FMU: fuel in; electricity, losses and heat to water out."""
    system_file = tmp_path / "chp.toml"
    system_file.write_text('[master]\nstep = "5min"\nstop = "2d"\n\n[components.chp]\nmodel = "chp_unit"\n')
    load(system_file, cache_dir=tmp_path / "cache").run(out_dir=tmp_path / "run", progress=False)
    data = sankey_data(tmp_path / "run")
    by_pair = {(link.source, link.target): link.energy for link in data.links}
    assert set(by_pair) == {
        ("in:chp.fuel", "chp"),
        ("chp", "out:chp.generator"),
        ("chp", "out:chp.losses"),
        ("chp", "out:chp.water"),
    }
    # the fuel energy is the integral of the (here constant) fuel power
    fuel_power = read_results(tmp_path / "run" / "results.parquet", ["chp.fuel_power"])["chp.fuel_power"]
    assert fuel_power.max() == pytest.approx(fuel_power.min(), rel=1e-12)
    assert by_pair[("in:chp.fuel", "chp")] == pytest.approx(fuel_power[0] * 2 * DAY, rel=1e-9)
    # first law over the engine: fuel = electricity + losses + heat to water (it stores nothing)
    inflow, outflow = data.throughput("chp")
    assert outflow == pytest.approx(inflow, rel=1e-9)


def test_every_quantity_family_gets_a_figure(heat_pump_run, tmp_path):
    paths = plot_results(heat_pump_run, tmp_path)
    assert sorted(p.name for p in paths) == sorted(
        ["temperature.png", "power.png", "cop.png", "fouling.png", "energy.png", "sankey.png"]
    )
    for path in paths:
        assert path.stat().st_size > 10_000
        png_size(path)


def test_sankey_energies_are_the_analytic_integrals_and_every_component_balances(heat_pump_run):
    data = sankey_data(heat_pump_run)
    duration = 30 * DAY
    by_pair = {(link.source, link.target): link.energy for link in data.links}
    assert by_pair[("exchanger", "heat_pump")] == pytest.approx(Q_EVAPORATOR * duration, rel=1e-9)
    assert by_pair[("heat_pump", "network")] == pytest.approx((Q_EVAPORATOR + P_COMPRESSOR) * duration, rel=1e-9)
    # the boundary: wastewater heat (inlet and outlet netted) and electricity in, losses and heat out
    assert by_pair[("in:exchanger.wastewater", "exchanger")] == pytest.approx(Q_EVAPORATOR * duration, rel=1e-9)
    assert by_pair[("in:heat_pump.compressor", "heat_pump")] == pytest.approx(P_COMPRESSOR * duration, rel=1e-9)
    delivered = (Q_EVAPORATOR + P_COMPRESSOR) * duration
    assert by_pair[("network", "out:network.losses")] == pytest.approx(LOSS_SHARE * delivered, rel=1e-9)
    assert by_pair[("network", "out:network.consumers")] == pytest.approx((1 - LOSS_SHARE) * delivered, rel=1e-9)
    for name, node in data.nodes.items():
        if node.kind == "component":
            inflow, outflow = data.throughput(name)
            assert inflow == pytest.approx(outflow, rel=1e-12)


def test_the_sankey_data_keeps_every_component_in_run_order_for_the_colours(tmp_path):
    """A component without energy flows is no node, but still takes its place in the colour order."""
    path = tmp_path / "results.parquet"
    meta = {"components": ["sensor", "boiler"]}
    with ResultWriter(path, ["time", "sensor.supply_temperature", "boiler.fuel_energy"], meta) as writer:
        for k in range(5):
            writer.append(np.array([60.0 * k, 330.0, 1e6 * k]))
    data = sankey_data(path)
    assert data.components == ["sensor", "boiler"]
    assert set(data.nodes) == {"boiler", "in:boiler.fuel"}


def test_sankey_of_a_period_sums_only_the_steps_that_end_in_it(heat_pump_run):
    data = sankey_data(heat_pump_run, start="10d", stop="12d")
    assert (data.start, data.stop) == (10 * DAY, 12 * DAY)
    columns = read_results(heat_pump_run / "results.parquet")
    inside = (columns["time"] > 10 * DAY) & (columns["time"] <= 12 * DAY)
    for link in data.links:
        if link.bond is not None:
            assert link.sent == pytest.approx(columns[f"bond:{link.bond}:sent"][inside].sum(), rel=1e-12)
    by_pair = {(link.source, link.target): link.energy for link in data.links}
    assert by_pair[("exchanger", "heat_pump")] == pytest.approx(Q_EVAPORATOR * 2 * DAY, rel=1e-9)
    assert by_pair[("in:heat_pump.compressor", "heat_pump")] == pytest.approx(P_COMPRESSOR * 2 * DAY, rel=1e-9)


def test_a_bond_with_a_negative_sum_is_drawn_from_receiver_to_sender(tmp_path):
    path = tmp_path / "results.parquet"
    with ResultWriter(path, ["time", "bond:x.out->y.in:sent", "bond:x.out->y.in:received"], {}) as writer:
        for k in range(5):
            writer.append(np.array([60.0 * k, -100.0 * (k > 0), -90.0 * (k > 0)]))
    (link,) = sankey_data(path).links
    assert (link.source, link.target, link.energy) == ("y", "x", 400.0)
    assert (link.sent, link.received) == (-400.0, -360.0)


def test_no_sankey_figure_when_no_energy_moved(tmp_path):
    path = tmp_path / "results.parquet"
    with ResultWriter(path, ["time", "bond:a.x->b.y:sent", "bond:a.x->b.y:received", "a.T"], {}) as writer:
        for k in range(5):
            writer.append(np.array([60.0 * k, 0.0, 0.0, 300.0]))
    (link,) = sankey_data(path).links
    assert link.energy == 0.0
    assert sorted(p.name for p in plot_results(path, tmp_path / "f")) == ["energy.png", "temperature.png"]


def test_port_kinds_from_the_metadata_label_the_boundary(tmp_path):
    meta = {"energy_ports": {"heat_pump": {"compressor": {"energy": "compressor_energy", "kind": "electrical"}}}}
    heat_pump_results(tmp_path / "results.parquet", days=2, meta=meta)
    node = sankey_data(tmp_path).nodes["in:heat_pump.compressor"]
    assert node.port_kind == "electrical" and "electricity" in node.label


def test_a_year_at_60_s_is_drawn_in_daily_bins_whose_extremes_are_the_steps_extremes(tmp_path):
    """365 d at 60 s: 525 601 rows of a daily temperature swing; bins of one day."""
    step, days = 60.0, 365
    n = int(days * DAY / step) + 1
    path = tmp_path / "results.parquet"
    t = np.arange(n) * step
    amplitude = 5.0 + 3.0 * (t / t[-1])
    temperature = 300.0 + amplitude * np.sin(2 * np.pi * t / DAY)
    table = np.column_stack([t, temperature])
    # written in row groups of 8192 rows, like the master's ResultWriter does
    with pq.ParquetWriter(str(path), pa.schema([("time", pa.float64()), ("x.supply_temperature", pa.float64())])) as w:
        for i in range(0, n, 8192):
            block = table[i : i + 8192]
            w.write_table(pa.table({"time": block[:, 0], "x.supply_temperature": block[:, 1]}))
    binned = resample(path, ["x.supply_temperature"])
    assert binned.bin_width == DAY and len(binned.time) == days
    day = np.minimum((t // DAY).astype(int), days - 1)
    # per day, the bin holds the extremes and the mean of that day's samples (the last sample, at
    # t = 365 d, falls into the last day); the extremes are near 300 K ± the day's amplitude
    for d in range(0, days, 7):
        samples = temperature[day == d]
        assert binned.high[d, 0] == samples.max() and binned.low[d, 0] == samples.min()
        assert binned.mean[d, 0] == pytest.approx(samples.mean(), rel=1e-12)
        assert binned.high[d, 0] == pytest.approx(300.0 + 5.0 + 3.0 * (d + 0.25) / days, abs=1e-6)
    assert binned.time[0] == DAY / 2
    figure = plot_results(path, tmp_path / "figures")
    assert [p.name for p in figure] == ["temperature.png"]


def test_short_periods_keep_every_step(heat_pump_run):
    raw = resample(heat_pump_run, ["heat_pump.cop"], start="1d", stop="1.5d")
    assert raw.bin_width is None and raw.low is None
    assert raw.time[0] == DAY and raw.time[-1] == 1.5 * DAY and len(raw.time) == 12 * 60 + 1
    assert raw.mean[:, 0] == pytest.approx((Q_EVAPORATOR + P_COMPRESSOR) / P_COMPRESSOR)


@pytest.mark.parametrize(
    ("variable", "unit", "family"),
    [
        ("supply_temperature", None, "temperature"),
        ("outlet", "degC", "temperature"),
        ("electrical_power", None, "power"),
        ("heat_flow", None, "power"),
        ("duty", "kW", "power"),
        ("cop", None, "cop"),
        ("fouling_resistance", None, "fouling"),
        ("wall", "m2.K/W", "fouling"),
        ("compressor_energy", None, "energy"),
        ("E_heat", None, "energy"),
        ("P_heat", None, "power"),
        ("engine_heat", None, "power"),
        ("delivered", "MWh", "energy"),
        ("stored_energy", None, None),
        ("loop_specific_heat", None, None),
        ("mass_flow", "kg/s", None),
        ("valve_position", None, None),
    ],
)
def test_quantity_families_by_unit_and_by_name(variable, unit, family):
    assert classify(variable, unit) == family


def test_units_in_the_metadata_choose_the_family_and_convert_to_si(tmp_path):
    path = tmp_path / "results.parquet"
    meta = {"units": {"boiler.outlet": "degC", "boiler.duty": "kW"}}
    with ResultWriter(path, ["time", "boiler.outlet", "boiler.duty"], meta) as writer:
        for k in range(10):
            writer.append(np.array([60.0 * k, 70.0, 250.0]))
    assert sorted(p.name for p in plot_results(path, tmp_path / "f")) == ["power.png", "temperature.png"]


def test_results_without_anything_to_plot_are_an_error_naming_the_file(tmp_path):
    path = tmp_path / "results.parquet"
    with ResultWriter(path, ["time", "valve.position"], {}) as writer:
        for k in range(5):
            writer.append(np.array([60.0 * k, 0.5]))
    with pytest.raises(PlotError, match=rf"{path}: nothing to plot"):
        plot_results(tmp_path, tmp_path / "out")


def test_port_powers_get_their_own_figure(tmp_path):
    path = tmp_path / "results.parquet"
    columns = ["time", "boiler.fuel_power", "boiler.fuel_energy", "boiler.electrical_power"]
    with ResultWriter(path, columns, {}) as writer:
        for k in range(10):
            writer.append(np.array([60.0 * k, 1e6, 60.0 * k * 1e6, 2e4]))
    names = sorted(p.name for p in plot_results(path, tmp_path / "f"))
    assert names == ["energy.png", "port_power.png", "power.png", "sankey.png"]
    (link,) = sankey_data(path).links
    assert (link.source, link.target, link.energy) == ("in:boiler.fuel", "boiler", 9 * 60.0 * 1e6)


def test_a_calendar_start_in_the_metadata_puts_dates_on_the_time_axis(tmp_path):
    path = tmp_path / "results.parquet"
    with ResultWriter(path, ["time", "x.supply_temperature"], {"start_date": "2025-01-01T00:00"}) as writer:
        for k in range(50):
            writer.append(np.array([3600.0 * k, 330.0 + math.sin(k)]))
    assert [p.name for p in plot_results(path, tmp_path / "f")] == ["temperature.png"]
    with ResultWriter(path, ["time", "x.supply_temperature"], {"start_date": "first of May"}) as writer:
        for k in range(50):
            writer.append(np.array([3600.0 * k, 330.0]))
    with pytest.raises(PlotError, match=rf"{path}: metadata start_date 'first of May' is not an ISO 8601 date"):
        plot_results(path, tmp_path / "f")


def test_a_missing_results_file_is_an_error_naming_it(tmp_path):
    with pytest.raises(PlotError, match=rf"{tmp_path / 'nowhere'}: no results file"):
        plot_results(tmp_path / "nowhere", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_an_empty_results_file_is_an_error_naming_it(tmp_path):
    path = tmp_path / "results.parquet"
    with ResultWriter(path, ["time", "a.T"], {}):
        pass
    with pytest.raises(PlotError, match=rf"{path}.*no rows"):
        plot_results(tmp_path, tmp_path / "out")


def test_a_file_that_is_not_parquet_is_an_error_naming_it(tmp_path):
    path = tmp_path / "results.parquet"
    path.write_text("time,a.T\n0,300\n")
    with pytest.raises(PlotError, match=rf"{path}.*not a readable Parquet"):
        plot_results(path, tmp_path / "out")


def test_a_period_outside_the_run_names_the_run_s_range(heat_pump_run, tmp_path):
    outside = r"results\.parquet: the period \[3\.456e\+06 s, end\].*covers \[0, 2\.592e\+06\] s"
    with pytest.raises(PlotError, match=outside):
        plot_results(heat_pump_run, tmp_path, start="40d")
    with pytest.raises(PlotError, match="stop .* must come after start"):
        plot_results(heat_pump_run, tmp_path, start="20d", stop="10d")
    with pytest.raises(PlotError, match="'ten days' is not a duration"):
        plot_results(heat_pump_run, tmp_path, start="ten days")


def test_the_command_prints_the_figures_it_wrote(heat_pump_run, tmp_path, capsys):
    argv = ["plot", str(heat_pump_run), "-o", str(tmp_path / "fig"), "--start", "10d", "--stop", "20d"]
    assert main(argv) == 0
    printed = [Path(line) for line in capsys.readouterr().out.splitlines()]
    assert sorted(p.name for p in printed) == sorted(p.name for p in (tmp_path / "fig").iterdir())
    assert len(printed) == 6
    for path in printed:
        assert path.parent == tmp_path / "fig"
        png_size(path)


def test_run_then_plot_through_the_command_line(tmp_path):
    """The user's path: kreislauf run a system file, then kreislauf plot its folder (default: DIR/plots)."""
    system_file = tmp_path / "pair.toml"
    system_file.write_text(
        f"""
connections = ["b.T -> a.T_neighbour", "a.Q_cond -> b.Q_in"]
bonds = ["a.cond -> b.heat"]
[master]
step = "10min"
stop = "1d"
[components.a]
python = "{Path(__file__).parent / "cosim_doubles.py"}:HeatCapacity"
arguments = {{ C = 2e6, T0 = 350.0, G = 100.0 }}
[components.b]
python = "{Path(__file__).parent / "cosim_doubles.py"}:HeatCapacity"
arguments = {{ C = 1e6, T0 = 290.0 }}
"""
    )
    out = tmp_path / "run"
    for argv in (["run", str(system_file), "-o", str(out), "--no-progress"], ["plot", str(out)]):
        done = subprocess.run([sys.executable, "-m", "kreislauf", *argv], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    printed = sorted(Path(line).name for line in done.stdout.splitlines())
    assert printed == ["energy.png", "port_power.png", "power.png", "sankey.png", "temperature.png"]
    assert all((out / "plots" / name).is_file() for name in printed)


def test_the_command_reports_a_missing_folder_as_a_user_error(tmp_path, capsys):
    assert main(["plot", str(tmp_path / "missing")]) == 2
    assert f"{tmp_path / 'missing'}: no results file" in capsys.readouterr().err


def write_long_run(path, days: int, columns: int = 20, step: float = 60.0, row_group_size: int = 8192) -> int:
    """A results file of ``columns`` temperatures, powers and counters at ``step``; returns its data size (bytes)."""
    kinds = ("supply_temperature", "heat_flow", "compressor_energy", "cop")
    names = ["time"] + [f"unit{k // len(kinds)}.{kinds[k % len(kinds)]}" for k in range(columns)]
    rows = int(days * DAY / step) + 1
    meta = {b"kreislauf": json.dumps({"components": sorted({n.split(".")[0] for n in names[1:]})}).encode()}
    schema = pa.schema([(n, pa.float64()) for n in names], metadata=meta)
    with pq.ParquetWriter(str(path), schema) as writer:
        for first in range(0, rows, row_group_size):
            t = np.arange(first, min(first + row_group_size, rows)) * step
            wave = np.sin(2 * np.pi * t / DAY)
            values = {"time": t}
            for k, name in enumerate(names[1:]):
                kind = kinds[k % len(kinds)]
                values[name] = {
                    "supply_temperature": 330.0 + 5 * wave,
                    "heat_flow": 4e5 * (1 + 0.2 * wave),
                    "compressor_energy": 1e5 * t,
                    "cop": 3.5 + 0.2 * wave,
                }[kind] + k
            writer.write_table(pa.table(values, schema=schema))
    return rows * len(names) * 8


PEAK_MEMORY = """
import resource, sys
from kreislauf.plot import plot_results
paths = plot_results(sys.argv[1], sys.argv[2])
print(len(paths), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""


def peak_memory_of_plotting(results, out) -> tuple[int, int]:
    done = subprocess.run(
        [sys.executable, "-c", PEAK_MEMORY, str(results), str(out)], capture_output=True, text=True, check=True
    )
    figures, peak = done.stdout.split()
    return int(figures), int(peak)


@pytest.mark.slow
def test_plotting_a_year_needs_about_the_memory_of_plotting_ten_days(tmp_path):
    """A year at 60 s (525 601 rows x 21 columns, 88 MB of values) against ten days (2.4 MB)."""
    write_long_run(tmp_path / "short.parquet", days=10)
    size = write_long_run(tmp_path / "year.parquet", days=365)
    figures_short, peak_short = peak_memory_of_plotting(tmp_path / "short.parquet", tmp_path / "short")
    figures_year, peak_year = peak_memory_of_plotting(tmp_path / "year.parquet", tmp_path / "year")
    assert figures_short == figures_year == 5  # temperature, power, cop, energy and the Sankey diagram
    # one row group (8192 rows x 21 columns = 1.4 MB) and the daily bins are held, not the year
    print(f"peak RSS: ten days {peak_short / 1e6:.1f} MB, a year {peak_year / 1e6:.1f} MB, data {size / 1e6:.1f} MB")
    assert peak_year - peak_short < 0.15 * size, (peak_short, peak_year, size)


def test_small_boundary_flows_are_listed_under_the_sankey_not_drawn(tmp_path):
    """A 1 MJ flow from the boundary feeds a, a sends it on to b, b delivers it to a sink except for
    a loss of 5 kJ (0.5 % of the largest flow), 4 kJ to its store and 3 kJ over a bond to c, which
    delivers them to a sink. The three small boundary flows are listed; the 3 kJ bond between two
    components is drawn all the same."""
    from kreislauf.plot import SANKEY_SMALL_SHARE, SankeyData, SankeyLink, SankeyNode, _split_small, plot_sankey

    nodes = {
        "a": SankeyNode("a", "a", "component", "a"),
        "b": SankeyNode("b", "b", "component", "b"),
        "in:a.feed": SankeyNode("in:a.feed", "feed", "source", "a"),
        "out:b.heat": SankeyNode("out:b.heat", "heat", "sink", "b"),
        "out:b.loss": SankeyNode("out:b.loss", "loss", "sink", "b"),
        "store:b": SankeyNode("store:b", "stored", "sink", "b"),
        "c": SankeyNode("c", "c", "component", "c"),
        "out:c.heat": SankeyNode("out:c.heat", "heat", "sink", "c"),
    }
    links = [
        SankeyLink("in:a.feed", "a", 1.0e6),
        SankeyLink("a", "b", 1.0e6, "a.x->b.x", 1.0e6, 1.0e6),
        SankeyLink("b", "out:b.heat", 0.988e6),
        SankeyLink("b", "out:b.loss", 5.0e3),
        SankeyLink("b", "store:b", 4.0e3),
        SankeyLink("b", "c", 3.0e3, "b.y->c.y", 3.0e3, 3.0e3),
        SankeyLink("c", "out:c.heat", 3.0e3),
    ]
    data = SankeyData(nodes, links, 0.0, DAY, "toy", ["a", "b", "c"])
    net = {(x.source, x.target): x.energy for x in links}
    drawn, small = _split_small(data, net)
    assert 5.0e3 < SANKEY_SMALL_SHARE * 1.0e6
    assert small == {("b", "out:b.loss"): 5.0e3, ("b", "store:b"): 4.0e3, ("c", "out:c.heat"): 3.0e3}
    assert drawn == {("in:a.feed", "a"): 1.0e6, ("a", "b"): 1.0e6, ("b", "out:b.heat"): 0.988e6, ("b", "c"): 3.0e3}
    # nothing is lost between drawn and listed flows
    assert sum(drawn.values()) + sum(small.values()) == pytest.approx(sum(x.energy for x in links))
    path = plot_sankey(data, tmp_path / "toy.png")
    assert_image_has_content(path)


def test_a_boundary_label_does_not_repeat_the_port_kind(tmp_path):
    meta = {"energy_ports": {"heat_pump": {"compressor": {"energy": "compressor_energy", "kind": "electrical"}}}}
    heat_pump_results(tmp_path / "results.parquet", days=2, meta=meta)
    assert sankey_data(tmp_path).nodes["in:heat_pump.compressor"].label == "compressor (electricity)"
    meta = {"energy_ports": {"heat_pump": {"electricity": {"energy": "compressor_energy", "kind": "electrical"}}}}
    heat_pump_results(tmp_path / "two" / "results.parquet", days=2, meta=meta)
    assert sankey_data(tmp_path / "two").nodes["in:heat_pump.electricity"].label == "electricity"
