"""Anaerobic digester: the two-step AM2 model of Bernard et al. (2001), producing methane.

Two bacterial populations in a continuously stirred liquid volume V fed at the flow F (dilution rate
D = F/V): acidogens X1 turn organic substrate S1 (COD) into volatile fatty acids S2, methanogens X2
turn the acids into methane and CO2. Z is the alkalinity, C the total inorganic carbon.

Equations (Bernard, Hadj-Sadok, Dochain, Genovesi, Steyer, Biotechnol. Bioeng. 75 (2001) 424–438,
doi 10.1002/bit.10036; the same equations and parameters in three public implementations)::

    μ1 = μ1max S1 / (S1 + KS1),        μ2 = μ2max S2 / (S2 + KS2 + S2²/KI2)      (Monod, Haldane)
    dX1/dt = (μ1 − α D) X1,            dX2/dt = (μ2 − α D) X2
    dS1/dt = D (S1in − S1) − k1 μ1 X1
    dS2/dt = D (S2in − S2) + k2 μ1 X1 − k3 μ2 X2
    dZ/dt  = D (Zin − Z)
    dC/dt  = D (Cin − C) − qC + k4 μ1 X1 + k5 μ2 X2
    qM = k6 μ2 X2                                                  (methane, mol/(m³ s))
    qC = kLa (C + S2 − Z − KH P_C)                                 (CO2 to the gas phase)
    P_C = (φ − √(φ² − 4 KH P_t (C + S2 − Z))) / (2 KH),   φ = C + S2 − Z + KH P_t + qM / kLa

Units: the paper's g/L and mmol/L are kg/m³ and mol/m³, so the concentrations and the yields k1…k6
keep their published numbers; rates are converted from 1/d to 1/s and K_H from mmol/(L atm) to
mol/(m³ Pa). Published parameters: μ1max = 1.2 d⁻¹, KS1 = 7.1 g COD/L, μ2max = 0.74 d⁻¹,
KS2 = 9.28 mmol/L, KI2 = 256 mmol/L, α = 0.5, k1 = 42.14, k2 = 116.5, k3 = 268, k4 = 50.6,
k5 = 343.6, k6 = 453, kLa = 19.8 d⁻¹, KH = 16 mmol/(L atm), P_t = 1 atm.

Steady state (analytic, for α D below both maximum growth rates): S1* = α D KS1 / (μ1max − α D),
X1* = (S1in − S1*) / (α k1), S2* the smaller root of μ2(S2) = α D, X2* = ((S2in − S2*)/α + k2 X1*) / k3.

Energy accounting (chemical energy on the LHV basis of methane). Every kilogram of COD is worth
e_COD = LHV_CH4,molar / M_O2,2 = 802.3 kJ/mol / 0.064 kg COD/mol = 12.54 MJ/kg COD (one mole of
methane needs two moles of O2, so 1 kg COD gives 0.350 Nm³ of methane, physics notes §6.2).
COD contents: S1 1 kg COD/kg; VFA as acetate, 0.064 kg COD/mol (CH3COOH + 2 O2); biomass as
C5H7NO2, 1.42 kg COD/kg (Henze et al., Activated Sludge Models, IWA 2000). The stored energy is
e_COD V (S1 + 0.064 S2 + 1.42 (X1 + X2)). Ports: feed (in), effluent (out, with the biomass washed
out at α D X), biogas (methane out, molar flow × molar LHV) and ``conversion`` — the chemical energy
the fitted AM2 yields do not carry into a tracked product: heat of the conversion plus COD the
lumped yields leave unaccounted; ``conversion_released`` is that power released (minus the port power).
AM2 is not COD-closed (per gram of methanogen grown it turns 17.2 g COD of acetate-equivalent VFA
into 29.0 g COD of methane), so ``conversion_released`` is negative during a VFA burn-off and positive
in steady operation (most of the substrate COD is lost in acidogenesis).

Assumptions: isothermal mesophilic operation at the conditions of the published fit, perfectly
mixed liquid, ideal gas at 0 °C, 1 atm for normal volumes. Validity: D below the washout rate
(α D < μ2 at the Haldane optimum S2 = √(KS2 KI2) = 48.7 mol/m³), soluble substrates (for grass a
hydrolysis step would be needed, not modelled).
"""

from __future__ import annotations

import sympy as sp

from kreislauf.models.declare import Model
from kreislauf.models.units import DAY

__all__ = ["ATMOSPHERE", "COD_PER_MOL_METHANE", "DAY", "METHANE_MOLAR_LHV", "NORMAL_MOLAR_VOLUME", "build"]

TINY = 1e-200
"""A divisor at or below this counts as zero, so that no reciprocal overflows in the generated C."""

ATMOSPHERE = 101325.0
METHANE_MOLAR_LHV = 802.3e3
"""Lower heating value of methane, J/mol."""
COD_PER_MOL_METHANE = 0.064
"""kg of O2 (COD) to oxidise one mole of methane (or of acetate)."""
NORMAL_MOLAR_VOLUME = 0.022414
"""m³/mol of an ideal gas at 0 °C, 1 atm."""
METHANE_MOLAR_MASS = 16.043e-3


