"""The pyrolysis reactor against the published kinetic constants (isothermal half-lives and final
yields, physics notes §5.1), the Di Blasi–Branca char yields and the yield trend with temperature
(§5.3), and conservation of mass and energy, in Python and through its exported FMUs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp
from fmpy import simulate_fmu
from fmpy.validation import validate_fmu
from hypothesis import example, given, settings
from hypothesis import strategies as st

from kreislauf.fmu import FmuComponent, export_fmu
from kreislauf.models import get_model
from kreislauf.models.pyrolysis_reactor import CHAN, DI_BLASI_BRANCA, THURNER_MANN
from kreislauf.models.simulate import simulate

R = 8.314e-3  # kJ/(mol K)
# Physics notes §5.1, (A in 1/s, E in kJ/mol) for wood -> gas, tar, char, typed from the table
PUBLISHED = {
    CHAN: [(1.3e8, 140.0), (2.0e8, 133.0), (1.08e7, 121.0)],
    THURNER_MANN: [(1.44e4, 88.6), (4.13e6, 112.7), (7.38e5, 106.5)],
    DI_BLASI_BRANCA: [(4.38e9, 152.7), (1.08e10, 148.0), (3.27e6, 111.7)],
}
# Physics notes §5.1: exact final yields (gas, tar, char) of the isothermal primary schemes at 500 degC
YIELDS_500C = {CHAN: (0.140, 0.638, 0.223), THURNER_MANN: (0.092, 0.618, 0.290), DI_BLASI_BRANCA: (0.152, 0.781, 0.067)}
MASS_STATES = ("wood_holdup", "char_holdup", "ash_holdup", "moisture_holdup", "tar_holdup", "gas_holdup")
OUTFLOWS = ("solids_discharged", "tar_discharged", "gas_discharged", "steam_discharged")


@pytest.fixture(scope="module")
def reactor():
    return get_model("pyrolysis_reactor")


def rate_constants(scheme: int, temperature: float) -> list[float]:
    return [a * math.exp(-e / (R * temperature)) for a, e in PUBLISHED[scheme]]


def isothermal_batch(scheme: int, temperature: float, wood: float = 1.0) -> dict[str, float]:
    """Parameters of a batch of dry wood held at one temperature: no feed, no solids discharge, a huge
    heat capacity, primary kinetics only."""
    return {"kinetic_scheme": scheme, "secondary_scheme": 0, "reactor_heat_capacity": 1e19,
            "solids_residence_time": 1e15, "vapour_residence_time": 0.5, "temperature_controller_gain": 0.0,
            "wood_holdup_start": wood, "reactor_temperature_start": temperature}


@pytest.mark.parametrize("scheme", [CHAN, THURNER_MANN, DI_BLASI_BRANCA])
@pytest.mark.parametrize("temperature", [673.15, 773.15])
def test_isothermal_batch_has_the_published_half_life_and_final_yields(reactor, scheme, temperature):
    k = rate_constants(scheme, temperature)
    half_life = math.log(2) / sum(k)
    res = simulate(reactor, 20 * half_life, half_life, rtol=1e-10, atol=1e-12,
                   parameters=isothermal_batch(scheme, temperature), inputs={"dry_feed_mass_flow": 0.0})
    assert res["wood_holdup"][1] == pytest.approx(0.5, rel=1e-6)
    assert res["wood_half_life"][0] == pytest.approx(half_life, rel=1e-9)
    final = {"gas": res["gas_holdup"][-1] + res["gas_discharged"][-1],
             "tar": res["tar_holdup"][-1] + res["tar_discharged"][-1], "char": res["char_holdup"][-1]}
    left = 2.0**-20  # wood left after 20 half-lives
    for name, kk in zip(("gas", "tar", "char"), k, strict=True):
        assert final[name] == pytest.approx(kk / sum(k) * (1 - left), rel=1e-6), name
    assert res["reactor_temperature"][-1] == pytest.approx(temperature, abs=1e-9)


@pytest.mark.parametrize("scheme", [CHAN, THURNER_MANN, DI_BLASI_BRANCA])
def test_yields_at_500_degc_match_the_published_table(reactor, scheme):
    out = reactor.evaluate(kinetic_scheme=scheme, reactor_temperature=773.15)
    got = tuple(float(out[f"primary_{n}_yield"]) for n in ("gas", "tar", "char"))
    assert got == pytest.approx(YIELDS_500C[scheme], abs=1e-3)


def test_di_blasi_branca_char_yields_match_their_measured_range(reactor):
    """Beech, 573-708 K: final char yields 37 -> 11 % (Di Blasi & Branca 2001 abstract)."""
    out = reactor.evaluate(kinetic_scheme=DI_BLASI_BRANCA, reactor_temperature=np.array([573.0, 708.0]))
    low, high = out["primary_char_yield"]
    assert low == pytest.approx(0.37, abs=0.04)
    assert high == pytest.approx(0.11, abs=0.01)


@pytest.mark.parametrize("scheme", [CHAN, THURNER_MANN, DI_BLASI_BRANCA])
def test_char_yield_falls_and_the_half_life_shortens_with_temperature(reactor, scheme):
    """The trend of Neves et al. (2011): Y_char 0.279 at 400 degC falling to 0.118 at 800 degC."""
    temps = np.linspace(673.15, 1073.15, 41)
    out = reactor.evaluate(kinetic_scheme=scheme, reactor_temperature=temps)
    assert np.all(np.diff(out["primary_char_yield"]) < 0)
    assert np.all(np.diff(out["wood_half_life"]) < 0)


def test_tar_cracking_turns_tar_into_gas_and_char(reactor):
    base = {"reactor_temperature": 823.15, "wood_holdup": 5.0, "tar_holdup": 0.2, "gas_holdup": 0.1}
    off = reactor.evaluate(secondary_scheme=0, **base)
    on = reactor.evaluate(secondary_scheme=1, **base)
    cracked = float(off["der(tar_holdup)"] - on["der(tar_holdup)"])
    assert cracked > 0
    gained = float(on["der(gas_holdup)"] - off["der(gas_holdup)"] + on["der(char_holdup)"] - off["der(char_holdup)"])
    assert gained == pytest.approx(cracked, rel=1e-12)
    # Di Blasi (1993) at 823 K: tar -> gas 4.28e6 exp(-108/RT), tar -> char 1.0e6 exp(-108/RT)
    k = (4.28e6 + 1.0e6) * math.exp(-108.0 / (R * 823.15))
    assert cracked == pytest.approx(k * 0.2, rel=1e-9)


def test_steady_operation_dries_the_feed_and_heats_the_loop(reactor):
    res = simulate(reactor, 3 * 3600.0, 900.0, rtol=1e-8, atol=1e-10,
                   inputs={"auxiliary_fuel_power": lambda t: 2e5 if t < 1800 else 0.0})
    last = {k: v[-1] for k, v in res.items()}
    feed_water = 0.05 * 0.2 / 0.8
    assert last["evaporation"] == pytest.approx(feed_water, rel=1e-3)  # all moisture leaves as steam
    assert 0.0 < last["heat_to_loop"] and last["heat_to_reactor"] > 0.0
    assert last["reactor_temperature"] == pytest.approx(823.15, abs=2.0)  # held by the controller
    # slow-pyrolysis range of the products: 20-35 % char, 30-40 % gas in the textbook figure (weak source)
    assert 0.15 <= last["char_yield"] <= 0.40


@pytest.fixture(scope="module")
def stored_energy_rate(reactor):
    """d(stored energy)/dt from the chain rule over the model's own state derivatives."""
    stored = reactor.defining_expression("stored_energy")
    rate = sum(sp.diff(stored, d.symbol) * reactor.defining_expression(f"der({d.name})") for d in reactor.states)
    return sp.lambdify([d.symbol for d in reactor.argument_declarations()], rate, "numpy")


