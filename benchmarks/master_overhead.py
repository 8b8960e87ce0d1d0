"""Master overhead per component per macro step, against hand-written loops measured in the same run.

Two systems of two coupled heat capacities (capacity a holds the conductance and sends its heat to
capacity b), stepped with fixed steps:

1. Python components (the test doubles of tests/kreislauf): the master (Jacobi, results streamed to
   Parquet, energy ledger on) against a hand-written Jacobi loop over the same components
   (``set_inputs`` / ``do_step`` / ``get_outputs``, nothing recorded).
2. Two exported kreislauf FMUs (FMI 2.0) through :class:`kreislauf.fmu.FmuComponent`: the master on its
   native stepping path (compiled C, ``native = "on"``) and on its Python path (``native = "off"``),
   against a hand-written loop over the same FmuComponents, and against a bare fmpy loop
   (``FMU2Slave.setReal/doStep/getReal``) over the same FMUs.

Prints times per macro step and the ratios master / hand loop. Run: ``python benchmarks/master_overhead.py``
(``--steps N`` to change the number of macro steps).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "kreislauf"))

from cosim_doubles import HeatCapacity  # noqa: E402

from kreislauf.api import System  # noqa: E402
from kreislauf.system import ComponentSpec, MasterSettings, SystemSpec, _parse_connections, _Source  # noqa: E402


def best_of(fn, repeat: int = 3) -> float:
    return min(fn() for _ in range(repeat))


def doubles_master(steps: int, out: Path, full: bool = False) -> float:
    """The master; ``full``: every output recorded and the bond's ledger on, else temperatures only."""
    a = HeatCapacity("a", C=2e6, T0=350.0, G=100.0)
    b = HeatCapacity("b", C=1e6, T0=290.0)
    system = System.from_components(
        [a, b],
        ["b.T -> a.T_neighbour", "a.Q_cond -> b.Q_in"],
        bonds=["a.cond -> b.heat"] if full else [],
        outputs=["*.*"] if full else ["*.T"],
        step=60.0,
        stop=60.0 * steps,
        row_group_size=65536,
    )
    result = system.run(out_dir=out, progress=False)
    return result.stats.wall_time


def doubles_hand(steps: int) -> float:
    a = HeatCapacity("a", C=2e6, T0=350.0, G=100.0)
    b = HeatCapacity("b", C=1e6, T0=290.0)
    a.setup(0.0, None, {})
    b.setup(0.0, None, {})
    start = time.perf_counter()
    t_b = float(b.get_outputs(["T"])[0])
    q = float(a.get_outputs(["Q_cond"])[0])
    for n in range(steps):
        t = n * 60.0
        a.set_inputs({"T_neighbour": t_b})
        b.set_inputs({"Q_in": q})
        a.do_step(t, 60.0)
        b.do_step(t, 60.0)
        t_b = float(b.get_outputs(["T"])[0])
        a.set_inputs({"T_neighbour": t_b})
        q = float(a.get_outputs(["Q_cond"])[0])
    return time.perf_counter() - start


def tank_model():
    from kreislauf.models import T_REF, Model

    m = Model("benchmark_tank", "mixed tank heated from outside, losing heat through UA")
    c = m.parameter("heat_capacity", unit="J/K", start=1e6, min=1.0, max=1e12, description="heat capacity")
    ua = m.parameter("loss_conductance", unit="W/K", start=0.0, min=0.0, max=1e6, description="UA")
    p = m.input("heating", unit="W", start=0.0, min=-1e7, max=1e7, description="heating power")
    t_amb = m.input("ambient_temperature", unit="K", start=293.15, min=200.0, max=400.0, description="other side")
    t = m.state("temperature", unit="K", start=330.0, min=200.0, max=500.0, nominal=300.0, description="T")
    loss = m.local("loss", ua * (t - t_amb), unit="W", description="heat lost through UA")
    m.derivative(t, (p - loss) / c)
    m.heat_port("heater", power=p)
    m.heat_port("ambient", power=-loss)
    m.stored_energy(c * (t - T_REF))
    return m.finish()


PARAMS = {
    "A": {"heat_capacity": 2e6, "loss_conductance": 100.0, "temperature_start": 350.0},
    "B": {"heat_capacity": 1e6, "temperature_start": 290.0},
}
CONNECTIONS = ["B.temperature -> A.ambient_temperature", {"from": "A.ambient_power", "to": "B.heating", "factor": -1.0}]


def fmu_master(fmu: Path, steps: int, out: Path, native: str) -> float:
    from kreislauf.fmu import FmuComponent
    from kreislauf.master import Master

    comps = {n: FmuComponent(fmu, name=n) for n in ("A", "B")}
    settings = MasterSettings(step=60.0, stop=60.0 * steps, row_group_size=65536, native=native)
    spec = SystemSpec(name="fmu-bench", settings=settings)
    for n in comps:
        spec.components[n] = ComponentSpec(n, "fmu", str(fmu), parameters=PARAMS[n])
    _parse_connections(CONNECTIONS, spec, _Source(""), lambda *a, **k: None)
    spec.outputs.variables = ["*.temperature"]
    try:
        return Master(spec, comps).run(out, progress=False).stats.wall_time
    finally:
        for c in comps.values():
            c.close()


