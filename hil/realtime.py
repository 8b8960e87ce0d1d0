"""Pacing against the wall clock: a fixed-rate scheduler with deadline accounting.

Step ``k`` of a run with macro step ``period`` (simulated seconds) and real-time factor ``r``
(simulated seconds per wall second, 1 = real time) is due at the wall time::

    deadline(k) = t0 + k * period / r

Deadlines are absolute, so a late step does not shift the ones after it. The *lateness* of a step
is the wall time at which it was released minus its deadline. An *overrun* is a step released after
the deadline of the step that follows it, i.e. the previous step's work took longer than a period.
What then happens is the :class:`OverrunPolicy`:

- ``catch_up``: release the next step at once and keep the absolute schedule (libcosim's behaviour);
- ``skip``: drop the deadlines already missed and wait for the next one still ahead; the caller
  advances simulated time by the ticks skipped (stale commands are worse than missing ones on a bench);
- ``abort``: raise :class:`RealTimeOverrun`.

The *achieved real-time factor* is simulated time over wall time since the start.
"""

from __future__ import annotations

import enum
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["DeadlineRecorder", "OverrunPolicy", "RealTimeClock", "RealTimeOverrun", "RealTimeReport"]


class OverrunPolicy(str, enum.Enum):
    """What the clock does when a step ends after the next step's deadline."""

    CATCH_UP = "catch_up"
    SKIP = "skip"
    ABORT = "abort"


class RealTimeOverrun(RuntimeError):
    """A step overran its period under :attr:`OverrunPolicy.ABORT`."""

    def __init__(self, tick: int, lateness: float, period: float):
        self.tick = tick
        self.lateness = lateness
        super().__init__(
            f"real-time overrun: step {tick} released {lateness * 1e3:.3f} ms after its deadline, "
            f"more than one period ({period * 1e3:.3f} ms wall)"
        )


@dataclass(frozen=True)
class RealTimeReport:
    """Deadline statistics of a real-time run; times in seconds."""

    steps: int
    lateness_p50: float
    lateness_p99: float
    lateness_max: float
    overruns: int
    skipped: int
    simulated_time: float
    wall_time: float

    @property
    def realtime_factor(self) -> float:
        """Simulated seconds per wall second achieved (1.0 = exactly real time)."""
        return self.simulated_time / self.wall_time if self.wall_time > 0 else math.nan

    def summary(self) -> str:
        """One line for a run report."""
        return (
            f"{self.steps} steps, lateness p50 {self.lateness_p50 * 1e3:.3f} ms, "
            f"p99 {self.lateness_p99 * 1e3:.3f} ms, max {self.lateness_max * 1e3:.3f} ms, "
            f"{self.overruns} overruns, {self.skipped} skipped, real-time factor {self.realtime_factor:.4f}"
        )


class DeadlineRecorder:
    """Collects the lateness of each released step and the overrun count."""

    def __init__(self) -> None:
        self.lateness: list[float] = []
        self.overruns = 0
        self.skipped = 0

    def record(self, lateness: float, overrun: bool = False) -> None:
        """Record one released step."""
        self.lateness.append(lateness)
        if overrun:
            self.overruns += 1

    def report(self, simulated_time: float, wall_time: float) -> RealTimeReport:
        """The statistics so far (percentiles by linear interpolation; zeros before the first step)."""
        if self.lateness:
            values = np.asarray(self.lateness)
            p50, p99 = np.percentile(values, [50.0, 99.0])
            worst = float(values.max())
        else:
            p50 = p99 = worst = 0.0
        return RealTimeReport(
            steps=len(self.lateness),
            lateness_p50=float(p50),
            lateness_p99=float(p99),
            lateness_max=worst,
            overruns=self.overruns,
            skipped=self.skipped,
            simulated_time=simulated_time,
            wall_time=wall_time,
        )


class RealTimeClock:
    """Releases steps of ``period`` simulated seconds at fixed wall-clock deadlines.

    Use::

        clock = RealTimeClock(0.01)
        clock.start()
        for _ in range(n):
            tick = clock.wait()        # blocks until step `tick` is due
            ...                        # step the system from tick * period
        print(clock.report().summary())

    ``spin`` (s) busy-waits the last part of each wait for precision; 0 (default) only sleeps,
    which leaves the core to other work.
    """

    def __init__(
        self,
        period: float,
        *,
        realtime_factor: float = 1.0,
        overrun: OverrunPolicy | str = OverrunPolicy.CATCH_UP,
        spin: float = 0.0,
        clock: Callable[[], float] = time.perf_counter,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if not (math.isfinite(period) and period > 0):
            raise ValueError(f"real-time clock: period must be a finite number > 0 s, got {period!r}")
        if not (math.isfinite(realtime_factor) and realtime_factor > 0):
            raise ValueError(f"real-time clock: realtime_factor must be > 0, got {realtime_factor!r}")
        if not (math.isfinite(spin) and spin >= 0):
            raise ValueError(f"real-time clock: spin must be >= 0 s, got {spin!r}")
        self.period = period
        self.realtime_factor = realtime_factor
        self.overrun = OverrunPolicy(overrun)
        self.spin = spin
        self._clock = clock
        self._sleep = sleep
        self._wall_period = period / realtime_factor
        self._t0: float | None = None
        self._tick = -1
        self.recorder = DeadlineRecorder()

    @property
    def tick(self) -> int:
        """The step last released (-1 before the first)."""
        return self._tick

    def deadline(self, tick: int) -> float:
        """The wall-clock time (of ``clock``) at which step ``tick`` is due."""
        if self._t0 is None:
            raise RuntimeError("real-time clock: start() was not called")
        return self._t0 + tick * self._wall_period

    def start(self) -> None:
        """Fix ``t0``, the wall time of step 0, to now."""
        self._t0 = self._clock()
        self._tick = -1

    def wait(self) -> int:
        """Block until the next step is due; return its tick (simulated start = tick * period)."""
        tick = self._tick + 1
        now = self._clock()
        overrun = tick > 0 and now > self.deadline(tick) + self._wall_period
        if overrun:
            if self.overrun is OverrunPolicy.ABORT:
                raise RealTimeOverrun(tick, now - self.deadline(tick), self._wall_period)
            if self.overrun is OverrunPolicy.SKIP:
                ahead = math.ceil((now - self.deadline(tick)) / self._wall_period)
                self.recorder.skipped += ahead
                tick += ahead
        due = self.deadline(tick)
        remaining = due - now
        if remaining > self.spin:
            self._sleep(remaining - self.spin)
        while self._clock() < due:
            pass
        self.recorder.record(self._clock() - due, overrun)
        self._tick = tick
        return tick

    def report(self) -> RealTimeReport:
        """Deadline statistics so far; simulated time counts the steps released."""
        if self._t0 is None:
            raise RuntimeError("real-time clock: start() was not called")
        simulated = (self._tick + 1) * self.period
        return self.recorder.report(simulated, self._clock() - self._t0)
