"""Write the daily input series of the Kahla example (examples/kahla.toml).

No plant data of Kahla is published (physics notes §1.2), so the series are a plausible design, not
measurements. Run ``python examples/data/make_kahla_data.py`` to rewrite both CSV files; every number
is explained where it is set.

``kahla_site.csv`` — one row per day of a 365-day year (the last row repeats the first, so the
series can be run periodically):

* outdoor daily mean temperature of a Thuringian valley town: 8.9 °C annual mean, 9.5 K amplitude,
  coldest on 15 January (DWD 1991–2020 normals of Jena: 9.3 °C mean, January 0.6 °C, July 18.9 °C);
  it drives the network's heating signature (``district_heating_demand``, set in kahla.toml);
* the flow of the plants' loop (tank bottom → CHP → pyrolysis loop → tank top): a constant 3 kg/s, so
  the 430 kW of the two plants in winter heat it by about 34 K.

``kahla_feed.csv`` — feedstock, one row per day:

* digester: grass and green cuttings are fresh from May to October; from November to April the digester
  runs on grass silage from the clamp at a reduced rate. Feed slurry (cuttings and silage mixed with
  recirculated digestate) of 60 kg COD/m³, 125 m³/d in the growing season and 80 m³/d in winter, with
  smooth (one-month) ramps between;
* pyrolysis: the woody fraction of the green waste plus wood from landscape care, chipped and stored,
  fed at a constant 180 kg/h dry (PYREG P500 scale, the reactor's default); its moisture follows the
  season, 30 % in summer (fresh material) and 20 % in winter (stored, air-dried chips).
"""

from __future__ import annotations

import math
from pathlib import Path

HERE = Path(__file__).resolve().parent
DAYS = 365
PLANT_FLOW = 3.0     # kg/s


def season(day: float, start: float, stop: float, ramp: float = 30.0) -> float:
    """1 inside [start, stop] (days of the year), 0 outside, with linear ramps of ``ramp`` days."""
    rise = min(1.0, max(0.0, (day - start + ramp / 2) / ramp))
    fall = min(1.0, max(0.0, (stop - day + ramp / 2) / ramp))
    return min(rise, fall)


def network_row(day: int) -> list[float]:
    """time [d], outdoor temperature [degC], plants' loop flow [kg/s]."""
    t_out = 8.9 - 9.5 * math.cos(2 * math.pi * (day - 15) / DAYS)
    return [day, t_out, PLANT_FLOW]


def feed_row(day: int) -> list[float]:
    """time [d], digester feed [m3/d], feed COD [kg/m3], pyrolysis dry feed [kg/h], moisture [1]."""
    growing = season(day, 121, 304)      # 1 May to 31 October
    return [day, 80.0 + 45.0 * growing, 60.0, 180.0, 0.20 + 0.10 * growing]


def write(name: str, header: str, rows: list[list[float]]) -> None:
    """Write a CSV file beside this script."""
    lines = [header] + [",".join(f"{v:.6g}" for v in row) for row in rows]
    (HERE / name).write_text("\n".join(lines) + "\n")


def main() -> None:
    """Write kahla_site.csv and kahla_feed.csv (the last day repeats day 0: a periodic year)."""
    days = list(range(DAYS)) + [DAYS]
    network = [network_row(d % DAYS) for d in days]
    feed = [feed_row(d % DAYS) for d in days]
    for rows in (network, feed):
        rows[-1][0] = DAYS
    write("kahla_site.csv", "time [d],outdoor_temperature [degC],plant_flow [kg/s]", network)
    write("kahla_feed.csv", "time [d],digester_feed_flow [m3/d],digester_feed_cod [kg/m3],"
          "pyrolysis_dry_feed [kg/h],pyrolysis_feed_moisture", feed)


if __name__ == "__main__":
    main()
