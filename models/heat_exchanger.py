"""Wastewater heat exchanger with biofilm fouling on the wastewater side.

Treated effluent (the *wastewater* side, hot in heating mode) gives heat to an intermediate water
loop that feeds a heat pump's evaporator (Jena's ANIKA layout: effluent → exchanger → clean loop →
evaporator). Either side may be the warmer one: the heat flow simply changes sign.

Equations (ε-NTU method; Shah & Sekulić 2003, Incropera/Bergman 2011)::

    C_ww = m_ww c_ww,  C_lp = m_lp c_lp,  C_min = min,  C_max = max,  C_r = C_min / C_max
    1/UA = 1/(U_clean A) + R_f / A                  (fouling in series with the clean wall, per area)
    NTU  = UA / C_min
    counterflow:  ε = (1 - e^{-NTU(1-C_r)}) / (1 - C_r e^{-NTU(1-C_r)}),   C_r = 1: ε = NTU/(1+NTU)
    parallel:     ε = (1 - e^{-NTU(1+C_r)}) / (1 + C_r)
    crossflow, both fluids unmixed (the common approximation, Incropera eq. 11.32, **not** the exact
    series):     ε = 1 - exp[(NTU^0.22 / C_r)(e^{-C_r NTU^0.78} - 1)],   C_r = 0: ε = 1 - e^{-NTU}
    Q = ε C_min (T_ww,in - T_lp,in)                 (W, from the wastewater into the loop)
    T_ww,out = T_ww,in - Q / C_ww,   T_lp,out = T_lp,in + Q / C_lp
    S_gen = C_ww ln(T_ww,out / T_ww,in) + C_lp ln(T_lp,out / T_lp,in)  ≥ 0

The formulas are written with ``expm1``/``log1p`` so that they are exact in the limits: C_r → 1
(counterflow tends to NTU/(1+NTU) without a 0/0), C_r → 0, and zero flow on either or both sides
(NTU → ∞ is capped at 1e12, ε → its limit; outlet temperatures are computed with the ratios
C_min/C_ww and C_min/C_lp, never by dividing by a zero capacity rate; a stagnant side leaves at the
other side's inlet temperature).

Fouling (the wastewater-side resistance R_f, m²K/W), two selectable growth laws:

* ``fouling_model = 1``, Kern & Seaton (1959), asymptotic:
  dR_f/dt = (R_f* - R_f)/τ  ⇒  R_f(t) = R_f*(1 - e^{-t/τ}) from a clean start.
* ``fouling_model = 2``, deposition–removal (Melo & Bott 1997 structure):
  dR_f/dt = φ_d - k_r τ_w R_f, where the wall shear stress τ_w grows with the wastewater velocity
  v = m_ww / (ρ A_flow): τ_w = max(8 μ v / D_h, 0.0395 ρ^0.75 μ^0.25 D_h^-0.25 v^1.75) (laminar
  Hagen–Poiseuille, turbulent Blasius). The asymptote R_f∞ = φ_d / (k_r τ_w) falls as v^-1.75.

Cleaning resets R_f to ``fouling_resistance_after_cleaning`` at every multiple of
``cleaning_interval`` (0 disables it) and on each rising edge of the ``cleaning_request`` input;
``cleaning_count`` counts the cleanings.

Assumptions: steady-state ε-NTU at every instant (the exchanger holds no energy, stored energy 0);
constant specific heats; adiabatic shell; fouling only on the wastewater side; the deposit does not
narrow the channel. Validity: liquid water streams 0–100 °C, turbulent or laminar single-phase flow,
R_f between 0 and about 1e-3 m²K/W (published cleaning threshold 2.5e-4 m²K/W, Purdue IRACC 1253).
Parameter defaults are engineering estimates for a municipal effluent exchanger (physics notes §2–3):
R_f* = 3e-4 m²K/W, τ = 10 d.
"""

from __future__ import annotations

import sympy as sp
from sympy.codegen.cfunctions import expm1, log1p

from kreislauf.models.declare import Model
from kreislauf.models.units import DAY

__all__ = ["COUNTERFLOW", "CROSSFLOW_UNMIXED", "PARALLEL_FLOW", "build", "effectiveness"]

COUNTERFLOW = 1
PARALLEL_FLOW = 2
CROSSFLOW_UNMIXED = 3
NTU_CAP = 1e12


