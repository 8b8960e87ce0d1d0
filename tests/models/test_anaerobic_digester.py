"""The AM2 digester against its analytic steady state and washout, the Haldane optimum of
Bernard et al. (2001), the stoichiometric COD anchors (0.35 L CH4 per g COD, physics notes §6.2), and
energy conservation of its COD-based chemical ports, in Python and through its exported FMUs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp
from fmpy import simulate_fmu
from fmpy.validation import validate_fmu
from hypothesis import given, settings
from hypothesis import strategies as st

from kreislauf.fmu import FmuComponent, export_fmu
from kreislauf.models import get_model
from kreislauf.models.simulate import simulate

DAY = 86400.0
VOLUME = 1000.0
# Bernard et al. (2001), Table 3, in the paper's units (1/d, g/L, mmol/L)
MU1MAX, KS1, MU2MAX, KS2, KI2, ALPHA = 1.2, 7.1, 0.74, 9.28, 256.0, 0.5
K1, K2, K3, K6 = 42.14, 116.5, 268.0, 453.0
COD_VFA, COD_BIOMASS = 0.064, 1.42  # kg COD per mol acetate (CH3COOH + 2 O2), per kg biomass C5H7NO2
FEED = {"feed_substrate": 10.0, "feed_vfa": 20.0, "feed_alkalinity": 50.0, "feed_inorganic_carbon": 40.0}


@pytest.fixture(scope="module")
def ad():
    return get_model("anaerobic_digester")


def analytic_steady_state(d: float, s1_in: float, s2_in: float) -> dict[str, float]:
    """Bernard et al. (2001): the non-trivial equilibrium of AM2 at dilution rate d (1/d)."""
    s1 = ALPHA * d * KS1 / (MU1MAX - ALPHA * d)
    x1 = (s1_in - s1) / (ALPHA * K1)
    a, b, c = ALPHA * d / KI2, ALPHA * d - MU2MAX, ALPHA * d * KS2
    s2 = (-b - math.sqrt(b * b - 4 * a * c)) / (2 * a)
    x2 = ((s2_in - s2) / ALPHA + K2 * x1) / K3
    return {"substrate": s1, "acidogens": x1, "vfa": s2, "methanogens": x2,
            "methane_rate_per_day": K6 * ALPHA * d * x2}


@pytest.mark.parametrize("d", [0.2, 0.35])
def test_long_run_reaches_the_analytic_steady_state(ad, d):
    res = simulate(ad, 400 * DAY, 10 * DAY, inputs={"feed_flow": d * VOLUME / DAY, **FEED}, rtol=1e-10)
    expected = analytic_steady_state(d, FEED["feed_substrate"], FEED["feed_vfa"])
    for name in ("substrate", "acidogens", "vfa", "methanogens"):
        assert res[name][-1] == pytest.approx(expected[name], rel=1e-6), name
    assert res["alkalinity"][-1] == pytest.approx(FEED["feed_alkalinity"], rel=1e-9)
    # methane: mol/(m3 s) in the model, mmol/(L d) in the paper
    assert res["methane_production_rate"][-1] * DAY == pytest.approx(expected["methane_rate_per_day"], rel=1e-6)


def test_dilution_beyond_the_acidogen_growth_rate_washes_the_digester_out(ad):
    """alpha D > mu1max: X1 decays like exp(-(alpha D - mu1max) t) at most; methane production stops."""
    d = 2.8  # 1/d, alpha D = 1.4 > mu1max = 1.2
    res = simulate(ad, 60 * DAY, 5 * DAY, inputs={"feed_flow": d * VOLUME / DAY, **FEED})
    bound = 0.5 * math.exp(-(ALPHA * d - MU1MAX) * 60)
    assert 0 <= res["acidogens"][-1] <= bound
    assert res["substrate"][-1] == pytest.approx(FEED["feed_substrate"], rel=1e-3)


def test_haldane_optimum_of_the_methanogens_is_at_the_published_concentration(ad):
    """S2,opt = sqrt(KS2 KI2) = 48.7 mmol/L (physics notes §6.1)."""
    s2 = np.linspace(1.0, 200.0, 199001)
    mu2 = ad.evaluate(vfa=s2)["methanogen_growth_rate"]
    assert s2[np.argmax(mu2)] == pytest.approx(48.7, abs=0.05)
    assert float(mu2.max()) * DAY == pytest.approx(MU2MAX / (1 + 2 * math.sqrt(KS2 / KI2)), rel=1e-9)


def test_energy_per_cod_is_the_stoichiometric_methane_anchor(ad):
    """0.350 L CH4 (0 degC, 1 atm) per g COD, and 35.9 MJ/Nm3 methane LHV (physics notes §6.2)."""
    p = {d.name: d.start for d in ad.parameters}
    normal_m3_per_kg_cod = p["energy_per_cod"] / (p["methane_molar_lhv"] / 0.022414)
    assert normal_m3_per_kg_cod == pytest.approx(0.350, rel=1e-3)
    assert p["methane_molar_lhv"] / 0.022414 == pytest.approx(35.9e6, rel=5e-3)


@pytest.mark.parametrize("d", [0.1, 0.2, 0.35])
def test_steady_methane_yield_stays_below_the_stoichiometric_limit(ad, d):
    state = analytic_steady_state(d, FEED["feed_substrate"], FEED["feed_vfa"])
    out = ad.evaluate(feed_flow=d * VOLUME / DAY, **FEED,
                      **{k: v for k, v in state.items() if k != "methane_rate_per_day"})
    removed = float(out["feed_cod_flow"] - out["effluent_cod_flow"])  # kg COD/s
    litres_per_gram = float(out["methane_normal_volume_flow"]) * 1e3 / (removed * 1e3)
    assert 0 < litres_per_gram <= 0.350
    assert float(out["conversion_released"]) > 0


@pytest.fixture(scope="module")
def stored_energy_rate(ad):
    """d(stored energy)/dt from the chain rule over the model's own state derivatives."""
    stored = ad.defining_expression("stored_energy")
    rate = sum(sp.diff(stored, d.symbol) * ad.defining_expression(f"der({d.name})") for d in ad.states)
    return sp.lambdify([d.symbol for d in ad.argument_declarations()], rate, "numpy")


