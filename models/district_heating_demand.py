"""District-heating demand from a heating signature, with supply and return streams.

Heat demand (degree-hour / heating-signature model, physics notes §7.3)::

    Q_dem = H max(0, T_bal - T_out) + Q_dhw                    (W)

with the outdoor temperature T_out from the input (``outdoor_model = 1``) or a built-in cosine
year (``outdoor_model = 2``): T_out = T_mean - ΔT_s cos(2π (t - t_cold)/Y) - ΔT_d cos(2π (t - t_warm)/D),
t = 0 on 1 January, Y = 365 d, D = 1 d.

Return temperature from a linear heating curve between the design point (T_out,design, T_ret,design)
and the heating limit (T_bal, T_ret,summer), clamped outside. The network delivers the supply stream
at T_sup (input); the consumers take heat and send the stream back at the return temperature::

    ΔT   = max(0, T_sup - T_ret)
    m    = min(m_max, Q_dem / (c_p max(ΔT, ΔT_min)))           mass flow drawn from the supply
    Q    = m c_p ΔT                                            heat delivered to the consumers
    T_r  = T_sup - ΔT                                          return stream temperature
    unmet = Q_dem - Q ≥ 0

The supply set point of the same heating curve (T_sup,design … T_sup,summer) is an output for the
plant controller. Energy: supply enthalpy in - return enthalpy out - Q = 0 exactly (stored energy 0).

Defaults: a city network like ANIKA's: 120 GWh/a (physics notes §1.1; about 10 000 households at
12 MWh/a) with a Jena-like climate (mean 9.3 °C, ±9.5 K seasonal, ±4 K daily, coldest mid-January),
heating limit 15 °C, hot water 2.0 MW all year, supply 90 °C at -12 °C and 70 °C in summer, return
55 °C and 45 °C. Assumptions: no thermal inertia of buildings or pipes; a steady heating signature;
no solar or internal gains beyond the heating limit. Validity: liquid water networks (supply 0-147 °C,
the input range); outdoor temperatures -53 to +57 °C (the input range); the signature's slope and
heating limit are those of the network it was fitted to. A measured demand or outdoor temperature series
enters a system through the CSV time-series component (``kreislauf.timeseries``).

References: physics notes §7.3 (degree-hour / heating-signature model); Stadtwerke Jena, ANIKA (about
120 GWh/a usable heat, about 10 000 households).
"""

from __future__ import annotations

import math

import sympy as sp

from kreislauf.models.declare import Model
from kreislauf.models.units import DAY, HOUR, YEAR

__all__ = ["BUILT_IN_YEAR", "DAY", "OUTDOOR_INPUT", "YEAR", "build"]

TWO_PI = 2 * math.pi
OUTDOOR_INPUT = 1
BUILT_IN_YEAR = 2


def _curve(t_out: sp.Expr, t_design: sp.Expr, t_limit: sp.Expr, at_design: sp.Expr, at_limit: sp.Expr) -> sp.Expr:
    """Linear heating curve through (t_design, at_design) and (t_limit, at_limit), constant outside."""
    x = sp.Min(sp.Max(t_out, t_design), t_limit)
    return at_design + (at_limit - at_design) * (x - t_design) / (t_limit - t_design)


