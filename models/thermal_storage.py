"""Stratified hot-water storage tank: n nodes, plug-flow advection, buoyancy mixing, losses to ambient.

Jena's ANIKA includes a heat store beside the heat pump and the 4 MW power-to-heat (physics notes
§1.1, §7.2; size not published). Nodes are numbered from the top (node 1) to the bottom (node n),
each holding the mass m_i = ρ V / n.

Streams: the *charge* stream enters at the top at T_c with ṁ_c and leaves at the bottom; the
*discharge* stream (the cold return) enters at the bottom at T_d with ṁ_d and leaves at the top.
Between nodes i and i+1 the net downward flow is F = ṁ_c − ṁ_d; the interface carries it upwind
(plug flow): downward F⁺ = max(F, 0) at T_i, upward F⁻ = max(−F, 0) at T_{i+1}.

Node equations (c: specific heat; U_i: node conductance to ambient; M_{i,i+1}: buoyancy mixing)::

    m_i c dT_i/dt = [i = 1] ṁ_c c (T_c − T_1) + [i = n] ṁ_d c (T_d − T_n)
                  + [i > 1] F⁺ c (T_{i−1} − T_i) + [i < n] F⁻ c (T_{i+1} − T_i)
                  + M_{i,i+1} − M_{i−1,i} − U_i (T_i − T_amb)

which is the enthalpy balance of each node (mass per node is conserved: m_c + F⁻ = m_d + F⁺ at the
top, and likewise below), written with temperature differences so that T_REF cancels exactly.

Buoyancy mixing: when a lower node is warmer than the one above, the water overturns. It is modelled
as a conductance that switches on smoothly with the inversion ΔT = T_{i+1} − T_i::

    M_{i,i+1} = G_mix ΔT² / (ΔT + δ)  for ΔT > 0,   0 otherwise,      G_mix = m_i c / τ_mix

(heat from node i+1 up into node i). M is continuous with a continuous first derivative (0 at
ΔT = 0) and tends to G_mix (ΔT − δ) for ΔT ≫ δ. M ΔT ≥ 0, so the heat flows from warm to cold
(second law); it is what leaves one node and enters the other, so it conserves energy exactly. A
stable stratification (ΔT ≤ 0) is left exactly alone, so a thermocline is not smeared by the mixing
model. δ = 0.1 K, τ_mix = 60 s by default.

Losses: the tank is a cylinder of height/diameter ratio a; the total conductance UA is shared in
proportion to area: the lateral wall (share a/(a + ½)) equally among the nodes, each lid (share
¼/(a + ½)) to the top and bottom node. Q_loss = Σ U_i (T_i − T_amb).

Outlets: the charge stream leaves at T_n, the discharge stream at T_1. State of charge
SOC = (1/n) Σ (T_i − T_min)/(T_max − T_min) (not clipped: it leaves [0, 1] when the tank is colder
than T_min or hotter than T_max). Stored energy Σ m_i c (T_i − T_REF).

Exact results used for validation: with one node and no flows, T(t) = T_amb + (T_0 − T_amb)
e^{−t UA/(m c)}; charging a uniform tank with no losses and no discharge, the node chain is n
stirred tanks in series, so the bottom outlet follows the Erlang response
(T_out − T_0)/(T_c − T_0) = 1 − Σ_{k<n} e^{−θ} θ^k/k!, θ = ṁ_c t / m_i.

Assumptions: incompressible water of constant density and specific heat; no conduction between
nodes other than the buoyancy mixing; inlets are ideal (no jet mixing); ambient temperature uniform.
Validity: liquid water 0–100 °C at the tank's pressure; the number of nodes controls the numerical
diffusion of the thermocline (plug flow is reached as n → ∞).
References: Duffie & Beckman, Solar Engineering of Thermal Processes, 4th ed. (2013), §8.4
(multi-node stratified tank); physics notes §7.2.
"""

from __future__ import annotations

import sympy as sp

from kreislauf.models.declare import T_REF, Model

__all__ = ["build"]


