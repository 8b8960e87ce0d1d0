'''Water-to-water heat pump (Carnot effectiveness) with capacity and wastewater source limits.

The condenser heats a water stream (district heating side), the evaporator cools a water stream
(the wastewater loop side). Both exchangers hold water (thermal inertia); their mixed water
temperatures are the outlet temperatures and the model's states.

Energy balances (c_c, c_e specific heats, C_con, C_eva heat capacities of the water held)::

    C_con dT_c/dt = m_c c_c (T_c,in - T_c) + Q_con
    C_eva dT_e/dt = m_e c_e (T_e,in - T_e) - Q_eva
    Q_eva = Q_con - P_el,   P_el = Q_con / COP           (first law of the refrigerant cycle, no losses)

Demand (``demand_mode``): 1 supply set point, Q_dem = max(0, m_c c_c (T_set - T_c,in)) (the heat that
brings the condenser outlet to the set point in steady state); 2 part load, Q_dem = y Q_cap,unit with
y in [0, 1]. The delivered heat is the demand limited three times:

    Q_1   = min(Q_dem, Q_cap)                 Q_cap = min(Q_cap,unit, max(0, m_c c_c (T_c,max - T_c,in)))
    Q_src = max(0, m_e c_e (T_e,in - T_e,min)) COP / (COP - 1)     (source limit)
    Q_con = min(Q_1, Q_src)

so that in steady state the evaporator outlet never falls below ``minimum_evaporator_outlet_temperature``
and the condenser outlet never rises above ``maximum_condenser_outlet_temperature``.

Performance: Carnot effectiveness (Modelica Buildings ``Fluid.Chillers.BaseClasses.Carnot``)::

    y      = Q_1 / Q_nom                               part-load ratio
    T_con* = T_c + y dT_app,con,   T_eva* = T_e - y dT_app,eva
    COP    = η_Carnot η_PL(y) T_con* / max(1 K, T_con* - T_eva*),  limited to [COP_min, COP_max]
    η_PL   = a_0 + (1 - a_0 - a_2) y + a_2 y²         (so that η_PL(1) = 1)

The evaporator approach uses the same part-load ratio y as the condenser (Buildings uses
Q_eva / Q_eva,nom; the two differ by the variation of COP between the operating and the nominal
point). COP is evaluated at Q_1, before the source limit, so that the limits need no iteration; a
source-limited unit therefore runs at the COP of its capacity-limited demand. An EN 14511 performance
map (bilinear table, e.g. WAMAK 220 kW) is not part of this model yet.

``status`` (Integer): 0 ok, 1 capacity-limited (the demand exceeds the unit's capacity or the
condenser outlet limit), 2 source-limited (the evaporator outlet limit caps the output), 3 outside the
operating envelope (the Carnot COP is above ``maximum_cop`` or below ``minimum_cop`` and is held at
that limit). The highest applicable value is reported.

Second law (checked by the tests): in steady state the stream entropy generation
m_c c_c ln(T_c/T_c,in) + m_e c_e ln(T_e/T_e,in) ≥ 0 and 1 < COP < COP_Lorenz, which holds whenever
η_Carnot η_PL(y) ≤ 1 (COP ≤ Carnot(T_c, T_e) ≤ Lorenz of the two streams; Reinholdt et al. 2018).
``entropy_generation`` is that stream expression evaluated with the states as outlets; during
transients it also contains the change of the water held.

Assumptions: constant specific heats; lossless casing (Q_con = Q_eva + P_el); fully mixed water volumes;
demand and limits are evaluated from the inlets and the current states (no algebraic loop); the source
and condenser limits are steady-state limits (the mixed volumes may pass them briefly in transients).
Validity: liquid water or brine 0-100 °C, temperature lifts where status is not 3.

References and published numbers used by the tests: Drammen 14 MW, 65 → 90 °C, fjord water
8-9 °C, COP 3.0, implied Carnot effectiveness 0.68 (§4.7); Wien ebswien 55 MW, 2/3 of the heat from the
effluent cooled by ~6 K (§4.7); ANIKA 162 kg/s effluent at 12 °C cannot give 20 MW (§1.1).
'''

from __future__ import annotations

import sympy as sp

from kreislauf.models.declare import T_REF, Model

__all__ = [
    "PART_LOAD",
    "STATUS_CAPACITY",
    "STATUS_ENVELOPE",
    "STATUS_OK",
    "STATUS_SOURCE",
    "SUPPLY_SETPOINT",
    "build",
]

