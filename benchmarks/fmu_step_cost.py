"""Cost of one communication step of each exported FMU against the model's Python evaluator.

For every model (or those named on the command line) this exports FMI 2.0 and 3.0 FMUs into a
temporary directory and measures, in the same run:

- ``fmu``: one ``do_step`` plus reading every output through :class:`kreislauf.fmu.FmuComponent`;
- ``fmpy``: the same through fmpy's ``FMU2Slave.doStep`` / ``getReal`` or ``FMU3Slave.doStep`` /
  ``getFloat64`` (the baseline most Python users have; Real/Float64 outputs only);
- ``python step``: one communication step of :func:`kreislauf.models.simulate.simulate` (SciPy Radau
  over the step plus the numpy evaluation of all outputs) — the Python evaluator doing the FMU's job;
- ``python eval``: one call of ``Model.evaluate`` (outputs only, no integration).

Besides the registered models, ``VARIANTS`` names models run with other parameters (the heat pump with
its EN 14511 performance map: ``heat_pump[map]``), from the same exported FMU.

Usage: ``python benchmarks/fmu_step_cost.py [MODEL ...] [--steps N] [--step SECONDS] [--repeats R]``.
Prints microseconds per step and the ratios python/fmu. Each figure is the fastest of R timings (default 5):
on a machine shared with other work, more repeats filter out the time other processes held the core.
Not part of the test suite.
"""

from __future__ import annotations

import argparse
import tempfile
import time

from fmpy import read_model_description
from fmpy.fmi2 import FMU2Slave
from fmpy.fmi3 import FMU3Slave

from kreislauf.fmu import FmuComponent, export_fmu, safe_extract
from kreislauf.models import MODELS, get_model
from kreislauf.models.simulate import simulate

VARIANTS: dict[str, tuple[str, dict[str, float]]] = {
    "heat_pump[map]": ("heat_pump", {"performance_model": 2}),
}
"""Benchmark names beyond the registered models: (model, parameter values)."""


def best_of(repeats: int, fn) -> float:
    """The smallest of ``repeats`` timings of ``fn()`` (s)."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def fmu_cost(path, steps: int, step: float, parameters: dict[str, float], repeats: int = 5) -> float:
    comp = FmuComponent(path, "bench")
    comp.setup(0.0, None, parameters)
    outputs = [v.name for v in comp.variables.values() if v.causality.value == "output"]
    state = {"t": 0.0}

    def run() -> None:
        t = state["t"]
        for _ in range(steps):
            comp.do_step(t, step)
            comp.get_outputs(outputs)
            t += step
        state["t"] = t

    try:
        return best_of(repeats, run) / steps
    finally:
        comp.close()


def fmpy_cost(path, steps: int, step: float, parameters: dict[str, float], repeats: int = 5) -> float:
    unzipdir = safe_extract(path)
    md = read_model_description(str(unzipdir))
    fmi3 = md.fmiVersion.startswith("3")
    slave = FMU3Slave if fmi3 else FMU2Slave
    fmu = slave(guid=md.guid, unzipDirectory=str(unzipdir), modelIdentifier=md.coSimulation.modelIdentifier)
    fmu.instantiate()
    variables = {v.name: v for v in md.modelVariables}
    for name, value in parameters.items():
        v = variables[name]
        if v.type in ("Integer", "Int32"):
            (fmu.setInt32 if fmi3 else fmu.setInteger)([v.valueReference], [int(value)])
        else:
            (fmu.setFloat64 if fmi3 else fmu.setReal)([v.valueReference], [float(value)])
    if fmi3:
        fmu.enterInitializationMode(startTime=0.0)
    else:
        fmu.setupExperiment(startTime=0.0)
        fmu.enterInitializationMode()
    fmu.exitInitializationMode()
    real = "Float64" if fmi3 else "Real"
    vrs = [v.valueReference for v in md.modelVariables if v.causality == "output" and v.type == real]
    get = fmu.getFloat64 if fmi3 else fmu.getReal
    state = {"t": 0.0}

    def run() -> None:
        t = state["t"]
        for _ in range(steps):
            fmu.doStep(t, step)
            get(vrs)
            t += step
        state["t"] = t

    try:
        return best_of(repeats, run) / steps
    finally:
        fmu.terminate()
        fmu.freeInstance()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", default=sorted(MODELS) + sorted(VARIANTS))
    parser.add_argument("--steps", type=int, default=2000, help="FMU steps per timing (default 2000)")
    parser.add_argument("--step", type=float, default=60.0, help="communication step in s (default 60)")
    parser.add_argument("--repeats", type=int, default=5, help="timings per figure, the fastest counts (default 5)")
    args = parser.parse_args()
    print(f"{'model':28s} {'FMI':>4s} {'fmu µs':>9s} {'fmpy µs':>9s} {'py step µs':>11s} {'py eval µs':>11s}"
          f" {'step ratio':>11s} {'eval ratio':>11s}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            model_name, parameters = VARIANTS.get(name, (name, {}))
            model = get_model(model_name)
            py_steps = max(20, args.steps // 50)
            py_step = best_of(max(3, args.repeats // 2), lambda m=model, n=py_steps, p=parameters: simulate(
                m, n * args.step, args.step, parameters=p)) / py_steps
            py_eval = best_of(args.repeats, lambda m=model, p=parameters: [m.evaluate(**p) for _ in range(200)]) / 200
            for version in (2, 3):
                path = export_fmu(model, tmp, version)
                fmu = fmu_cost(path, args.steps, args.step, parameters, args.repeats)
                base = fmpy_cost(path, args.steps, args.step, parameters, args.repeats)
                print(f"{name:28s} {version:>4d} {fmu * 1e6:9.2f} {base * 1e6:9.2f} {py_step * 1e6:11.1f}"
                      f" {py_eval * 1e6:11.1f} {py_step / fmu:10.0f}x {py_eval / fmu:10.0f}x")
    print("(best of repeated timings; FMU step = doStep + reading all outputs)")


if __name__ == "__main__":
    main()
