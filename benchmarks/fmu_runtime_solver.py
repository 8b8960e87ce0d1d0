"""Steps the FMU runtime's Rosenbrock solver needs on a stiff problem, against forward Euler.

The runtime test model ``stiff_pair`` (tests/fmu/runtime_c/) integrates x1' = -k1 x1 + 1,
x2' = -(x2 - x1) over 10 s in one communication step with rtol = 1e-6. The baseline, measured in the
same run, is forward Euler on the same equations with the largest step it can use stably, h = 1.9 / k1
(stability needs h < 2 / k1). For each stiffness k1 this prints the steps (accepted + rejected) of both,
the ratio Euler / Rosenbrock and both errors in x2 at t = 10 s against the closed-form solution.

Usage: ``python benchmarks/fmu_runtime_solver.py``. Needs gcc and fmpy. Not part of the test suite.
"""

from __future__ import annotations

import math
import subprocess
import tempfile
from pathlib import Path

import fmpy

REPO = Path(__file__).resolve().parents[1]
RUNTIME = REPO / "fmu" / "runtime"
MODEL = REPO / "tests" / "fmu" / "runtime_c"
HORIZON = 10.0


def build_driver(directory: Path) -> Path:
    """Compile the runtime test driver linked with the stiff_pair model."""
    headers = Path(fmpy.__file__).parent / "c-code"
    out = directory / "driver"
    sources = [RUNTIME / f for f in ("kl_runtime.c", "kl_solver.c", "kl_fmi2.c", "kl_fmi3.c")]
    subprocess.run(["gcc", "-std=c99", "-O2", f"-I{RUNTIME}", f"-I{MODEL / 'stiff'}", f"-I{headers}",
                    *map(str, sources), str(MODEL / "stiff" / "kl_model.c"), str(MODEL / "driver.c"), "-lm",
                    "-o", str(out)], check=True)
    return out


def exact_x2(t: float, k1: float) -> float:
    """Closed-form x2(t) for x1(0) = 0, x2(0) = 1, k2 = 1, source 1."""
    a = 1.0 / k1
    d = -a / (1.0 - k1)
    return a + d * math.exp(-k1 * t) + (1.0 - a - d) * math.exp(-t)


def rosenbrock(driver: Path, k1: float) -> tuple[int, float]:
    """Solver steps and x2(10 s) of the FMU runtime."""
    lines = subprocess.run([str(driver), "run2", f"k1={k1}", "rtol=1e-6", f"T={HORIZON}", f"h={HORIZON}",
                            "period=1e9"], capture_output=True, text=True, check=True).stdout.splitlines()
    stats = next(line.split() for line in lines if line.startswith("stats"))
    last = [line.split() for line in lines if line.startswith("point")][-1]
    return int(stats[1]) + int(stats[2]), float(last[3])


def forward_euler(k1: float) -> tuple[int, float]:
    """Steps and x2(10 s) of forward Euler at 95 % of its stability limit."""
    steps = math.ceil(HORIZON / (1.9 / k1))
    h = HORIZON / steps
    x1, x2 = 0.0, 1.0
    for _ in range(steps):
        x1, x2 = x1 + h * (-k1 * x1 + 1.0), x2 + h * (-(x2 - x1))
    return steps, x2


def main() -> None:
    """Print the comparison table."""
    with tempfile.TemporaryDirectory() as tmp:
        driver = build_driver(Path(tmp))
        print(f"{'k1 [1/s]':>9} {'rosenbrock':>11} {'euler':>9} {'ratio':>8} {'err rosenbrock':>15} {'err euler':>10}")
        for k1 in (1e2, 1e3, 1e4, 1e5):
            ros_steps, ros_x2 = rosenbrock(driver, k1)
            euler_steps, euler_x2 = forward_euler(k1)
            exact = exact_x2(HORIZON, k1)
            print(f"{k1:9.0e} {ros_steps:11d} {euler_steps:9d} {euler_steps / ros_steps:8.1f} "
                  f"{abs(ros_x2 - exact):15.2e} {abs(euler_x2 - exact):10.2e}")


if __name__ == "__main__":
    main()
