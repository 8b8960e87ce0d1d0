"""Electric boiler (power-to-heat) heating a water stream to a set point, limited by its capacity.

Jena's ANIKA plans 4 MW of power-to-heat beside the wastewater heat pump (physics notes §1.1, [S3]);
the default rated electrical power is that figure.

Equations (e: enable, 0 or 1; η: efficiency; C = ṁ c_p)::

    Q_want = e · max(0, C (T_set − T_in))              heat needed to reach the set point (W)
    Q_max  = η P_rated                                 heat at the rated electrical power
    Q      = min(Q_want, Q_max)                        heat into the water
    P_el   = Q / η                                     electrical power drawn
    Q_loss = P_el − Q = Q (1 − η) / η                  heat lost to the surroundings
    T_out  = T_set                    if Q = Q_want > 0 (set point reached)
           = T_in + Q / C             if capacity-limited
           = T_in                     if disabled, no flow, or T_in ≥ T_set (never cools)

The first law P_el = Q + Q_loss and the water balance C (T_out − T_in) = Q hold to rounding.
``capacity_limited`` is 1 when the boiler runs at rated power and still misses the set point.

Assumptions: no thermal inertia (the boiler stores no energy), constant efficiency over the load
range (electrode and resistance boilers lose only the small jacket/transformer losses), constant
specific heat. Validity: liquid water, 0 < T < 150 °C, any flow including zero.
References: ANIKA power-to-heat 4 MW (Stadt Jena info event 04.02.2026, physics notes [S3]); the
efficiency 0.99 is an engineering estimate for electrode boilers (not taken from a published test).
"""

from __future__ import annotations

import sympy as sp

from kreislauf.models.declare import Model

__all__ = ["build"]


def build() -> Model:
    """Declare the electric boiler model."""
    m = Model(
        "electric_boiler",
        "Electric (power-to-heat) boiler heating a water stream to a set point, capacity-limited",
        references=["Stadt Jena, ANIKA information event 04.02.2026: 4 MW power-to-heat"],
    )
    p_rated = m.parameter("rated_electrical_power", unit="W", start=4e6, min=0.0, max=1e9,
                          description="rated (maximum) electrical power")
    eta = m.parameter("efficiency", unit="1", start=0.99, min=0.5, max=1.0,
                      description="share of the electrical power that heats the water")
    cp = m.parameter("water_specific_heat", unit="J/(kg.K)", start=4190.0, min=100.0, max=1e4,
                     description="specific heat capacity of the water")

    m_w = m.input("water_mass_flow", unit="kg/s", start=20.0, min=0.0, max=1e5, description="water mass flow")
    t_in = m.input("water_inlet_temperature", unit="K", start=333.15, min=253.15, max=423.15,
                   description="water inlet temperature")
    t_set = m.input("outlet_temperature_setpoint", unit="K", start=363.15, min=253.15, max=423.15,
                    description="set point of the water outlet temperature")
    enable = m.input("enable", unit="1", start=1, min=0, max=1, type="Boolean",
                     description="1: the boiler may run; 0: off")

    capacity_rate = m.local("capacity_rate", m_w * cp, unit="W/K", description="heat capacity rate of the water")
    heat_to_setpoint = capacity_rate * (t_set - t_in)
    running = (enable > 0.5) & (t_set > t_in) & (capacity_rate > 0)
    q_max = m.local("heat_capacity_limit", eta * p_rated, unit="W", description="heat at rated electrical power")
    limited = running & (heat_to_setpoint > q_max)
    m.output("heat_demand", sp.Piecewise((heat_to_setpoint, running), (0.0, True)), unit="W", min=0.0,
             description="heat needed to bring the water to the set point")
    q = m.output("heat_output", sp.Piecewise((q_max, limited), (heat_to_setpoint, running), (0.0, True)),
                 unit="W", min=0.0, description="heat into the water")
    p_el = m.output("electrical_power", q / eta, unit="W", min=0.0, description="electrical power drawn")
    loss = m.output("heat_loss", p_el - q, unit="W", min=0.0, description="heat lost to the surroundings")
    t_out = m.output(
        "water_outlet_temperature",
        sp.Piecewise((t_in + q_max / capacity_rate, limited), (t_set, running), (t_in, True)),
        unit="K", description="water outlet temperature",
    )
    m.output("capacity_limited", sp.Piecewise((1, limited), (0, True)), unit="1", type="Boolean",
             description="1 when the boiler runs at rated power and misses the set point")

    m.fluid_port("water_inlet", mass_flow=m_w, temperature=t_in, specific_heat=cp, inlet=True)
    m.fluid_port("water_outlet", mass_flow=m_w, temperature=t_out, specific_heat=cp, inlet=False)
    m.electrical_port("electricity", power=p_el, description="electrical power drawn from the grid")
    m.heat_port("losses", power=-loss, description="heat lost to the surroundings (leaving)")
    return m.finish()
