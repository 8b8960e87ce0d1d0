"""Cost of the six ANIKA FMUs per macro step, with the FMU runtime of this tree against a baseline runtime.

Builds the six FMUs of ``examples/anika.toml`` (FMI 2.0, :func:`kreislauf.fmu.build_fmu`), then compiles each
FMU's generated model twice with the exporter's compiler flags: once over the runtime in ``fmu/runtime/``
of the working tree (``current``) and once over the runtime files of a git revision (``baseline``,
default the last commit before the runtime's step-cost work). A C driver (``anika_fmus_driver.c``) loads
all six shared libraries of one variant, sets the parameters of ``examples/anika.toml`` and steps them in
a Gauss-Seidel loop over the file's connections (each FMU's inputs come from the latest outputs of the
others, so the inputs are the coupled system's), ``--steps`` communication steps of ``--step`` seconds
(default: a week of 60 s steps). Per FMU it reports the mean time per macro step of fmi2SetReal of the
inputs, fmi2DoStep and fmi2GetReal of every Real output, one algebraic-loop iteration (``loop``: one
input changed, every output read, so evaluated, again), and the solver's work per doStep (accepted and
rejected internal steps, derivative and Jacobian evaluations, LU decompositions) read from the FMU
state, and ``max Δ rel``: the largest relative difference |now - base| / max(|base|, 1) of any output (SI) at
the end of the run (both runtimes integrate to the models' tolerances, rtol 1e-6 by default). A second
pass without per-call clocks gives the total per macro step and the year (525 600 steps) it extrapolates
to. The variants run alternately ``--repeats`` times; per chunk of 100 macro steps the fastest run counts
(the runs compute the same thing, so a slower one only met other processes on the shared core).

Usage: ``python benchmarks/anika_fmus.py [--steps N] [--step S] [--baseline REV] [--repeats R] [--keep DIR]``.
Needs gcc and git. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path

from fmpy import read_model_description

from kreislauf.api import load
from kreislauf.fmu import build_fmu, safe_extract
from kreislauf.fmu.build import LAYER_FILE, RUNTIME_FILES, _compile, fmi_headers_dir
from kreislauf.system import SystemSpec

REPO = Path(__file__).resolve().parents[1]
FMI2_RUNTIME = (*RUNTIME_FILES, LAYER_FILE[2])
BASELINE = "43d5b46"  # the runtime before the step-cost work (step size carried, W-method reuse, ...)
YEAR_STEPS = 525_600
CHUNK_STEPS = 100
TYPE_CODE = {"Real": "r", "Integer": "i", "Boolean": "b", "Enumeration": "i"}


def compile_variant(sources: Path, runtime: dict[str, bytes] | None, out: Path) -> Path:
    """Compile one FMU's sources (``runtime`` replaces the runtime files when given) into ``out``."""
    work = out.parent / f"{out.stem}-src"
    work.mkdir(parents=True)
    for path in sources.iterdir():
        (work / path.name).write_bytes(runtime[path.name] if runtime and path.name in runtime else path.read_bytes())
    _compile(sorted(p for p in work.iterdir() if p.suffix == ".c"), [work, fmi_headers_dir()], out)
    return out


def baseline_runtime(revision: str) -> dict[str, bytes]:
    """The runtime files of ``fmu/runtime/`` at a git revision."""
    return {name: subprocess.run(["git", "-C", str(REPO), "show", f"{revision}:fmu/runtime/{name}"],
                                 capture_output=True, check=True).stdout for name in FMI2_RUNTIME}


def write_config(system: SystemSpec, fmus: dict[str, dict], libraries: dict[str, Path], path: Path) -> None:
    """The driver's configuration: FMUs in stepping order, parameters, outputs, connections."""
    names = list(system.components)
    index = {name: i for i, name in enumerate(names)}
    lines = []
    for name in names:
        md = fmus[name]["md"]
        lines.append(f"fmu {name} {libraries[name]} {md.coSimulation.modelIdentifier} {md.guid}")
    for name in names:
        variables = fmus[name]["vars"]
        for pname, value in system.components[name].parameters.items():
            v = variables[pname]
            lines.append(f"param {index[name]} {v.valueReference} {float(value)!r} {TYPE_CODE[v.type]}")
        for v in variables.values():
            if v.causality == "output" and v.type == "Real":
                lines.append(f"output {index[name]} {v.valueReference}")
    for c in system.connections:
        if c.factor != 1.0:
            raise SystemExit(f"connection '{c.text}': the driver couples with an offset only, not a factor")
        src, dst = c.source_component, c.target_component
        lines.append(f"connect {index[dst]} {fmus[dst]['vars'][c.target_variable].valueReference} {index[src]}"
                     f" {fmus[src]['vars'][c.source_variable].valueReference} {c.offset!r}")
    path.write_text("\n".join(lines) + "\n")


def run_driver(driver: Path, config: Path, steps: int, step: float) -> dict:
    """Run the driver: per FMU and chunk of macro steps the (set, step, get, loop) ns, statistics, total."""
    out = subprocess.run([str(driver), str(config), str(steps), repr(step), str(CHUNK_STEPS)], capture_output=True,
                         text=True, check=True).stdout
    result: dict = {"chunks": {}, "stats": {}, "total": 0.0}
    for line in out.splitlines():
        fields = line.split()
        if fields[0] == "chunk":
            result["chunks"].setdefault(fields[2], []).append([float(x) for x in fields[3:]])
        elif fields[0] == "stats":
            result["stats"][fields[1]] = [float(x) for x in fields[2:]]
        elif fields[0] == "final":
            result.setdefault("final", {})[fields[1]] = [float(x) for x in fields[2:]]
        elif fields[0] == "total":
            result["total"] = float(fields[1])
    return result