SUPPLY_SETPOINT = 1
PART_LOAD = 2
STATUS_OK, STATUS_CAPACITY, STATUS_SOURCE, STATUS_ENVELOPE = 0, 1, 2, 3
"""Values of the ``status`` output."""


def _flag(difference: sp.Expr) -> sp.Expr:
    """1 where ``difference`` > 0, else 0, without a Piecewise (``floor((1 + sign(d)) / 2)``)."""
    return sp.floor((1 + sp.sign(difference)) / 2)


def build() -> Model:
    """Declare the water-to-water heat pump model."""
    m = Model(
        "heat_pump",
        "Water-to-water heat pump (Carnot effectiveness) with capacity and wastewater source limits",
        references=[
            "Modelica Buildings Library, Buildings.Fluid.Chillers.BaseClasses.Carnot",
            "Reinholdt et al., Heat pump COP part 1: Generalized method for screening of system integration "
            "potentials, Refrigeration Science and Technology (2018)",
        ],
    )
    demand_mode = m.parameter(
        "demand_mode", unit="1", start=SUPPLY_SETPOINT, min=1, max=2, type="Integer",
        description="1 condenser outlet (supply) temperature set point, 2 part-load ratio input",
    )
    q_nom = m.parameter(
        "nominal_heating_capacity", unit="W", start=108.6e3, min=1.0, max=1e9,
        description="Carnot model: condenser heat at full load (capacity)",
    )
    eta = m.parameter(
        "carnot_effectiveness", unit="1", start=0.45, min=0.01, max=0.99,
        description="Carnot model: COP divided by the Carnot COP at full load",
    )
    app_con = m.parameter(
        "condenser_approach_temperature", unit="K", start=2.0, min=0.0, max=50.0,
        description="Carnot model: refrigerant condensing minus condenser outlet temperature at full load",
    )
    app_eva = m.parameter(
        "evaporator_approach_temperature", unit="K", start=2.0, min=0.0, max=50.0,
        description="Carnot model: evaporator outlet minus refrigerant evaporating temperature at full load",
    )
    a0 = m.parameter(
        "part_load_coefficient_0", unit="1", start=1.0, min=0.0, max=1.0,
        description="Carnot model: constant term a_0 of the part-load efficiency polynomial",
    )
    a2 = m.parameter(
        "part_load_coefficient_2", unit="1", start=0.0, min=-1.0, max=1.0,
        description="Carnot model: quadratic term a_2 of the part-load efficiency polynomial (a_1 = 1 - a_0 - a_2)",
    )
    cop_max = m.parameter(
        "maximum_cop", unit="1", start=10.0, min=1.5, max=100.0,
        description="Carnot model: COP limit at small temperature lifts (status 3 when reached)",
    )
    cop_min = m.parameter(
        "minimum_cop", unit="1", start=1.05, min=1.001, max=10.0,
        description="COP floor at large temperature lifts (status 3 when reached)",
    )
    t_eva_min = m.parameter(
        "minimum_evaporator_outlet_temperature", unit="K", start=277.15, min=250.0, max=350.0,
        description="lowest steady-state evaporator outlet temperature (source limit)",
    )
    t_con_max = m.parameter(
        "maximum_condenser_outlet_temperature", unit="K", start=368.15, min=280.0, max=420.0,
        description="highest steady-state condenser outlet temperature (capacity limit)",
    )
    c_con = m.parameter(
        "condenser_heat_capacity", unit="J/K", start=2.0e5, min=1.0, max=1e12,
        description="heat capacity of the water held in the condenser",
    )
    c_eva = m.parameter(
        "evaporator_heat_capacity", unit="J/K", start=2.0e5, min=1.0, max=1e12,
        description="heat capacity of the water held in the evaporator",
    )
    cp_c = m.parameter(
        "condenser_specific_heat", unit="J/(kg.K)", start=4190.0, min=100.0, max=1e4,
        description="specific heat capacity of the condenser water",
    )
    cp_e = m.parameter(
        "evaporator_specific_heat", unit="J/(kg.K)", start=4190.0, min=100.0, max=1e4,
        description="specific heat capacity of the evaporator water or brine",
    )

    m_c = m.input("condenser_mass_flow", unit="kg/s", start=5.0, min=0.0, max=1e5,
                  description="mass flow through the condenser")
    t_ci = m.input("condenser_inlet_temperature", unit="K", start=323.15, min=253.15, max=420.0,
                   description="condenser inlet (district heating return) temperature")
    m_e = m.input("evaporator_mass_flow", unit="kg/s", start=5.0, min=0.0, max=1e5,
                  description="mass flow through the evaporator")
    t_ei = m.input("evaporator_inlet_temperature", unit="K", start=285.15, min=253.15, max=380.0,
                   description="evaporator inlet (source) temperature")
    t_set = m.input("supply_temperature_setpoint", unit="K", start=333.15, min=253.15, max=420.0,
                    description="demand mode 1: condenser outlet temperature set point")
    y_in = m.input("part_load_ratio", unit="1", start=1.0, min=0.0, max=1.0,
                   description="demand mode 2: requested fraction of the available capacity")

    t_c = m.state("condenser_outlet_temperature", unit="K", start=323.15, min=200.0, max=500.0, nominal=300.0,
                  description="mixed condenser water temperature = condenser outlet temperature")
    t_e = m.state("evaporator_outlet_temperature", unit="K", start=285.15, min=200.0, max=500.0, nominal=300.0,
                  description="mixed evaporator water temperature = evaporator outlet temperature")

    cap = sp.Min(q_nom, sp.Max(0, m_c * cp_c * (t_con_max - t_ci)))
    setpoint_heat = sp.Max(0, m_c * cp_c * (t_set - t_ci))
    demand = m.output("heat_demand", (2 - demand_mode) * setpoint_heat + (demand_mode - 1) * y_in * q_nom,
                      unit="W", min=0.0,
                      description="condenser heat requested by the set point or the part-load input")
    q_1 = m.local("capacity_limited_heat", sp.Min(demand, cap), unit="W",
                  description="demand limited by the capacity and the condenser outlet limit")
    y = m.output("part_load", q_1 / q_nom, unit="1", description="part-load ratio Q_1 / Q_nom")
    t_con_act = t_c + y * app_con
    t_eva_act = t_e - y * app_eva
    eta_pl = a0 + (1 - a0 - a2) * y + a2 * y**2
    cop_carnot = m.local("unlimited_cop", eta * eta_pl * t_con_act / sp.Max(1, t_con_act - t_eva_act),
                         unit="1", description="COP before the maximum_cop and minimum_cop limits")
    cop = m.output("cop", sp.Max(sp.Min(cop_carnot, cop_max), cop_min), unit="1",
                   description="coefficient of performance Q_con / P_el at the operating point")
    source_heat = sp.Max(0, m_e * cp_e * (t_ei - t_eva_min))
    source_cap = m.local("source_limited_heat", source_heat * cop / (cop - 1), unit="W",
                         description="largest condenser heat the source allows at this COP")
    q_con = m.output("condenser_heat", sp.Min(q_1, source_cap), unit="W", min=0.0,
                     description="heat delivered to the condenser water")
    p_el = m.output("electrical_power", q_con / cop, unit="W", min=0.0,
                    description="electrical power of the compressor")
    q_eva = m.output("evaporator_heat", q_con - p_el, unit="W", description="heat taken from the evaporator water")
    m.output(
        "status",
        sp.Max(STATUS_ENVELOPE * sp.Max(_flag(cop_carnot - cop_max), _flag(cop_min - cop_carnot)),
               STATUS_SOURCE * _flag(q_1 - source_cap), STATUS_CAPACITY * _flag(demand - cap)),
        unit="1", type="Integer", min=0, max=3,
        description="0 ok, 1 capacity-limited, 2 source-limited, 3 outside the operating envelope",
    )
    m.output("entropy_generation",
             m_c * cp_c * sp.log(t_c / t_ci) + m_e * cp_e * sp.log(t_e / t_ei), unit="W/K",
             description="entropy generation of the two water streams with the states as outlets (steady state)")
    m.derivative(t_c, (m_c * cp_c * (t_ci - t_c) + q_con) / c_con)
    m.derivative(t_e, (m_e * cp_e * (t_ei - t_e) - q_eva) / c_eva)

    m.fluid_port("condenser_inlet", mass_flow=m_c, temperature=t_ci, specific_heat=cp_c, inlet=True)
    m.fluid_port("condenser_outlet", mass_flow=m_c, temperature=t_c, specific_heat=cp_c, inlet=False)
    m.fluid_port("evaporator_inlet", mass_flow=m_e, temperature=t_ei, specific_heat=cp_e, inlet=True)
    m.fluid_port("evaporator_outlet", mass_flow=m_e, temperature=t_e, specific_heat=cp_e, inlet=False)
    m.electrical_port("compressor", power=p_el)
    m.stored_energy(c_con * (t_c - T_REF) + c_eva * (t_e - T_REF))
    return m.finish()
