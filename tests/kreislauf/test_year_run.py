"""Long runs at one-minute steps: every row on disk, memory bounded by one row group."""

from __future__ import annotations

import tracemalloc

import pyarrow.parquet as pq
import pytest
from cosim_doubles import HeatCapacity

from kreislauf.api import System


def run_days(days: int, out):
    a = HeatCapacity("a", C=2e8, T0=350.0, G=100.0)
    b = HeatCapacity("b", C=1e8, T0=290.0)
    system = System.from_components(
        [a, b],
        ["b.T -> a.T_neighbour", "a.Q_cond -> b.Q_in"],
        bonds=["a.cond -> b.heat"],
        step="60s",
        stop=f"{days}d",
        energy_conserving=True,
        row_group_size=4096,
    )
    tracemalloc.start()
    try:
        result = system.run(out_dir=out, progress=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


@pytest.mark.slow
def test_memory_does_not_grow_with_the_length_of_the_run(tmp_path):
    short, peak_short = run_days(5, tmp_path / "short")
    long, peak_long = run_days(40, tmp_path / "long")
    rows = 40 * 24 * 60 + 1
    meta = pq.ParquetFile(long.results_path).metadata
    assert meta.num_rows == rows and meta.num_row_groups == -(-rows // 4096)
    # eight times the steps, about the same peak: one row group (4096 rows x 18 columns = 0.6 MB)
    # is held, not the run (57 601 rows = 8.3 MB)
    assert peak_long < 1.3 * peak_short + 0.5e6, (peak_short, peak_long)
    assert long.balance.relative_imbalance < 1e-9