def effectiveness(ntu: sp.Expr, cr: sp.Expr, arrangement: sp.Expr) -> sp.Expr:
    """ε(NTU, C_r) for the three flow arrangements, exact in the limits C_r = 0 and C_r = 1."""
    x = ntu * (1 - cr)
    counter = sp.Piecewise(
        (ntu / (1 + ntu), cr >= 1),
        (-expm1(-x) / ((1 - cr) - cr * expm1(-x)), True),
    )
    parallel = -expm1(-ntu * (1 + cr)) / (1 + cr)
    cross = sp.Piecewise(
        (-expm1(-ntu), cr < 1e-100),
        (-expm1(ntu**0.22 / cr * expm1(-cr * ntu**0.78)), True),
    )
    return sp.Piecewise(
        (counter, sp.Eq(arrangement, COUNTERFLOW)),
        (parallel, sp.Eq(arrangement, PARALLEL_FLOW)),
        (cross, True),
    )


def build() -> Model:
    """Declare the fouling heat exchanger model."""
    m = Model(
        "fouling_heat_exchanger",
        "Wastewater heat exchanger (ε-NTU) with biofilm fouling and cleaning",
        references=[
            "Shah & Sekulić, Fundamentals of Heat Exchanger Design (2003)",
            "Bergman, Lavine, Incropera, DeWitt, Fundamentals of Heat and Mass Transfer, 7th ed. (2011)",
            "Kern & Seaton, Brit. Chem. Eng. 4(5) (1959) 258-262",
            "Melo & Bott, Exp. Therm. Fluid Sci. 14 (1997) 375-381",
        ],
    )
    arrangement = m.parameter(
        "flow_arrangement", unit="1", start=COUNTERFLOW, min=1, max=3, type="Integer",
        description="1 counterflow, 2 parallel flow, 3 crossflow with both fluids unmixed",
    )
    area = m.parameter("area", unit="m2", start=2000.0, min=0.0, max=1e6, description="heat transfer area")
    u_clean = m.parameter(
        "clean_heat_transfer_coefficient", unit="W/(m2.K)", start=1000.0, min=1e-3, max=1e5,
        description="overall heat transfer coefficient of the clean exchanger",
    )
    cp_ww = m.parameter(
        "wastewater_specific_heat", unit="J/(kg.K)", start=4190.0, min=100.0, max=1e4,
        description="specific heat capacity of the wastewater",
    )
    cp_lp = m.parameter(
        "loop_specific_heat", unit="J/(kg.K)", start=4190.0, min=100.0, max=1e4,
        description="specific heat capacity of the loop fluid",
    )
    model_choice = m.parameter(
        "fouling_model", unit="1", start=1, min=1, max=2, type="Integer",
        description="fouling growth law: 1 Kern-Seaton asymptotic, 2 deposition-removal with wall shear",
    )
    rf_asym = m.parameter(
        "asymptotic_fouling_resistance", unit="m2.K/W", start=3e-4, min=0.0, max=1e-2,
        description="Kern-Seaton asymptotic fouling resistance R_f*",
    )
    tau = m.parameter(
        "fouling_time_constant", unit="s", start=10 * DAY, min=1.0, max=1e10,
        description="Kern-Seaton time constant of fouling growth",
    )
    phi_d = m.parameter(
        "deposition_rate", unit="m2.K/(W.s)", start=3.5e-10, min=0.0, max=1e-3,
        description="deposition-removal model: growth rate of the fouling resistance",
    )
    k_r = m.parameter(
        "removal_coefficient", unit="1/(Pa.s)", start=3.3e-7, min=0.0, max=1.0,
        description="deposition-removal model: removal rate per unit wall shear stress",
    )
    a_flow = m.parameter(
        "wastewater_flow_area", unit="m2", start=0.16, min=1e-6, max=1e3,
        description="free flow cross-section of the wastewater side",
    )
    d_h = m.parameter(
        "hydraulic_diameter", unit="m", start=0.02, min=1e-4, max=10.0,
        description="hydraulic diameter of the wastewater channels",
    )
    rho = m.parameter(
        "wastewater_density", unit="kg/m3", start=999.5, min=500.0, max=2000.0,
        description="density of the wastewater",
    )
    mu = m.parameter(
        "wastewater_viscosity", unit="Pa.s", start=1.23e-3, min=1e-5, max=1.0,
        description="dynamic viscosity of the wastewater",
    )
    interval = m.parameter(
        "cleaning_interval", unit="s", start=0.0, min=0.0, max=1e10,
        description="time between scheduled cleanings (0: no scheduled cleaning)",
    )
    rf_clean = m.parameter(
        "fouling_resistance_after_cleaning", unit="m2.K/W", start=0.0, min=0.0, max=1e-2,
        description="fouling resistance left after a cleaning",
    )

    m_ww = m.input("wastewater_mass_flow", unit="kg/s", start=160.0, min=0.0, max=1e5,
                   description="wastewater mass flow")
    t_ww = m.input("wastewater_inlet_temperature", unit="K", start=285.15, min=253.15, max=393.15,
                   description="wastewater inlet temperature")
    m_lp = m.input("loop_mass_flow", unit="kg/s", start=160.0, min=0.0, max=1e5,
                   description="loop mass flow")
    t_lp = m.input("loop_inlet_temperature", unit="K", start=279.15, min=253.15, max=393.15,
                   description="loop inlet temperature")
    request = m.input("cleaning_request", unit="1", start=0, min=0, max=1, type="Boolean",
                      description="a rising edge cleans the exchanger")

    r_f = m.state("fouling_resistance", unit="m2.K/W", start=0.0, min=0.0, max=1.0, nominal=1e-4,
                  description="fouling resistance on the wastewater side")
    count = m.state("cleaning_count", unit="1", start=0.0, min=0.0, start_parameter=False,
                    description="number of cleanings since the start")

    c_ww = m.local("wastewater_capacity_rate", m_ww * cp_ww, unit="W/K",
                   description="heat capacity rate of the wastewater stream")
    c_lp = m.local("loop_capacity_rate", m_lp * cp_lp, unit="W/K", description="heat capacity rate of the loop")
    c_min = sp.Min(c_ww, c_lp)
    c_max = sp.Max(c_ww, c_lp)
    cr = m.local("capacity_ratio", sp.Piecewise((c_min / c_max, c_max > 0), (1, True)), unit="1",
                 description="capacity rate ratio C_min/C_max")
    ua = m.output("effective_ua", area / (1 / u_clean + r_f), unit="W/K", min=0.0,
                  description="conductance UA including the fouling resistance")
    ntu = m.local("ntu", sp.Min(ua / sp.Max(c_min, 1e-300), NTU_CAP), unit="1",
                  description="number of transfer units")
    eps = m.output("effectiveness", effectiveness(ntu, cr, arrangement), unit="1", min=0.0, max=1.0,
                   description="heat exchanger effectiveness")
    dt_in = t_ww - t_lp
    ww_is_min = c_ww <= c_lp
    drop_ww = eps * sp.Piecewise((1, ww_is_min), (cr, True)) * dt_in
    rise_lp = eps * sp.Piecewise((cr, ww_is_min), (1, True)) * dt_in
    m.output("heat_flow", eps * c_min * dt_in, unit="W",
                 description="heat flow from the wastewater into the loop")
    t_ww_out = m.output("wastewater_outlet_temperature", t_ww - drop_ww, unit="K",
                        description="wastewater outlet temperature")
    t_lp_out = m.output("loop_outlet_temperature", t_lp + rise_lp, unit="K", description="loop outlet temperature")
    m.output("entropy_generation", c_ww * log1p(-drop_ww / t_ww) + c_lp * log1p(rise_lp / t_lp), unit="W/K",
             description="entropy generation rate of the two streams (second law: >= 0)")
    velocity = m.local("wastewater_velocity", m_ww / (rho * a_flow), unit="m/s",
                       description="mean wastewater velocity in the channels")
    shear = m.output(
        "wall_shear_stress",
        sp.Max(8 * mu * velocity / d_h, 0.0395 * rho**0.75 * mu**0.25 * d_h**-0.25 * velocity**1.75),
        unit="Pa", description="wall shear stress on the wastewater side (laminar / Blasius)",
    )
    m.derivative(r_f, sp.Piecewise(((rf_asym - r_f) / tau, sp.Eq(model_choice, 1)),
                                   (phi_d - k_r * shear * r_f, True)))
    m.derivative(count, 0)
    for trigger in ({"every": interval}, {"on_rising": request}):
        m.reset(r_f, rf_clean, **trigger)
        m.reset(count, count + 1, **trigger)

    m.fluid_port("wastewater_inlet", mass_flow=m_ww, temperature=t_ww, specific_heat=cp_ww, inlet=True)
    m.fluid_port("wastewater_outlet", mass_flow=m_ww, temperature=t_ww_out, specific_heat=cp_ww, inlet=False)
    m.fluid_port("loop_inlet", mass_flow=m_lp, temperature=t_lp, specific_heat=cp_lp, inlet=True)
    m.fluid_port("loop_outlet", mass_flow=m_lp, temperature=t_lp_out, specific_heat=cp_lp, inlet=False)
    return m.finish()