def fmu_hand(fmu: Path, steps: int) -> float:
    from kreislauf.fmu import FmuComponent

    a, b = FmuComponent(fmu, name="A"), FmuComponent(fmu, name="B")
    try:
        a.setup(0.0, 60.0 * steps, PARAMS["A"])
        b.setup(0.0, 60.0 * steps, PARAMS["B"])
        start = time.perf_counter()
        t_b = float(b.get_outputs(["temperature"])[0])
        q = -float(a.get_outputs(["ambient_power"])[0])
        for n in range(steps):
            t = n * 60.0
            a.set_inputs({"ambient_temperature": t_b})
            b.set_inputs({"heating": q})
            a.do_step(t, 60.0)
            b.do_step(t, 60.0)
            t_b = float(b.get_outputs(["temperature"])[0])
            a.set_inputs({"ambient_temperature": t_b})
            q = -float(a.get_outputs(["ambient_power"])[0])
        return time.perf_counter() - start
    finally:
        a.close()
        b.close()


def fmu_bare(fmu: Path, steps: int) -> float:
    """A bare fmpy loop: FMU2Slave with value references, no Component layer at all."""
    import shutil

    from fmpy import extract, read_model_description
    from fmpy.fmi2 import FMU2Slave

    md = read_model_description(str(fmu))
    vr = {v.name: v.valueReference for v in md.modelVariables}
    slaves = []
    dirs = []
    for name in ("A", "B"):
        d = extract(str(fmu))
        dirs.append(d)
        s = FMU2Slave(
            guid=md.guid, unzipDirectory=d, modelIdentifier=md.coSimulation.modelIdentifier, instanceName=name
        )
        s.instantiate()
        s.setupExperiment(startTime=0.0, stopTime=60.0 * steps)
        s.enterInitializationMode()
        s.setReal([vr[k] for k in PARAMS[name]], list(PARAMS[name].values()))
        s.exitInitializationMode()
        slaves.append(s)
    a, b = slaves
    temp, power = [vr["temperature"]], [vr["ambient_power"]]
    amb, heat = [vr["ambient_temperature"]], [vr["heating"]]
    try:
        start = time.perf_counter()
        t_b = b.getReal(temp)[0]
        q = -a.getReal(power)[0]
        for n in range(steps):
            t = n * 60.0
            a.setReal(amb, [t_b])
            b.setReal(heat, [q])
            a.doStep(t, 60.0)
            b.doStep(t, 60.0)
            t_b = b.getReal(temp)[0]
            a.setReal(amb, [t_b])
            q = -a.getReal(power)[0]
        return time.perf_counter() - start
    finally:
        for s in slaves:
            s.terminate()
            s.freeInstance()
        for d in dirs:
            shutil.rmtree(d, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20000)
    args = parser.parse_args()
    n = args.steps
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        master = best_of(lambda: doubles_master(n, tmp / "doubles"))
        full = best_of(lambda: doubles_master(n, tmp / "doubles-full", full=True))
        hand = best_of(lambda: doubles_hand(n))
        print(f"Python components, 2 components, {n} macro steps")
        print(f"  hand loop                      : {1e6 * hand / n:8.2f} us/step")
        print(f"  master (temperatures recorded) : {1e6 * master / n:8.2f} us/step   ratio {master / hand:.2f}")
        print(f"  master (all outputs + ledger)  : {1e6 * full / n:8.2f} us/step   ratio {full / hand:.2f}")
        print(f"  overhead                       : {1e6 * (master - hand) / n / 2:8.2f} us per component per step")
        try:
            from kreislauf.fmu import export_fmu

            fmu = export_fmu(tank_model(), tmp / "fmus", 2)
        except Exception as exc:  # noqa: BLE001 - the FMU half is skipped without a compiler
            print(f"FMUs skipped: {type(exc).__name__}: {exc}")
            return
        native = best_of(lambda: fmu_master(fmu, n, tmp / "fmu-native", "on"))
        python = best_of(lambda: fmu_master(fmu, n, tmp / "fmu-python", "off"))
        hand = best_of(lambda: fmu_hand(fmu, n))
        bare = best_of(lambda: fmu_bare(fmu, n))
        print(f"kreislauf FMUs (FMI 2.0), 2 components, {n} macro steps")
        print(f"  bare fmpy loop         : {1e6 * bare / n:8.2f} us/step")
        print(f"  FmuComponent hand loop : {1e6 * hand / n:8.2f} us/step   ratio to bare {hand / bare:.2f}")
        for label, wall in (("master, native path", native), ("master, Python path", python)):
            print(
                f"  {label:<22} : {1e6 * wall / n:8.2f} us/step   ratio to hand {wall / hand:.2f}, "
                f"to bare {wall / bare:.2f}"
            )
        print(f"  Python path overhead vs hand loop: {1e6 * (python - hand) / n / 2:8.2f} us per component per step")


if __name__ == "__main__":
    main()