holdups = st.floats(0.0, 50.0)


@settings(max_examples=200, deadline=None)
@given(
    scheme=st.sampled_from([CHAN, THURNER_MANN, DI_BLASI_BRANCA]), secondary=st.sampled_from([0, 1, 2]),
    temp=st.floats(400.0, 1100.0), t_set=st.floats(500.0, 1000.0), feed=st.floats(0.0, 1.0),
    moisture=st.floats(0.0, 0.6), ash=st.floats(0.0, 0.5), aux=st.floats(0.0, 1e6), f_tar=st.floats(0.0, 1.0),
    m_loop=st.one_of(st.just(0.0), st.floats(1e-3, 50.0)), wood=holdups, char=holdups, tar=st.floats(0.0, 2.0),
    gas=st.floats(0.0, 2.0), water=holdups,
)
def test_energy_balance_and_yield_bounds_hold_everywhere(
    reactor, stored_energy_rate, scheme, secondary, temp, t_set, feed, moisture, ash, aux, f_tar, m_loop,
    wood, char, tar, gas, water,
):
    values = {"kinetic_scheme": scheme, "secondary_scheme": secondary, "reactor_temperature": temp,
              "reactor_temperature_setpoint": t_set, "dry_feed_mass_flow": feed, "feed_moisture": moisture,
              "feed_ash": ash, "auxiliary_fuel_power": aux, "tar_burn_fraction": f_tar, "loop_mass_flow": m_loop,
              "wood_holdup": wood, "char_holdup": char, "tar_holdup": tar, "gas_holdup": gas,
              "moisture_holdup": water}
    out = reactor.evaluate(**values)
    ports = {p: float(out[f"{p}_power"]) for p in reactor.ports}
    args = {d.name: d.start for d in reactor.parameters} | {d.name: d.start for d in reactor.inputs}
    args |= reactor.initial_state() | values
    rate = float(stored_energy_rate(*(args[d.name] for d in reactor.argument_declarations())))
    scale = sum(abs(v) for v in ports.values()) + abs(rate) + 1e-6
    assert abs(rate - sum(ports.values())) <= 1e-9 * scale
    for name in ("primary_gas_yield", "primary_tar_yield", "primary_char_yield", "char_yield", "tar_yield",
                 "gas_yield"):
        assert 0.0 <= float(out[name]) <= 1.0, name
    # the chamber cannot hand out more than it releases
    for name in ("heat_to_reactor", "heat_to_loop", "flue_gas_loss"):
        assert float(out[name]) >= -1e-9 * float(out["heat_released"]) - 1e-9, name
    # mass: the holdups change by what comes in minus what leaves
    inflow = feed + feed * moisture / (1 - moisture)
    outflow = sum(float(out[f"der({n})"]) for n in OUTFLOWS)
    change = sum(float(out[f"der({n})"]) for n in MASS_STATES)
    assert float(out["der(feed_received)"]) == pytest.approx(inflow, rel=1e-12, abs=1e-300)
    assert change == pytest.approx(inflow - outflow, rel=1e-9, abs=1e-9 * (inflow + outflow) + 1e-300)


