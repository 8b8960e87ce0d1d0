"""Wall time of a year of an example system at 60 s steps, and the share of it spent inside the FMUs.

Runs ``examples/kahla.toml`` (``--system`` for another file) twice through the master, the same way
``kreislauf run`` does, on the stepping path the master chooses (``native = "auto"``: compiled C for a
fixed-step system of FMUs and Python sources such as time series, multi-rate or not; ``--python``
forces the Python path):

1. plain: the wall time of the run (components built beforehand, FMUs taken from the export cache);
2. timed: on the native path, the C stepper times every FMU call itself (``clock_gettime`` around each
   doStep and each set/get, per component), and the Python sources' precomputation is timed per chunk
   (their ``do_step`` and output calls). On the Python path, every component's ``set_inputs``,
   ``do_step`` and ``get_outputs`` is wrapped in a timer, and so are the setter and getter functions of
   the master's fast path (``input_setter`` / ``output_getter``); those calls include the importer's
   Python layer (ctypes marshalling and range checks). Either way this gives the time inside the FMUs,
   the time inside Python components (time series) and, as the rest, the master's own cost (coupling,
   ledger, Parquet).

Prints the times, the FMU share, the master's wall time per FMU time (the baseline measured in the same
run), the cost of one doStep per FMU (native path), and the ratio to the 20 s per year target of issue 4.
Run: ``python benchmarks/year_runs.py`` (``--days N`` for a shorter period, ``--python`` for the Python
path). ``--compare`` instead runs the plain run on both paths in one session, prints the ratio of their
wall times and checks that every result column is the same to the bit.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from kreislauf.api import System, load
from kreislauf.fmu import FmuComponent
from kreislauf.master import Master, RunResult
from kreislauf.system import make_component

ROOT = Path(__file__).resolve().parent.parent
TARGET = 20.0  # s per simulated year (issue 4)
TIMED = ("set_inputs", "do_step", "get_outputs")
FAST_PATHS = ("input_setter", "output_getter")  # the master binds these once and calls what they return


class Clock:
    """Accumulated seconds per component kind and number of timed calls."""

    def __init__(self) -> None:
        self.seconds = {"fmu": 0.0, "python": 0.0}
        self.calls = {"fmu": 0, "python": 0}

    def wrap_factory(self, kind: str, factory: Callable) -> Callable:
        """``factory`` (``input_setter``/``output_getter``) returning timed versions of what it makes."""

        def timed_factory(*args, **kwargs):
            return self.wrap(kind, factory(*args, **kwargs))

        return timed_factory

    def wrap(self, kind: str, method: Callable) -> Callable:
        """``method`` with its calls timed under ``kind``."""
        perf = time.perf_counter

        def timed(*args, **kwargs):
            start = perf()
            try:
                return method(*args, **kwargs)
            finally:
                self.seconds[kind] += perf() - start
                self.calls[kind] += 1

        return timed


def build(path: Path, clock: Clock | None) -> System:
    """The system of ``path`` with its components built now; with ``clock``, their calls timed."""
    spec = load(path).spec
    components = {name: make_component(cspec) for name, cspec in spec.components.items()}
    if clock is not None:
        for comp in components.values():
            kind = "fmu" if isinstance(comp, FmuComponent) else "python"
            for name in TIMED:
                setattr(comp, name, clock.wrap(kind, getattr(comp, name)))
            for name in FAST_PATHS:
                if hasattr(comp, name):
                    setattr(comp, name, clock.wrap_factory(kind, getattr(comp, name)))
    return System(spec, components)


def profiled_native(path: Path, stop: float, out: Path) -> tuple[RunResult, dict[str, dict[str, float]]]:
    """A native-path run of ``path`` with the C stepper timing every FMU call; the result and the
    per-component timing."""
    spec = load(path).spec
    spec.settings.stop, spec.settings.step = stop, 60.0
    components = {name: make_component(cspec) for name, cspec in spec.components.items()}
    try:
        master = Master(spec, components)
        master.native_profile = True
        result = master.run(out, progress=False)
    finally:
        for comp in components.values():
            comp.close()
    return result, master.native_timing or {}


def compare(system: Path, stop: float) -> None:
    """Plain runs of ``system`` on the native and the Python path in this session: wall times, their
    ratio, and the result columns that differ in any bit (none expected)."""
    with tempfile.TemporaryDirectory() as tmp:
        runs = {mode: build(system, None).run(stop=stop, step=60.0, out_dir=Path(tmp) / mode, progress=False,
                                              native=mode)
                for mode in ("on", "off")}
        native, python = runs["on"].read(), runs["off"].read()
    if list(native) != list(python):
        raise SystemExit("the two paths recorded different columns")
    different = [c for c in python if python[c].tobytes() != native[c].tobytes()]
    wall = {mode: run.stats.wall_time for mode, run in runs.items()}
    print(f"system {system.name}: {stop / 86400.0:g} d at 60 s steps, {runs['on'].stats.steps} macro steps")
    print(f"native path  {wall['on']:9.2f} s   ({runs['on'].stats.path_reason})")
    print(f"Python path  {wall['off']:9.2f} s")
    print(f"ratio Python / native   {wall['off'] / wall['on']:6.2f}")
    print(f"columns identical to the bit: {len(python) - len(different)} of {len(python)} "
          f"({len(python['time'])} rows){'; different: ' + ', '.join(different) if different else ''}")


def main() -> None:
    """Run the benchmark and print its numbers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--system", type=Path, default=ROOT / "examples" / "kahla.toml")
    parser.add_argument("--days", type=float, default=365.0)
    parser.add_argument("--python", action="store_true", help="step in Python (native = off)")
    parser.add_argument("--compare", action="store_true",
                        help="run both paths in one session, print the ratio, compare every column")
    args = parser.parse_args()
    stop = args.days * 86400.0
    if args.compare:
        compare(args.system, stop)
        return
    native = "off" if args.python else "auto"
    timing: dict[str, dict[str, float]] = {}
    clock = Clock()
    with tempfile.TemporaryDirectory() as tmp:
        plain = build(args.system, None).run(stop=stop, step=60.0, out_dir=Path(tmp) / "plain", progress=False,
                                             native=native)
        if plain.stats.path == "native":
            timed, timing = profiled_native(args.system, stop, Path(tmp) / "timed")
            clock.seconds["fmu"] = sum(t["do_step_s"] + t["set_get_s"] for t in timing.values())
            clock.calls["fmu"] = sum(t["do_step_calls"] for t in timing.values())
            clock.seconds["python"] = sum(t["source_s"] for t in timing.values())
            clock.calls["python"] = sum(2 * t["source_steps"] for t in timing.values())  # do_step + outputs
        else:
            timed = build(args.system, clock).run(stop=stop, step=60.0, out_dir=Path(tmp) / "timed",
                                                  progress=False, native="off")
    for result in (plain, timed):
        if not result.ok:
            raise SystemExit(f"the run failed: {result.error}")
    wall, wall_timed = plain.stats.wall_time, timed.stats.wall_time
    fmu, py = clock.seconds["fmu"], clock.seconds["python"]
    rest = wall_timed - fmu - py
    year = wall * 365.0 / args.days
    print(f"system {args.system.name}: {args.days:g} d at 60 s steps, {plain.stats.steps} macro steps")
    print(f"stepping path: {plain.stats.path} ({plain.stats.path_reason})")
    print(f"wall time (plain run)            {wall:9.2f} s   ({year:.1f} s per year)")
    print(f"wall time (timed run)            {wall_timed:9.2f} s")
    print(f"  inside FMUs                    {fmu:9.2f} s   {fmu / wall_timed:6.1%}   ({clock.calls['fmu']} calls)")
    print(f"  inside Python components       {py:9.2f} s   {py / wall_timed:6.1%}   ({clock.calls['python']} calls)")
    print(f"  master (coupling, ledger, I/O) {rest:9.2f} s   {rest / wall_timed:6.1%}")
    for name, t in timing.items():
        if t["source_steps"]:
            per_step = 1e6 * t["source_s"] / t["source_steps"]
            print(f"    {name:<20} source {per_step:7.2f} us x {t['source_steps']} (Python, ahead of C)")
            continue
        per_step = 1e6 * t["do_step_s"] / max(1, t["do_step_calls"])
        print(f"    {name:<20} doStep {per_step:7.2f} us x {t['do_step_calls']}, set/get {t['set_get_s']:6.2f} s")
    print(f"ratio wall time / time inside FMUs      {wall_timed / fmu:6.2f}")
    print(f"ratio year wall time / {TARGET:g} s target   {year / TARGET:6.2f}")


if __name__ == "__main__":
    main()
