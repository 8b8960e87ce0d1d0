"""The storage tank against the analytic cooling of a mixed tank, the exact tanks-in-series response
of plug-flow charging, buoyancy mixing that conserves energy, and the energy balance from the port
counters over random inputs, in Python and through its exported FMI 2/3 FMUs."""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import pytest
from fmpy import simulate_fmu
from fmpy.validation import validate_fmu
from hypothesis import given, settings
from hypothesis import strategies as st

from kreislauf.fmu import FmuComponent, export_fmu
from kreislauf.models import T_REF, ModelInputError, get_model
from kreislauf.models.simulate import simulate
from kreislauf.models.thermal_storage import build

PORTS = ("charge_inlet", "charge_outlet", "discharge_inlet", "discharge_outlet", "ambient")
DAY = 86400.0


@pytest.fixture(scope="module")
def tank():
    return get_model("thermal_storage")


@pytest.fixture(scope="module")
def mixed():
    return get_model("thermal_storage_mixed")


@cache
def built(nodes: int):
    """One declaration per node count for the whole module (declaring and compiling costs time)."""
    return build(nodes)


def node_names(model):
    return [d.name for d in model.states if d.name.startswith("node_")]


def test_registered_variants_have_five_and_one_nodes(tank, mixed):
    assert len(node_names(tank)) == 5
    assert len(node_names(mixed)) == 1
    with pytest.raises(ValueError, match="nodes"):
        build(0)


def test_mixed_tank_cools_exponentially_with_time_constant_m_c_over_ua(mixed):
    """m c dT/dt = -UA (T - T_amb)  =>  T = T_amb + (T0 - T_amb) exp(-t UA / (m c))  (physics notes §7.2)."""
    volume, rho, cp, ua = 500.0, 977.8, 4190.0, 350.0
    t0, t_amb = 363.15, 278.15
    res = simulate(mixed, 60 * DAY, DAY, parameters={
        "volume": volume, "water_density": rho, "water_specific_heat": cp, "loss_conductance": ua,
        "node_1_temperature_start": t0}, inputs={"ambient_temperature": t_amb})
    tau = rho * volume * cp / ua
    analytic = t_amb + (t0 - t_amb) * np.exp(-res["time"] / tau)
    np.testing.assert_allclose(res["node_1_temperature"], analytic, rtol=1e-9)
    # the declared loss heat is UA (T - T_amb), and the ambient counter is its integral
    np.testing.assert_allclose(res["loss_heat"], ua * (analytic - t_amb), rtol=1e-8)
    lost = rho * volume * cp * (t0 - analytic[-1])
    assert -res["ambient_energy"][-1] == pytest.approx(lost, rel=1e-8)


def test_uniform_tank_loses_ua_times_the_temperature_difference_whatever_the_node_count():
    for nodes in (1, 2, 5, 12):
        model = build(nodes)
        states = {f"node_{i + 1}_temperature": 350.0 for i in range(nodes)}
        out = model.evaluate(loss_conductance=123.0, ambient_temperature=290.0, aspect_ratio=3.0, **states)
        assert float(out["loss_heat"]) == pytest.approx(123.0 * 60.0, rel=1e-12)


def erlang_rise(theta: np.ndarray, n: int) -> np.ndarray:
    """Outlet rise of n stirred tanks in series after a step at the inlet: 1 - sum_{k<n} e^-θ θ^k / k!."""
    return 1.0 - sum(np.exp(-theta) * theta**k / math.factorial(k) for k in range(n))


@pytest.mark.parametrize("nodes", [5, 12])
def test_charging_fills_the_tank_from_the_top_as_a_chain_of_stirred_tanks(nodes):
    model = build(nodes)
    volume, rho, flow = 100.0, 1000.0, 10.0
    t_cold, t_hot = 313.15, 353.15
    passage = rho * volume / flow  # time for one tank volume to pass
    starts = {f"node_{i + 1}_temperature_start": t_cold for i in range(nodes)}
    res = simulate(model, 3 * passage, passage / 10, parameters={
        "volume": volume, "water_density": rho, "loss_conductance": 0.0, **starts},
        inputs={"charge_mass_flow": flow, "charge_inlet_temperature": t_hot, "discharge_mass_flow": 0.0})
    theta = flow * res["time"] / (rho * volume / nodes)
    rise = (res["charge_outlet_temperature"] - t_cold) / (t_hot - t_cold)
    np.testing.assert_allclose(rise, erlang_rise(theta, nodes), atol=1e-8)
    # the top fills first: every node is at least as warm as the one below it
    temps = np.array([res[name] for name in node_names(model)])
    assert np.all(np.diff(temps, axis=0) <= 1e-9)
    if nodes == 12:
        # with 12 nodes the outlet stays cold until the volume has passed, then rises steeply
        half = res["time"] == 0.5 * passage
        after = res["time"] == 1.5 * passage
        assert rise[half][0] < 0.03 and rise[after][0] > 0.9


