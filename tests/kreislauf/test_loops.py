"""Algebraic loops: solved at initialisation and during the run, or an error naming the loop."""

from __future__ import annotations

import numpy as np
import pytest
from cosim_doubles import Gain, HeatCapacity

from kreislauf.api import System
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
