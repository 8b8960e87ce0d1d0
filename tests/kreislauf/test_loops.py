"""Algebraic loops: solved at initialisation and during the run, or an error naming the loop."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from cosim_doubles import Gain, HeatCapacity
from fmu_probe import export_probes

from kreislauf.api import System, load
from kreislauf.master import AlgebraicLoopError

LOOP_VARIABLES = {"a.u", "a.y", "b.u", "b.y"}


def gain_loop(ka, kb, ca=1.0, cb=2.0, r=0.001, rollback=True, **settings):
    """y_a = ka·y_b + ca and y_b = kb·y_a + cb + r·t: an algebraic loop over two components."""
    a = Gain("a", k=ka, c=ca, can_rollback=rollback)
    b = Gain("b", k=kb, c=cb, r=r)
    settings.setdefault("stop", 600.0)
    settings.setdefault("step", 60.0)
    return System.from_components([a, b], ["a.y -> b.u", "b.y -> a.u"], **settings)


def exact(ka, kb, ca, cb, r, t):
    """The loop's solution: y_a = (ca + ka (cb + r t)) / (1 − ka kb)."""
    ya = (ca + ka * (cb + r * t)) / (1 - ka * kb)
    return ya, kb * ya + cb + r * t


@pytest.mark.parametrize("solver", ["newton", "fixed-point"])
@pytest.mark.parametrize("algorithm", ["jacobi", "gauss-seidel", "iterative"])
def test_loop_converges_at_initialisation_and_in_the_run(tmp_path, solver, algorithm):
    ka, kb = 0.5, -0.5  # |ka kb| = 0.25: fixed point converges too
    result = gain_loop(ka, kb, loop_solver=solver, algorithm=algorithm).run(out_dir=tmp_path)
    data = result.read()
    ya, yb = exact(ka, kb, 1.0, 2.0, 0.001, data["time"])
    np.testing.assert_allclose(data["a.y"], ya, rtol=1e-9)
    np.testing.assert_allclose(data["b.y"], yb, rtol=1e-9)
    assert data["time"][0] == 0.0 and result.stats.loop_iterations > 0


def test_newton_solves_a_loop_where_fixed_point_diverges(tmp_path):
    ka, kb = 2.0, -1.5  # |ka kb| = 3: the fixed-point map expands
    data = gain_loop(ka, kb, loop_solver="newton").run(out_dir=tmp_path / "newton").read()
    ya, _ = exact(ka, kb, 1.0, 2.0, 0.001, data["time"])
    np.testing.assert_allclose(data["a.y"], ya, rtol=1e-9)
    with pytest.raises(AlgebraicLoopError) as info:
        gain_loop(ka, kb, loop_solver="fixed-point").run(out_dir=tmp_path / "fixed")
    assert set(info.value.variables) == LOOP_VARIABLES
    assert "did not converge" in str(info.value) and "t = 0 s" in str(info.value)


def test_loop_without_solution_names_its_variables(tmp_path):
    # ka·kb = 1 with ca + ka·cb ≠ 0: y_a = y_a + 3 has no solution
    with pytest.raises(AlgebraicLoopError) as info:
        gain_loop(1.0, 1.0).run(out_dir=tmp_path)
    assert set(info.value.variables) == LOOP_VARIABLES
    for name in LOOP_VARIABLES:
        assert name in str(info.value)


def test_loop_through_a_component_that_cannot_roll_back_is_an_error(tmp_path):
    system = gain_loop(0.5, -0.8, rollback=False)
    with pytest.raises(AlgebraicLoopError) as info:
        system.run(out_dir=tmp_path)
    assert set(info.value.variables) == LOOP_VARIABLES
    assert "runs through a, which cannot roll back" in str(info.value)


def test_no_false_loop_when_outputs_do_not_feed_through(tmp_path):
    # a heat capacity's temperature depends on its state only: a -> b -> a is not an algebraic loop
    a = HeatCapacity("a", G=10.0, T0=300.0, can_rollback=False)
    b = HeatCapacity("b", T0=280.0, can_rollback=False)
    system = System.from_components([a, b], ["b.T -> a.T_neighbour", "a.Q_cond -> b.Q_in"], stop=600, step=60)
    result = system.run(out_dir=tmp_path)
    assert result.ok and result.stats.loop_iterations == 0


# ------------------------------------------------------------------------- a loop across two FMUs
@pytest.fixture(scope="module")
def probes(tmp_path_factory):
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("needs a C compiler to export FMUs")
    return export_probes(tmp_path_factory.mktemp("loop-probes"))


def fmu_loop(tmp_path, probes, a: str, b: str, master: str):
    """Probe FMUs a (FMI 2.0) and b (FMI 3.0) wired both ways: y_a = k_a(t)·u_a + c_a, y_b = k_b·u_b + c_b."""
    path = tmp_path / "fmu-loop.toml"
    path.write_text(f"""
connections = ["a.y -> b.u", "b.y -> a.u"]
[master]
step = 60.0
stop = "1h"
{master}
[components.a]
fmu = "{probes[2]}"
parameters = {{ {a} }}
[components.b]
fmu = "{probes[3]}"
parameters = {{ {b} }}
""")
    return load(path)


@pytest.mark.parametrize("algorithm", ["jacobi", "gauss-seidel", "iterative"])
def test_a_loop_across_two_fmus_converges_at_initialisation_and_in_the_run(tmp_path, probes, algorithm):
    # y_a = 1e-4 t · y_b + 1, y_b = y_a + 2: y_a = (1 + 2e-4 t) / (1 − 1e-4 t), at t = 0 y_a = 1, y_b = 3
    system = fmu_loop(tmp_path, probes, "gain_rate = 1e-4, offset = 1.0", "gain = 1.0, offset = 2.0",
                      f'algorithm = "{algorithm}"\nnative = "off"')
    result = system.run(out_dir=tmp_path / "run", progress=False)
    data = result.read(["time", "a.y", "b.y"])
    t = data["time"]
    assert t[0] == 0.0 and t[-1] == 3600.0
    np.testing.assert_allclose(data["a.y"], (1 + 2e-4 * t) / (1 - 1e-4 * t), rtol=1e-9)
    np.testing.assert_allclose(data["b.y"], data["a.y"] + 2.0, rtol=1e-9)
    assert result.stats.loop_iterations > 0


def test_a_loop_across_two_fmus_without_solution_names_its_variables(tmp_path, probes):
    # y_a = y_b + 1 and y_b = y_a + 2: no solution; fixed-point iterates grow by 3 per sweep (inside the
    # inputs' range of ±1000 for the 50 iterations) and the error names the loop
    system = fmu_loop(tmp_path, probes, "gain = 1.0, offset = 1.0", "gain = 1.0, offset = 2.0",
                      'native = "off"\nloop_solver = "fixed-point"')
    with pytest.raises(AlgebraicLoopError) as info:
        system.run(out_dir=tmp_path / "run", progress=False)
    assert set(info.value.variables) == LOOP_VARIABLES
    for name in LOOP_VARIABLES:
        assert name in str(info.value)
    assert "t = 0 s" in str(info.value)