@settings(max_examples=200, deadline=None)
@given(
    flow=st.floats(0.0, 2e-2), s1_in=st.floats(0.0, 50.0), s2_in=st.floats(0.0, 200.0),
    x1=st.floats(0.0, 5.0), x2=st.floats(0.0, 5.0), s1=st.floats(0.0, 50.0), s2=st.floats(0.0, 300.0),
    z=st.floats(0.0, 200.0), c=st.floats(0.0, 200.0),
)
def test_stored_energy_changes_by_exactly_the_sum_of_port_powers(
    ad, stored_energy_rate, flow, s1_in, s2_in, x1, x2, s1, s2, z, c
):
    values = {"feed_flow": flow, "feed_substrate": s1_in, "feed_vfa": s2_in, "acidogens": x1, "methanogens": x2,
              "substrate": s1, "vfa": s2, "alkalinity": z, "inorganic_carbon": c}
    out = ad.evaluate(**values)
    ports = sum(float(out[f"{p}_power"]) for p in ad.ports)
    args = {d.name: d.start for d in ad.parameters} | {d.name: d.start for d in ad.inputs}
    args |= ad.initial_state() | values
    rate = float(stored_energy_rate(*(args[d.name] for d in ad.argument_declarations())))
    scale = sum(abs(float(out[f"{p}_power"])) for p in ad.ports) + 1e-6
    assert abs(rate - ports) <= 1e-9 * scale
    # the concentrations never get a push below zero
    for name in ("acidogens", "methanogens", "substrate", "vfa"):
        if values[name] == 0.0:
            assert float(out[f"der({name})"]) >= 0.0, name