def test_an_inverted_tank_overturns_and_conserves_its_energy(tank):
    """Hot water below cold water mixes until no inversion remains; with no losses and no flows the
    stored energy stays put and the temperatures stay between the initial extremes."""
    starts = {f"node_{i + 1}_temperature_start": t for i, t in enumerate([320.0, 330.0, 340.0, 350.0, 360.0])}
    res = simulate(tank, 3600.0, 60.0, parameters={"loss_conductance": 0.0, **starts})
    temps = np.array([res[name] for name in node_names(tank)])
    assert res["stored_energy"][-1] == pytest.approx(res["stored_energy"][0], rel=1e-10)
    assert np.all((temps >= 320.0 - 1e-9) & (temps <= 360.0 + 1e-9))
    final = temps[:, -1]
    assert np.all(np.diff(final) <= 0.5)  # at most a fraction of a kelvin of inversion left
    assert final.max() - final.min() < 2.0
    assert final.mean() == pytest.approx(340.0, abs=1e-8)


def test_inputs_outside_their_range_are_rejected_by_name(tank):
    with pytest.raises(ModelInputError, match="charge_mass_flow.*outside"):
        tank.evaluate(charge_mass_flow=-1.0)
    with pytest.raises(ModelInputError, match="discharge_inlet_temperature"):
        tank.evaluate(discharge_inlet_temperature=float("nan"))


step_inputs = st.tuples(
    st.one_of(st.just(0.0), st.floats(0.0, 40.0)), st.floats(290.0, 370.0),
    st.one_of(st.just(0.0), st.floats(0.0, 40.0)), st.floats(290.0, 370.0), st.floats(260.0, 310.0),
)


@settings(max_examples=20, deadline=None)
@given(steps=st.lists(step_inputs, min_size=1, max_size=4), nodes=st.sampled_from([1, 3]),
       ua=st.floats(0.0, 5e4), start=st.floats(300.0, 360.0))
