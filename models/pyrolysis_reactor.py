"""Biomass pyrolysis reactor with gas (and tar) combustion for process heat and heat recovery to water.

Biomass (dry mass flow ṁ_dry with ash fraction a, moisture fraction x on the wet basis) enters a
reactor of temperature T (a state). The solid holdup (wood, char, ash, liquid moisture) leaves with
residence time τ_s, the vapour holdup (tar, gas) with residence time τ_v. The vapours go to a
combustion chamber that burns all gas and the share f_tar of the tar (plus an auxiliary fuel supply
P_aux); the chamber heats the reactor (a proportional temperature controller limited by the heat
available) and gives the rest to a hot-water loop; the flue gas carries a fixed share of the heat
released, and heat the loop cannot take (outlet capped at T_loop,max) is dumped with the flue gas.

Kinetics (first order, k = A exp(−E/(R T)), R = 8.314 J/(mol K)), primary scheme selectable with
``kinetic_scheme``:

    wood → gas (k_g),  wood → tar (k_t),  wood → char (k_c)
    1  Chan, Kelbon & Krieger, Fuel 64 (1985) 1505:  A = 1.3e8, 2.0e8, 1.08e7 1/s; E = 140, 133, 121 kJ/mol
    2  Thurner & Mann, IEC PDD 20 (1981) 482 (oak): A = 1.44e4, 4.13e6, 7.38e5 1/s; E = 88.6, 112.7, 106.5
    3  Di Blasi & Branca, IECR 40 (2001) 5547 (beech): A = 4.38e9, 1.08e10, 3.27e6 1/s; E = 152.7, 148, 111.7
    moisture → vapour: A = 5.13e6 1/s, E = 87.9 kJ/mol (Chan et al. 1985)

Secondary tar cracking in the vapour, selectable with ``secondary_scheme``: 0 none; 1 Di Blasi,
Combust. Sci. Technol. 90 (1993) 315: tar → gas A = 4.28e6 1/s, E = 108 kJ/mol and tar → char
A = 1.0e6 1/s, E = 108 kJ/mol; 2 Liden, Berruti & Scott, Chem. Eng. Commun. 65 (1988) 207:
tar → gas A = 4.28e6 1/s, E = 107.5 kJ/mol. (Constants as transcribed in wigging/kinetic-schemes.)

Mass balances of the holdups (kg)::

    dm_w/dt  = (1 − a) ṁ_dry − (k_g + k_t + k_c) m_w − m_w/τ_s
    dm_c/dt  = k_c m_w + k_tc m_t − m_c/τ_s
    dm_a/dt  = a ṁ_dry − m_a/τ_s
    dm_H2O/dt = ṁ_dry x/(1 − x) − k_ev m_H2O − m_H2O/τ_s          (evaporated water leaves as steam)
    dm_t/dt  = k_t m_w − (k_tg + k_tc) m_t − m_t/τ_v
    dm_g/dt  = k_g m_w + k_tg m_t − m_g/τ_v

Energy (LHV basis, water vapour at T_REF = 273.15 K is the zero of chemical energy): each species i
carries e_i + c_i (T − T_REF) per kg, with e = LHV for wood (daf), char, tar and gas, 0 for ash and
steam and −Δh_vap for liquid water. The reactor stores E = C_r (T − T_REF) + Σ m_i (e_i + c_i (T − T_REF))
and dE/dt = the sum of the port powers, which gives the temperature equation
C_tot dT/dt = P_in − Σ_i (dm_i/dt)(e_i + c_i (T − T_REF)), C_tot = C_r + Σ m_i c_i. The heats of
pyrolysis, cracking and evaporation follow from the differences of e_i and c_i: the primary heat of
reaction is LHV_wood − Σ_i Y_i LHV_i, so it is linear in the yields (Rath et al., Fuel 82 (2003) 81–91,
found it linear in the char yield).

Combustion chamber (no storage)::

    Q_rel  = ṁ_g,out (LHV_g + c_g ΔT) + ṁ_t,out (f_tar LHV_t + c_t ΔT) + ṁ_steam c_s ΔT + P_aux
    Q_r    = min((1 − φ) Q_rel, max(0, K_p (T_set − T)))       (heat to the reactor)
    Q_loop = min((1 − φ) Q_rel − Q_r, ṁ_w c_w (T_loop,max − T_w,in))
    Q_flue = Q_rel − Q_r − Q_loop                              (flue gas loss, ΔT = T − T_REF)

Unburnt tar leaves as a product (chemical port ``tar_outlet``), its sensible heat recovered in the
chamber. Solids (char, ash, unconverted wood and moisture) leave at T through ``char_outlet`` and
``char_outlet_sensible``. The reactor loses UA (T − T_amb) to ambient.

Yields: ``primary_*_yield`` = k_i / Σk (instantaneous split of the wood decomposing, in [0, 1]);
``char_yield``, ``tar_yield``, ``gas_yield`` = the share of each in the daf products leaving the
reactor (equal to the yields on daf feed at steady state with complete conversion).

Default property values (estimates, physics notes §5): LHV wood daf 18.7 MJ/kg (Channiwala–Parikh
for C50 H6 O44), char 30 MJ/kg (HHV 31.0 of a 600 °C char), tar 17 MJ/kg (bio-oil), gas 11.1 MJ/kg
(Neves et al. 2011 at 700 °C); c_p wood 1500, char 1100, ash 840, water 4186, tar 1700, gas 1100,
steam 2000 J/(kg K); Δh_vap(0 °C) = 2.501 MJ/kg.

Assumptions: lumped (perfectly mixed) solid and vapour holdups at one temperature; constant specific
heats; feed particle heating and transport limits not resolved (kinetic regime, thin particles);
the chemical energies of the lumped species are constants, so the heat of reaction of each path is
fixed by them (a known simplification of one-product-per-path schemes). Validity: 550–1000 K for
the kinetics (Di Blasi–Branca measured 573–708 K), moisture up to 60 % wet basis.
"""