@settings(max_examples=8, deadline=None)
@given(
    s1_in=st.floats(2.0, 30.0), d1=st.floats(0.05, 0.45), d2=st.floats(0.05, 0.45),
    x2=st.floats(0.05, 2.0), s2=st.floats(0.0, 150.0),
)
def test_counters_balance_and_concentrations_stay_non_negative_over_random_runs(ad, s1_in, d1, d2, x2, s2):
    res = simulate(
        ad, 40 * DAY, DAY, rtol=1e-8, atol=1e-10,
        parameters={"methanogens_start": x2, "vfa_start": s2},
        inputs={"feed_flow": lambda t: (d1 if t < 20 * DAY else d2) * VOLUME / DAY, "feed_substrate": s1_in},
    )
    counters = sum(res[f"{p}_energy"] for p in ad.ports)
    throughput = res["feed_energy"][-1]
    assert np.max(np.abs(res["stored_energy"] - res["stored_energy"][0] - counters)) <= 1e-6 * throughput
    for name in ("acidogens", "methanogens", "substrate", "vfa"):
        assert np.min(res[name]) >= -1e-9, name


@pytest.fixture(scope="module")
def ad_fmus(tmp_path_factory, ad):
    out = tmp_path_factory.mktemp("ad_fmus")
    return {v: export_fmu(ad, out, v) for v in (2, 3)}


@pytest.mark.parametrize("version", [2, 3])
def test_exported_fmu_reaches_the_steady_state_and_its_counters_balance(ad_fmus, version):
    path = str(ad_fmus[version])
    assert validate_fmu(path) == []
    d = 0.25
    counters = [f"{p}_energy" for p in ("feed", "effluent", "biogas", "conversion")]
    res = simulate_fmu(path, stop_time=300 * DAY, output_interval=DAY,
                       start_values={"feed_flow": d * VOLUME / DAY, **FEED},
                       output=[*counters, "stored_energy", "substrate", "methanogens", "methane_production_rate"])
    for name in res.dtype.names:
        assert np.all(np.isfinite(res[name])), name
    expected = analytic_steady_state(d, FEED["feed_substrate"], FEED["feed_vfa"])
    assert res["substrate"][-1] == pytest.approx(expected["substrate"], rel=1e-4)
    assert res["methanogens"][-1] == pytest.approx(expected["methanogens"], rel=1e-4)
    assert res["methane_production_rate"][-1] * DAY == pytest.approx(expected["methane_rate_per_day"], rel=1e-4)
    balance = res["stored_energy"] - res["stored_energy"][0] - sum(res[c] for c in counters)
    assert np.max(np.abs(balance)) <= 1e-5 * res["feed_energy"][-1]


@settings(max_examples=25, deadline=None)
@given(st.lists(
    st.tuples(st.floats(0.0, 0.6), st.floats(0.0, 40.0), st.floats(0.0, 100.0), st.floats(0.1, 20.0)),
    min_size=1, max_size=8,
))
def test_fmu_counters_balance_the_stored_energy_over_random_feed_sequences(ad_fmus, steps):
    comp = FmuComponent(ad_fmus[3], "digester")
    counters = [f"{p}_energy" for p in ("feed", "effluent", "biogas", "conversion")]
    names = ["stored_energy", *counters, "acidogens", "methanogens", "substrate", "vfa"]
    try:
        comp.setup(0.0, None, {})
        before = comp.get_outputs(names)
        t = 0.0
        for d, s1_in, s2_in, days in steps:
            comp.set_inputs({"feed_flow": d * VOLUME / DAY, "feed_substrate": s1_in, "feed_vfa": s2_in})
            assert comp.do_step(t, days * DAY).ok
            t += days * DAY
        after = comp.get_outputs(names)
    finally:
        comp.close()
    delta = after - before
    throughput = float(np.sum(np.abs(after[1:5]))) + 1.0
    assert abs(delta[0] - float(np.sum(delta[1:5]))) <= 1e-5 * throughput
    # non-negative to the integrator's absolute tolerance (1e-6 of the nominal values 1, 1, 1, 10)
    assert np.all(after[5:] >= -1e-6 * np.array([1.0, 1.0, 1.0, 10.0]))


