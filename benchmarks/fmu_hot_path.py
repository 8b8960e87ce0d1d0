"""Overhead of FmuComponent's hot path (set inputs, doStep, get outputs) against fmpy's FMU2Slave.

Exports the ``fouling_heat_exchanger`` model as an FMI 2.0 FMU into a temporary directory and times,
in the same run, one communication step (four inputs set, one doStep, five outputs read) through:

- ``fmpy``: ``FMU2Slave.setReal`` / ``doStep`` / ``getReal`` (the baseline);
- ``by name``: ``FmuComponent.set_inputs(dict)`` / ``do_step`` / ``get_outputs(names)``;
- ``fast path``: ``FmuComponent.input_setter(names)(array)`` / ``do_step`` / ``output_getter(names)()``.

The inputs are held constant, so after the first step the FMU's integrator takes one cheap step and
the Python-side cost dominates. Usage: ``python benchmarks/fmu_hot_path.py [--steps N]``. Prints
microseconds per step and the ratios against fmpy.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
from fmpy import read_model_description
from fmpy.fmi2 import FMU2Slave

from kreislauf.fmu import FmuComponent, export_fmu, safe_extract

INPUTS = {"wastewater_mass_flow": 20.0, "loop_mass_flow": 15.0, "wastewater_inlet_temperature": 288.15,
          "loop_inlet_temperature": 278.15}
OUTPUTS = ["heat_flow", "wastewater_outlet_temperature", "loop_outlet_temperature", "fouling_resistance",
           "loop_outlet_energy"]


def per_step(run, steps: int, repeats: int = 5) -> float:
    """Best of ``repeats`` runs of ``steps`` steps, in microseconds per step."""
    best = float("inf")
    for r in range(repeats):
        t0 = time.perf_counter()
        run(r * steps, steps)
        best = min(best, time.perf_counter() - t0)
    return best / steps * 1e6


def main() -> None:
    """Export, run the three variants and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20000)
    args = parser.parse_args()
    dt = 1.0
    with tempfile.TemporaryDirectory() as tmp:
        path = export_fmu("fouling_heat_exchanger", tmp, 2)

        unzipped = safe_extract(path, f"{tmp}/fmpy")
        md = read_model_description(str(unzipped))
        vr = {v.name: v.valueReference for v in md.modelVariables}
        slave = FMU2Slave(guid=md.guid, unzipDirectory=str(unzipped),
                          modelIdentifier=md.coSimulation.modelIdentifier, instanceName="fmpy")
        slave.instantiate()
        slave.setupExperiment(startTime=0.0)
        slave.enterInitializationMode()
        slave.exitInitializationMode()
        in_vrs, in_vals, out_vrs = [vr[n] for n in INPUTS], list(INPUTS.values()), [vr[n] for n in OUTPUTS]

        def fmpy_run(k0: int, steps: int) -> None:
            for k in range(k0, k0 + steps):
                slave.setReal(in_vrs, in_vals)
                slave.doStep(k * dt, dt)
                slave.getReal(out_vrs)

        fmpy_us = per_step(fmpy_run, args.steps)
        slave.terminate()
        slave.freeInstance()

        results = {}
        with FmuComponent(path, "bench") as comp:
            comp.setup(0.0, None, {})

            def by_name(k0: int, steps: int) -> None:
                for k in range(k0, k0 + steps):
                    comp.set_inputs(INPUTS)
                    comp.do_step(k * dt, dt)
                    comp.get_outputs(OUTPUTS)

            results["by name"] = per_step(by_name, args.steps)
        with FmuComponent(path, "bench") as comp:
            comp.setup(0.0, None, {})
            setter, getter = comp.input_setter(list(INPUTS)), comp.output_getter(OUTPUTS)
            values = np.array(in_vals)

            def fast(k0: int, steps: int) -> None:
                for k in range(k0, k0 + steps):
                    setter(values)
                    comp.do_step(k * dt, dt)
                    getter()

            results["fast path"] = per_step(fast, args.steps)
    print(f"{'variant':<12} {'us/step':>9} {'vs fmpy':>8}")
    print(f"{'fmpy':<12} {fmpy_us:9.2f} {1.0:8.2f}")
    for name, us in results.items():
        print(f"{name:<12} {us:9.2f} {us / fmpy_us:8.2f}")


if __name__ == "__main__":
    main()