def build() -> Model:
    """Declare the AM2 anaerobic digester model."""
    m = Model(
        "anaerobic_digester",
        "Two-step AM2 anaerobic digester (Bernard et al. 2001) producing methane",
        references=[
            "Bernard et al., Biotechnol. Bioeng. 75 (2001) 424-438, doi 10.1002/bit.10036",
            "Henze et al., Activated Sludge Models ASM1-ASM3, IWA (2000): 1.42 g COD/g biomass",
        ],
    )
    volume = m.parameter("liquid_volume", unit="m3", start=1000.0, min=1e-3, max=1e6,
                         description="liquid volume of the digester")
    mu1max = m.parameter("acidogen_max_growth_rate", unit="1/s", start=1.2 / DAY, min=0.0, max=1e-3,
                         description="mu1max, maximum growth rate of the acidogens")
    ks1 = m.parameter("substrate_half_saturation", unit="kg/m3", start=7.1, min=1e-6, max=1e3,
                      description="KS1, half-saturation constant of the organic substrate (COD)")
    mu2max = m.parameter("methanogen_max_growth_rate", unit="1/s", start=0.74 / DAY, min=0.0, max=1e-3,
                         description="mu2max, maximum growth rate of the methanogens")
    ks2 = m.parameter("vfa_half_saturation", unit="mol/m3", start=9.28, min=1e-6, max=1e4,
                      description="KS2, half-saturation constant of the volatile fatty acids")
    ki2 = m.parameter("vfa_inhibition", unit="mol/m3", start=256.0, min=1e-3, max=1e5,
                      description="KI2, Haldane inhibition constant of the volatile fatty acids")
    alpha = m.parameter("biomass_liquid_fraction", unit="1", start=0.5, min=0.0, max=1.0,
                        description="alpha, fraction of the biomass in the liquid phase (washed out)")
    k1 = m.parameter("k1", unit="1", start=42.14, min=0.0, max=1e4, description="yield: kg COD of S1 per kg X1 grown")
    k2 = m.parameter("k2", unit="mol/kg", start=116.5, min=0.0, max=1e5, description="yield: mol VFA per kg X1 grown")
    k3 = m.parameter("k3", unit="mol/kg", start=268.0, min=1e-6, max=1e5,
                     description="yield: mol VFA consumed per kg X2 grown")
    k4 = m.parameter("k4", unit="mol/kg", start=50.6, min=0.0, max=1e5, description="yield: mol CO2 per kg X1 grown")
    k5 = m.parameter("k5", unit="mol/kg", start=343.6, min=0.0, max=1e5, description="yield: mol CO2 per kg X2 grown")
    k6 = m.parameter("k6", unit="mol/kg", start=453.0, min=0.0, max=1e5, description="yield: mol CH4 per kg X2 grown")
    kla = m.parameter("gas_transfer_rate", unit="1/s", start=19.8 / DAY, min=1e-9, max=1.0,
                      description="kLa, liquid-gas transfer coefficient of CO2")
    kh = m.parameter("henry_constant", unit="mol/(m3.Pa)", start=16.0 / ATMOSPHERE, min=1e-9, max=1.0,
                     description="KH, Henry constant of CO2")
    p_t = m.parameter("total_pressure", unit="Pa", start=ATMOSPHERE, min=1e3, max=1e7,
                      description="total pressure of the gas phase")
    e_cod = m.parameter("energy_per_cod", unit="J/kg", start=METHANE_MOLAR_LHV / COD_PER_MOL_METHANE, min=1e6,
                        max=2e7, description="chemical energy (LHV) per kg COD: methane LHV per mol / 0.064 kg COD")
    lhv_molar = m.parameter("methane_molar_lhv", unit="J/mol", start=METHANE_MOLAR_LHV, min=7e5, max=9e5,
                            description="lower heating value of methane per mole")
    cod_vfa = m.parameter("vfa_cod", unit="kg/mol", start=COD_PER_MOL_METHANE, min=0.0, max=1.0,
                          description="COD of one mole of VFA (acetate: 0.064 kg)")
    cod_x = m.parameter("biomass_cod", unit="1", start=1.42, min=0.0, max=3.0,
                        description="COD per kg biomass (C5H7NO2: 1.42)")

    flow = m.input("feed_flow", unit="m3/s", start=250.0 / DAY, min=0.0, max=100.0,
                   description="volume flow of the feed (dilution rate D = feed_flow / liquid_volume)")
    s1_in = m.input("feed_substrate", unit="kg/m3", start=10.0, min=0.0, max=1e3,
                    description="S1in, organic substrate (COD) in the feed")
    s2_in = m.input("feed_vfa", unit="mol/m3", start=0.0, min=0.0, max=1e4,
                    description="S2in, volatile fatty acids in the feed")
    z_in = m.input("feed_alkalinity", unit="mol/m3", start=50.0, min=0.0, max=1e4,
                   description="Zin, alkalinity of the feed")
    c_in = m.input("feed_inorganic_carbon", unit="mol/m3", start=40.0, min=0.0, max=1e4,
                   description="Cin, total inorganic carbon of the feed")

    x1 = m.state("acidogens", unit="kg/m3", start=0.5, min=0.0, max=1e3, nominal=1.0,
                 description="X1, acidogenic biomass")
    x2 = m.state("methanogens", unit="kg/m3", start=0.5, min=0.0, max=1e3, nominal=1.0,
                 description="X2, methanogenic biomass")
    s1 = m.state("substrate", unit="kg/m3", start=1.0, min=0.0, max=1e3, nominal=1.0,
                 description="S1, organic substrate (COD)")
    s2 = m.state("vfa", unit="mol/m3", start=5.0, min=0.0, max=1e4, nominal=10.0,
                 description="S2, volatile fatty acids")
    z = m.state("alkalinity", unit="mol/m3", start=50.0, min=0.0, max=1e4, nominal=50.0,
                description="Z, alkalinity")
    c = m.state("inorganic_carbon", unit="mol/m3", start=60.0, min=0.0, max=1e4, nominal=50.0,
                description="C, total inorganic carbon")

    d = m.output("dilution_rate", flow / volume, unit="1/s", min=0.0, description="D, dilution rate")
    mu1 = m.output("acidogen_growth_rate", mu1max * s1 / (s1 + ks1), unit="1/s",
                   description="mu1, growth rate of the acidogens")
    mu2 = m.output("methanogen_growth_rate", mu2max * s2 / (s2 + ks2 + s2**2 / ki2), unit="1/s",
                   description="mu2, growth rate of the methanogens")
    r1 = mu1 * x1
    r2 = mu2 * x2
    q_m = m.output("methane_production_rate", k6 * r2, unit="mol/(m3.s)",
                   description="qM, methane production per liquid volume")
    excess = c + s2 - z
    phi = excess + kh * p_t + q_m / kla
    p_c = m.output("co2_partial_pressure",
                   (phi - sp.sqrt(sp.Max(phi**2 - 4 * kh * p_t * excess, 0))) / (2 * kh), unit="Pa",
                   description="P_C, partial pressure of CO2 in the gas phase")
    q_c = m.output("co2_production_rate", kla * (excess - kh * p_c), unit="mol/(m3.s)",
                   description="qC, CO2 transfer to the gas phase per liquid volume")

    gas = q_m + q_c
    m.output("methane_fraction", sp.Piecewise((q_m / gas, gas > TINY), (0, True)), unit="1",
             description="methane mole fraction of the biogas (CH4 and CO2)")
    m.derivative(x1, (mu1 - alpha * d) * x1)
    m.derivative(x2, (mu2 - alpha * d) * x2)
    m.derivative(s1, d * (s1_in - s1) - k1 * r1)
    m.derivative(s2, d * (s2_in - s2) + k2 * r1 - k3 * r2)
    m.derivative(z, d * (z_in - z))
    m.derivative(c, d * (c_in - c) - q_c + k4 * r1 + k5 * r2)

    methane = m.output("methane_molar_flow", q_m * volume, unit="mol/s", min=0.0, description="methane production")
    m.output("methane_mass_flow", methane * METHANE_MOLAR_MASS, unit="kg/s", min=0.0,
             description="methane production (16.043 g/mol)")
    m.output("methane_normal_volume_flow", methane * NORMAL_MOLAR_VOLUME, unit="m3/s", min=0.0,
             description="methane production at 0 degC, 1 atm")
    m.output("co2_molar_flow", q_c * volume, unit="mol/s", description="CO2 released to the gas phase")
    p_ch4 = m.output("methane_power", methane * lhv_molar, unit="W", min=0.0,
                     description="chemical power (LHV) of the methane produced")

    cod_feed = flow * (s1_in + cod_vfa * s2_in)
    cod_out = flow * (s1 + cod_vfa * s2) + alpha * d * volume * cod_x * (x1 + x2)
    m.output("feed_cod_flow", cod_feed, unit="kg/s", min=0.0, description="COD carried in by the feed")
    m.output("effluent_cod_flow", cod_out, unit="kg/s", min=0.0,
             description="COD carried out by the effluent, washed-out biomass included")
    reactions = volume * (-k1 * r1 + cod_vfa * (k2 * r1 - k3 * r2) + cod_x * (r1 + r2))
    m.output("conversion_released", -(e_cod * reactions + p_ch4), unit="W",
             description="chemical energy turned by the conversion into untracked products and heat")
    m.chemical_port("feed", power=e_cod * cod_feed, description="substrate and VFA COD of the feed")
    m.chemical_port("effluent", power=-e_cod * cod_out, description="COD of the effluent and washed-out biomass")
    m.chemical_port("biogas", power=-p_ch4, description="methane produced, molar flow times molar LHV")
    m.heat_port("conversion", power=e_cod * reactions + p_ch4,
                description="conversion heat and COD the AM2 yields do not track (negative: released)")
    m.stored_energy(e_cod * volume * (s1 + cod_vfa * s2 + cod_x * (x1 + x2)))
    return m.finish()