@settings(max_examples=200, deadline=None)
@given(s2=st.floats(0.0, 300.0), x2=st.floats(1e-3, 5.0), z=st.floats(0.0, 200.0), c=st.floats(0.0, 300.0))
def test_co2_partial_pressure_is_the_co2_share_of_the_gas_flow(ad, s2, x2, z, c):
    """Bernard et al. derive P_C from a gas phase of CH4 and CO2 only: P_C (qC + qM) = P_t qC, the
    quadratic whose root the model takes."""
    out = ad.evaluate(vfa=s2, methanogens=x2, alkalinity=z, inorganic_carbon=c)
    q_m, q_c = float(out["methane_production_rate"]), float(out["co2_production_rate"])
    share = float(out["co2_partial_pressure"]) / 101325.0
    kla = 19.8 / DAY
    scale = kla * (c + s2 + z + 16.0) + q_m
    assert share * (q_c + q_m) == pytest.approx(q_c, abs=1e-9 * scale)
    if q_c >= 0 and q_m + q_c > 1e-6 * scale:
        assert float(out["methane_fraction"]) == pytest.approx(1 - share, rel=1e-6)


def test_steady_biogas_is_methane_rich(ad):
    """Steady operation at D = 0.25 1/d gives biogas of 50-75 % methane (typical biogas; 55 % in physics
    notes §6.2)."""
    res = simulate(ad, 300 * DAY, 30 * DAY, inputs={"feed_flow": 0.25 * VOLUME / DAY})
    assert 0.5 <= res["methane_fraction"][-1] <= 0.75


@settings(max_examples=200, deadline=None)
@given(
    flow=st.floats(0.0, 2e-2), s1_in=st.floats(0.0, 50.0), s2_in=st.floats(0.0, 200.0),
    x1=st.floats(0.0, 5.0), x2=st.floats(0.0, 5.0), s1=st.floats(0.0, 50.0), s2=st.floats(0.0, 300.0),
)
def test_cod_balance_closes_with_the_gap_of_the_published_yields(ad, flow, s1_in, s2_in, x1, x2, s1, s2):
    """COD in the feed = COD in the effluent (washed-out biomass included) + COD of the methane + the change
    of the COD held, up to the COD the AM2 yields leave untracked, which follows from the published yields
    alone: per kg of acidogens grown k1 - 0.064 k2 - 1.42 = 33.26 kg COD disappear, per kg of methanogens
    grown 0.064 (k3 - k6) - 1.42 = -13.26 kg COD appear (0.064 kg COD per mol of acetate or methane)."""
    values = {"feed_flow": flow, "feed_substrate": s1_in, "feed_vfa": s2_in, "acidogens": x1, "methanogens": x2,
              "substrate": s1, "vfa": s2}
    out = ad.evaluate(**values)
    d = flow / VOLUME
    held_rate = VOLUME * (float(out["der(substrate)"]) + COD_VFA * float(out["der(vfa)"])
                          + COD_BIOMASS * (float(out["der(acidogens)"]) + float(out["der(methanogens)"])))
    feed = flow * (s1_in + COD_VFA * s2_in)
    effluent = flow * (s1 + COD_VFA * s2) + ALPHA * d * VOLUME * COD_BIOMASS * (x1 + x2)
    methane = COD_VFA * float(out["methane_molar_flow"])
    assert float(out["feed_cod_flow"]) == pytest.approx(feed, rel=1e-12, abs=1e-300)
    assert float(out["effluent_cod_flow"]) == pytest.approx(effluent, rel=1e-12, abs=1e-300)
    mu1 = MU1MAX / DAY * s1 / (s1 + KS1)
    mu2 = MU2MAX / DAY * s2 / (s2 + KS2 + s2**2 / KI2)
    gap = VOLUME * ((K1 - COD_VFA * K2 - COD_BIOMASS) * mu1 * x1 + (COD_VFA * (K3 - K6) - COD_BIOMASS) * mu2 * x2)
    scale = feed + effluent + methane + abs(held_rate) + VOLUME * K1 * mu1 * x1 + VOLUME * K3 * COD_VFA * mu2 * x2
    assert abs(feed - effluent - methane - held_rate - gap) <= 1e-9 * scale + 1e-300