from __future__ import annotations

import math

import sympy as sp

from kreislauf.models.declare import T_REF, Model

__all__ = ["CHAN", "DI_BLASI_BRANCA", "GAS_CONSTANT", "PRIMARY", "SECONDARY", "THURNER_MANN", "build"]

TINY = 1e-200
"""A divisor at or below this counts as zero, so that no reciprocal overflows in the generated C."""

GAS_CONSTANT = 8.314
CHAN = 1
THURNER_MANN = 2
DI_BLASI_BRANCA = 3
PRIMARY: dict[int, tuple[tuple[float, float], tuple[float, float], tuple[float, float]]] = {
    CHAN: ((1.3e8, 140e3), (2.0e8, 133e3), (1.08e7, 121e3)),
    THURNER_MANN: ((1.44e4, 88.6e3), (4.13e6, 112.7e3), (7.38e5, 106.5e3)),
    DI_BLASI_BRANCA: ((4.38e9, 152.7e3), (1.08e10, 148e3), (3.27e6, 111.7e3)),
}
"""(A in 1/s, E in J/mol) of wood → gas, wood → tar, wood → char for each primary scheme."""
SECONDARY: dict[int, tuple[tuple[float, float], tuple[float, float]]] = {
    0: ((0.0, 0.0), (0.0, 0.0)),
    1: ((4.28e6, 108e3), (1.0e6, 108e3)),
    2: ((4.28e6, 107.5e3), (0.0, 0.0)),
}
"""(A, E) of tar → gas and tar → char for each secondary scheme (0 none, 1 Di Blasi 1993, 2 Liden 1988)."""
MOISTURE = (5.13e6, 87.9e3)


def _arrhenius(pre: float, energy: float, t: sp.Expr) -> sp.Expr:
    return pre * sp.exp(-energy / (GAS_CONSTANT * t)) if pre else sp.Integer(0)


