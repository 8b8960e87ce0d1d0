"""FMUs made by other tools (pythonfmu for FMI 2.0, pythonfmu3 for FMI 3.0), generated at test time and
run by the master from a system file: a single-FMU run gives what fmpy's ``simulate_fmu`` gives, on both
stepping paths, and two of them coupled follow the lag's own recursion."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fmpy import simulate_fmu

from kreislauf.api import load

LAG = '''
from {tool} import {causality}, {slave}, {variability}, {real}


class {name}({slave}):
    author = "test"
    description = "first-order lag y' = (u - y) / tau, explicit Euler with ten sub-steps per step"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.u = 1.0
        self.y = 0.0
        self.tau = 2.0
{extra}        self.register_variable({real}("u", causality={causality}.input, start=1.0))
        self.register_variable({real}("tau", causality={causality}.parameter,
                                    variability={variability}.tunable, start=2.0))
        self.register_variable({real}("y", causality={causality}.output))

    def do_step(self, current_time, step_size):
        h = step_size / 10
        for _ in range(10):
            self.y += h * (self.u - self.y) / self.tau
        self.time = current_time + step_size
        return True
'''
FMI3_TIME = """        self.time = 0.0
        self.register_variable(Float64("time", causality=Fmi3Causality.independent,
                                       variability=Fmi3Variability.continuous))
"""
STEP, STOP, TAU = 0.25, 6.0, 1.5


def build(version: int, tmp: Path) -> Path:
    """The lag as an FMI ``version`` FMU built by pythonfmu (2) or pythonfmu3 (3)."""
    tool = "pythonfmu" if version == 2 else "pythonfmu3"
    pytest.importorskip(tool)
    name = f"MasterLag{version}"
    names = (
        {"causality": "Fmi2Causality", "slave": "Fmi2Slave", "variability": "Fmi2Variability", "real": "Real"}
        if version == 2
        else {"causality": "Fmi3Causality", "slave": "Fmi3Slave", "variability": "Fmi3Variability", "real": "Float64"}
    )
    source = tmp / f"{name.lower()}.py"
    source.write_text(LAG.format(tool=tool, name=name, extra=FMI3_TIME if version == 3 else "", **names))
    cmd = [sys.executable, "-m", tool, "build", "-f", str(source), "-d", str(tmp)]
    subprocess.run(cmd, check=True, capture_output=True, cwd=tmp, timeout=300)
    return tmp / f"{name}.fmu"


@pytest.fixture(scope="module")
def lags(tmp_path_factory) -> dict[int, Path]:
    tmp = tmp_path_factory.mktemp("third-party-master")
    return {2: build(2, tmp), 3: build(3, tmp)}


def euler(u: np.ndarray, y0: float = 0.0) -> np.ndarray:
    """The lag's own recursion: ten Euler sub-steps of STEP / 10 per step, input ``u[k]`` held in step k."""
    y = [y0]
    for uk in u:
        value = y[-1]
        for _ in range(10):
            value += STEP / 10 * (uk - value) / TAU
        y.append(value)
    return np.asarray(y)


@pytest.mark.parametrize("native", ["on", "off"])
@pytest.mark.parametrize("version", [2, 3])
def test_a_single_third_party_fmu_runs_like_fmpy_simulate_fmu(tmp_path, lags, version, native):
    path = tmp_path / "lag.toml"
    path.write_text(f"""
[master]
step = {STEP}
stop = {STOP}
native = "{native}"

[components.lag]
fmu = "{lags[version]}"
parameters = {{ tau = {TAU} }}
""")
    result = load(path).run(out_dir=tmp_path / "run", progress=False)
    assert result.ok and result.stats.path == ("native" if native == "on" else "python")
    data = result.read(["time", "lag.y"])
    reference = simulate_fmu(str(lags[version]), stop_time=STOP, output_interval=STEP,
                             start_values={"tau": TAU}, output=["y"])
    np.testing.assert_array_equal(data["time"], reference["time"])
    np.testing.assert_allclose(data["lag.y"], reference["y"], rtol=0, atol=1e-14)
    np.testing.assert_allclose(data["lag.y"], euler(np.ones(24)), rtol=1e-13)


@pytest.mark.parametrize("algorithm", ["jacobi", "gauss-seidel"])
def test_two_third_party_fmus_in_series_follow_the_lag_recursion(tmp_path, lags, algorithm):
    # first (FMI 2.0, u = 1) feeds second (FMI 3.0): Gauss-Seidel hands over y_first(t + h) in the same
    # step, Jacobi y_first(t) (one step late)
    path = tmp_path / "series.toml"
    path.write_text(f"""
connections = ["first.y -> second.u"]

[master]
algorithm = "{algorithm}"
step = {STEP}
stop = {STOP}

[components.first]
fmu = "{lags[2]}"
parameters = {{ tau = {TAU} }}

[components.second]
fmu = "{lags[3]}"
parameters = {{ tau = {TAU} }}
""")
    data = load(path).run(out_dir=tmp_path / "run", progress=False).read(["first.y", "second.y"])
    first = euler(np.ones(24))
    np.testing.assert_allclose(data["first.y"], first, rtol=1e-13)
    held = first[1:] if algorithm == "gauss-seidel" else first[:-1]
    np.testing.assert_allclose(data["second.y"], euler(held), rtol=1e-13, atol=1e-15)
