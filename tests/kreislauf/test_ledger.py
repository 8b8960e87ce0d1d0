"""The energy ledger: bond residuals, energy-conserving coupling and the system balance."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cosim_doubles import HeatCapacity, two_capacities_exact

from kreislauf.api import System

C1, C2, G, T1, T2 = 2e6, 1e6, 100.0, 350.0, 290.0
STOP = 6 * 3600.0
BOND = "bond:a.cond->b.heat"


def pair(**settings):
    a = HeatCapacity("a", C=C1, T0=T1, G=G)
    b = HeatCapacity("b", C=C2, T0=T2)
    return System.from_components(
        [a, b], ["b.T -> a.T_neighbour", "a.Q_cond -> b.Q_in"], bonds=["a.cond -> b.heat"], stop=STOP, **settings
    )


@pytest.mark.parametrize("algorithm", ["jacobi", "gauss-seidel"])
def test_energy_conserving_coupling_closes_the_balance(tmp_path, algorithm):
    result = pair(algorithm=algorithm, step=300.0, energy_conserving=True).run(out_dir=tmp_path)
    balance = result.balance
    assert balance.relative_imbalance < 1e-9
    data = result.read()
    sent, received = data[f"{BOND}:sent"], data[f"{BOND}:received"]
    if algorithm == "jacobi":
        # the receiver gets in each step exactly what the sender emitted in the step before
        np.testing.assert_allclose(received[2:], sent[1:-1], rtol=1e-12)
        assert balance.in_transit == pytest.approx(sent[-1], rel=1e-9)
    else:
        # a sender stepped first hands over within the same step: nothing stays in transit
        np.testing.assert_allclose(received[1:], sent[1:], rtol=1e-12)
        assert abs(balance.in_transit) < 1e-9 * abs(sent).sum()
    # the stored energy (U = C T, not the counters) of the whole system stays constant
    stored = C1 * data["a.T"] + C2 * data["b.T"]
    assert abs(stored[-1] - stored[0] + balance.in_transit) < 1e-9 * abs(sent).sum()


def test_conserving_coupling_still_converges_to_the_analytic_solution(tmp_path):
    errs = []
    for h in (600.0, 300.0):
        data = pair(step=h, energy_conserving=True).run(out_dir=tmp_path / str(h)).read()
        exact_a, exact_b = two_capacities_exact(data["time"], C1, C2, G, T1, T2)
        errs.append(max(np.abs(data["a.T"] - exact_a).max(), np.abs(data["b.T"] - exact_b).max()))
    assert errs[0] / errs[1] == pytest.approx(2.0, rel=0.15)


def test_without_conserving_coupling_the_residual_is_reported_and_shrinks_with_the_step(tmp_path):
    imbalances = []
    for h in (600.0, 300.0, 150.0):
        result = pair(step=h).run(out_dir=tmp_path / str(h))
        data = result.read()
        balance = result.balance
        # the per-step residual columns add up to the bond's total residual
        assert data[f"{BOND}:residual"].sum() == pytest.approx(balance.bond_residual, rel=1e-9)
        # energy created or destroyed by the coupling = the change of stored energy (U = C T)
        stored = C1 * data["a.T"] + C2 * data["b.T"]
        assert balance.imbalance == pytest.approx(stored[-1] - stored[0], rel=1e-6)
        assert balance.relative_imbalance > 1e-6
        summary = json.loads(result.summary_path.read_text())
        assert summary["balance"]["imbalance_J"] == pytest.approx(balance.imbalance)
        imbalances.append(abs(balance.imbalance))
    assert imbalances[0] / imbalances[1] == pytest.approx(2.0, rel=0.1)
    assert imbalances[1] / imbalances[2] == pytest.approx(2.0, rel=0.1)