# 6 s on the Python integrator: the same property is proven in the default run through the FMU
# (test_fmu_counters_close_mass_and_energy_over_random_input_sequences)
@pytest.mark.slow
@settings(max_examples=4, deadline=None)
@given(
    scheme=st.sampled_from([CHAN, THURNER_MANN, DI_BLASI_BRANCA]), feed=st.floats(0.01, 0.2),
    moisture=st.floats(0.0, 0.5), aux=st.floats(0.0, 5e5), t_set=st.floats(700.0, 950.0),
)
def test_mass_and_energy_counters_close_over_random_runs(reactor, scheme, feed, moisture, aux, t_set):
    res = simulate(
        reactor, 1800.0, 300.0, rtol=1e-8, atol=1e-10, parameters={"kinetic_scheme": scheme},
        inputs={"dry_feed_mass_flow": lambda t: feed if t < 900 else feed / 2, "feed_moisture": moisture,
                "auxiliary_fuel_power": aux, "reactor_temperature_setpoint": t_set},
    )
    held = sum(res[n] for n in MASS_STATES)
    left = sum(res[n] for n in OUTFLOWS)
    assert np.max(np.abs(res["feed_received"] - left - (held - held[0]))) <= 1e-8 * res["feed_received"][-1]
    counters = sum(res[f"{p}_energy"] for p in reactor.ports)
    throughput = res["feed_energy"][-1] + res["auxiliary_energy"][-1]
    assert np.max(np.abs(res["stored_energy"] - res["stored_energy"][0] - counters)) <= 1e-6 * throughput


@pytest.fixture(scope="module")
def reactor_fmus(tmp_path_factory, reactor):
    out = tmp_path_factory.mktemp("pyrolysis_fmus")
    return {v: export_fmu(reactor, out, v) for v in (2, 3)}


@pytest.mark.parametrize("version", [2, 3])
def test_exported_fmu_validates_and_conserves_mass_and_energy(reactor, reactor_fmus, version):
    path = str(reactor_fmus[version])
    assert validate_fmu(path) == []
    signal = np.array(
        [(0.0, 3e5, 0.05), (1800.0, 3e5, 0.05), (1800.0, 0.0, 0.05), (3600.0, 0.0, 0.08), (7200.0, 0.0, 0.08)],
        dtype=[("time", float), ("auxiliary_fuel_power", float), ("dry_feed_mass_flow", float)],
    )
    counters = [f"{p}_energy" for p in reactor.ports]
    res = simulate_fmu(path, stop_time=7200.0, output_interval=300.0, input=signal,
                       output=[*counters, "stored_energy", "feed_received", *OUTFLOWS, *MASS_STATES,
                               "reactor_temperature", "heat_to_loop", "char_yield"])
    for name in res.dtype.names:
        assert np.all(np.isfinite(res[name])), name
    throughput = res["feed_energy"][-1] + res["auxiliary_energy"][-1]
    balance = res["stored_energy"] - res["stored_energy"][0] - sum(res[c] for c in counters)
    assert np.max(np.abs(balance)) <= 1e-5 * throughput
    held = sum(res[n] for n in MASS_STATES)
    left = sum(res[n] for n in OUTFLOWS)
    assert np.max(np.abs(res["feed_received"] - left - (held - held[0]))) <= 1e-6 * res["feed_received"][-1]
    assert res["heat_to_loop"][-1] > 0
    assert 0.0 <= res["char_yield"][-1] <= 1.0


