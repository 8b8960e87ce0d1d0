"""The master's algorithms against the analytic solution of two heat capacities and a conductance.

Two capacities C1, C2 joined by a conductance G relax to the mean temperature with the time constant
τ = 1 / (G (1/C1 + 1/C2)); the monolithic solution is exact (``two_capacities_exact``). The system is
split across components two ways: (a) capacity a holds the conductance and sends its heat to
capacity b (two components), (b) two plain capacities and a conductance component (three).
"""

from __future__ import annotations

import numpy as np
import pytest
from cosim_doubles import Conductance, HeatCapacity, two_capacities_exact

from kreislauf.api import System

C1, C2, G, T1, T2 = 2e6, 1e6, 100.0, 350.0, 290.0
STOP = 6 * 3600.0  # about three time constants (τ = 6667 s)


def split_pair(**settings):
    """Capacity a (with the conductance) -> capacity b, bonded a.cond -> b.heat."""
    a = HeatCapacity("a", C=C1, T0=T1, G=G)
    b = HeatCapacity("b", C=C2, T0=T2)
    return System.from_components(
        [a, b], ["b.T -> a.T_neighbour", "a.Q_cond -> b.Q_in"], bonds=["a.cond -> b.heat"], stop=STOP, **settings
    )


def three_parts(**settings):
    """Two plain capacities and a conductance component between them."""
    c1 = HeatCapacity("c1", C=C1, T0=T1)
    c2 = HeatCapacity("c2", C=C2, T0=T2)
    link = Conductance("link")
    return System.from_components(
        [c1, link, c2],
        [
            "c1.T -> link.T_a",
            "c2.T -> link.T_b",
            {"from": "link.Q", "to": "c1.Q_in", "factor": -1.0},
            "link.Q -> c2.Q_in",
        ],
        bonds=["link.a -> c1.heat", "link.b -> c2.heat"],
        parameters={"link": {"G": G}},
        stop=STOP,
        **settings,
    )


def max_error(result, first="a", second="b") -> float:
    data = result.read(["time", f"{first}.T", f"{second}.T"])
    exact1, exact2 = two_capacities_exact(data["time"], C1, C2, G, T1, T2)
    return float(max(np.abs(data[f"{first}.T"] - exact1).max(), np.abs(data[f"{second}.T"] - exact2).max()))


def errors(build, tmp_path, steps, **settings) -> list[float]:
    out = []
    for h in steps:
        result = build(step=h, **settings).run(out_dir=tmp_path / f"{build.__name__}-{h}")
        assert result.ok
        out.append(max_error(result, *(("c1", "c2") if build is three_parts else ("a", "b"))))
    return out


@pytest.mark.parametrize("build", [split_pair, three_parts])
@pytest.mark.parametrize("algorithm", ["jacobi", "gauss-seidel"])
def test_explicit_coupling_is_first_order(tmp_path, build, algorithm):
    e = errors(build, tmp_path, [600.0, 300.0, 150.0], algorithm=algorithm)
    # halving the step halves the error; at 150 s the error is below 0.3 K of a 60 K difference
    assert e[0] / e[1] == pytest.approx(2.0, rel=0.1)
    assert e[1] / e[2] == pytest.approx(2.0, rel=0.1)
    assert e[2] < 0.3


@pytest.mark.parametrize("build", [split_pair, three_parts])
def test_iterative_coupling_is_second_order(tmp_path, build):
    e = errors(build, tmp_path, [600.0, 300.0, 150.0], algorithm="iterative")
    assert e[0] / e[1] == pytest.approx(4.0, rel=0.1)
    assert e[1] / e[2] == pytest.approx(4.0, rel=0.1)
    jacobi = errors(build, tmp_path, [150.0], algorithm="jacobi")[0]
    assert e[2] < jacobi / 50


def test_first_order_extrapolation_is_second_order(tmp_path):
    e = errors(split_pair, tmp_path, [600.0, 300.0, 150.0], algorithm="jacobi", extrapolation=1)
    assert e[0] / e[1] == pytest.approx(4.0, rel=0.15)
    assert e[1] / e[2] == pytest.approx(4.0, rel=0.15)


