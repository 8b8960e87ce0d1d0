"""Figures of a run's results: time series per quantity family and a Sankey diagram of energy flows.

:func:`plot_results` reads a results file written by the master (``results.parquet``: column
``time`` in s, outputs ``component.variable`` in the components' units, ``bond:NAME:sent|received|
residual`` in J per step) and writes PNG figures with matplotlib (rendered by Agg; no pyplot, no display):

- one figure per quantity family found: temperatures (K, shown in °C), powers (W, shown in kW, MW
  or GW by magnitude), COP, fouling resistance (m²·K/W) and cumulative energies (energy counters
  counted from the start of the period, and the bonds' energy sent summed over the period; shown in
  kWh, MWh or GWh), one panel per component, colours fixed per component;
- ``sankey.png``: the period's energy flows between the components and the system boundary.

Families come from the column units when the results' metadata holds them (key ``units``:
``{"component.variable": unit}``) and from the variable-name conventions otherwise
(``*_temperature``, ``*_power``, ``heat_flow``, ``cop``, ``fouling_resistance``, ``*_energy``).

Memory stays bounded whatever the run's length: the file is read one row group at a time and only
the columns a figure needs. Long periods are reduced to bins of a readable width (a ladder from
1 min to 1 week chosen so that there are at most :data:`MAX_BINS` bins; a year at 60 s steps gets
daily bins) and drawn as the bin mean with a band from the bin minimum to the bin maximum.

The Sankey diagram (:func:`sankey_data`, :func:`plot_sankey`) has a node per component and per
boundary flow. A power bond ``sender.port -> receiver.port`` gives a link from sender to receiver
carrying the bond's energy sent over the period, ``E = Σ sent`` (J; a negative sum is a flow the
other way). Ports outside every bond are the boundary: their energy over the period is the change
of their cumulative counter ``<port>_energy``, positive an inflow to the component (electricity,
wastewater enthalpy, chemical energy of a fuel), negative an outflow (heat delivered, losses). An
inlet and an outlet of the same stream (``X_inlet``, ``X_outlet``) form one net boundary flow
``X``. A change of a component's ``stored_energy`` over the period is drawn as a flow into (or out
of) its store. Link widths are proportional to energy; labels are in MWh (kWh below 0.1 MWh).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from kreislauf import units as _units
from kreislauf.results import read_metadata
from kreislauf.system import DurationError, parse_duration
from kreislauf.units import DAY, HOUR, MINUTE

__all__ = [
    "FAMILIES",
    "MAX_BINS",
    "MAX_POINTS",
    "PlotError",
    "Resampled",
    "SankeyData",
    "SankeyLink",
    "SankeyNode",
    "classify",
    "plot_results",
    "plot_sankey",
    "resample",
    "sankey_data",
]

MAX_POINTS = 2000
"""A period with more rows than this is drawn as min/mean/max bins."""

MAX_BINS = 600
"""The most bins of a period: the bin width is the first of the ladder 1, 5, 15, 30 min, 1, 2, 3, 6,
12 h, 1 d, 1 week that gives no more bins than this (a year gets daily bins)."""

FAMILIES: dict[str, tuple[str, str]] = {
    "temperature": ("Temperatures", "K"),
    "power": ("Powers", "W"),
    "port_power": ("Energy-port powers (positive into the component)", "W"),
    "cop": ("Coefficient of performance", "1"),
    "fouling": ("Fouling resistance", "m2.K/W"),
    "energy": ("Cumulative energies", "J"),
}
"""Quantity family -> (figure title, SI unit of the values)."""

_BIN_LADDER = (60.0, 300.0, 900.0, 1800.0, HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY, 7 * DAY)
_J_PER_KWH = 3.6e6
#: boundary flows below this share of the largest flow are listed under the Sankey diagram, not drawn
SANKEY_SMALL_SHARE = 0.01
_KIND_LABELS = {"heat": "heat", "fluid": "enthalpy", "electrical": "electricity", "chemical": "chemical energy"}
_KIND_COLOURS = {"heat": "#d62728", "fluid": "#1f77b4", "electrical": "#e6b800", "chemical": "#8c564b"}
_BOUNDARY_COLOUR = "#8c8c8c"
_AXIS_NAMES = {
    "temperature": "temperature",
    "power": "power",
    "port_power": "power",
    "cop": "COP",
    "fouling": "fouling resistance",
    "energy": "energy since start",
}


class PlotError(ValueError):
    """Results cannot be plotted: names the file and what is wrong with it or with the request."""


# ------------------------------------------------------------------------------------ input
def _results_file(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    if p.is_dir():
        p = p / "results.parquet"
    if not p.is_file():
        raise PlotError(f"{p}: no results file there (a run writes DIR/results.parquet: kreislauf run SYSTEM -o DIR)")
    return p


def _open(path: Path) -> pq.ParquetFile:
    try:
        source = pq.ParquetFile(str(path))
    except (pa.ArrowException, OSError) as exc:
        raise PlotError(f"{path}: not a readable Parquet results file ({exc})") from None
    if "time" not in source.schema_arrow.names:
        raise PlotError(f"{path}: no column 'time'; not a kreislauf results file")
    if source.metadata.num_rows == 0:
        raise PlotError(f"{path}: the results file holds no rows (the run stopped before its first step)")
    return source


def _row_groups(source: pq.ParquetFile, columns: Sequence[str]) -> Iterator[dict[str, np.ndarray]]:
    for index in range(source.num_row_groups):
        table = source.read_row_group(index, columns=list(columns))
        yield {name: table.column(name).to_numpy() for name in table.column_names}


def _seconds(value: float | str | None, what: str, path: Path) -> float | None:
    if value is None:
        return None
    try:
        return parse_duration(value, what)
    except DurationError as exc:
        raise PlotError(f"{path}: {exc}") from None


@dataclass(frozen=True)
class _Window:
    """The rows of the period: time in [t0, t1], ``rows`` of them."""

    t0: float
    t1: float
    rows: int


def _window(source: pq.ParquetFile, path: Path, start: float | str | None, stop: float | str | None) -> _Window:
    lo = _seconds(start, "start", path)
    hi = _seconds(stop, "stop", path)
    first = last = math.nan
    rows = 0
    run_first = run_last = math.nan
    if lo is not None and hi is not None and hi <= lo:
        raise PlotError(f"{path}: stop ({hi:g} s) must come after start ({lo:g} s)")
    for group in _row_groups(source, ["time"]):
        t = group["time"]
        if len(t) == 0:
            continue
        if math.isnan(run_first):
            run_first = float(t[0])
        run_last = float(t[-1])
        mask = np.ones(len(t), dtype=bool)
        if lo is not None:
            mask &= t >= lo
        if hi is not None:
            mask &= t <= hi
        n = int(mask.sum())
        if n:
            selected = t[mask]
            if math.isnan(first):
                first = float(selected[0])
            last = float(selected[-1])
            rows += n
    if rows < 2:
        raise PlotError(
            f"{path}: the period [{'start' if lo is None else f'{lo:g} s'}, {'end' if hi is None else f'{hi:g} s'}] "
            f"holds {rows} row(s); the run covers [{run_first:g}, {run_last:g}] s, choose start and stop within it"
        )
    return _Window(first, last, rows)


def _split(column: str, components: Sequence[str]) -> tuple[str, str] | None:
    """``component.variable`` -> (component, variable), matching the longest known component name."""
    for name in sorted(components, key=len, reverse=True):
        if column.startswith(name + "."):
            return name, column[len(name) + 1 :]
    if "." in column:
        comp, var = column.split(".", 1)
        return comp, var
    return None


def _components(meta: Mapping[str, Any], columns: Sequence[str]) -> list[str]:
    names = [str(c) for c in meta.get("components") or []]
    for column in columns:
        if column == "time" or column.startswith("bond:"):
            continue
        parts = _split(column, names)
        if parts and parts[0] not in names:
            names.append(parts[0])
    return names


# ---------------------------------------------------------------------------- classification
def classify(variable: str, unit: str | None = None) -> str | None:
    """The quantity family of a variable (a key of :data:`FAMILIES`), or None when it is in none.

    The unit decides when known (K, W, m2.K/W, J and units convertible to them; a dimensionless
    ``cop``); otherwise the name: ``*_temperature`` (and the symbols ``T``, ``T_*``), ``*_power``,
    ``*_heat``, ``heat_flow``, ``heat_loss`` (and ``P_*``, ``Q_*``), ``cop``, ``fouling_resistance``,
    ``*_energy`` (and ``E_*``). Never ``stored_energy`` (its level depends on the reference
    temperature) nor ``*specific_heat``/``*latent_heat`` (material properties).
    """
    name = variable.rsplit(".", 1)[-1]
    if name == "stored_energy" or name.endswith(("specific_heat", "latent_heat")):
        return None
    if unit:
        try:
            base = _units.base_unit(unit)
        except _units.UnitError:
            base = None
        by_unit = {"K": "temperature", "W": "power", "m2.K/W": "fouling", "J": "energy"}
        if base in by_unit:
            return by_unit[base]
        if base == "1" and (name == "cop" or name.endswith("_cop")):
            return "cop"
        return None
    if name == "cop" or name.endswith("_cop"):
        return "cop"
    if name.endswith("fouling_resistance"):
        return "fouling"
    if name.endswith("_temperature") or name == "temperature" or name == "T" or name.startswith("T_"):
        return "temperature"
    if name.endswith("_energy") or name.startswith("E_"):
        return "energy"
    if (
        name.endswith(("_power", "_heat"))
        or name.startswith(("P_", "Q_"))
        or name in ("heat_flow", "heat_loss", "power")
    ):
        return "power"
    return None


# ------------------------------------------------------------------------------- binning
@dataclass
class _Series:
    """Per column: the period's values (raw) or per-bin count, sum, min and max."""

    columns: list[str]
    bins: np.ndarray | None  # bin edges in s; None: raw values
    times: list[np.ndarray] = field(default_factory=list)
    values: list[np.ndarray] = field(default_factory=list)
    count: np.ndarray | None = None
    total: np.ndarray | None = None
    low: np.ndarray | None = None
    high: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.bins is not None:
            n, m = len(self.bins) - 1, len(self.columns)
            self.count = np.zeros(n)
            self.total = np.zeros((n, m))
            self.low = np.full((n, m), np.inf)
            self.high = np.full((n, m), -np.inf)

    def add(self, t: np.ndarray, block: np.ndarray) -> None:
        """Add rows (times ``t``, values ``block`` rows × columns, in the period)."""
        if self.bins is None:
            self.times.append(t)
            self.values.append(block)
            return
        idx = np.clip(np.searchsorted(self.bins, t, side="right") - 1, 0, len(self.bins) - 2)
        starts = np.concatenate(([0], np.flatnonzero(np.diff(idx)) + 1))
        where = idx[starts]
        self.count[where] += np.diff(np.append(starts, len(idx)))
        self.total[where] += np.add.reduceat(block, starts, axis=0)
        # fmin/fmax: a NaN (the failing step of a run) does not hide the bin's other values
        self.low[where] = np.fmin(self.low[where], np.fmin.reduceat(block, starts, axis=0))
        self.high[where] = np.fmax(self.high[where], np.fmax.reduceat(block, starts, axis=0))

    def result(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
        """(times, mean values, bin minimum, bin maximum); the last two None for raw values."""
        if self.bins is None:
            return np.concatenate(self.times), np.concatenate(self.values), None, None
        used = self.count > 0
        centres = 0.5 * (self.bins[:-1] + self.bins[1:])[used]
        return centres, self.total[used] / self.count[used, None], self.low[used], self.high[used]


@dataclass(frozen=True)
class Resampled:
    """Columns of a period, as stored or reduced to bins.

    ``time`` holds the row times (s) when the period has at most :data:`MAX_POINTS` rows, else the
    bin centres; ``mean`` is rows × columns (the values, or the bin means), ``low``/``high`` the bin
    minima and maxima (None without bins) and ``bin_width`` the bin width in s (None without bins).
    """

    columns: list[str]
    time: np.ndarray
    mean: np.ndarray
    low: np.ndarray | None
    high: np.ndarray | None
    bin_width: float | None


def resample(
    results: str | os.PathLike[str],
    columns: Sequence[str],
    *,
    start: float | str | None = None,
    stop: float | str | None = None,
) -> Resampled:
    """The columns of a period in the units they were stored in, binned when the period is long.

    Reads only ``time`` and ``columns``, one row group at a time, so memory is bounded by a row
    group plus the bins. Raises :class:`PlotError` naming the file for a missing column.
    """
    path = _results_file(results)
    source = _open(path)
    missing = [c for c in columns if c not in source.schema_arrow.names]
    if missing:
        raise PlotError(f"{path}: no column {', '.join(repr(c) for c in missing)} in the results")
    window = _window(source, path, start, stop)
    series = _collect(source, window, {"values": list(columns)}, {})["values"]
    t, mean, low, high = series.result()
    width = None if series.bins is None else float(series.bins[1] - series.bins[0])
    return Resampled(list(columns), t, mean, low, high, width)


def _bin_edges(window: _Window) -> np.ndarray | None:
    if window.rows <= MAX_POINTS:
        return None
    span = window.t1 - window.t0
    width = next((w for w in _BIN_LADDER if span / w <= MAX_BINS), span / MAX_BINS)
    n = max(1, math.ceil(span / width))
    return window.t0 + width * np.arange(n + 1)


# -------------------------------------------------------------------------- display units
def _scaled(family: str, peak: float) -> tuple[str, float, float]:
    """(display unit, factor, offset) so that display = factor * SI value + offset."""
    if family == "temperature":
        return "°C", 1.0, -273.15
    if family in ("power", "port_power"):
        for unit, f in (("GW", 1e9), ("MW", 1e6), ("kW", 1e3)):
            if peak >= f:
                return unit, 1.0 / f, 0.0
        return "W", 1.0, 0.0
    if family == "energy":
        for unit, f, least in (("GWh", 3.6e12, 3.6e13), ("MWh", 3.6e9, 3.6e9), ("kWh", 3.6e6, 3.6e6)):
            if peak >= least:
                return unit, 1.0 / f, 0.0
        return "Wh", 1.0 / HOUR, 0.0
    if family == "fouling" and peak > 0:
        exponent = math.floor(math.log10(peak))
        if exponent < -1:
            return f"10$^{{{exponent}}}$ m²·K/W", 10.0**-exponent, 0.0
        return "m²·K/W", 1.0, 0.0
    return "–", 1.0, 0.0


def _energy_text(joules: float) -> str:
    """Energy as text in MWh (kWh below 0.1 MWh), three significant digits."""
    mwh = joules / 3.6e9
    if abs(mwh) < 0.1:
        return f"{joules / _J_PER_KWH:.3g} kWh"
    return f"{mwh:.3g} MWh" if abs(mwh) < 1000 else f"{mwh:,.0f} MWh"


def _epoch(meta: Mapping[str, Any], path: Path) -> np.datetime64 | None:
    """The calendar date and time of t = 0 from the metadata key ``start_date`` (ISO 8601), if stored."""
    text = meta.get("start_date")
    if not text:
        return None
    try:
        return np.datetime64(str(text).rstrip("Z"), "ms")
    except ValueError:
        raise PlotError(
            f"{path}: metadata start_date {text!r} is not an ISO 8601 date (e.g. 2025-01-01T00:00)"
        ) from None


def _time_axis(window: _Window) -> tuple[str, float]:
    if window.t1 - window.t0 <= 2 * DAY:
        return "time (h)", HOUR
    return "time (d)", DAY


def _palette(components: Sequence[str]) -> dict[str, tuple[float, float, float]]:
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return {name: cmap(i % 10)[:3] for i, name in enumerate(components)}


def _shade(colour: tuple[float, float, float], index: int) -> tuple[float, float, float]:
    """Variants of one component colour: the colour, then darker and lighter ones."""
    steps = (0.0, -0.35, 0.4, -0.6, 0.6)
    s = steps[index % len(steps)]
    if s < 0:
        return tuple(c * (1 + s) for c in colour)
    return tuple(c + (1 - c) * s for c in colour)


# ------------------------------------------------------------------------------- figures
def plot_results(
    results: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    start: float | str | None = None,
    stop: float | str | None = None,
) -> list[Path]:
    """Write PNG figures of a run's results to ``out_dir``; returns the paths written.

    ``results`` is a results folder (holding ``results.parquet``) or the Parquet file itself.
    ``start``/``stop`` limit the period (seconds or durations such as ``"10d"``, in the run's
    time). Writes ``<family>.png`` for every quantity family found (see :data:`FAMILIES`) and
    ``sankey.png`` when energy moved through power bonds or boundary ports in the period. Raises
    :class:`PlotError` (naming the file) for a missing, unreadable or empty results file, a period
    without rows, or results with nothing to plot.
    """
    path = _results_file(results)
    source = _open(path)
    meta = read_metadata(path)
    window = _window(source, path, start, stop)
    names = source.schema_arrow.names
    components = _components(meta, names)
    units: Mapping[str, str] = meta.get("units") or {}
    families: dict[str, list[str]] = {}
    for column in names:
        if column == "time" or column.startswith("bond:"):
            continue
        family = classify(column, units.get(column))
        if family == "power" and _is_port_power(column, names, meta, components):
            family = "port_power"
        if family is not None:
            families.setdefault(family, []).append(column)
    bond_columns = [c for c in names if c.startswith("bond:") and c.endswith(":sent")]
    if bond_columns:
        families.setdefault("energy", []).extend(bond_columns)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    if families:
        series = _collect(source, window, families, units)
        colours = _palette(components)
        system = str(meta.get("system") or path.parent.name)
        epoch = _epoch(meta, path)
        for family in FAMILIES:
            if family in families:
                written.append(
                    _plot_family(
                        family, families[family], series[family], components, colours, window, system, out, epoch
                    )
                )
    data = sankey_data(path, start=start, stop=stop)
    if any(link.energy > 0 for link in data.links):
        written.append(plot_sankey(data, out / "sankey.png"))
    if not written:
        raise PlotError(
            f"{path}: nothing to plot: no column of a known quantity ({', '.join(FAMILIES)}; see "
            "kreislauf.plot.classify) and no energy flows (bond columns or <port>_energy counters)"
        )
    return written


def _is_port_power(column: str, names: Sequence[str], meta: Mapping[str, Any], components: Sequence[str]) -> bool:
    """True for the power of an energy port: named in ``energy_ports`` or ``<port>_power`` beside ``<port>_energy``."""
    parts = _split(column, components)
    if parts is None:
        return False
    comp, var = parts
    declared = (meta.get("energy_ports") or {}).get(comp)
    if declared is not None:
        return any(info.get("power") == var for info in declared.values())
    return var.endswith("_power") and f"{comp}.{var[: -len('_power')]}_energy" in names


def _to_si(column: str, units: Mapping[str, str], family: str) -> tuple[float, float]:
    unit = units.get(column)
    if not unit or family not in FAMILIES:
        return 1.0, 0.0
    conv = _units.conversion(unit, FAMILIES[family][1] if family != "cop" else None)
    return conv.factor, conv.offset


def _collect(
    source: pq.ParquetFile, window: _Window, families: Mapping[str, list[str]], units: Mapping[str, str]
) -> dict[str, _Series]:
    """One pass over the row groups, reading the plotted columns, into per-family series (SI units)."""
    edges = _bin_edges(window)
    series = {family: _Series(list(columns), edges) for family, columns in families.items()}
    wanted = ["time"] + sorted({c for cols in families.values() for c in cols})
    offsets: dict[str, float] = {}
    carry: dict[str, float] = {}
    for group in _row_groups(source, wanted):
        t = group["time"]
        mask = (t >= window.t0) & (t <= window.t1)
        if not mask.any():
            continue
        t = t[mask]
        for family, columns in families.items():
            block = np.empty((len(t), len(columns)))
            for j, column in enumerate(columns):
                values = group[column][mask]
                if column.startswith("bond:"):
                    # energy per step -> energy since the start of the period
                    head = carry.get(column, None)
                    if head is None:
                        values = values.copy()
                        values[0] = 0.0
                        head = 0.0
                    values = head + np.cumsum(np.nan_to_num(values))
                    carry[column] = float(values[-1])
                else:
                    factor, offset = _to_si(column, units, family)
                    values = values * factor + offset
                    if family == "energy":
                        values = values - offsets.setdefault(column, float(values[0]))
                block[:, j] = values
            series[family].add(t, block)
    return series


def _plot_family(
    family: str,
    columns: Sequence[str],
    series: _Series,
    components: Sequence[str],
    colours: Mapping[str, tuple[float, float, float]],
    window: _Window,
    system: str,
    out: Path,
    epoch: np.datetime64 | None = None,
) -> Path:
    from matplotlib.figure import Figure

    t, mean, low, high = series.result()
    if epoch is None:
        time_label, divisor = _time_axis(window)
        x = t / divisor
    else:
        time_label = "date"
        x = epoch + np.round(t * 1e3).astype("timedelta64[ms]")
    groups: dict[str, list[int]] = {}
    for j, column in enumerate(columns):
        if column.startswith("bond:"):
            groups.setdefault("power bonds (energy sent)", []).append(j)
            continue
        parts = _split(column, components)
        groups.setdefault(parts[0] if parts else column, []).append(j)
    n = len(groups)
    fig = Figure(figsize=(11, 1.2 + 2.3 * n))
    axes = fig.subplots(n, 1, sharex=True, squeeze=False)
    title, _ = FAMILIES[family]
    if low is not None:
        width = series.bins[1] - series.bins[0]
        resolution = f"bins of {_duration_text(width)}: mean line, min–max band"
    else:
        resolution = "every step"
    fig.suptitle(f"{title} — {system}\n{resolution}", fontsize=13)
    for ax, (group, indices) in zip(axes[:, 0], groups.items(), strict=True):
        base = colours.get(group, (0.3, 0.3, 0.3))
        values = np.abs(mean[:, indices])
        finite = values[np.isfinite(values)]
        # display unit per panel, so that a kW component next to a MW one keeps readable numbers
        unit, factor, offset = _scaled(family, float(finite.max()) if finite.size else 0.0)
        for k, j in enumerate(indices):
            column = columns[j]
            if column.startswith("bond:"):
                name = column[len("bond:") : -len(":sent")].replace("->", " → ")
                colour = colours.get(name.split(" → ")[0].rsplit(".", 1)[0], base)
                style = "-"
            else:
                parts = _split(column, components)
                name = parts[1] if parts else column
                colour = _shade(base, k)
                style = ("-", "--", "-.", ":")[(k // 5) % 4]
            y = mean[:, j] * factor + offset
            label = name if column.startswith("bond:") else name.replace("_", " ")
            ax.plot(x, y, style, color=colour, lw=1.4, label=label)
            if low is not None:
                ax.fill_between(
                    x, low[:, j] * factor + offset, high[:, j] * factor + offset, color=colour, alpha=0.2, lw=0
                )
        ax.set_title(group, loc="left", fontsize=11, color=base if group in colours else "black", fontweight="bold")
        ax.set_ylabel(f"{_AXIS_NAMES[family]} ({unit})", fontsize=10)
        ax.grid(True, alpha=0.3)
        ax.tick_params(labelsize=9)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9, frameon=False)
    axes[-1, 0].set_xlabel(time_label, fontsize=10)
    if epoch is not None:
        from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

        locator = AutoDateLocator()
        axes[-1, 0].xaxis.set_major_locator(locator)
        axes[-1, 0].xaxis.set_major_formatter(ConciseDateFormatter(locator))
    fig.tight_layout()
    path = out / f"{family}.png"
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return path


def _duration_text(seconds: float) -> str:
    for unit, f in (("week", 7 * DAY), ("day", DAY), ("h", HOUR), ("min", MINUTE)):
        if seconds >= f and (seconds / f) == round(seconds / f):
            value = int(round(seconds / f))
            return f"1 {unit}" if value == 1 else f"{value} {unit}{'s' if unit in ('week', 'day') else ''}"
    return f"{seconds:g} s"


# -------------------------------------------------------------------------------- Sankey
@dataclass(frozen=True)
class SankeyNode:
    """A node: a component, or a boundary source/sink (``kind`` ``"component"``, ``"source"``, ``"sink"``).

    ``component`` is the component a boundary node belongs to; ``port_kind`` the energy-port kind
    when the results' metadata names it.
    """

    name: str
    label: str
    kind: str
    component: str | None = None
    port_kind: str | None = None


@dataclass(frozen=True)
class SankeyLink:
    """Energy ``energy`` (J, ≥ 0) moved from node ``source`` to node ``target`` over the period.

    For a power bond, ``bond`` is its name and ``sent``/``received`` are the period's sums of its
    ``sent``/``received`` columns (J, signed as in the results); ``energy = |sent|``.
    """

    source: str
    target: str
    energy: float
    bond: str | None = None
    sent: float | None = None
    received: float | None = None


@dataclass
class SankeyData:
    """Nodes and links of a period's energy flows, ``start``–``stop`` in s.

    ``components`` lists every component of the run in its order, which fixes their colours.
    """

    nodes: dict[str, SankeyNode]
    links: list[SankeyLink]
    start: float
    stop: float
    system: str = ""
    components: list[str] = field(default_factory=list)

    def throughput(self, node: str) -> tuple[float, float]:
        """(energy in, energy out) of a node over the period, J."""
        inflow = sum(link.energy for link in self.links if link.target == node)
        outflow = sum(link.energy for link in self.links if link.source == node)
        return inflow, outflow


def _ports(meta: Mapping[str, Any], names: Sequence[str], components: Sequence[str]) -> dict[str, dict[str, tuple]]:
    """component -> port -> (energy column, kind or None)."""
    declared = meta.get("energy_ports") or {}
    ports: dict[str, dict[str, tuple]] = {}
    for comp, entries in declared.items():
        for port, info in entries.items():
            column = f"{comp}.{info['energy']}"
            if column in names:
                ports.setdefault(comp, {})[port] = (column, info.get("kind"))
    for column in names:
        parts = _split(column, components)
        if not parts or parts[0] in declared:
            continue
        comp, var = parts
        if var.endswith("_energy") and var != "stored_energy":
            ports.setdefault(comp, {})[var[: -len("_energy")]] = (column, None)
    return ports


def _stream(port: str) -> str:
    for suffix in ("_inlet", "_outlet", "_in", "_out"):
        if port.endswith(suffix):
            return port[: -len(suffix)]
    return port


def sankey_data(
    results: str | os.PathLike[str], *, start: float | str | None = None, stop: float | str | None = None
) -> SankeyData:
    """The energy flows of a period, computed from the results file by row groups.

    Bond links carry the sum of the bond's ``sent`` column over the rows with start < time ≤ stop
    (the steps that end in the period); boundary and storage links the change of the counter or
    stored energy between the first and the last row of the period. Ports of bonds are found as
    ``component.<port>_energy`` columns, or through the metadata ``energy_ports``
    (``{component: {port: {"energy": variable, "kind": kind}}}``) when the run stored it.
    """
    path = _results_file(results)
    source = _open(path)
    meta = read_metadata(path)
    window = _window(source, path, start, stop)
    names = source.schema_arrow.names
    components = _components(meta, names)
    ports = _ports(meta, names, components)
    bonds = [c[len("bond:") : -len(":sent")] for c in names if c.startswith("bond:") and c.endswith(":sent")]
    bonded: set[tuple[str, str]] = set()
    ends: dict[str, tuple[str, str]] = {}
    for bond in bonds:
        sender, _, receiver = bond.partition("->")
        s = _split(sender.strip(), components)
        r = _split(receiver.strip(), components)
        if s is None or r is None:
            raise PlotError(f"{path}: bond '{bond}' is not of the form 'sender.port->receiver.port'")
        bonded.update((s, r))
        ends[bond] = (s[0], r[0])
    stored = {c: f"{c}.stored_energy" for c in components if f"{c}.stored_energy" in names}
    for comp, var in (meta.get("stored_energy") or {}).items():
        if f"{comp}.{var}" in names:
            stored[comp] = f"{comp}.{var}"
    boundary = {
        (comp, port): info
        for comp, entries in ports.items()
        for port, info in entries.items()
        if (comp, port) not in bonded
    }
    level_columns = sorted({info[0] for info in boundary.values()} | set(stored.values()))
    sums = {b: [0.0, 0.0] for b in bonds}
    first: dict[str, float] = {}
    last: dict[str, float] = {}
    wanted = ["time"] + [f"bond:{b}:{k}" for b in bonds for k in ("sent", "received")] + level_columns
    for group in _row_groups(source, wanted):
        t = group["time"]
        levels = (t >= window.t0) & (t <= window.t1)
        steps = (t > window.t0) & (t <= window.t1)
        if steps.any():
            for b in bonds:
                sums[b][0] += float(np.nansum(group[f"bond:{b}:sent"][steps]))
                sums[b][1] += float(np.nansum(group[f"bond:{b}:received"][steps]))
        if levels.any():
            for column in level_columns:
                values = group[column][levels]
                values = values[np.isfinite(values)]
                if len(values):
                    first.setdefault(column, float(values[0]))
                    last[column] = float(values[-1])

    nodes = {c: SankeyNode(c, c, "component", c) for c in components}
    links: list[SankeyLink] = []
    for b in bonds:
        sender, receiver = ends[b]
        sent, received = sums[b]
        a, z = (sender, receiver) if sent >= 0 else (receiver, sender)
        links.append(SankeyLink(a, z, abs(sent), b, sent, received))
    streams: dict[tuple[str, str], list] = {}
    for (comp, port), (column, kind) in boundary.items():
        entry = streams.setdefault((comp, _stream(port)), [0.0, kind])
        entry[0] += last.get(column, 0.0) - first.get(column, 0.0)
        entry[1] = entry[1] or kind
    for (comp, stream), (energy, kind) in sorted(streams.items()):
        stream_text = stream.replace("_", " ")
        kind_text = _KIND_LABELS.get(kind, kind) if kind else ""
        what = f" ({kind_text})" if kind_text and kind_text != stream_text else ""
        label = f"{stream_text}{what}"
        if energy >= 0:
            node = f"in:{comp}.{stream}"
            nodes[node] = SankeyNode(node, label, "source", comp, kind)
            links.append(SankeyLink(node, comp, energy))
        else:
            node = f"out:{comp}.{stream}"
            nodes[node] = SankeyNode(node, label, "sink", comp, kind)
            links.append(SankeyLink(comp, node, -energy))
    for comp, column in stored.items():
        change = last.get(column, 0.0) - first.get(column, 0.0)
        if change >= 0:
            node = f"store:{comp}"
            nodes[node] = SankeyNode(node, "stored", "sink", comp)
            links.append(SankeyLink(comp, node, change))
        else:
            node = f"release:{comp}"
            nodes[node] = SankeyNode(node, "taken from store", "source", comp)
            links.append(SankeyLink(node, comp, -change))
    peak = max((link.energy for link in links), default=0.0)
    links = [link for link in links if link.bond is not None or link.energy > 1e-9 * peak]
    used = {link.source for link in links} | {link.target for link in links}
    nodes = {k: v for k, v in nodes.items() if k in used}
    return SankeyData(nodes, links, window.t0, window.t1, str(meta.get("system") or ""), components)


def _net(links: Sequence[SankeyLink]) -> dict[tuple[str, str], float]:
    """Links merged per pair of nodes into the net flow, in its direction (J, > 0)."""
    flows: dict[tuple[str, str], float] = {}
    for link in links:
        key = (link.source, link.target)
        back = (link.target, link.source)
        if back in flows:
            flows[back] -= link.energy
        else:
            flows[key] = flows.get(key, 0.0) + link.energy
    net: dict[tuple[str, str], float] = {}
    for (a, z), energy in flows.items():
        if energy > 0:
            net[(a, z)] = energy
        elif energy < 0:
            net[(z, a)] = -energy
    return net


def _columns(data: SankeyData, net: Mapping[tuple[str, str], float]) -> dict[str, int]:
    """Column of every node: components by longest path (from 1), boundary nodes beside their component."""
    comps = [n for n, node in data.nodes.items() if node.kind == "component"]
    rank = dict.fromkeys(comps, 1)
    edges = {c: [z for (a, z) in net if a == c and z in rank] for c in comps}
    # drop edges that close a cycle (depth-first back edges), then relax longest paths
    state: dict[str, int] = {}
    forward: list[tuple[str, str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        for nxt in edges[node]:
            if state.get(nxt) is None:
                forward.append((node, nxt))
                visit(nxt)
            elif state[nxt] == 2:
                forward.append((node, nxt))
        state[node] = 2

    fed = {z for (a, z) in net if data.nodes[a].kind == "source"}
    for c in sorted(comps, key=lambda c: c not in fed):
        if c not in state:
            visit(c)
    for _ in comps:
        for a, z in forward:
            rank[z] = max(rank[z], rank[a] + 1)
    columns = dict(rank)
    for a, z in net:
        if data.nodes[a].kind == "source" and z in rank:
            columns[a] = min(columns.get(a, rank[z] - 1), rank[z] - 1)
        if data.nodes[z].kind == "sink" and a in rank:
            columns[z] = max(columns.get(z, rank[a] + 1), rank[a] + 1)
    for name, node in data.nodes.items():
        columns.setdefault(name, 0 if node.kind == "source" else max(rank.values(), default=1) + 1)
    return columns


def _band(x0: float, y0: float, x1: float, y1: float, w: float, path_type: Any) -> tuple[list, list, tuple]:
    """A band of width ``w`` from a node's right side at (x0, y0) to a node's left side at (x1, y1)."""
    bend = max(0.35, 0.45 * (x1 - x0))
    verts = [
        (x0, y0),
        (x0 + bend, y0),
        (x1 - bend, y1),
        (x1, y1),
        (x1, y1 - w),
        (x1 - bend, y1 - w),
        (x0 + bend, y0 - w),
        (x0, y0 - w),
        (x0, y0),
    ]
    curve, line = path_type.CURVE4, path_type.LINETO
    codes = [path_type.MOVETO, curve, curve, curve, line, curve, curve, curve, path_type.CLOSEPOLY]
    return verts, codes, (0.5 * (x0 + x1), 0.5 * (y0 + y1) - w / 2)


def _return_band(
    x0: float, y0: float, x1: float, y1: float, w: float, floor: float, path_type: Any
) -> tuple[list, list, tuple]:
    """A band from a node's right side at (x0, y0) back to a node's left side at (x1 ≤ x0, y1).

    It turns down, runs leftwards with its upper edge at ``floor`` and turns up into the target.
    """
    r = 0.25
    verts = [
        (x0, y0),
        (x0 + r + w, y0),
        (x0 + r + w, floor - w),
        (x0, floor - w),
        (x1, floor - w),
        (x1 - r - w, floor - w),
        (x1 - r - w, y1),
        (x1, y1),
        (x1, y1 - w),
        (x1 - r, y1 - w),
        (x1 - r, floor),
        (x1, floor),
        (x0, floor),
        (x0 + r, floor),
        (x0 + r, y0 - w),
        (x0, y0 - w),
        (x0, y0),
    ]
    curve, line = path_type.CURVE4, path_type.LINETO
    codes = [path_type.MOVETO, curve, curve, curve, line, curve, curve, curve, line] + [
        curve,
        curve,
        curve,
        line,
        curve,
        curve,
        curve,
        path_type.CLOSEPOLY,
    ]
    return verts, codes, (0.5 * (x0 + x1), floor - w / 2)


def _split_small(
    data: SankeyData, net: Mapping[tuple[str, str], float]
) -> tuple[dict[tuple[str, str], float], dict[tuple[str, str], float]]:
    """Net flows split into (drawn, listed): boundary flows below :data:`SANKEY_SMALL_SHARE` of the
    largest flow are listed; flows between two components are always drawn."""
    largest = max(net.values(), default=0.0)
    drawn: dict[tuple[str, str], float] = {}
    small: dict[tuple[str, str], float] = {}
    for (a, z), e in net.items():
        boundary = data.nodes[a].kind != "component" or data.nodes[z].kind != "component"
        (small if boundary and e < SANKEY_SMALL_SHARE * largest else drawn)[(a, z)] = e
    return drawn, small


def _boundary_text(node: SankeyNode) -> str:
    """A boundary node as the flow it stands for: ``source → component`` or ``component → sink``."""
    return f"{node.label} → {node.component}" if node.kind == "source" else f"{node.component} → {node.label}"


def plot_sankey(data: SankeyData, path: str | os.PathLike[str]) -> Path:
    """Draw the Sankey diagram of ``data`` with matplotlib patches and save it as a PNG at ``path``.

    Opposite links between two nodes are drawn as their net flow. Node heights are the larger of
    their inflow and outflow; link widths are proportional to energy, labelled in MWh (kWh below 0.1 MWh):
    bands between components carry their energy, boundary nodes (sources, sinks, stores) carry it in
    their label. Boundary flows smaller than :data:`SANKEY_SMALL_SHARE` of the largest flow are not
    drawn (their bands would be hairlines with colliding labels) but listed with their energy under
    the diagram, so that every number of ``data`` is on the figure.
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import PathPatch, Rectangle
    from matplotlib.path import Path as MplPath

    net, small = _split_small(data, _net(data.links))
    column = _columns(data, net)
    comps = [n for n, node in data.nodes.items() if node.kind == "component"]
    # the same colours as in the time-series figures: by the run's order of components
    colours = _palette(data.components + [c for c in comps if c not in data.components])
    size: dict[str, float] = {}
    for name in data.nodes:
        inflow = sum(e for (a, z), e in net.items() if z == name)
        outflow = sum(e for (a, z), e in net.items() if a == name)
        size[name] = max(inflow, outflow)
    n_cols = max((column[n] for n in data.nodes if size[n] > 0), default=0) + 1
    by_col: list[list[str]] = [[] for _ in range(n_cols)]
    for name in data.nodes:
        if size[name] > 0:
            by_col[column[name]].append(name)
    order = {name: i for i, name in enumerate(data.nodes)}
    for nodes in by_col:
        nodes.sort(key=lambda n: order[n])
    neighbours: dict[str, list[str]] = {name: [] for name in data.nodes}
    for a, z in net:
        neighbours[a].append(z)
        neighbours[z].append(a)
    # two sweeps of barycentre ordering to reduce crossings
    for _ in range(2):
        pos = {n: float(i) for nodes in by_col for i, n in enumerate(nodes)}
        for nodes in by_col:
            centre = {n: float(np.mean([pos[m] for m in neighbours[n] if m in pos] or [pos[n]])) for n in nodes}
            nodes.sort(key=centre.__getitem__)
    tallest = max((len(nodes) for nodes in by_col), default=1)
    gap = 0.1 if tallest < 6 else 0.5 / tallest
    # energy -> height: the fullest column (nodes plus gaps) spans the unit height
    scale = min(((1 - gap * (len(nodes) - 1)) / sum(size[n] for n in nodes) for nodes in by_col if nodes), default=1.0)
    node_w = 0.06
    box: dict[str, tuple[float, float, float]] = {}  # x, y_top, h
    for c, nodes in enumerate(by_col):
        used = sum(size[n] for n in nodes) * scale + gap * (len(nodes) - 1)
        y = 0.5 + used / 2
        for n in nodes:
            h = size[n] * scale
            box[n] = (float(c), y, h)
            y -= h + gap

    fig_w = max(7.0, 3.8 * n_cols)
    fig = Figure(figsize=(fig_w, 7.5))
    ax = fig.subplots()

    def node_colour(name: str) -> tuple[float, float, float] | str:
        node = data.nodes[name]
        if node.kind == "component":
            return colours[name]
        return _KIND_COLOURS.get(node.port_kind or "", _BOUNDARY_COLOUR)

    out_off = {n: 0.0 for n in box}
    in_off = {n: 0.0 for n in box}

    def backwards(link: tuple[str, str, float]) -> bool:
        return box[link[1]][0] <= box[link[0]][0]

    # outgoing bands stacked in the order of their targets' heights, incoming ones in the order of
    # their sources' heights; bands running backwards leave and enter at the bottom
    ordered = sorted(
        ((a, z, e) for (a, z), e in net.items() if a in box and z in box),
        key=lambda link: (box[link[0]][0], -box[link[0]][1], backwards(link), -box[link[1]][1]),
    )
    in_order = sorted(ordered, key=lambda link: (backwards(link), -box[link[0]][1]))
    in_slot: dict[tuple[str, str], float] = {}
    for a, z, e in in_order:
        in_slot[(a, z)] = in_off[z]
        in_off[z] += e * scale
    # links against the flow of the columns (cycles) run in a U below the diagram, stacked downwards
    floor = min((y - h for (_, y, h) in box.values()), default=0.0) - 0.05
    for a, z, e in ordered:
        xa, ya, _ = box[a]
        xz, yz, _ = box[z]
        w = e * scale
        y0 = ya - out_off[a]
        out_off[a] += w
        y1 = yz - in_slot[(a, z)]
        x0, x1 = xa + node_w, xz
        if x1 > x0:
            verts, codes, label_at = _band(x0, y0, x1, y1, w, MplPath)
        else:
            verts, codes, label_at = _return_band(x0, y0, x1, y1, w, floor, MplPath)
            floor -= w + 0.03
        src = data.nodes[a]
        colour = node_colour(a) if src.kind != "component" else colours[a]
        ax.add_patch(PathPatch(MplPath(verts, codes), facecolor=colour, edgecolor="none", alpha=0.45))
        if src.kind == "component" and data.nodes[z].kind == "component":
            ax.text(
                *label_at,
                _energy_text(e),
                ha="center",
                va="center",
                fontsize=8.5,
                zorder=3,
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.75},
            )
    labels: dict[tuple[float, str], list[tuple[float, str]]] = {}
    for name, (x, y, h) in box.items():
        node = data.nodes[name]
        ax.add_patch(Rectangle((x, y - h), node_w, h, facecolor=node_colour(name), edgecolor="black", lw=0.6))
        energy = _energy_text(size[name])
        if node.kind == "component":
            ax.text(
                x + node_w / 2,
                y + 0.012,
                f"{name}\n{energy}",
                ha="center",
                va="bottom",
                fontsize=10,
                fontweight="bold",
                color=colours[name],
                zorder=4,
                bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.8},
            )
        elif node.kind == "source":
            labels.setdefault((x, "right"), []).append((y - h / 2, f"{_boundary_text(node)}\n{energy}"))
        else:
            labels.setdefault((x + node_w, "left"), []).append((y - h / 2, f"{_boundary_text(node)}\n{energy}"))
    # boundary labels beside their nodes, pushed apart where nodes sit closer than two lines of text
    for (x, align), entries in labels.items():
        entries.sort(key=lambda entry: -entry[0])
        placed = math.inf
        for y, text in entries:
            y_text = min(y, placed - 0.06)
            placed = y_text
            dx = -0.02 if align == "right" else 0.02
            ax.text(x + dx, y_text, text, ha=align, va="center", fontsize=9)
            if abs(y_text - y) > 1e-9:
                ax.plot([x, x + dx], [y, y_text], color="0.4", lw=0.6)
    left = 0.9 if any(data.nodes[n].kind == "source" for n in by_col[0]) else 0.3
    right = 0.9 if any(data.nodes[n].kind == "sink" for n in by_col[-1]) else 0.3
    ax.set_xlim(-left, n_cols - 1 + node_w + right)
    bottom = min(-0.08, floor + 0.02)
    ax.set_ylim(bottom, 1.1)
    fig.set_size_inches(fig_w, 7.5 * (1.1 - bottom) / 1.18)
    ax.axis("off")
    residual = sum(link.sent - link.received for link in data.links if link.bond is not None)
    if data.stop - data.start <= 2 * DAY:
        period = f"hour {data.start / 3600:.4g} to {data.stop / 3600:.4g}"
    else:
        period = f"day {data.start / DAY:.4g} to {data.stop / DAY:.4g}"
    title = f"Energy flows{' — ' + data.system if data.system else ''}, {period}"
    if not box:
        ax.text(
            0.5, 0.5, "no energy moved in this period", ha="center", va="center", fontsize=12, transform=ax.transAxes
        )
    bonds = [link for link in data.links if link.bond is not None]
    if bonds:
        title += f"\ncoupling residual of the bonds: {_energy_text(residual)}"
    ax.set_title(title, fontsize=13)
    if small:
        entries = [
            f"{_boundary_text(data.nodes[z] if data.nodes[a].kind == 'component' else data.nodes[a])} {_energy_text(e)}"
            for (a, z), e in sorted(small.items(), key=lambda item: -item[1])
        ]
        lines = ["; ".join(entries[i : i + 3]) for i in range(0, len(entries), 3)]
        ax.text(
            0.0,
            0.0,
            f"not drawn (below {SANKEY_SMALL_SHARE:.0%} of the largest flow): " + "\n".join(lines),
            transform=ax.transAxes,
            ha="left",
            va="top",
            fontsize=9,
            color="0.25",
        )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return path
