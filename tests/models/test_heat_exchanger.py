"""The fouling heat exchanger against textbook effectiveness values, analytic limits, Kern–Seaton's
solution, and the first and second law over random operating points."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kreislauf.models import ModelInputError, get_model
from kreislauf.models.heat_exchanger import COUNTERFLOW, CROSSFLOW_UNMIXED, PARALLEL_FLOW
from kreislauf.models.simulate import simulate

CP = 4000.0
EPS = np.finfo(float).eps


@pytest.fixture(scope="module")
def hx():
    return get_model("fouling_heat_exchanger")


def effectiveness(hx, ntu, cr, arrangement):
    """ε from the model for a given NTU and capacity ratio (the wastewater side is C_min)."""
    c_min = 1.0
    ua = ntu * c_min
    out = hx.evaluate(
        flow_arrangement=arrangement, area=1.0, clean_heat_transfer_coefficient=ua,
        wastewater_specific_heat=CP, loop_specific_heat=CP,
        wastewater_mass_flow=c_min / CP, loop_mass_flow=c_min / cr / CP if cr > 0 else 1e5,
        fouling_resistance=0.0,
    )
    return float(out["effectiveness"])


# Textbook values (Incropera Tables 11.3/11.4 relations, 3 digits as tabulated by Kays & London); the EES
# "cross flow both unmixed" library example (UA = 75 W/K, C = 50 and 30 W/K) returns 0.7632 (approximation).
@pytest.mark.parametrize(
    ("arrangement", "ntu", "cr", "published", "tol"),
    [
        (COUNTERFLOW, 1.0, 1.0, 0.500, 5e-4),
        (COUNTERFLOW, 2.0, 1.0, 0.667, 5e-4),
        (COUNTERFLOW, 1.0, 0.5, 0.565, 5e-4),
        (PARALLEL_FLOW, 1.0, 1.0, 0.432, 5e-4),
        (PARALLEL_FLOW, 2.0, 0.5, 0.633, 5e-4),
        (CROSSFLOW_UNMIXED, 2.5, 0.6, 0.7632, 5e-5),
    ],
)
def test_effectiveness_matches_published_values(hx, arrangement, ntu, cr, published, tol):
    assert effectiveness(hx, ntu, cr, arrangement) == pytest.approx(published, abs=tol)


@pytest.mark.parametrize("ntu", [0.01, 0.5, 1.0, 4.0, 50.0])
def test_capacity_ratio_one_limits(hx, ntu):
    assert effectiveness(hx, ntu, 1.0, COUNTERFLOW) == pytest.approx(ntu / (1 + ntu), rel=1e-12)
    assert effectiveness(hx, ntu, 1.0, PARALLEL_FLOW) == pytest.approx((1 - math.exp(-2 * ntu)) / 2, rel=1e-12)
    # approaching C_r = 1 from below is continuous (no 0/0 in the counterflow formula)
    assert effectiveness(hx, ntu, 1.0 - 1e-9, COUNTERFLOW) == pytest.approx(ntu / (1 + ntu), rel=1e-8)


@pytest.mark.parametrize("arrangement", [COUNTERFLOW, PARALLEL_FLOW, CROSSFLOW_UNMIXED])
@pytest.mark.parametrize("ntu", [0.1, 1.0, 5.0])
def test_capacity_ratio_zero_limit_is_one_minus_exp(hx, arrangement, ntu):
    assert effectiveness(hx, ntu, 1e-8, arrangement) == pytest.approx(1 - math.exp(-ntu), rel=1e-7)


def test_zero_flow_gives_no_heat_and_finite_outlets(hx):
    out = hx.evaluate(wastewater_mass_flow=[0.0, 0.0, 50.0], loop_mass_flow=[0.0, 50.0, 0.0],
                      wastewater_inlet_temperature=290.0, loop_inlet_temperature=280.0)
    assert np.all(out["heat_flow"] == 0.0)
    for name in ("wastewater_outlet_temperature", "loop_outlet_temperature", "entropy_generation"):
        assert np.all(np.isfinite(out[name])), name
    # a stagnant side leaves at the other side's inlet temperature (the limit NTU -> infinity)
    assert out["wastewater_outlet_temperature"][1] == pytest.approx(280.0, abs=1e-9)
    assert out["loop_outlet_temperature"][2] == pytest.approx(290.0, abs=1e-9)


def test_kern_seaton_fouling_follows_the_analytic_solution(hx):
    tau, r_star = 2 * 86400.0, 3e-4
    res = simulate(hx, 6 * 86400.0, 3600.0, rtol=1e-10,
                   parameters={"fouling_time_constant": tau, "asymptotic_fouling_resistance": r_star})
    analytic = r_star * (1 - np.exp(-res["time"] / tau))
    np.testing.assert_allclose(res["fouling_resistance"], analytic, rtol=1e-7, atol=1e-14)
    # 63.21 % of the asymptote after one time constant, 95.02 % after three (physics notes §3.2)
    at = {int(t): r for t, r in zip(res["time"], res["fouling_resistance"], strict=True)}
    assert at[int(tau)] / r_star == pytest.approx(0.6321, abs=1e-4)
    assert at[int(3 * tau)] / r_star == pytest.approx(0.9502, abs=1e-4)


def test_deposition_removal_follows_its_analytic_solution_and_falls_with_velocity(hx):
    """dR/dt = phi_d - k_r tau_w R gives R(t) = R_inf (1 - exp(-k_r tau_w t)), R_inf = phi_d / (k_r tau_w);
    tau_w grows like v^1.75 in turbulent flow, so the asymptote falls like v^-1.75."""
    phi_d, k_r = 3.5e-10, 3.3e-7
    asymptotes = []
    for flow in (80.0, 160.0):
        res = simulate(hx, 60 * 86400.0, 86400.0, parameters={"fouling_model": 2},
                       inputs={"wastewater_mass_flow": flow})
        tau_w = float(hx.evaluate(fouling_model=2, wastewater_mass_flow=flow)["wall_shear_stress"])
        r_inf = phi_d / (k_r * tau_w)
        analytic = r_inf * (1 - np.exp(-k_r * tau_w * res["time"]))
        np.testing.assert_allclose(res["fouling_resistance"], analytic, rtol=1e-7, atol=1e-14)
        asymptotes.append(r_inf)
    assert asymptotes[0] / asymptotes[1] == pytest.approx(2**1.75, rel=1e-9)


def test_cleaning_resets_fouling_on_schedule_and_on_request(hx):
    day = 86400.0
    res = simulate(hx, 5 * day, 3600.0, parameters={"cleaning_interval": 2 * day, "fouling_time_constant": day},
                   inputs={"cleaning_request": lambda t: 1.0 if 3 * day <= t < 3 * day + 3600 else 0.0})
    t, rf = res["time"], res["fouling_resistance"]
    for cleaning in (2 * day, 3 * day, 4 * day):
        assert rf[t == cleaning][0] < 1e-12 or cleaning == 3 * day
    assert rf[t == 3 * day + 3600][0] == pytest.approx(3e-4 * (1 - math.exp(-3600 / day)), rel=1e-6)
    assert res["cleaning_count"][-1] == 3


def test_inputs_outside_their_range_are_rejected(hx):
    with pytest.raises(ModelInputError, match="wastewater_mass_flow"):
        hx.evaluate(wastewater_mass_flow=-1.0)
    with pytest.raises(ModelInputError, match="loop_inlet_temperature"):
        hx.evaluate(loop_inlet_temperature=float("nan"))


flows = st.one_of(st.just(0.0), st.floats(1e-6, 2000.0))
temps = st.floats(275.0, 360.0)


@settings(max_examples=300, deadline=None)
@given(
    m_ww=flows, m_lp=flows, t_ww=temps, t_lp=temps,
    area=st.floats(0.0, 1e4, allow_subnormal=False), u=st.floats(1.0, 1e4), rf=st.floats(0.0, 1e-2),
    arrangement=st.sampled_from([COUNTERFLOW, PARALLEL_FLOW, CROSSFLOW_UNMIXED]),
    cp_ww=st.floats(3500.0, 4300.0), cp_lp=st.floats(3500.0, 4300.0),
)
def test_first_and_second_law_hold_everywhere(hx, m_ww, m_lp, t_ww, t_lp, area, u, rf, arrangement, cp_ww, cp_lp):
    out = hx.evaluate(
        wastewater_mass_flow=m_ww, loop_mass_flow=m_lp, wastewater_inlet_temperature=t_ww,
        loop_inlet_temperature=t_lp, area=area, clean_heat_transfer_coefficient=u, fouling_resistance=rf,
        flow_arrangement=arrangement, wastewater_specific_heat=cp_ww, loop_specific_heat=cp_lp,
    )
    q = float(out["heat_flow"])
    c_ww, c_lp = m_ww * cp_ww, m_lp * cp_lp
    t_ww_out, t_lp_out = float(out["wastewater_outlet_temperature"]), float(out["loop_outlet_temperature"])
    roundoff = 8 * EPS * 360.0 * (c_ww + c_lp)  # outlet temperatures carry one rounding each
    # first law: what the wastewater gives is what the loop takes, and is the declared heat flow
    q_hot = c_ww * (t_ww - t_ww_out)
    q_cold = c_lp * (t_lp_out - t_lp)
    assert abs(q_hot - q_cold) <= 1e-9 * abs(q) + roundoff
    assert abs(q_hot - q) <= 1e-9 * abs(q) + roundoff
    # 0 <= Q <= C_min (T_hot,in - T_cold,in) in the direction of the temperature difference
    q_max = min(c_ww, c_lp) * abs(t_ww - t_lp)
    assert -1e-9 * q_max <= q * np.sign(t_ww - t_lp) <= q_max * (1 + 1e-12)
    # outlets between the inlets
    lo, hi = min(t_ww, t_lp) - 1e-9, max(t_ww, t_lp) + 1e-9
    assert lo <= t_ww_out <= hi and lo <= t_lp_out <= hi
    # second law
    assert float(out["entropy_generation"]) >= -1e-12 * abs(q) / 275.0
    # more fouling never gives more heat
    fouled = hx.evaluate(
        wastewater_mass_flow=m_ww, loop_mass_flow=m_lp, wastewater_inlet_temperature=t_ww,
        loop_inlet_temperature=t_lp, area=area, clean_heat_transfer_coefficient=u, fouling_resistance=rf * 2 + 1e-4,
        flow_arrangement=arrangement, wastewater_specific_heat=cp_ww, loop_specific_heat=cp_lp,
    )
    assert abs(float(fouled["heat_flow"])) <= abs(q) * (1 + 1e-12) + 1e-300
