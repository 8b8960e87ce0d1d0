"""FMUs made by other tools (pythonfmu for FMI 2.0, pythonfmu3 for FMI 3.0), generated at test time, run
through FmuComponent exactly as fmpy's simulate_fmu runs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fmpy import simulate_fmu

from kreislauf.component import Causality
from kreislauf.fmu import FmuComponent

FMI2_SCRIPT = '''
from pythonfmu import Fmi2Causality, Fmi2Slave, Fmi2Variability, Real


class ThirdPartyLag(Fmi2Slave):
    author = "test"
    description = "first-order lag, explicit Euler with ten sub-steps"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.u = 1.0
        self.y = 0.0
        self.tau = 2.0
        self.register_variable(Real("u", causality=Fmi2Causality.input, start=1.0))
        self.register_variable(Real("tau", causality=Fmi2Causality.parameter,
                                    variability=Fmi2Variability.tunable, start=2.0))
        self.register_variable(Real("y", causality=Fmi2Causality.output))

    def do_step(self, current_time, step_size):
        h = step_size / 10
        for _ in range(10):
            self.y += h * (self.u - self.y) / self.tau
        return True
'''

FMI3_SCRIPT = '''
from pythonfmu3 import Fmi3Causality, Fmi3Slave, Fmi3Variability, Float64


class ThirdPartyLag3(Fmi3Slave):
    author = "test"
    description = "first-order lag, explicit Euler with ten sub-steps"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.time = 0.0
        self.u = 1.0
        self.y = 0.0
        self.tau = 2.0
        self.register_variable(Float64("time", causality=Fmi3Causality.independent,
                                       variability=Fmi3Variability.continuous))
        self.register_variable(Float64("u", causality=Fmi3Causality.input, start=1.0))
        self.register_variable(Float64("tau", causality=Fmi3Causality.parameter,
                                       variability=Fmi3Variability.tunable, start=2.0))
        self.register_variable(Float64("y", causality=Fmi3Causality.output))

    def do_step(self, current_time, step_size):
        h = step_size / 10
        for _ in range(10):
            self.y += h * (self.u - self.y) / self.tau
        self.time = current_time + step_size
        return True
'''


def build(tool: str, script: str, name: str, tmp: Path) -> Path:
    pytest.importorskip(tool)
    source = tmp / f"{name.lower()}.py"
    source.write_text(script)
    cmd = [sys.executable, "-m", tool, "build", "-f", str(source), "-d", str(tmp)]
    subprocess.run(cmd, check=True, capture_output=True, cwd=tmp)
    return tmp / f"{name}.fmu"


@pytest.fixture(scope="module")
def third_party(tmp_path_factory) -> dict[int, Path]:
    tmp = tmp_path_factory.mktemp("third-party")
    return {2: build("pythonfmu", FMI2_SCRIPT, "ThirdPartyLag", tmp),
            3: build("pythonfmu3", FMI3_SCRIPT, "ThirdPartyLag3", tmp)}


@pytest.mark.parametrize("version", [2, 3])
def test_third_party_fmu_runs_like_fmpy_simulate_fmu(third_party, version):
    path = third_party[version]
    reference = simulate_fmu(str(path), stop_time=6.0, output_interval=0.25, start_values={"tau": 1.5},
                             output=["y"])
    comp = FmuComponent(path, "lag")
    try:
        assert comp.variables["u"].causality is Causality.INPUT
        comp.setup(0.0, 6.0, {"tau": 1.5})
        values = [comp.get_outputs(["y"])[0]]
        for k in range(24):
            assert comp.do_step(k * 0.25, 0.25).ok
            values.append(comp.get_outputs(["y"])[0])
    finally:
        comp.close()
    np.testing.assert_allclose(values, reference["y"], rtol=0, atol=1e-14)
    # and the lag itself: ten Euler sub-steps of h = 0.025 s per 0.25 s step from y = 0
    assert values[-1] == pytest.approx(1 - (1 - 0.025 / 1.5) ** 240, rel=1e-12)


FMI3_TYPES_SCRIPT = '''
from pythonfmu3 import Boolean, Fmi3Causality, Fmi3Slave, Fmi3Variability, Float64, Int64


class ThirdPartyTypes3(Fmi3Slave):
    author = "test"
    description = "Int64 parameter and output, Boolean output"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.time = 0.0
        self.substeps = 10
        self.count = 0
        self.late = False
        self.register_variable(Float64("time", causality=Fmi3Causality.independent,
                                       variability=Fmi3Variability.continuous))
        self.register_variable(Int64("substeps", causality=Fmi3Causality.parameter,
                                     variability=Fmi3Variability.tunable, start=10))
        self.register_variable(Int64("count", causality=Fmi3Causality.output, variability=Fmi3Variability.discrete))
        self.register_variable(Boolean("late", causality=Fmi3Causality.output, variability=Fmi3Variability.discrete))

    def do_step(self, current_time, step_size):
        self.count += self.substeps
        self.time = current_time + step_size
        self.late = self.time > 2.0
        return True
'''


def test_third_party_int64_and_boolean_variables_use_their_own_fmi3_functions(tmp_path):
    path = build("pythonfmu3", FMI3_TYPES_SCRIPT, "ThirdPartyTypes3", tmp_path)
    with FmuComponent(path, "types") as comp:
        assert comp.variables["count"].type.value == "Integer"
        comp.setup(0.0, None, {"substeps": 7})
        seen = []
        for k in range(4):
            assert comp.do_step(k * 1.0, 1.0).ok
            seen.append(list(comp.get_outputs(["count", "late"])))
    assert seen == [[7.0, 0.0], [14.0, 0.0], [21.0, 1.0], [28.0, 1.0]]