def test_jacobi_and_gauss_seidel_agree_as_the_step_shrinks(tmp_path):
    gaps = []
    for h in (600.0, 150.0, 37.5):
        j = split_pair(algorithm="jacobi", step=h).run(out_dir=tmp_path / f"j{h}").read(["a.T"])["a.T"]
        g = split_pair(algorithm="gauss-seidel", step=h).run(out_dir=tmp_path / f"g{h}").read(["a.T"])["a.T"]
        gaps.append(float(np.abs(j - g).max()))
    assert gaps[0] > gaps[1] > gaps[2]
    assert gaps[2] < gaps[0] / 10


def test_same_inputs_give_the_same_results_bit_for_bit(tmp_path):
    for algorithm in ("jacobi", "gauss-seidel", "iterative"):
        first = three_parts(algorithm=algorithm, step=300.0).run(out_dir=tmp_path / "one").read()
        second = three_parts(algorithm=algorithm, step=300.0).run(out_dir=tmp_path / "two").read()
        assert first.keys() == second.keys()
        for name in first:
            assert first[name].tobytes() == second[name].tobytes(), name


def test_adaptive_step_doubling_lengthens_the_step_and_tightens_with_the_tolerance(tmp_path):
    def adaptive(atol):
        return split_pair(algorithm="jacobi", step=60.0, adaptive=True, rtol=1e-4, atol=atol, min_step=1.0).run(
            out_dir=tmp_path / f"adaptive{atol}"
        )

    loose, tight = adaptive(1.0), adaptive(0.01)
    assert loose.ok and tight.ok
    # the solution decays, so the controller lengthens the step: fewer steps than fixed 60 s
    assert loose.stats.steps < STOP / 60.0
    assert loose.stats.largest_step > 4 * 60.0
    # a tighter tolerance takes more steps and gives a smaller error
    assert tight.stats.steps > loose.stats.steps
    assert max_error(tight) < max_error(loose)
    times = tight.read(["time"])["time"]
    assert times[-1] == pytest.approx(STOP)
    assert np.all(np.diff(times) > 0)


def test_adaptive_without_rollback_uses_the_energy_residual(tmp_path):
    a = HeatCapacity("a", C=C1, T0=T1, G=G)
    b = HeatCapacity("b", C=C2, T0=T2, can_rollback=False)  # asserts if asked to roll back
    system = System.from_components(
        [a, b],
        ["b.T -> a.T_neighbour", "a.Q_cond -> b.Q_in"],
        bonds=["a.cond -> b.heat"],
        stop=STOP,
        step=60.0,
        adaptive=True,
        rtol=1e-2,
        atol=1.0,
        min_step=1.0,
    )
    result = system.run(out_dir=tmp_path / "residual")
    assert result.ok
    data = result.read()
    residual = np.abs(data["bond:a.cond->b.heat:residual"][1:])
    sent = np.abs(data["bond:a.cond->b.heat:sent"][1:])
    steps = np.diff(data["time"])
    # the controller keeps each step's residual near rtol of the step's energy (+ atol·h)
    assert np.all(residual <= 2.5 * (1e-2 * sent + 1.0 * steps))
    assert steps.max() > 2 * steps.min()
    assert max_error(result) < 1.0


def test_multirate_component_steps_every_kth_macro_step(tmp_path):
    a = HeatCapacity("a", C=C1, T0=T1, G=G)
    b = HeatCapacity("b", C=C2, T0=T2)
    system = System.from_components(
        [a, b],
        ["b.T -> a.T_neighbour", "a.Q_cond -> b.Q_in"],
        component_steps={"b": "10min"},
        stop=STOP,
        step="60s",
    )
    result = system.run(out_dir=tmp_path / "multirate")
    assert a.steps == STOP / 60 and b.steps == STOP / 600
    data = result.read(["time", "a.T", "b.T"])
    # b's temperature is held between its own steps and shows when the master reaches their end
    changes = np.flatnonzero(np.diff(data["b.T"]) != 0) + 1
    assert len(changes) == STOP / 600 and np.all(changes % 10 == 0)
    # a integrates exactly while b's temperature is held, so on b's grid the run equals one in
    # which every component steps every 10 min
    grid = slice(None, None, 10)
    coarse = split_pair(algorithm="jacobi", step=600.0).run(out_dir=tmp_path / "coarse").read()
    np.testing.assert_allclose(data["b.T"][grid], coarse["b.T"], rtol=1e-12)
    np.testing.assert_allclose(data["a.T"][grid], coarse["a.T"], rtol=1e-12)
    assert a.steps == 10 * b.steps
