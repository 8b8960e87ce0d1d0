"""The real-time clock: deadline accounting and overrun policies on a virtual clock, then on the wall clock."""

from __future__ import annotations

import pytest

from kreislauf.hil.realtime import OverrunPolicy, RealTimeClock, RealTimeOverrun


class VirtualTime:
    """A clock that only moves when slept on or when work is simulated; sleeps overshoot by ``late``."""

    def __init__(self, late: float = 0.0):
        self.now = 100.0
        self.late = late

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds + self.late

    def work(self, seconds: float) -> None:
        self.now += seconds


def make(policy: str, late: float = 0.0, factor: float = 1.0) -> tuple[RealTimeClock, VirtualTime]:
    vt = VirtualTime(late)
    clock = RealTimeClock(0.01, realtime_factor=factor, overrun=policy, clock=vt.clock, sleep=vt.sleep)
    clock.start()
    return clock, vt


def test_steps_are_released_at_absolute_deadlines_with_the_measured_lateness():
    clock, vt = make("catch_up", late=0.0003)
    ticks = []
    for _ in range(100):
        ticks.append(clock.wait())
        vt.work(0.002)
    report = clock.report()
    assert ticks == list(range(100))
    assert report.steps == 100 and report.overruns == 0
    # lateness of tick 0 is 0 (released at t0), all others are the sleep overshoot
    assert report.lateness_max == pytest.approx(0.0003)
    assert report.lateness_p50 == pytest.approx(0.0003)
    # lateness does not accumulate: the last step is released 0.3 ms after 99 periods
    assert vt.now - 100.0 == pytest.approx(99 * 0.01 + 0.0003 + 0.002)


def test_catch_up_releases_late_steps_at_once_and_keeps_the_schedule():
    clock, vt = make("catch_up")
    clock.wait()
    vt.work(0.035)  # step 0 takes 3.5 periods
    assert clock.wait() == 1 and clock.wait() == 2 and clock.wait() == 3
    assert clock.report().overruns == 2  # steps 1 and 2 were released after the next step's deadline
    assert clock.wait() == 4
    assert vt.now == pytest.approx(100.04)  # back on the absolute schedule


def test_skip_drops_missed_deadlines():
    clock, vt = make("skip")
    clock.wait()
    vt.work(0.035)
    tick = clock.wait()
    assert tick == 4  # deadlines 1, 2, 3 are gone; step 4 is due at 0.04 s
    report = clock.report()
    assert report.skipped == 3 and report.overruns == 1
    assert report.simulated_time == pytest.approx(0.05)


def test_abort_raises_with_the_step_and_lateness():
    clock, vt = make("abort")
    clock.wait()
    vt.work(0.025)
    with pytest.raises(RealTimeOverrun, match="step 1 released 15.000 ms after its deadline"):
        clock.wait()


def test_real_time_factor_is_simulated_over_wall_time():
    clock, vt = make("catch_up", factor=2.0)  # twice as fast as real time
    for _ in range(50):
        clock.wait()
    vt.work(0.005)  # the last step takes one wall period
    report = clock.report()
    assert report.simulated_time == pytest.approx(0.5)
    assert report.wall_time == pytest.approx(0.25)
    assert report.realtime_factor == pytest.approx(2.0)


def test_bad_settings_are_rejected():
    for kwargs in ({"period": 0.0}, {"period": -1.0}, {"period": 0.01, "realtime_factor": 0.0}):
        with pytest.raises(ValueError, match="real-time clock"):
            RealTimeClock(**kwargs)
    with pytest.raises(ValueError):
        RealTimeClock(0.01, overrun="sometimes")


def test_wall_clock_run_keeps_pace():
    clock = RealTimeClock(0.005, overrun=OverrunPolicy.CATCH_UP)
    clock.start()
    for _ in range(40):
        clock.wait()
    report = clock.report()
    assert report.steps == 40
    assert report.lateness_p50 >= 0.0 and report.lateness_max >= report.lateness_p99 >= report.lateness_p50
    # released no earlier than due: 40 steps cover at least 39 periods of wall time
    assert report.wall_time >= 39 * 0.005
    assert report.realtime_factor <= 40 / 39 + 1e-9
