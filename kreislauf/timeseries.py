"""Measured data as a component: outputs that follow a CSV time series.

A plant's logged effluent temperature and flow, a weather file or a measured heat demand become a
component whose outputs follow the file. In a system file::

    [components.effluent]
    python = "kreislauf.timeseries:TimeSeries"
    arguments = { file = "data/effluent_2024.csv", interpolation = "linear", periodic = true,
                  fluid_ports = { effluent = { mass_flow = "mass_flow", temperature = "temperature" } } }

CSV format: a header row, then one row per sample. The first column is the time: seconds from the
start of the run, or another time unit given in brackets (``time [h]``, ``time [d]``), or ISO 8601
date-times (``2024-01-01T00:00``; seconds since the first row). Every other column is an output; its
unit is given in brackets and converted to the SI base unit (``temperature [degC]`` → K,
``heat [kW]`` → W, ``mass_flow [kg/h]`` → kg/s). Volume flows are not turned into mass flows: give
mass flows for fluid ports. Without a unit, values are taken as they are. Times must increase
strictly.

Between samples the outputs are interpolated linearly (``interpolation = "linear"``) or held
(``"hold"``). Before the first or after the last sample the component stops the run with an error
naming the file and time, unless ``periodic`` is set: then the series repeats with the period
``last time - first time`` (a year of data repeated for several years; the first and last rows should
describe the same instant of the cycle).

A fluid port declared with ``fluid_ports`` turns a temperature and a mass-flow column into a stream
that leaves the component: its power is ``-m_dot * c_p * (T - 273.15 K)`` (W, positive into the
component, so negative for a source), and its energy counter is the exact integral of the
interpolated power over each step, so the energy ledger can book what the data delivers. Each such
port has a heat-port twin ``<port>_boundary`` carrying the same enthalpy *into* the component from
outside the system (the sewer, the catchment: wherever the measured stream comes from), so the time
series conserves energy by itself: when the stream is bonded to another component, the twin is a
boundary inflow of the system's energy balance, and the data does not create energy inside it.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from kreislauf.component import (
    Causality,
    ComponentError,
    EnergyPort,
    PortKind,
    StepOutcome,
    StepStatus,
    Variability,
    Variable,
)
from kreislauf.units import DAY, HOUR, MINUTE, UnitError, base_unit, conversion

__all__ = ["TimeSeries", "TimeSeriesError"]

T_REF = 273.15
TIME_UNITS = {"s": 1.0, "min": MINUTE, "h": HOUR, "d": DAY}


class TimeSeriesError(ValueError):
    """A CSV time series that cannot be used; the message names the file, row and column."""


def _split_header(cell: str) -> tuple[str, str | None]:
    text = cell.strip()
    if text.endswith("]") and "[" in text:
        name, _, unit = text[:-1].partition("[")
        return name.strip(), unit.strip() or None
    return text, None


def _read(path: Path) -> tuple[list[tuple[str, str | None]], np.ndarray, np.ndarray]:
    try:
        with open(path, newline="") as f:
            rows = [r for r in csv.reader(f) if r and any(c.strip() for c in r)]
    except OSError as exc:
        raise TimeSeriesError(f"{path}: cannot read the file ({exc.strerror})") from None
    if len(rows) < 3:
        raise TimeSeriesError(f"{path}: needs a header row and at least two samples")
    header = [_split_header(c) for c in rows[0]]
    if len(header) < 2:
        raise TimeSeriesError(f"{path}: needs a time column and at least one value column")
    names = [n for n, _ in header]
    if len(set(names)) != len(names):
        raise TimeSeriesError(f"{path}: column names repeat: {names}")
    time_unit = header[0][1] or "s"
    if time_unit not in TIME_UNITS and time_unit != "iso":
        raise TimeSeriesError(f"{path}: time unit '{time_unit}' is not one of {', '.join(TIME_UNITS)}")
    times = np.empty(len(rows) - 1)
    values = np.empty((len(rows) - 1, len(header) - 1))
    first_stamp: datetime | None = None
    for i, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise TimeSeriesError(f"{path}, row {i}: {len(row)} cells, the header has {len(header)}")
        cell = row[0].strip()
        try:
            times[i - 2] = float(cell) * TIME_UNITS.get(time_unit, 1.0)
            numeric = True
        except ValueError:
            try:
                stamp = datetime.fromisoformat(cell)
            except ValueError:
                raise TimeSeriesError(f"{path}, row {i}: time '{cell}' is neither a number nor an ISO date") from None
            numeric = False
            first_stamp = first_stamp or stamp
            try:
                times[i - 2] = (stamp - first_stamp).total_seconds()
            except TypeError:
                raise TimeSeriesError(f"{path}, row {i}: time '{cell}' mixes dates with and without a UTC "
                                      "offset; give every row an offset or none") from None
        if i == 2:
            iso_file = not numeric
        elif numeric == iso_file:
            raise TimeSeriesError(f"{path}, row {i}: time '{cell}' mixes numbers and ISO dates in the time column")
        for j, text in enumerate(row[1:]):
            try:
                values[i - 2, j] = float(text)
            except ValueError:
                raise TimeSeriesError(f"{path}, row {i}, column '{names[j + 1]}': '{text}' is not a number") from None
            if not math.isfinite(values[i - 2, j]):
                raise TimeSeriesError(f"{path}, row {i}, column '{names[j + 1]}': value is not finite")
    bad = np.flatnonzero(np.diff(times) <= 0)
    if bad.size:
        raise TimeSeriesError(f"{path}, row {bad[0] + 3}: times must increase strictly "
                              f"({times[bad[0]]:g} s then {times[bad[0] + 1]:g} s)")
    return header, times, values


class TimeSeries:
    """A Component whose outputs follow a CSV time series (see the module docstring).

    ``specific_heat`` (J/(kg K)) applies to every fluid port; ``fluid_ports`` maps a port name to the
    names of its ``mass_flow`` (kg/s) and ``temperature`` (K) columns.
    """

    can_rollback = True

    def __init__(self, name: str, file: str | Path, *, interpolation: str = "linear", periodic: bool = False,
                 fluid_ports: Mapping[str, Mapping[str, str]] | None = None, specific_heat: float = 4190.0,
                 base_dir: str | Path | None = None):
        path = Path(file)
        if not path.is_absolute() and base_dir is not None:
            path = Path(base_dir) / path
        if interpolation not in ("linear", "hold"):
            raise TimeSeriesError(f"{path}: interpolation must be 'linear' or 'hold', not '{interpolation}'")
        self.name = name
        self.path = path
        self.interpolation = interpolation
        self.periodic = periodic
        header, self._t, raw = _read(path)
        self._columns = [n for n, _ in header[1:]]
        units: list[str | None] = []
        self._values = np.empty_like(raw)
        for j, (column, unit) in enumerate(header[1:]):
            try:
                conv = conversion(unit, base_unit(unit)) if unit else None
            except UnitError as exc:
                raise TimeSeriesError(f"{path}, column '{column}': {exc}") from None
            self._values[:, j] = raw[:, j] * conv.factor + conv.offset if conv else raw[:, j]
            units.append(base_unit(unit) if unit else None)
        self.variables: dict[str, Variable] = {
            c: Variable(c, Causality.OUTPUT, variability=Variability.CONTINUOUS, unit=u,
                        description=f"column '{c}' of {path.name}")
            for c, u in zip(self._columns, units, strict=True)
        }
        self.energy_ports: dict[str, EnergyPort] = {}
        self._ports: list[tuple[int, int, int]] = []  # (mass flow column, temperature column, energy slot)
        # port name -> (slot of its stream, sign): a fluid port books the stream, its twin the opposite
        self._port_slot: dict[str, tuple[int, float]] = {}
        for port, cols in (fluid_ports or {}).items():
            try:
                mcol, tcol = self._columns.index(cols["mass_flow"]), self._columns.index(cols["temperature"])
            except (KeyError, ValueError):
                raise TimeSeriesError(f"{path}: fluid port '{port}' needs existing 'mass_flow' and 'temperature' "
                                      f"columns (columns: {', '.join(self._columns)})") from None
            if units[tcol] not in (None, "K") or units[mcol] not in (None, "kg/s"):
                raise TimeSeriesError(f"{path}: fluid port '{port}' needs a temperature in K or degC and a mass flow "
                                      f"in kg/s (got {units[tcol]}, {units[mcol]})")
            self.energy_ports[port] = EnergyPort(port, PortKind.FLUID, f"{port}_power", f"{port}_energy",
                                                 mass_flow=cols["mass_flow"], temperature=cols["temperature"],
                                                 specific_heat=specific_heat)
            self.variables[f"{port}_power"] = Variable(f"{port}_power", Causality.OUTPUT, unit="W",
                                                       description=f"enthalpy flow into the component at {port}")
            self.variables[f"{port}_energy"] = Variable(f"{port}_energy", Causality.OUTPUT, unit="J",
                                                        description=f"energy into the component at {port}")
            twin = f"{port}_boundary"
            if twin in self._columns or twin in self.energy_ports or twin in (fluid_ports or {}):
                raise TimeSeriesError(f"{path}: the name '{twin}' (the boundary twin of fluid port '{port}') is "
                                      "already taken by a column or port")
            self.energy_ports[twin] = EnergyPort(twin, PortKind.HEAT, f"{twin}_power", f"{twin}_energy")
            self.variables[f"{twin}_power"] = Variable(
                f"{twin}_power", Causality.OUTPUT, unit="W",
                description=f"enthalpy of the stream leaving at {port}, entering from outside the system")
            self.variables[f"{twin}_energy"] = Variable(
                f"{twin}_energy", Causality.OUTPUT, unit="J",
                description=f"energy entering from outside the system for the stream at {port}")
            slot = len(self._ports)
            self._port_slot[port], self._port_slot[twin] = (slot, 1.0), (slot, -1.0)
            self._ports.append((mcol, tcol, slot))
        self.stored_energy = None
        self.cp = specific_heat
        self.output_dependencies: dict[str, list[str]] = {n: [] for n in self.variables}
        self._time = 0.0
        self._energy = np.zeros(len(self._ports))

    # ------------------------------------------------------------------ sampling
    def _local_time(self, t: float) -> float:
        t0, t1 = self._t[0], self._t[-1]
        if self.periodic:
            return t0 + (t - t0) % (t1 - t0)
        if t < t0 - 1e-9 or t > t1 + 1e-9:
            raise ComponentError(self.name, f"t = {t:g} s is outside the data of {self.path} "
                                 f"({t0:g} s to {t1:g} s); set periodic = true to repeat it", time=t)
        return min(max(t, t0), t1)

    def sample(self, t: float) -> np.ndarray:
        """All columns (SI) at time ``t``."""
        tl = self._local_time(t)
        i = int(np.searchsorted(self._t, tl, side="right")) - 1
        i = min(max(i, 0), len(self._t) - 2)
        if self.interpolation == "hold":
            return self._values[i if tl < self._t[i + 1] else i + 1].copy()
        w = (tl - self._t[i]) / (self._t[i + 1] - self._t[i])
        return self._values[i] * (1 - w) + self._values[i + 1] * w

    def _port_energy(self, t0: float, t1: float) -> np.ndarray:
        """Exact integral of each port's power over [t0, t1] (Simpson on each linear piece: power is
        a product of two linear functions, a quadratic, so Simpson's rule is exact)."""
        knots = [t0, t1]
        shifts = [0.0]
        if self.periodic:
            period = self._t[-1] - self._t[0]
            first = math.floor((t0 - self._t[0]) / period)
            shifts = [k * period for k in range(first, math.floor((t1 - self._t[0]) / period) + 1)]
        for shift in shifts:
            lo = int(np.searchsorted(self._t, t0 - shift, side="left"))
            hi = int(np.searchsorted(self._t, t1 - shift, side="right"))
            knots.extend(self._t[lo:hi] + shift)
        points = np.array(sorted({k for k in knots if t0 <= k <= t1}))
        total = np.zeros(len(self._ports))
        for a, b in zip(points[:-1], points[1:], strict=True):
            if self.interpolation == "hold":
                mid = self.sample(a + 0.5 * (b - a))
                total += (b - a) * self._power(mid)
            else:
                total += (b - a) / 6 * (self._power(self.sample(a)) + 4 * self._power(self.sample(0.5 * (a + b)))
                                        + self._power(self.sample(b)))
        return total

    def _power(self, row: np.ndarray) -> np.ndarray:
        return np.array([-row[m] * self.cp * (row[t] - T_REF) for m, t, _ in self._ports])

    # ------------------------------------------------------------------ Component protocol
    def setup(self, start: float, stop: float | None, parameters: Mapping[str, float]) -> None:
        """Check that the data covers the run; a time series has no parameters."""
        if parameters:
            raise ComponentError(self.name, f"a time series has no parameters ({', '.join(parameters)} given)")
        self._local_time(start)
        if stop is not None:
            self._local_time(stop)
        self._time = start
        self._energy[:] = 0.0

    def set_inputs(self, values: Mapping[str, float]) -> None:
        """A time series has no inputs."""
        if values:
            raise ComponentError(self.name, f"a time series has no inputs ({', '.join(values)} given)")

    def do_step(self, t: float, dt: float) -> StepOutcome:
        """Advance to ``t + dt``; an error outcome when the data does not reach that far."""
        try:
            if self._ports:
                self._energy += self._port_energy(t, t + dt)
            self._local_time(t + dt)
        except ComponentError as exc:
            return StepOutcome(StepStatus.ERROR, t, str(exc))
        self._time = t + dt
        return StepOutcome(StepStatus.OK, t + dt)

    def get_outputs(self, names: Sequence[str]) -> np.ndarray:
        """Values at the current time, by name."""
        row = self.sample(self._time)
        power = self._power(row)
        out = np.empty(len(names))
        for k, n in enumerate(names):
            if n in self._columns:
                out[k] = row[self._columns.index(n)]
            elif n.endswith("_power") and n[:-6] in self._port_slot:
                slot, sign = self._port_slot[n[:-6]]
                out[k] = sign * power[slot]
            elif n.endswith("_energy") and n[:-7] in self._port_slot:
                slot, sign = self._port_slot[n[:-7]]
                out[k] = sign * self._energy[slot]
            else:
                raise ComponentError(self.name, "no such output", variable=n)
        return out

    def save_state(self) -> Any:
        """The time and the energy counters."""
        return self._time, self._energy.copy()

    def restore_state(self, state: Any) -> None:
        """Return to a saved time and counters."""
        self._time, energy = state
        self._energy = energy.copy()

    def close(self) -> None:
        """Nothing to release."""
