"""Gas-engine combined heat and power unit burning biogas methane, with part-load efficiencies.

The unit burns the methane it is offered up to its rated fuel input, turns it into electricity and
heat, and gives the heat to a hot-water loop. Methane beyond what the engine can burn (more than the
rated input, less than the minimum load, or a load limit below the offer) is not burnt: it is
reported as ``surplus_methane_mass_flow`` (to a flare or a gas store), never silently dropped.

Equations (all powers in W)::

    P_fuel,offer = m_CH4 · LHV_CH4
    L_fuel       = min(P_fuel,offer / P_fuel,rated, L_limit)      (fuel load, 0..1)
    L            = L_fuel if L_fuel ≥ L_min else 0                 (the engine stops below minimum load)
    x            = 1 − L                                           (part-load depth)
    η_el,full    = η_el,rated − a_age · t_op                       (ageing, Renewable Energy 114 (2017);
                                                                    t_op is a state counting running time)
    η_el(L)      = η_el,full − (a x + b x²)                        (part-load drop, same source)
    η_th(L)      = r (1 − η_el(L))                                 (r: recoverable share of the fuel
                                                                    energy not turned into electricity)
    P_fuel  = L · P_fuel,rated,  P_el = η_el P_fuel,  Q_th = η_th P_fuel
    Q_water = min(Q_th, m_w c_w (T_max − T_w,in))                  (the loop cannot be heated beyond T_max;
                                                                    the rest goes to the emergency cooler)
    Q_loss  = P_fuel − P_el − Q_water                              (flue gas, radiation, emergency cooler)
    T_w,out = T_w,in + Q_water / (m_w c_w)                         (T_w,in at zero water flow)

Energy balance: V̇_CH4 · LHV = P_el + Q_th + Q_loss,engine holds exactly, and with the emergency cooler
P_fuel = P_el + Q_water + Q_loss. η_el + η_th = η_el + r (1 − η_el) < 1 for every r < 1 by construction,
and the parameter ranges keep η_el > 0 at every allowed load, age and part-load fit. The unit stores
no energy.

Part-load coefficients: a = 0.07375, b = 0.05625 fit the middle of the published field ranges of
electrical efficiency drop for biogas engines, 0.9–2.5 %-points at 80 % load (middle 1.7) and
2.7–5.0 %-points at 60 % load (middle 3.85) (Renewable Energy 114 (2017) 857–865): a·0.2 + b·0.04 = 0.017,
a·0.4 + b·0.16 = 0.0385. Rated efficiencies: η_el = 0.40 (500 kW-class biogas engines 39–42 %,
kwk-flexperten), η_th = 0.46 (4.0 kWh_el + 4.6 kWh_th per m³ of gas, stadtwerke.it, overall ≈ 86–90 %).
r = 0.46 / (1 − 0.40) = 0.7667 reproduces the rated pair. Ageing: 0.45 %-points per 10 000 operating
hours (middle of 0.2–0.7).
LHV of methane: 802.3 kJ/mol / 16.043 g/mol = 50.01 MJ/kg (35.8 MJ/Nm³; physics notes §6.2 give ≈ 35.9).

Assumptions: quasi-steady engine (no thermal inertia; start-up and cool-down are not modelled),
constant water specific heat, all fuel energy that is neither electricity nor heat into the loop is a
loss. Validity: load between the minimum load and 1; the part-load fit is anchored at 60–100 % load.
"""

from __future__ import annotations

import sympy as sp

from kreislauf.models.declare import Model
from kreislauf.models.units import HOUR

__all__ = ["METHANE_LHV", "PART_LOAD_LINEAR", "PART_LOAD_QUADRATIC", "build"]

TINY = 1e-200
"""A divisor at or below this counts as zero, so that no reciprocal overflows in the generated C."""

METHANE_LHV = 802.3e3 / 16.043e-3
"""Lower heating value of methane, J/kg (802.3 kJ/mol, 16.043 g/mol)."""
PART_LOAD_LINEAR = 0.07375
PART_LOAD_QUADRATIC = 0.05625


