"""The heat pump against published plant numbers (Drammen, Wien ebswien, ANIKA), the first and second
law over random operating points, and through its exported FMI 2.0 and 3.0 FMUs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from fmpy import simulate_fmu
from fmpy.validation import validate_fmu
from hypothesis import given, settings
from hypothesis import strategies as st

from kreislauf.fmu import FmuComponent, build_fmu
from kreislauf.models import get_model
from kreislauf.models.heat_pump import (
    PART_LOAD,
    STATUS_CAPACITY,
    STATUS_ENVELOPE,
    STATUS_OK,
    STATUS_SOURCE,
    SUPPLY_SETPOINT,
)
from kreislauf.models.simulate import simulate

CP = 4190.0
C0 = 273.15
PORTS = ["condenser_inlet", "condenser_outlet", "evaporator_inlet", "evaporator_outlet", "compressor"]


@pytest.fixture(scope="module")
def hp():
    return get_model("heat_pump")


def one(out: dict, name: str) -> float:
    return float(np.asarray(out[name]).flat[0])


def lorenz_cop(sink_in: float, sink_out: float, source_in: float, source_out: float) -> float:
    """Reversible COP between two streams with glide (thermodynamic mean temperatures)."""
    def mean(a: float, b: float) -> float:
        return a if a == b else (b - a) / math.log(b / a)
    t_sink, t_source = mean(sink_in, sink_out), mean(source_in, source_out)
    return t_sink / (t_sink - t_source)


IDEAL = {"condenser_approach_temperature": 0.0, "evaporator_approach_temperature": 0.0}


def test_drammen_cop_from_its_implied_carnot_effectiveness(hp):
    """Drammen: DH 65 -> 90 °C from fjord water at 8 °C, average COP 3.0; physics notes §4.7 derive an
    implied effectiveness of 0.68 against Carnot at 90 °C / 8 °C and COP_Lorenz ≈ 4.9 (source 8 -> 4 °C)."""
    out = hp.evaluate(carnot_effectiveness=0.68, **IDEAL, demand_mode=PART_LOAD, part_load_ratio=1.0,
                      nominal_heating_capacity=14e6, condenser_outlet_temperature=C0 + 90,
                      evaporator_outlet_temperature=C0 + 8, evaporator_mass_flow=2000.0,
                      evaporator_inlet_temperature=C0 + 12, condenser_mass_flow=150.0,
                      condenser_inlet_temperature=C0 + 65)
    assert one(out, "cop") == pytest.approx(3.0, abs=0.02)
    lorenz = lorenz_cop(C0 + 65, C0 + 90, C0 + 8, C0 + 4)
    assert lorenz == pytest.approx(4.9, abs=0.1)
    assert 1.0 < one(out, "cop") < lorenz


def test_wien_share_of_effluent_heat_follows_from_the_drammen_effectiveness(hp):
    """Wien ebswien: effluent cooled by ~6 K supplies 2/3 of the heat of a 55 MW stage (COP ≈ 3), DH > 90 °C.
    With Drammen's effectiveness, an effluent flow that gives exactly 2/3 of 55 MW at 6 K cooling must
    source-limit the unit near 55 MW, with the evaporator heat exactly m c_p 6 K."""
    flow = 55e6 * 2 / 3 / (CP * 6.0)
    t_in = C0 + 12.0
    out = hp.evaluate(carnot_effectiveness=0.68, **IDEAL, demand_mode=PART_LOAD, part_load_ratio=1.0,
                      nominal_heating_capacity=110e6, condenser_outlet_temperature=C0 + 90,
                      evaporator_outlet_temperature=t_in - 6.0, evaporator_mass_flow=flow,
                      evaporator_inlet_temperature=t_in, minimum_evaporator_outlet_temperature=t_in - 6.0,
                      condenser_mass_flow=600.0, condenser_inlet_temperature=C0 + 60)
    assert one(out, "status") == STATUS_SOURCE
    assert one(out, "evaporator_heat") == pytest.approx(55e6 * 2 / 3, rel=1e-12)
    assert one(out, "evaporator_heat") / one(out, "condenser_heat") == pytest.approx(2 / 3, abs=0.04)
    assert one(out, "condenser_heat") == pytest.approx(55e6, rel=0.06)
    # steady state: the evaporator water sits at its limit
    assert abs(one(out, "der(evaporator_outlet_temperature)")) < 1e-9


def test_anika_effluent_cannot_deliver_20_mw(hp):
    """ANIKA (physics notes §1.1): 162 kg/s effluent at 12 °C cooled by 8 K gives Q_evap = 5.4 MW and, at
    COP 3, Q_cond = 8.1 MW - not the 20 MW installed. The model must saturate and flag it."""
    res = simulate(hp, 6 * 3600.0, 600.0, rtol=1e-8, atol=1e-10,
                   parameters={"carnot_effectiveness": 0.68, **IDEAL, "demand_mode": SUPPLY_SETPOINT,
                               "nominal_heating_capacity": 20e6, "minimum_evaporator_outlet_temperature": C0 + 4,
                               "condenser_heat_capacity": 4.19e7, "evaporator_heat_capacity": 4.19e7,
                               "condenser_outlet_temperature_start": C0 + 60,
                               "evaporator_outlet_temperature_start": C0 + 12},
                   inputs={"evaporator_mass_flow": 162.0, "evaporator_inlet_temperature": C0 + 12,
                           "condenser_mass_flow": 20e6 / (CP * 40), "condenser_inlet_temperature": C0 + 50,
                           "supply_temperature_setpoint": C0 + 90})
    assert res["heat_demand"][-1] == pytest.approx(20e6, rel=1e-9)
    assert res["status"][-1] == STATUS_SOURCE
    assert res["evaporator_heat"][-1] == pytest.approx(162 * CP * 8, rel=1e-6)  # 5.43 MW
    assert res["evaporator_outlet_temperature"][-1] >= C0 + 4 - 1e-6
    assert res["condenser_heat"][-1] < 10e6
    cop = res["cop"][-1]
    assert res["condenser_heat"][-1] == pytest.approx(162 * CP * 8 * cop / (cop - 1), rel=1e-6)
    # the counters close over the run (integrated: stored-energy change = sum of port energies)
    stored = res["stored_energy"][-1] - res["stored_energy"][0]
    ports = sum(res[f"{p}_energy"][-1] for p in PORTS)
    throughput = sum(abs(res[f"{p}_energy"][-1]) for p in PORTS)
    assert abs(stored - ports) <= 1e-7 * throughput


def test_capacity_limit_and_condenser_outlet_limit(hp):
    out = hp.evaluate(demand_mode=SUPPLY_SETPOINT, supply_temperature_setpoint=C0 + 80, condenser_mass_flow=5.0,
                      condenser_inlet_temperature=C0 + 40, evaporator_mass_flow=50.0)
    assert one(out, "heat_demand") == pytest.approx(5 * CP * 40)
    assert one(out, "condenser_heat") == pytest.approx(108.6e3, rel=1e-12)
    assert one(out, "status") == STATUS_CAPACITY
    out = hp.evaluate(demand_mode=PART_LOAD, part_load_ratio=1.0, condenser_mass_flow=1.0,
                      condenser_inlet_temperature=C0 + 90, evaporator_mass_flow=50.0)
    assert one(out, "condenser_heat") == pytest.approx(1.0 * CP * 5.0, rel=1e-12)  # 95 °C outlet limit
    assert one(out, "status") == STATUS_CAPACITY


def test_cop_limits_are_flagged(hp):
    small_lift = hp.evaluate(demand_mode=PART_LOAD, part_load_ratio=0.5, condenser_outlet_temperature=C0 + 20,
                             evaporator_outlet_temperature=C0 + 19, evaporator_mass_flow=50.0)
    assert one(small_lift, "cop") == 10.0 and one(small_lift, "status") == STATUS_ENVELOPE
    huge_lift = hp.evaluate(demand_mode=PART_LOAD, part_load_ratio=0.5, carnot_effectiveness=0.1,
                            condenser_outlet_temperature=C0 + 95, evaporator_outlet_temperature=C0 - 10,
                            evaporator_mass_flow=50.0, evaporator_inlet_temperature=C0 + 15)
    assert one(huge_lift, "cop") == 1.05 and one(huge_lift, "status") == STATUS_ENVELOPE
    normal = hp.evaluate(demand_mode=PART_LOAD, part_load_ratio=0.5, evaporator_mass_flow=50.0)
    assert one(normal, "status") == STATUS_OK


def test_part_load_polynomial_of_the_buildings_validation_model(hp):
    """Buildings' Carnot validation uses η_PL = 0.7 + 0.3 y: at half load the COP is 0.85 of the
    full-load COP at the same refrigerant temperatures (zero approach temperatures)."""
    common = dict(**IDEAL, demand_mode=PART_LOAD, evaporator_mass_flow=100.0, part_load_coefficient_0=0.7)
    full = one(hp.evaluate(part_load_ratio=1.0, **common), "cop")
    half = one(hp.evaluate(part_load_ratio=0.5, **common), "cop")
    assert half / full == pytest.approx(0.85, rel=1e-12)


temps = st.floats(C0 + 0.0, C0 + 95.0)
flows = st.one_of(st.just(0.0), st.floats(1e-3, 500.0))


@settings(max_examples=200, deadline=None)
@given(m_c=flows, m_e=flows, t_ci=temps, t_ei=temps, t_c=temps, t_e=temps, t_set=temps,
       y_in=st.floats(0.0, 1.0), mode=st.sampled_from([SUPPLY_SETPOINT, PART_LOAD]), eta=st.floats(0.2, 0.9),
       q_nom=st.floats(1e3, 1e7), t_min=st.floats(C0 - 5, C0 + 15))
def test_first_law_and_limits_hold_everywhere(hp, m_c, m_e, t_ci, t_ei, t_c, t_e, t_set, y_in, mode, eta, q_nom,
                                              t_min):
    out = hp.evaluate(condenser_mass_flow=m_c, evaporator_mass_flow=m_e, condenser_inlet_temperature=t_ci,
                      evaporator_inlet_temperature=t_ei, condenser_outlet_temperature=t_c,
                      evaporator_outlet_temperature=t_e, supply_temperature_setpoint=t_set, part_load_ratio=y_in,
                      demand_mode=mode, carnot_effectiveness=eta, nominal_heating_capacity=q_nom,
                      minimum_evaporator_outlet_temperature=t_min)
    q_con, q_eva, p_el, cop = (one(out, n) for n in ("condenser_heat", "evaporator_heat", "electrical_power", "cop"))
    assert all(math.isfinite(v) for v in (q_con, q_eva, p_el, cop))
    assert abs(q_con - q_eva - p_el) <= 1e-9 * q_con + 1e-9
    assert 1.05 <= cop <= 10.0
    assert 0.0 <= q_con <= q_nom * (1 + 1e-12)
    assert q_con <= one(out, "heat_demand") * (1 + 1e-12) + 1e-9
    assert q_eva <= max(0.0, m_e * CP * (t_ei - t_min)) * (1 + 1e-9) + 1e-9
    assert q_con <= max(0.0, m_c * CP * (C0 + 95 - t_ci)) * (1 + 1e-12) + 1e-9
    status = one(out, "status")
    assert status in (STATUS_OK, STATUS_CAPACITY, STATUS_SOURCE, STATUS_ENVELOPE)
    if q_con < one(out, "heat_demand") * (1 - 1e-9) - 1e-6:
        assert status != STATUS_OK
    # energy ports: the stored-energy rate equals the sum of the port powers (closed form)
    rate = 2e5 * (one(out, "der(condenser_outlet_temperature)") + one(out, "der(evaporator_outlet_temperature)"))
    ports = sum(one(out, f"{p}_power") for p in PORTS)
    scale = sum(abs(one(out, f"{p}_power")) for p in PORTS) + 1.0
    assert abs(rate - ports) <= 1e-9 * scale


@settings(max_examples=200, deadline=None)
@given(t_c=st.floats(C0 + 30, C0 + 95), lift=st.floats(5.0, 80.0), y_in=st.floats(0.05, 1.0),
       eta=st.floats(0.2, 0.9), m_c=st.floats(1.0, 100.0), m_e=st.floats(1.0, 100.0))
def test_second_law_in_steady_state(hp, t_c, lift, y_in, eta, m_c, m_e):
    """With the states at a steady state (inlets chosen to balance the heat flows), the two streams generate
    entropy and 1 < COP < COP_Lorenz."""
    t_e = t_c - lift
    if t_e < C0 + 1:
        return
    params = dict(demand_mode=PART_LOAD, part_load_ratio=y_in, carnot_effectiveness=eta,
                  minimum_evaporator_outlet_temperature=250.0, maximum_condenser_outlet_temperature=420.0,
                  condenser_mass_flow=m_c, evaporator_mass_flow=m_e, condenser_outlet_temperature=t_c,
                  evaporator_outlet_temperature=t_e, evaporator_inlet_temperature=C0 + 90,
                  condenser_inlet_temperature=C0 + 10)
    first = hp.evaluate(**params)
    params["condenser_inlet_temperature"] = t_c - one(first, "condenser_heat") / (m_c * CP)
    params["evaporator_inlet_temperature"] = t_e + one(first, "evaporator_heat") / (m_e * CP)
    if not (253.15 <= params["condenser_inlet_temperature"] and params["evaporator_inlet_temperature"] <= 380.0):
        return
    out = hp.evaluate(**params)
    assert abs(one(out, "der(condenser_outlet_temperature)")) < 1e-6
    assert abs(one(out, "der(evaporator_outlet_temperature)")) < 1e-6
    assert one(out, "entropy_generation") >= -1e-9 * one(out, "condenser_heat") / t_c
    cop = one(out, "cop")
    if one(out, "status") != STATUS_ENVELOPE:
        limit = lorenz_cop(params["condenser_inlet_temperature"], t_c, params["evaporator_inlet_temperature"], t_e)
        # a negative Lorenz COP means the source is on average warmer than the sink: no work is needed
        assert 1.0 < cop and (limit < 0 or cop < limit)


@pytest.fixture(scope="module")
def fmus(tmp_path_factory):
    # one build per session for both heat pump test modules (build_fmu reuses an identical build)
    out = tmp_path_factory.getbasetemp() / "heat_pump_fmus"
    return {v: build_fmu("heat_pump", out, v) for v in (2, 3)}


@pytest.mark.parametrize("version", [2, 3])
def test_fmu_validates_simulates_and_closes_the_energy_balance(fmus, version):
    assert validate_fmu(str(fmus[version])) == []
    res = simulate_fmu(str(fmus[version]), stop_time=4 * 3600.0, output_interval=300.0,
                       start_values={"demand_mode": PART_LOAD, "solver_relative_tolerance": 1e-8},
                       input=np.array([(0.0, 0.3), (7200.0, 1.0)],
                                      dtype=[("time", float), ("part_load_ratio", float)]),
                       output=["stored_energy", "condenser_heat", "status", *(f"{p}_energy" for p in PORTS)])
    for name in res.dtype.names:
        assert np.all(np.isfinite(res[name])), name
    stored = res["stored_energy"] - res["stored_energy"][0]
    ports = sum(res[f"{p}_energy"] for p in PORTS)
    throughput = sum(np.abs(res[f"{p}_energy"]) for p in PORTS)
    np.testing.assert_allclose(stored, ports, atol=1e-7 * throughput[-1])
    assert res["condenser_heat"][-1] > 0


@settings(max_examples=20, deadline=None)
@given(mode=st.sampled_from([SUPPLY_SETPOINT, PART_LOAD]), eta=st.floats(0.2, 0.9), steps=st.lists(
    st.tuples(st.floats(0.1, 20.0), st.floats(C0 + 20, C0 + 80), st.floats(0.1, 30.0), st.floats(C0 + 2, C0 + 40),
              st.floats(C0 + 30, C0 + 95), st.floats(0.0, 1.0), st.floats(60.0, 7200.0)),
    min_size=1, max_size=5,
))
def test_carnot_mode_fmu_counters_close_over_random_input_sequences(fmus, mode, eta, steps):
    """Random held inputs (both water streams, set point or part load) through the FMI 3 FMU with the
    Carnot description: the stored energy change equals the sum of the port energies to ten times the
    integrator tolerance, and the COP stays between its limits."""
    comp = FmuComponent(fmus[3], "heat_pump")
    counters = [f"{p}_energy" for p in PORTS]
    try:
        comp.setup(0.0, None, {"demand_mode": mode, "carnot_effectiveness": eta, "solver_relative_tolerance": 1e-8})
        stored0 = float(comp.get_outputs(["stored_energy"])[0])
        t = 0.0
        for m_c, t_ci, m_e, t_ei, t_set, y_in, dt in steps:
            comp.set_inputs({"condenser_mass_flow": m_c, "condenser_inlet_temperature": t_ci,
                             "evaporator_mass_flow": m_e, "evaporator_inlet_temperature": t_ei,
                             "supply_temperature_setpoint": t_set, "part_load_ratio": y_in})
            assert comp.do_step(t, dt).ok
            t += dt
        after = comp.get_outputs(counters)
        stored = float(comp.get_outputs(["stored_energy"])[0]) - stored0
        cop = float(comp.get_outputs(["cop"])[0])
    finally:
        comp.close()
    assert 1.05 <= cop <= 10.0  # the default minimum_cop and maximum_cop
    assert abs(stored - float(np.sum(after))) <= 1e-7 * float(np.sum(np.abs(after))) + 1e-3