def build(nodes: int = 5) -> Model:
    """Declare a storage tank with ``nodes`` stratified nodes (1: fully mixed)."""
    if not isinstance(nodes, int) or nodes < 1:
        raise ValueError(f"thermal_storage: nodes = {nodes!r}; the number of nodes is an integer >= 1")
    name = "thermal_storage" if nodes == 5 else "thermal_storage_mixed" if nodes == 1 else f"thermal_storage_{nodes}"
    kind = "fully mixed" if nodes == 1 else f"{nodes}-node stratified"
    m = Model(
        name,
        f"Hot-water storage tank ({kind}) with charge and discharge streams and losses to ambient",
        references=["Duffie & Beckman, Solar Engineering of Thermal Processes, 4th ed. (2013), section 8.4"],
    )
    volume = m.parameter("volume", unit="m3", start=1000.0, min=1e-3, max=1e6, description="water volume")
    rho = m.parameter("water_density", unit="kg/m3", start=977.8, min=500.0, max=1100.0,
                      description="density of the water")
    cp = m.parameter("water_specific_heat", unit="J/(kg.K)", start=4190.0, min=100.0, max=1e4,
                     description="specific heat capacity of the water")
    ua = m.parameter("loss_conductance", unit="W/K", start=200.0, min=0.0, max=1e7,
                     description="total heat loss conductance UA of the tank to ambient")
    aspect = m.parameter("aspect_ratio", unit="1", start=2.0, min=0.01, max=100.0,
                         description="height over diameter of the cylindrical tank (shares the losses by area)")
    tau_mix = m.parameter("buoyancy_mixing_time", unit="s", start=60.0, min=1e-3, max=1e6,
                          description="time constant of buoyancy mixing of an inverted node pair")
    delta = m.parameter("buoyancy_mixing_temperature_scale", unit="K", start=0.1, min=1e-4, max=10.0,
                        description="temperature inversion over which buoyancy mixing switches on")
    t_min = m.parameter("soc_minimum_temperature", unit="K", start=313.15, min=253.15, max=423.15,
                        description="temperature of an empty tank (state of charge 0)")
    t_max = m.parameter("soc_maximum_temperature", unit="K", start=363.15, min=253.15, max=423.15,
                        description="temperature of a full tank (state of charge 1)")

    m_c = m.input("charge_mass_flow", unit="kg/s", start=0.0, min=0.0, max=1e5,
                  description="charge stream mass flow (enters at the top, leaves at the bottom)")
    t_c = m.input("charge_inlet_temperature", unit="K", start=363.15, min=253.15, max=423.15,
                  description="charge stream inlet temperature (top)")
    m_d = m.input("discharge_mass_flow", unit="kg/s", start=0.0, min=0.0, max=1e5,
                  description="discharge stream mass flow (enters at the bottom, leaves at the top)")
    t_d = m.input("discharge_inlet_temperature", unit="K", start=323.15, min=253.15, max=423.15,
                  description="discharge stream (return) inlet temperature (bottom)")
    t_amb = m.input("ambient_temperature", unit="K", start=283.15, min=223.15, max=373.15,
                    description="temperature around the tank")

    temps = [
        m.state(f"node_{i + 1}_temperature", unit="K", start=333.15, min=223.15, max=473.15, nominal=300.0,
                description=f"temperature of node {i + 1} of {nodes} (1 is the top)")
        for i in range(nodes)
    ]
    node_mass = m.local("node_mass", rho * volume / nodes, unit="kg", description="water mass of one node")
    node_capacity = node_mass * cp
    net_down = m.local("net_downward_mass_flow", m_c - m_d, unit="kg/s",
                       description="net downward mass flow between nodes (charge minus discharge)")
    down = sp.Max(net_down, 0)
    up = sp.Max(-net_down, 0)
    lid_share = sp.Rational(1, 4) / (aspect + sp.Rational(1, 2))
    lateral_share = aspect / (aspect + sp.Rational(1, 2)) / nodes
    g_mix = node_capacity / tau_mix

    losses = []
    for i, t in enumerate(temps):
        share = lateral_share + lid_share * ((i == 0) + (i == nodes - 1))
        losses.append(ua * share * (t - t_amb))
    mixing = []
    for i in range(nodes - 1):
        inversion = temps[i + 1] - temps[i]
        mixing.append(m.local(f"buoyancy_mixing_{i + 1}_{i + 2}",
                              sp.Piecewise((g_mix * inversion**2 / (inversion + delta), inversion > 0), (0, True)),
                              unit="W",
                              description=f"heat carried up by buoyancy from node {i + 2} into node {i + 1}"))
    for i, t in enumerate(temps):
        flow = 0
        if i == 0:
            flow += m_c * cp * (t_c - t)
        if i == nodes - 1:
            flow += m_d * cp * (t_d - t)
        if i > 0:
            flow += down * cp * (temps[i - 1] - t) - mixing[i - 1]
        if i < nodes - 1:
            flow += up * cp * (temps[i + 1] - t) + mixing[i]
        m.derivative(t, (flow - losses[i]) / node_capacity)

    top = m.output("top_temperature", temps[0], unit="K", description="temperature at the top (node 1)")
    bottom = m.output("bottom_temperature", temps[-1], unit="K",
                      description=f"temperature at the bottom (node {nodes})")
    t_charge_out = m.output("charge_outlet_temperature", bottom, unit="K",
                            description="temperature of the charge stream leaving at the bottom")
    t_discharge_out = m.output("discharge_outlet_temperature", top, unit="K",
                               description="temperature of the discharge stream leaving at the top")
    m.output("state_of_charge", sum((t - t_min) for t in temps) / (nodes * (t_max - t_min)), unit="1",
             description="mean of (T_i - T_min)/(T_max - T_min) over the nodes (not clipped)")
    loss = m.output("loss_heat", sum(losses), unit="W", description="heat lost to ambient")

    m.fluid_port("charge_inlet", mass_flow=m_c, temperature=t_c, specific_heat=cp, inlet=True)
    m.fluid_port("charge_outlet", mass_flow=m_c, temperature=t_charge_out, specific_heat=cp, inlet=False)
    m.fluid_port("discharge_inlet", mass_flow=m_d, temperature=t_d, specific_heat=cp, inlet=True)
    m.fluid_port("discharge_outlet", mass_flow=m_d, temperature=t_discharge_out, specific_heat=cp, inlet=False)
    m.heat_port("ambient", power=-loss, description="heat lost to ambient (leaving)")
    m.stored_energy(sum(node_mass * cp * (t - T_REF) for t in temps))
    return m.finish()