def _select(selector: sp.Expr, options: dict[int, sp.Expr]) -> sp.Expr:
    keys = sorted(options)
    pieces = [(options[k], sp.Eq(selector, k)) for k in keys[:-1]]
    return sp.Piecewise(*pieces, (options[keys[-1]], True))


def build() -> Model:
    """Declare the pyrolysis reactor model."""
    m = Model(
        "pyrolysis_reactor",
        "Biomass pyrolysis reactor (selectable kinetics, tar cracking) with gas combustion and heat recovery",
        references=[
            "Chan, Kelbon & Krieger, Fuel 64 (1985) 1505-1513",
            "Thurner & Mann, Ind. Eng. Chem. Process Des. Dev. 20 (1981) 482-488",
            "Di Blasi & Branca, Ind. Eng. Chem. Res. 40 (2001) 5547-5556",
            "Di Blasi, Combust. Sci. Technol. 90 (1993) 315-340",
            "Liden, Berruti & Scott, Chem. Eng. Commun. 65 (1988) 207-221",
            "Rath et al., Fuel 82 (2003) 81-91",
            "Neves et al., Prog. Energy Combust. Sci. 37 (2011) 611-630",
        ],
    )
    scheme = m.parameter("kinetic_scheme", unit="1", start=CHAN, min=1, max=3, type="Integer",
                         description="primary kinetics: 1 Chan 1985, 2 Thurner-Mann 1981, 3 Di Blasi-Branca 2001")
    secondary = m.parameter("secondary_scheme", unit="1", start=1, min=0, max=2, type="Integer",
                            description="tar cracking: 0 none, 1 Di Blasi 1993 (tar to gas and char), 2 Liden 1988")
    tau_s = m.parameter("solids_residence_time", unit="s", start=1200.0, min=1.0, max=1e15,
                        description="mean residence time of the solids (holdup over discharge)")
    tau_v = m.parameter("vapour_residence_time", unit="s", start=2.0, min=1e-3, max=1e15,
                        description="mean residence time of tar and gas in the reactor")
    c_r = m.parameter("reactor_heat_capacity", unit="J/K", start=2e6, min=1.0, max=1e20,
                      description="heat capacity of the reactor walls and internals")
    ua = m.parameter("loss_conductance", unit="W/K", start=100.0, min=0.0, max=1e7,
                     description="conductance of the reactor heat loss to ambient")
    gain = m.parameter("temperature_controller_gain", unit="W/K", start=1e5, min=0.0, max=1e10,
                       description="heat to the reactor per kelvin below the set point")
    flue = m.parameter("flue_gas_loss_fraction", unit="1", start=0.15, min=0.0, max=1.0,
                       description="share of the heat released in the chamber lost with the flue gas")
    t_loop_max = m.parameter("maximum_loop_temperature", unit="K", start=368.15, min=280.0, max=450.0,
                             description="highest loop outlet temperature; heat beyond it leaves with the flue gas")
    lhv_w = m.parameter("wood_lhv", unit="J/kg", start=18.7e6, min=0.0, max=3e7,
                        description="lower heating value of the dry ash-free feed")
    lhv_c = m.parameter("char_lhv", unit="J/kg", start=30.0e6, min=0.0, max=4e7, description="LHV of char")
    lhv_t = m.parameter("tar_lhv", unit="J/kg", start=17.0e6, min=0.0, max=4e7, description="LHV of tar")
    lhv_g = m.parameter("gas_lhv", unit="J/kg", start=11.1e6, min=0.0, max=5e7, description="LHV of pyrolysis gas")
    h_vap = m.parameter("water_vaporisation_enthalpy", unit="J/kg", start=2.501e6, min=0.0, max=3e6,
                        description="enthalpy of vaporisation of water at 0 degC")
    cp = {
        name: m.parameter(f"{name}_specific_heat", unit="J/(kg.K)", start=value, min=100.0, max=1e4,
                          description=f"specific heat capacity of {text}")
        for name, value, text in [
            ("wood", 1500.0, "the dry ash-free feed"), ("char", 1100.0, "char"), ("ash", 840.0, "ash"),
            ("water", 4186.0, "liquid water"), ("tar", 1700.0, "tar vapour"), ("gas", 1100.0, "pyrolysis gas"),
            ("steam", 2000.0, "steam"), ("loop", 4190.0, "the loop water"),
        ]
    }

    m_dry = m.input("dry_feed_mass_flow", unit="kg/s", start=0.05, min=0.0, max=100.0,
                    description="dry biomass feed (ash included)")
    x = m.input("feed_moisture", unit="1", start=0.2, min=0.0, max=0.6,
                description="moisture of the feed, kg water per kg wet feed")
    a = m.input("feed_ash", unit="1", start=0.05, min=0.0, max=0.5, description="ash per kg dry feed")
    t_feed = m.input("feed_temperature", unit="K", start=288.15, min=233.15, max=373.15,
                     description="temperature of the feed")
    t_set = m.input("reactor_temperature_setpoint", unit="K", start=823.15, min=273.15, max=1100.0,
                    description="set point of the reactor temperature controller")
    p_aux = m.input("auxiliary_fuel_power", unit="W", start=0.0, min=0.0, max=1e8,
                    description="auxiliary fuel fired in the combustion chamber (LHV power)")
    f_tar = m.input("tar_burn_fraction", unit="1", start=1.0, min=0.0, max=1.0,
                    description="share of the tar burnt in the chamber (the rest is a product)")
    m_loop = m.input("loop_mass_flow", unit="kg/s", start=5.0, min=0.0, max=1e4, description="loop water mass flow")
    t_loop_in = m.input("loop_inlet_temperature", unit="K", start=333.15, min=273.15, max=420.0,
                        description="loop water inlet temperature")
    t_amb = m.input("ambient_temperature", unit="K", start=283.15, min=223.15, max=330.0,
                    description="temperature around the reactor")

    m_w = m.state("wood_holdup", unit="kg", start=0.0, min=0.0, max=1e6, nominal=10.0,
                  description="unconverted dry ash-free biomass in the reactor")
    m_c = m.state("char_holdup", unit="kg", start=0.0, min=0.0, max=1e6, nominal=10.0,
                  description="char in the reactor")
    m_a = m.state("ash_holdup", unit="kg", start=0.0, min=0.0, max=1e6, nominal=1.0, description="ash in the reactor")
    m_h2o = m.state("moisture_holdup", unit="kg", start=0.0, min=0.0, max=1e6, nominal=1.0,
                    description="liquid water in the reactor")
    m_t = m.state("tar_holdup", unit="kg", start=0.0, min=0.0, max=1e6, nominal=0.1,
                  description="tar vapour in the reactor")
    m_g = m.state("gas_holdup", unit="kg", start=0.0, min=0.0, max=1e6, nominal=0.1,
                  description="pyrolysis gas in the reactor")
    temp = m.state("reactor_temperature", unit="K", start=823.15, min=250.0, max=2000.0, nominal=800.0,
                   description="reactor temperature")

    k_g = m.local("gas_rate_constant", _select(scheme, {s: _arrhenius(*PRIMARY[s][0], temp) for s in PRIMARY}),
                  unit="1/s", description="k_g, wood to gas")
    k_t = m.local("tar_rate_constant", _select(scheme, {s: _arrhenius(*PRIMARY[s][1], temp) for s in PRIMARY}),
                  unit="1/s", description="k_t, wood to tar")
    k_c = m.local("char_rate_constant", _select(scheme, {s: _arrhenius(*PRIMARY[s][2], temp) for s in PRIMARY}),
                  unit="1/s", description="k_c, wood to char")
    k_tg = m.local("tar_cracking_gas_rate_constant",
                   _select(secondary, {s: _arrhenius(*SECONDARY[s][0], temp) for s in SECONDARY}),
                   unit="1/s", description="k_tg, tar to gas")
    k_tc = m.local("tar_cracking_char_rate_constant",
                   _select(secondary, {s: _arrhenius(*SECONDARY[s][1], temp) for s in SECONDARY}),
                   unit="1/s", description="k_tc, tar to char")
    k_ev = m.local("evaporation_rate_constant", _arrhenius(*MOISTURE, temp), unit="1/s",
                   description="k_ev, moisture to vapour")
    k_sum = k_g + k_t + k_c
    m.output("primary_gas_yield", k_g / k_sum, unit="1", min=0.0, max=1.0, description="k_g / (k_g + k_t + k_c)")
    m.output("primary_tar_yield", k_t / k_sum, unit="1", min=0.0, max=1.0, description="k_t / (k_g + k_t + k_c)")
    m.output("primary_char_yield", k_c / k_sum, unit="1", min=0.0, max=1.0, description="k_c / (k_g + k_t + k_c)")
    m.output("wood_half_life", math.log(2) / k_sum, unit="s", min=0.0,
             description="half-life of the wood at the reactor temperature, ln 2 / (k_g + k_t + k_c)")

    feed_daf = (1 - a) * m_dry
    feed_ash = a * m_dry
    feed_water = m_dry * x / (1 - x)
    decomposition = k_sum * m_w
    evaporation = m.output("evaporation", k_ev * m_h2o, unit="kg/s", min=0.0, description="moisture evaporated")
    rates = {
        "wood": feed_daf - decomposition - m_w / tau_s,
        "char": k_c * m_w + k_tc * m_t - m_c / tau_s,
        "ash": feed_ash - m_a / tau_s,
        "water": feed_water - evaporation - m_h2o / tau_s,
        "tar": k_t * m_w - (k_tg + k_tc) * m_t - m_t / tau_v,
        "gas": k_g * m_w + k_tg * m_t - m_g / tau_v,
    }
    holdup = {"wood": m_w, "char": m_c, "ash": m_a, "water": m_h2o, "tar": m_t, "gas": m_g}
    chemical = {"wood": lhv_w, "char": lhv_c, "ash": 0, "water": -h_vap, "tar": lhv_t, "gas": lhv_g}
    for name, state in holdup.items():
        m.derivative(state, rates[name])

    dt_ref = temp - T_REF
    char_out = m.output("char_production", m_c / tau_s, unit="kg/s", min=0.0, description="char discharged")
    m.output("ash_discharge", m_a / tau_s, unit="kg/s", min=0.0, description="ash discharged with the char")
    m.output("unconverted_feed_discharge", m_w / tau_s, unit="kg/s", min=0.0,
             description="unconverted dry ash-free feed discharged with the char")
    m.output("moisture_discharge", m_h2o / tau_s, unit="kg/s", min=0.0,
             description="liquid water discharged with the char")
    tar_out = m.output("tar_production", m_t / tau_v, unit="kg/s", min=0.0, description="tar leaving the reactor")
    gas_out = m.output("gas_production", m_g / tau_v, unit="kg/s", min=0.0, description="gas leaving the reactor")
    products = char_out + tar_out + gas_out
    for name, flow in (("char", char_out), ("tar", tar_out), ("gas", gas_out)):
        m.output(f"{name}_yield", sp.Piecewise((flow / products, products > TINY), (0, True)), unit="1",
                 min=0.0, max=1.0, description=f"{name} share of the dry ash-free products leaving the reactor")

    solids = {"wood": m_w / tau_s, "char": char_out, "ash": m_a / tau_s, "water": m_h2o / tau_s}
    solids_chemical = sum(flow * chemical[name] for name, flow in solids.items())
    solids_sensible = sum(flow * cp[name] for name, flow in solids.items()) * dt_ref
    released = m.output(
        "heat_released",
        gas_out * (lhv_g + cp["gas"] * dt_ref) + tar_out * (f_tar * lhv_t + cp["tar"] * dt_ref)
        + evaporation * cp["steam"] * dt_ref + p_aux,
        unit="W", min=0.0,
        description="heat released in the combustion chamber (sensible heat of the vapours included)",
    )
    available = (1 - flue) * released
    q_reactor = m.output("heat_to_reactor", sp.Min(available, sp.Max(gain * (t_set - temp), 0)), unit="W", min=0.0,
                         description="heat from the combustion chamber to the reactor")
    loop_capacity = m_loop * cp["loop"]
    loop_limit = sp.Max(loop_capacity * (t_loop_max - t_loop_in), 0)
    q_loop = m.output("heat_to_loop", sp.Min(available - q_reactor, loop_limit),
                      unit="W", min=0.0, description="heat recovered into the hot-water loop")
    q_flue = m.output("flue_gas_loss", released - q_reactor - q_loop, unit="W", min=0.0,
                      description="heat leaving with the flue gas (heat the loop could not take included)")
    q_amb = m.output("reactor_heat_loss", ua * (temp - t_amb), unit="W", description="reactor heat loss to ambient")
    t_loop_out = m.output("loop_outlet_temperature",
                          sp.Piecewise((t_loop_in + q_loop / loop_capacity, loop_capacity > TINY), (t_loop_in, True)),
                          unit="K", description="loop water outlet temperature")

    feed_chemical = feed_daf * lhv_w - feed_water * h_vap
    feed_sensible = (feed_daf * cp["wood"] + feed_ash * cp["ash"] + feed_water * cp["water"]) * (t_feed - T_REF)
    vapour_out = (gas_out * (lhv_g + cp["gas"] * dt_ref) + tar_out * (lhv_t + cp["tar"] * dt_ref)
                  + evaporation * cp["steam"] * dt_ref)
    into_reactor = feed_chemical + feed_sensible - solids_chemical - solids_sensible - vapour_out + q_reactor - q_amb
    total_capacity = c_r + sum(holdup[name] * cp[name] for name in holdup)
    change = sum(rates[name] * (chemical[name] + cp[name] * dt_ref) for name in holdup)
    m.derivative(temp, (into_reactor - change) / total_capacity)

    cumulative = [
        ("feed_received", m_dry + feed_water, "wet feed received since the start"),
        ("solids_discharged", sum(solids.values()), "char, ash, unconverted feed and moisture discharged"),
        ("tar_discharged", tar_out, "tar that left the reactor"),
        ("gas_discharged", gas_out, "gas that left the reactor"),
        ("steam_discharged", evaporation, "moisture evaporated"),
    ]
    for name, flow, text in cumulative:
        state = m.state(name, unit="kg", start=0.0, min=0.0, nominal=100.0, start_parameter=False,
                        description=f"{text} (kg)")
        m.derivative(state, flow)

    m.chemical_port("feed", power=feed_chemical, description="wet feed, LHV as received")
    m.heat_port("feed_sensible", power=feed_sensible, description="sensible heat of the feed above T_REF")
    m.chemical_port("auxiliary", power=p_aux, description="auxiliary fuel fired in the chamber")
    m.chemical_port("char_outlet", power=-solids_chemical, description="char, unconverted feed and moisture")
    m.heat_port("char_outlet_sensible", power=-solids_sensible, description="sensible heat of the discharged solids")
    m.chemical_port("tar_outlet", power=-(1 - f_tar) * tar_out * lhv_t, description="tar not burnt (a product)")
    m.heat_port("flue_gas", power=-q_flue, description="flue gas loss")
    m.heat_port("ambient", power=-q_amb, description="reactor heat loss")
    m.fluid_port("loop_inlet", mass_flow=m_loop, temperature=t_loop_in, specific_heat=cp["loop"], inlet=True)
    m.fluid_port("loop_outlet", mass_flow=m_loop, temperature=t_loop_out, specific_heat=cp["loop"], inlet=False)
    m.stored_energy(c_r * dt_ref + sum(holdup[name] * (chemical[name] + cp[name] * dt_ref) for name in holdup))
    return m.finish()