def build() -> Model:
    """Declare the district-heating demand model."""
    m = Model("district_heating_demand", "District-heating demand (heating signature) with supply and return streams",
              references=["Physics notes §7.3: degree-hour / heating-signature model",
                          "Stadtwerke Jena, ANIKA: about 120 GWh/a usable heat (about 10 000 households)"])
    source = m.parameter("outdoor_model", unit="1", start=BUILT_IN_YEAR, min=1, max=2, type="Integer",
                         description="outdoor temperature: 1 from the input, 2 built-in cosine year")
    h = m.parameter("heat_loss_coefficient", unit="W/K", start=1.768e6, min=0.0, max=1e10,
                    description="heating signature slope H (space heating per kelvin below the heating limit)")
    t_bal = m.parameter("heating_limit_temperature", unit="K", start=288.15, min=250.0, max=310.0,
                        description="outdoor temperature above which no space heating is needed")
    q_dhw = m.parameter("hot_water_demand", unit="W", start=2.0e6, min=0.0, max=1e10,
                        description="constant domestic hot-water demand")
    t_mean = m.parameter("mean_outdoor_temperature", unit="K", start=282.45, min=230.0, max=320.0,
                         description="built-in year: yearly mean outdoor temperature")
    dt_s = m.parameter("seasonal_outdoor_amplitude", unit="K", start=9.5, min=0.0, max=40.0,
                       description="built-in year: seasonal amplitude")
    t_cold = m.parameter("coldest_time", unit="s", start=15 * DAY, min=0.0, max=YEAR,
                         description="built-in year: time of year of the coldest day")
    dt_d = m.parameter("daily_outdoor_amplitude", unit="K", start=4.0, min=0.0, max=20.0,
                       description="built-in year: daily amplitude")
    t_warm = m.parameter("warmest_hour", unit="s", start=15 * HOUR, min=0.0, max=DAY,
                         description="built-in year: time of day of the daily maximum")
    t_design = m.parameter("design_outdoor_temperature", unit="K", start=261.15, min=220.0, max=300.0,
                           description="outdoor temperature of the heating-curve design point")
    sup_design = m.parameter("design_supply_temperature", unit="K", start=363.15, min=280.0, max=420.0,
                             description="supply set point at the design point")
    sup_summer = m.parameter("summer_supply_temperature", unit="K", start=343.15, min=280.0, max=420.0,
                             description="supply set point at and above the heating limit")
    ret_design = m.parameter("design_return_temperature", unit="K", start=328.15, min=273.15, max=420.0,
                             description="return temperature at the design point")
    ret_summer = m.parameter("summer_return_temperature", unit="K", start=318.15, min=273.15, max=420.0,
                             description="return temperature at and above the heating limit")
    dt_min = m.parameter("minimum_temperature_difference", unit="K", start=5.0, min=0.1, max=100.0,
                         description="smallest supply-return difference the substations work with")
    m_max = m.parameter("maximum_mass_flow", unit="kg/s", start=500.0, min=0.0, max=1e6,
                        description="largest mass flow the network pumps deliver")
    cp = m.parameter("specific_heat", unit="J/(kg.K)", start=4190.0, min=100.0, max=1e4,
                     description="specific heat capacity of the network water")
    t_out_in = m.input("outdoor_temperature", unit="K", start=273.15, min=220.0, max=330.0,
                       description="outdoor temperature (outdoor_model = 1)")
    t_sup = m.input("supply_temperature", unit="K", start=363.15, min=273.15, max=420.0,
                    description="temperature of the supply stream delivered by the network")
    t = m.time
    built_in = t_mean - dt_s * sp.cos(TWO_PI * (t - t_cold) / YEAR) - dt_d * sp.cos(TWO_PI * (t - t_warm) / DAY)
    chosen = sp.Piecewise((t_out_in, sp.Eq(source, OUTDOOR_INPUT)), (built_in, True))
    t_out = m.output("outdoor_temperature_used", chosen, unit="K", description="outdoor temperature driving the demand")
    demand = m.output("heat_demand", h * sp.Max(0, t_bal - t_out) + q_dhw, unit="W", min=0.0,
                      description="heat demanded by the consumers")
    t_ret_curve = m.output("return_temperature_target", _curve(t_out, t_design, t_bal, ret_design, ret_summer),
                           unit="K", description="return temperature of the heating curve")
    m.output("supply_temperature_setpoint", _curve(t_out, t_design, t_bal, sup_design, sup_summer), unit="K",
             description="supply temperature set point of the heating curve (for the plant)")
    drop = m.local("temperature_drop", sp.Max(0, t_sup - t_ret_curve), unit="K",
                   description="supply minus return temperature")
    flow = m.output("mass_flow", sp.Min(m_max, demand / (cp * sp.Max(drop, dt_min))), unit="kg/s", min=0.0,
                    description="mass flow drawn from the supply")
    heat = m.output("heat_delivered", flow * cp * drop, unit="W", min=0.0, description="heat delivered to consumers")
    m.output("unmet_demand", demand - heat, unit="W", description="demand not covered")
    t_ret = m.output("return_temperature", t_sup - drop, unit="K", description="return stream temperature")
    m.fluid_port("supply", mass_flow=flow, temperature=t_sup, specific_heat=cp, inlet=True)
    m.fluid_port("return_stream", mass_flow=flow, temperature=t_ret, specific_heat=cp, inlet=False)
    m.heat_port("consumers", power=-heat, description="heat taken by the buildings")
    m.stored_energy(0)
    return m.finish()
