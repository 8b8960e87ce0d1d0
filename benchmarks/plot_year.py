"""Time to plot long runs, against reading the same results file whole, measured in the same run.

Writes results files of 21 columns (time, temperatures, powers, COPs, energy counters) at 60 s
steps for 30 and 365 days, then per file: :func:`kreislauf.plot.plot_results` (one pass over the
row groups for the figures, one for the Sankey diagram, bins of the ladder, PNGs) against
``pyarrow.parquet.read_table`` of every column (what a plot that loads the whole run would start
with). Prints the times and the ratios plot / read, and year / 30 days.

Run: ``python benchmarks/plot_year.py``.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "kreislauf"))

from test_plot import write_long_run  # noqa: E402

from kreislauf.plot import plot_results  # noqa: E402


def best_of(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        plotted = {}
        for days in (30, 365):
            path = folder / f"{days}.parquet"
            size = write_long_run(path, days)
            read = best_of(lambda path=path: pq.read_table(str(path)))
            plot = best_of(lambda path=path, days=days: plot_results(path, folder / f"fig{days}"), repeat=2)
            plotted[days] = plot
            print(
                f"{days:4d} days ({size / 1e6:5.1f} MB of values): read whole {read:6.3f} s, "
                f"plot {plot:6.3f} s, plot / read = {plot / read:6.1f}"
            )
        print(f"plot time, a year / 30 days = {plotted[365] / plotted[30]:.2f} (12.2 times the rows)")


if __name__ == "__main__":
    main()
