"""Bad values mid-run stop the run with a specific error and lose nothing already written."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from cosim_doubles import Gain, HeatCapacity

from kreislauf.api import System
from kreislauf.master import InputRangeError, NonFiniteValueError, StepError, StepSizeError
from kreislauf.results import ResultWriter, read_results, to_csv


def pair(fail_after=None, **settings):
    a = HeatCapacity("a", C=2e6, T0=350.0, G=100.0)
    b = HeatCapacity("b", C=1e6, T0=290.0, fail_after=fail_after)
    return System.from_components(
        [a, b], ["b.T -> a.T_neighbour", "a.Q_cond -> b.Q_in"], bonds=["a.cond -> b.heat"], **settings
    ), (a, b)


@pytest.mark.parametrize("algorithm", ["jacobi", "gauss-seidel"])
def test_nan_mid_run_names_component_variable_and_keeps_the_steps_before(tmp_path, algorithm):
    # b's temperature turns NaN once its time passes 3000 s: at the step ending at 3060 s
    system, (a, b) = pair(fail_after=3000.0, algorithm=algorithm, step=60.0, stop="1d", row_group_size=16)
    with pytest.raises(NonFiniteValueError) as info:
        system.run(out_dir=tmp_path)
    error = info.value
    assert (error.component, error.variable, error.time) == ("b", "T", 3060.0)
    assert "component 'b', variable 'T'" in str(error)
    data = read_results(tmp_path / "results.parquet")
    np.testing.assert_array_equal(data["time"], np.arange(0.0, 3001.0, 60.0))
    assert np.all(np.isfinite(data["b.T"]))
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "failed" and "NonFiniteValueError" in summary["error"]
    assert summary["time_reached_s"] == 3000.0
    assert a.closed and b.closed


def test_the_same_run_without_the_fault_matches_the_rows_kept(tmp_path):
    system, _ = pair(fail_after=3000.0, step=60.0, stop="1d")
    with pytest.raises(NonFiniteValueError):
        system.run(out_dir=tmp_path / "failed")
    clean, _ = pair(step=60.0, stop=3000.0)
    kept = read_results(tmp_path / "failed" / "results.parquet")
    full = clean.run(out_dir=tmp_path / "clean").read()
    for name in kept:
        assert kept[name].tobytes() == full[name].tobytes(), name


def test_input_outside_its_range_stops_with_the_range_and_the_connection(tmp_path):
    # the ramp reaches the tank's T_neighbour maximum (1000 K) at (1000 − 300) / 0.5 = 1400 s and
    # exceeds it at the next communication point, 1500 s
    ramp = Gain("ramp", k=0.0, c=300.0, r=0.5, unit="K")
    tank = HeatCapacity("tank", G=1.0)
    system = System.from_components([ramp, tank], ["ramp.y -> tank.T_neighbour"], step=100.0, stop=3600.0)
    with pytest.raises(InputRangeError) as info:
        system.run(out_dir=tmp_path)
    error = info.value
    assert (error.component, error.variable) == ("tank", "T_neighbour")
    assert "[0, 1000] K" in str(error) and "ramp.y -> tank.T_neighbour" in str(error)
    assert error.time == 1500.0
    data = read_results(tmp_path / "results.parquet")
    assert data["time"][-1] == 1400.0 and data["ramp.y"][-1] == pytest.approx(1000.0)


def test_a_component_that_cannot_roll_back_is_never_asked_to(tmp_path):
    # the doubles raise AssertionError from save_state/restore_state when they cannot roll back
    a = HeatCapacity("a", C=2e6, T0=350.0, G=100.0)
    b = HeatCapacity("b", C=1e6, T0=290.0, can_rollback=False)
    system = System.from_components(
        [a, b], ["b.T -> a.T_neighbour", "a.Q_cond -> b.Q_in"], algorithm="iterative", step=300.0, stop="6h"
    )
    result = system.run(out_dir=tmp_path)
    assert result.ok and result.stats.coupling_iterations > 0
    assert b.steps == 72


def test_result_writer_bounds_memory_and_survives_an_exception(tmp_path):
    path = tmp_path / "r.parquet"
    with pytest.raises(RuntimeError, match="boom"):
        with ResultWriter(path, ["time", "x"], {"system": "test"}, row_group_size=1000) as writer:
            for k in range(2500):
                writer.append(np.array([k * 60.0, np.sin(k)]))
            raise RuntimeError("boom")
    meta = pq.ParquetFile(path).metadata
    assert meta.num_rows == 2500 and meta.num_row_groups == 3
    data = read_results(path)
    np.testing.assert_array_equal(data["x"], np.sin(np.arange(2500)))
    csv = to_csv(path, tmp_path / "r.csv")
    back = np.loadtxt(csv, delimiter=",", skiprows=1)
    np.testing.assert_allclose(back[:, 1], data["x"], rtol=1e-15)


def test_a_step_error_names_the_component_and_keeps_the_steps_before(tmp_path):
    a = HeatCapacity("a", C=2e6, T0=350.0, G=100.0)
    b = HeatCapacity("b", C=1e6, T0=290.0, error_after=600.0)
    system = System.from_components([a, b], ["b.T -> a.T_neighbour", "a.Q_cond -> b.Q_in"], step=60.0, stop=3600.0)
    with pytest.raises(StepError) as info:
        system.run(out_dir=tmp_path)
    assert info.value.component == "b" and info.value.time == 600.0
    assert "solver failed" in str(info.value)
    assert read_results(tmp_path / "results.parquet")["time"][-1] == 600.0


def test_adaptive_step_below_min_step_is_an_error(tmp_path):
    system, _ = pair(step=600.0, stop="6h", adaptive=True, rtol=1e-9, atol=1e-9, min_step=300.0)
    with pytest.raises(StepSizeError, match="below min_step = 300 s"):
        system.run(out_dir=tmp_path)
    assert read_results(tmp_path / "results.parquet")["time"].tolist() == [0.0]