def build() -> Model:
    """Declare the CHP unit model."""
    m = Model(
        "chp_unit",
        "Biogas gas-engine CHP: electricity and heat to a water loop with part-load efficiencies",
        references=[
            "Renewable Energy 114 (2017) 857-865 (electrical efficiency of biogas CHP units in the field)",
            "kwk-flexperten.net, BHKW Wirkungsgrad (39-42 % electrical, 500 kW class)",
            "stadtwerke.it, Blockheizkraftwerke (4.0 kWh_el + 4.6 kWh_th per m3 gas)",
        ],
    )
    p_rated = m.parameter("rated_fuel_power", unit="W", start=1.25e6, min=1.0, max=1e9,
                          description="fuel (LHV) input at full load")
    eta_el_rated = m.parameter("rated_electrical_efficiency", unit="1", start=0.40, min=0.25, max=0.55,
                               description="electrical efficiency at full load of a new engine")
    recovery = m.parameter("heat_recovery_share", unit="1", start=0.46 / 0.60, min=0.0, max=0.99,
                           description="recoverable share of the fuel energy not turned into electricity")
    a = m.parameter("part_load_linear", unit="1", start=PART_LOAD_LINEAR, min=0.0, max=0.1,
                    description="linear coefficient a of the electrical efficiency drop a x + b x^2, x = 1 - load")
    b = m.parameter("part_load_quadratic", unit="1", start=PART_LOAD_QUADRATIC, min=0.0, max=0.1,
                    description="quadratic coefficient b of the electrical efficiency drop")
    l_min = m.parameter("minimum_load", unit="1", start=0.5, min=0.2, max=1.0,
                        description="lowest fuel load at which the engine runs")
    ageing = m.parameter("electrical_efficiency_ageing", unit="1/s", start=0.0045 / (1e4 * HOUR), min=0.0,
                         max=2.5e-10, description="drop of electrical efficiency per second of operation")
    lhv = m.parameter("methane_lower_heating_value", unit="J/kg", start=METHANE_LHV, min=4.5e7, max=5.5e7,
                      description="lower heating value of methane")
    cp_w = m.parameter("water_specific_heat", unit="J/(kg.K)", start=4190.0, min=1000.0, max=1e4,
                       description="specific heat capacity of the loop water")
    t_max = m.parameter("maximum_water_outlet_temperature", unit="K", start=368.15, min=280.0, max=420.0,
                        description="highest loop outlet temperature; heat beyond it goes to the emergency cooler")

    m_ch4 = m.input("methane_mass_flow", unit="kg/s", start=0.025, min=0.0, max=100.0,
                    description="methane offered to the engine")
    limit = m.input("load_limit", unit="1", start=1.0, min=0.0, max=1.0,
                    description="largest fuel load the operator allows (0 stops the engine)")
    m_w = m.input("water_mass_flow", unit="kg/s", start=10.0, min=0.0, max=1e4,
                  description="loop water mass flow")
    t_w_in = m.input("water_inlet_temperature", unit="K", start=333.15, min=273.15, max=420.0,
                     description="loop water inlet (return) temperature")

    hours = m.state("operating_time", unit="s", start=0.0, min=0.0, max=2.5e8, nominal=3.6e7,
                    description="operating time of the engine (ageing), counting while it runs")
    offer = m.local("offered_fuel_power", m_ch4 * lhv, unit="W", description="LHV power of the methane offered")
    l_fuel = sp.Min(offer / p_rated, limit)
    load = m.output("load", sp.Piecewise((l_fuel, l_fuel >= l_min), (0, True)), unit="1", min=0.0, max=1.0,
                    description="fuel load (fuel input over rated fuel input)")
    m.derivative(hours, sp.Piecewise((1, load > 0), (0, True)))
    x = 1 - load
    drop = m.local("electrical_efficiency_drop", a * x + b * x**2, unit="1",
                   description="part-load drop of the electrical efficiency")
    eta_el = m.output("electrical_efficiency", eta_el_rated - ageing * hours - drop, unit="1",
                      description="electrical efficiency at the present load")
    eta_th = m.output("thermal_efficiency", recovery * (1 - eta_el), unit="1",
                      description="recoverable heat per fuel input at the present load")
    p_fuel = m.output("burnt_fuel_power", load * p_rated, unit="W", min=0.0,
                      description="LHV power of the methane burnt")
    burnt = p_fuel / lhv
    m.output("methane_burnt", burnt, unit="kg/s", min=0.0, description="methane mass flow burnt")
    m.output("surplus_methane_mass_flow", m_ch4 - burnt, unit="kg/s",
             description="methane offered but not burnt (to a flare or gas store)")
    p_el = m.output("electrical_power", eta_el * p_fuel, unit="W", description="electrical power delivered")
    q_th = m.output("engine_heat", eta_th * p_fuel, unit="W", description="recoverable heat of the engine")
    capacity = m_w * cp_w
    q_water = m.output("heat_to_water", sp.Min(q_th, sp.Max(capacity * (t_max - t_w_in), 0)), unit="W",
                       description="heat given to the loop water")
    m.output("dumped_heat", q_th - q_water, unit="W", min=0.0,
             description="recoverable heat the loop could not take (emergency cooler)")
    q_loss = m.output("heat_loss", p_fuel - p_el - q_water, unit="W",
                      description="flue gas, radiation and emergency cooler losses")
    t_w_out = m.output("water_outlet_temperature",
                       sp.Piecewise((t_w_in + q_water / capacity, capacity > TINY), (t_w_in, True)), unit="K",
                       description="loop water outlet (supply) temperature")

    m.chemical_port("fuel", power=p_fuel, description="methane burnt, mass flow times LHV")
    m.electrical_port("generator", power=-p_el, description="electricity delivered")
    m.heat_port("losses", power=-q_loss, description="flue gas, radiation and emergency cooler")
    m.fluid_port("water_inlet", mass_flow=m_w, temperature=t_w_in, specific_heat=cp_w, inlet=True)
    m.fluid_port("water_outlet", mass_flow=m_w, temperature=t_w_out, specific_heat=cp_w, inlet=False)
    m.stored_energy(0)
    return m.finish()