def test_drying_a_wet_batch_cools_the_reactor_as_the_latent_and_sensible_heats_demand(reactor):
    """Adiabatic batch of water evaporating, steam leaving at T: with u = C_r + m c_w and
    beta = c_steam - c_water, d(dh + beta dT)/(dh + beta dT) = (beta / c_w) du/u, so
    dh + beta dT_end = (dh + beta dT_0) (C_r / (C_r + m_0 c_w))^(beta / c_w) once all water is gone.
    dh = 2.501 MJ/kg is the enthalpy of vaporisation of water at 0 degC (steam tables)."""
    c_r, m0, t0 = 1e5, 1.0, 823.15
    dh, c_w, c_s = 2.501e6, 4186.0, 2000.0
    beta = c_s - c_w
    res = simulate(reactor, 120.0, 60.0, rtol=1e-10, atol=1e-12, inputs={"dry_feed_mass_flow": 0.0},
                   parameters={"reactor_heat_capacity": c_r, "moisture_holdup_start": m0, "loss_conductance": 0.0,
                               "temperature_controller_gain": 0.0, "solids_residence_time": 1e15,
                               "reactor_temperature_start": t0})
    assert res["moisture_holdup"][-1] < 1e-9 * m0
    dt_end = ((dh + beta * (t0 - 273.15)) * (c_r / (c_r + m0 * c_w)) ** (beta / c_w) - dh) / beta
    assert res["reactor_temperature"][-1] - 273.15 == pytest.approx(dt_end, rel=1e-7)
    assert res["steam_discharged"][-1] == pytest.approx(m0, rel=1e-9)


@settings(max_examples=25, deadline=None)
@given(st.lists(
    st.tuples(st.floats(0.0, 0.2), st.floats(0.0, 0.6), st.floats(0.0, 5e5), st.floats(650.0, 950.0),
              st.floats(0.0, 1.0), st.one_of(st.just(0.0), st.floats(0.1, 20.0)), st.floats(1.0, 1800.0)),
    min_size=1, max_size=8,
))
@example(steps=[(1.1125369292536007e-308, 0.0, 0.0, 650.0, 0.0, 5e-324, 1.0)])  # subnormal flows: no inf yields
def test_fmu_counters_close_mass_and_energy_over_random_input_sequences(reactor, reactor_fmus, steps):
    comp = FmuComponent(reactor_fmus[3], "pyrolysis")
    counters = [f"{p}_energy" for p in reactor.ports]
    names = ["stored_energy", *counters, "feed_received", *OUTFLOWS, *MASS_STATES]
    try:
        comp.setup(0.0, None, {})
        before = comp.get_outputs(names)
        t = 0.0
        for feed, moisture, aux, t_set, f_tar, m_loop, dt in steps:
            comp.set_inputs({"dry_feed_mass_flow": feed, "feed_moisture": moisture, "auxiliary_fuel_power": aux,
                             "reactor_temperature_setpoint": t_set, "tar_burn_fraction": f_tar,
                             "loop_mass_flow": m_loop})
            assert comp.do_step(t, dt).ok
            t += dt
        delta = dict(zip(names, comp.get_outputs(names) - before, strict=True))
        after = dict(zip(names, comp.get_outputs(names), strict=True))
    finally:
        comp.close()
    throughput = sum(abs(after[c]) for c in counters) + 1.0
    assert abs(delta["stored_energy"] - sum(delta[c] for c in counters)) <= 1e-5 * throughput
    held = sum(delta[n] for n in MASS_STATES)
    assert abs(delta["feed_received"] - sum(delta[n] for n in OUTFLOWS) - held) <= 1e-8 * (after["feed_received"] + 1)
    for name in MASS_STATES:
        assert after[name] >= -1e-9 * (after["feed_received"] + 1), name