def fastest(runs: list[dict]) -> dict:
    """Per FMU the mean (set, step, get, loop) ns per macro step, summing chunk by chunk the fastest run,
    and the smallest total: the runs are identical computations, so the differences are other processes'."""
    best = {"stats": runs[0]["stats"], "final": runs[0]["final"], "total": min(run["total"] for run in runs),
            "time": {}}
    for name, chunks in runs[0]["chunks"].items():
        sums = [0.0, 0.0, 0.0, 0.0]
        for c in range(len(chunks)):
            for k in range(4):
                sums[k] += min(run["chunks"][name][c][k] for run in runs)
        best["time"][name] = sums
    return best


def main() -> None:
    """Build both variants, run them and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10_080, help="macro steps (default 10080, a week of 60 s)")
    parser.add_argument("--step", type=float, default=60.0, help="communication step in s (default 60)")
    parser.add_argument("--baseline", default=BASELINE, help=f"git revision of the baseline runtime ({BASELINE})")
    parser.add_argument("--repeats", type=int, default=5, help="runs per variant, alternating; best kept")
    parser.add_argument("--keep", help="copy the driver, its configurations and the libraries here (for perf)")
    parser.add_argument("--system", type=Path, default=REPO / "examples" / "anika.toml")
    args = parser.parse_args()
    system = load(args.system).spec
    old_runtime = baseline_runtime(args.baseline)
    with tempfile.TemporaryDirectory(prefix="anika-fmus-") as tmp:
        root = Path(tmp)
        fmus: dict[str, dict] = {}
        libraries: dict[str, dict[str, Path]] = {"baseline": {}, "current": {}}
        for name, component in system.components.items():
            unzipped = safe_extract(build_fmu(component.source, root / "fmus", 2), root / "x" / name)
            md = read_model_description(str(unzipped))
            fmus[name] = {"md": md, "vars": {v.name: v for v in md.modelVariables}}
            for variant, runtime in (("baseline", old_runtime), ("current", None)):
                libraries[variant][name] = compile_variant(unzipped / "sources", runtime,
                                                           root / variant / name / f"{name}.so")
        driver = root / "driver"
        subprocess.run(["gcc", "-std=c99", "-O2", f"-I{fmi_headers_dir()}", str(Path(__file__).with_name(
            "anika_fmus_driver.c")), "-ldl", "-o", str(driver)], check=True)
        runs: dict[str, list[dict]] = {"baseline": [], "current": []}
        for variant in runs:
            write_config(system, fmus, libraries[variant], root / f"{variant}.cfg")
        for _ in range(args.repeats):  # alternate the variants; the machine's load drifts
            for variant, variant_runs in runs.items():
                variant_runs.append(run_driver(driver, root / f"{variant}.cfg", args.steps, args.step))
        results = {variant: fastest(variant_runs) for variant, variant_runs in runs.items()}
        if args.keep:
            keep = Path(args.keep)
            keep.mkdir(parents=True, exist_ok=True)
            for variant in ("baseline", "current"):
                config = (root / f"{variant}.cfg").read_text()
                (keep / f"{variant}.cfg").write_text(config.replace(str(root), str(keep)))
            subprocess.run(["cp", "-r", str(root / "baseline"), str(root / "current"), str(driver), str(keep)],
                           check=True)
    steps = args.steps
    print(f"ANIKA FMUs, {steps} macro steps of {args.step:g} s; baseline runtime = {args.baseline}, current ="
          " the working tree; times in microseconds per macro step")
    print(f"{'component':<10} {'model':<24} {'doStep base':>11} {'doStep now':>10} {'ratio':>6} {'set':>5}"
          f" {'get':>5} {'loop base':>9} {'loop now':>8} {'max Δ rel':>9}"
          f"  {'per doStep now (base): solver steps, rejected, f, J, LU'}")
    for name, component in system.components.items():
        _, base_step, _, base_loop = (x / steps for x in results["baseline"]["time"][name])
        set_ns, step_ns, get_ns, loop_ns = (x / steps for x in results["current"]["time"][name])
        now = [x / steps for x in results["current"]["stats"][name][:5]]
        base = [x / steps for x in results["baseline"]["stats"][name][:5]]
        work = ", ".join(f"{a:.2f} ({b:.2f})" for a, b in zip(now, base, strict=True))
        deviation = max(abs(a - b) / max(abs(b), 1.0) for a, b in
                        zip(results["current"]["final"][name], results["baseline"]["final"][name], strict=True))
        print(f"{name:<10} {component.source:<24} {base_step / 1e3:11.2f} {step_ns / 1e3:10.2f}"
              f" {base_step / step_ns:5.1f}x {set_ns / 1e3:5.2f} {get_ns / 1e3:5.2f} {base_loop / 1e3:9.2f}"
              f" {loop_ns / 1e3:8.2f} {deviation:9.1e}  {work}")
    base_total, total = results["baseline"]["total"], results["current"]["total"]
    print(f"all six, set + doStep + get, no per-call clocks: baseline {base_total / 1e3:.2f} µs, now"
          f" {total / 1e3:.2f} µs per macro step ({base_total / total:.1f}x); a year of {YEAR_STEPS} steps:"
          f" {base_total * YEAR_STEPS / 1e9:.1f} s -> {total * YEAR_STEPS / 1e9:.1f} s")


if __name__ == "__main__":
    main()
