"""Real-time runs: the master paces macro steps against the wall clock, accounts for deadlines, follows its
overrun policy, and streams results as any run does."""

from __future__ import annotations

import json
import time

import pytest
from cosim_doubles import Gain, HeatCapacity

from kreislauf.api import System
from kreislauf.master import RealTimeError
from kreislauf.results import read_results
from kreislauf.system import SystemFileError


class SlowGain(Gain):
    """A gain whose step ``slow_step`` takes ``delay`` seconds of wall time (a sluggish device)."""

    def __init__(self, name: str, slow_step: int, delay: float):
        super().__init__(name)
        self.slow_step, self.delay = slow_step, delay

    def do_step(self, t, dt):
        if self.steps == self.slow_step:
            time.sleep(self.delay)
        return super().do_step(t, dt)


def pair(**settings):
    a = HeatCapacity("a", C=2e6, T0=350.0, G=100.0)
    b = HeatCapacity("b", C=1e6, T0=290.0)
    return System.from_components([a, b], ["b.T -> a.T_neighbour", "a.Q_cond -> b.Q_in"],
                                  bonds=["a.cond -> b.heat"], **settings)


def test_a_paced_run_takes_its_wall_time_and_reports_its_deadlines(tmp_path):
    """40 steps of 0.5 simulated s at real-time factor 20: 1 s of wall time."""
    system = pair(step=0.5, stop=20.0)
    t0 = time.perf_counter()
    result = system.run(out_dir=tmp_path, progress=False, realtime=True, realtime_factor=20.0)
    wall = time.perf_counter() - t0
    assert result.ok
    assert wall >= 19.5 / 20.0  # paced: the last step is released at 39 periods of 25 ms
    rt = json.loads(result.summary_path.read_text())["realtime"]
    assert rt["steps"] == 40
    assert 0.0 <= rt["lateness_p50_s"] <= rt["lateness_p99_s"] <= rt["lateness_max_s"]
    assert rt["target_realtime_factor"] == 20.0
    assert 0.5 * 20.0 < rt["realtime_factor"] <= 20.0 * 1.05
    assert len(read_results(result.results_path)["time"]) == 41


def test_a_run_as_fast_as_possible_has_no_pacing_report(tmp_path):
    result = pair(step=60.0, stop=600.0).run(out_dir=tmp_path, progress=False)
    assert json.loads(result.summary_path.read_text())["realtime"] is None


def test_abort_policy_stops_the_run_and_keeps_the_results_so_far(tmp_path):
    g = SlowGain("g", slow_step=5, delay=0.3)
    system = System.from_components([g], [], step=0.05, stop=2.0)
    with pytest.raises(RealTimeError, match="overrun"):
        system.run(out_dir=tmp_path, progress=False, realtime=True, overrun="abort")
    rows = read_results(tmp_path / "results.parquet")
    assert len(rows["time"]) == 7  # the initial row and the six steps done before the overrun was seen
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "failed" and summary["realtime"]["overruns"] == 0


def test_skip_policy_drops_missed_deadlines_and_spans_them_in_one_step(tmp_path):
    g = SlowGain("g", slow_step=5, delay=0.3)
    system = System.from_components([g], [], step=0.05, stop=2.0)
    result = system.run(out_dir=tmp_path, progress=False, realtime=True, overrun="skip")
    rt = json.loads(result.summary_path.read_text())["realtime"]
    assert rt["skipped"] >= 4  # 0.3 s late at 50 ms per step
    times = read_results(result.results_path)["time"]
    assert times[-1] == pytest.approx(2.0)
    assert max(times[1:] - times[:-1]) >= 0.05 * 5 - 1e-9


@pytest.mark.parametrize(("setting", "value", "message"), [
    ("overrun", "panic", "overrun 'panic' is not one of"),
    ("realtime_factor", -1.0, "realtime_factor must be a positive number"),
    ("spin", -0.1, "spin must be a number of seconds"),
])
def test_bad_pacing_settings_are_reported(tmp_path, setting, value, message):
    with pytest.raises(SystemFileError, match=message):
        pair(step=1.0, stop=2.0).run(out_dir=tmp_path, progress=False, realtime=True, **{setting: value})