def test_energy_from_the_port_counters_matches_the_stored_energy_over_random_inputs(steps, nodes, ua, start):
    model = built(nodes)
    step = 1800.0

    def held(k):
        return lambda t: steps[min(int(t // step), len(steps) - 1)][k]

    starts = {f"node_{i + 1}_temperature_start": start for i in range(nodes)}
    res = simulate(model, step * len(steps), step, rtol=1e-10,
                   parameters={"volume": 50.0, "loss_conductance": ua, **starts},
                   inputs={name: held(k) for k, name in enumerate(
                       ("charge_mass_flow", "charge_inlet_temperature", "discharge_mass_flow",
                        "discharge_inlet_temperature", "ambient_temperature"))})
    counters = sum(res[f"{p}_energy"] for p in PORTS)
    stored = res["stored_energy"] - res["stored_energy"][0]
    throughput = sum(np.abs(res[f"{p}_energy"]) for p in PORTS)[-1] + 50.0 * 1000.0 * 4190.0 * (start - T_REF)
    assert np.max(np.abs(counters - stored)) <= 1e-8 * throughput
    # without losses every node stays between the coldest and the hottest water it has seen
    if ua == 0.0:
        temps = np.array([res[n] for n in node_names(model)])
        lo = min(start, *(s[1] for s in steps), *(s[3] for s in steps))
        hi = max(start, *(s[1] for s in steps), *(s[3] for s in steps))
        assert np.all((temps >= lo - 1e-6) & (temps <= hi + 1e-6))


@pytest.fixture(scope="module")
def tank_fmus(tmp_path_factory, tank):
    out = tmp_path_factory.mktemp("storage_fmus")
    return {v: export_fmu(tank, out, v) for v in (2, 3)}


@pytest.mark.parametrize("version", [2, 3])
def test_exported_fmu_validates_and_its_counters_close_the_balance(tank_fmus, version):
    path = str(tank_fmus[version])
    assert validate_fmu(path) == []
    # charge for 6 h, then discharge for 6 h with a 50 degC return
    hour = 3600.0
    signal = np.array(
        [(0.0, 30.0, 0.0), (6 * hour, 30.0, 0.0), (6 * hour, 0.0, 30.0), (12 * hour, 0.0, 30.0)],
        dtype=[("time", float), ("charge_mass_flow", float), ("discharge_mass_flow", float)],
    )
    counters = [f"{p}_energy" for p in PORTS]
    res = simulate_fmu(path, stop_time=12 * hour, output_interval=600.0, input=signal,
                       start_values={"loss_conductance": 5000.0},
                       output=[*counters, "stored_energy", "top_temperature", "bottom_temperature",
                               "state_of_charge"])
    for name in res.dtype.names:
        assert np.all(np.isfinite(res[name])), name
    charged = res["charge_inlet_energy"][-1]
    assert charged > 1e10
    imbalance = sum(res[c][-1] for c in counters) - (res["stored_energy"][-1] - res["stored_energy"][0])
    assert abs(imbalance) <= 1e-5 * charged  # ten times the FMU integrator's default tolerance
    # charging at 90 degC raises the state of charge, discharging with a 50 degC return lowers it
    six = np.searchsorted(res["time"], 6 * hour)
    assert res["state_of_charge"][six] > res["state_of_charge"][0]
    assert res["state_of_charge"][-1] < res["state_of_charge"][six]
    assert np.all(res["top_temperature"] >= res["bottom_temperature"] - 1.0)


@settings(max_examples=15, deadline=None)
@given(st.lists(step_inputs.map(lambda s: (*s, 3600.0)), min_size=1, max_size=4))
def test_fmu_stored_energy_follows_its_counters_over_random_input_sequences(tank_fmus, steps):
    comp = FmuComponent(tank_fmus[3], "tank")
    counters = [f"{p}_energy" for p in PORTS]
    names = ("charge_mass_flow", "charge_inlet_temperature", "discharge_mass_flow",
             "discharge_inlet_temperature", "ambient_temperature")
    try:
        comp.setup(0.0, None, {"volume": 50.0, "loss_conductance": 2000.0})
        stored0 = float(comp.get_outputs(["stored_energy"])[0])
        t = 0.0
        for *values, dt in steps:
            comp.set_inputs(dict(zip(names, values, strict=True)))
            assert comp.do_step(t, dt).ok
            t += dt
        after = comp.get_outputs([*counters, "stored_energy"])
    finally:
        comp.close()
    ports, stored = after[:-1], float(after[-1])
    scale = float(np.sum(np.abs(ports))) + abs(stored0)
    # ten times the FMU integrator's default relative tolerance (1e-6)
    assert abs(float(np.sum(ports)) - (stored - stored0)) <= 1e-5 * scale


@pytest.fixture(scope="module")
def mixed_fmus(tmp_path_factory, mixed):
    out = tmp_path_factory.mktemp("mixed_storage_fmus")
    return {v: export_fmu(mixed, out, v) for v in (2, 3)}


@pytest.mark.parametrize("version", [2, 3])
def test_mixed_tank_fmu_validates_and_cools_like_the_analytic_solution(mixed_fmus, version):
    """The fully mixed variant through its FMU: T = T_amb + (T0 - T_amb) exp(-t UA / (m c)) (physics notes
    §7.2), and the ambient counter is the heat the water lost, m c (T0 - T)."""
    path = str(mixed_fmus[version])
    assert validate_fmu(path) == []
    volume, rho, cp, ua = 500.0, 977.8, 4190.0, 350.0
    t0, t_amb = 363.15, 278.15
    res = simulate_fmu(path, stop_time=60 * DAY, output_interval=DAY,
                       start_values={"volume": volume, "water_density": rho, "water_specific_heat": cp,
                                     "loss_conductance": ua, "node_1_temperature_start": t0,
                                     "ambient_temperature": t_amb, "solver_relative_tolerance": 1e-10},
                       output=["node_1_temperature", "ambient_energy", "stored_energy"])
    tau = rho * volume * cp / ua
    analytic = t_amb + (t0 - t_amb) * np.exp(-res["time"] / tau)
    np.testing.assert_allclose(res["node_1_temperature"], analytic, rtol=1e-8)
    lost = rho * volume * cp * (t0 - analytic)
    np.testing.assert_allclose(-res["ambient_energy"], lost, rtol=1e-7, atol=1.0)
    np.testing.assert_allclose(res["stored_energy"] - res["stored_energy"][0], res["ambient_energy"],
                               rtol=1e-7, atol=1.0)
