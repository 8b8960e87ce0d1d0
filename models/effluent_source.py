"""Treated-effluent heat source: temperature and mass flow with seasonal and daily patterns.

Defaults describe the Zentralkläranlage Jena-Zwätzen, the source of Jena's ANIKA project (physics
notes §1.1, §7.1): on average 14 000 m³/d of treated wastewater (210 000 PE) = 162 kg/s, and an
effluent "ganzjährig mindestens 12 °C" (at least 12 °C all year).

Time of year: τ = t + d_0 · 86400 s, where t is the simulation time (s) and d_0 the
``start_day_of_year`` (0 = 1 January 00:00); a year is Y = 365 d and a day D = 86400 s.

Equations::

    T_raw(t) = T_mean + A_s cos(2π (τ − t_s)/Y) + A_d cos(2π (τ − t_d)/D)
    T(t)     = max(T_raw, T_min)                                   (clipped below, flag when active)
    f_d(t)   = 1 + a_1 cos(2π (τ − t_1)/D) + a_2 cos(4π (τ − t_2)/D)   (dry-weather diurnal pattern)
    f_s(t)   = 1 + a_s cos(2π (τ − t_w)/Y)                            (optional seasonal flow factor)
    ṁ(t)     = ṁ_mean f_s f_d

Every cosine has a whole number of periods in a 365-day year (products of the daily and yearly
harmonics too), so over any 365-day window the mean of T_raw is exactly T_mean and the mean of ṁ is
exactly ṁ_mean. With the defaults (T_mean = 15 °C, A_s = 2.5 K, A_d = 0.4 K) the lowest effluent
temperature is 12.1 °C, so the 12 °C floor never acts and the annual mean is exactly 15 °C. The
default diurnal curve (a_1 = 0.25 peaking at 13:00, a_2 = 0.10 peaking at 10:00 and 22:00) has its
minimum of 0.70 ṁ_mean near 03:00 and its maximum of 1.30 ṁ_mean near 11:00, the usual shape of a
municipal dry-weather hydrograph (low at night, peak late in the morning); a_1 + a_2 ≤ 1 and
a_s ≤ 0.5 keep the flow non-negative.

Energy: the effluent leaves through the fluid port ``outlet`` carrying ṁ c_p (T − T_REF); that
enthalpy enters through the heat port ``boundary`` (the plant and its sewer catchment, outside the
modelled system), so the source stores nothing and its counters sum to zero.

Assumptions: the patterns are smooth harmonics, not measured series (no storm events, snowmelt or
weekend pattern); temperature and flow are independent; constant specific heat. Validity: treated
municipal effluent of a plant like Jena's; replace the defaults for other plants.
References: Stadtwerke Jena press release 15.08.2025 (≥ 12 °C all year); Stadt Jena / ZKA
Jena-Zwätzen plant data (14 000 m³/d, 210 000 PE), physics notes [S1], [S6].
"""

from __future__ import annotations

import math

import sympy as sp

from kreislauf.models.declare import T_REF, Model
from kreislauf.models.units import DAY, HOUR, YEAR

__all__ = ["DAY", "YEAR", "build"]



def build() -> Model:
    """Declare the treated-effluent source model."""
    m = Model(
        "effluent_source",
        "Treated-effluent source: temperature and flow with seasonal and daily patterns (Jena defaults)",
        references=[
            "Stadtwerke Jena, press release 15.08.2025: effluent at least 12 degC all year",
            "Zentralklaeranlage Jena-Zwaetzen: 14 000 m3/d mean wastewater flow, 210 000 PE",
        ],
    )
    start_day = m.parameter("start_day_of_year", unit="1", start=0.0, min=0.0, max=366.0,
                            description="day of the year at t = 0 (0 = 1 January 00:00; fractions allowed)")
    t_mean = m.parameter("mean_temperature", unit="K", start=288.15, min=273.15, max=313.15,
                         description="annual mean effluent temperature")
    a_s = m.parameter("seasonal_temperature_amplitude", unit="K", start=2.5, min=0.0, max=20.0,
                      description="amplitude of the annual temperature cycle")
    t_s = m.parameter("warmest_time_of_year", unit="s", start=229 * DAY, min=0.0, max=YEAR,
                      description="time of year of the annual temperature maximum (default 18 August)")
    a_d = m.parameter("daily_temperature_amplitude", unit="K", start=0.4, min=0.0, max=5.0,
                      description="amplitude of the daily temperature cycle")
    t_d = m.parameter("warmest_time_of_day", unit="s", start=16 * HOUR, min=0.0, max=DAY,
                      description="time of day of the daily temperature maximum")
    t_floor = m.parameter("minimum_temperature", unit="K", start=285.15, min=273.15, max=313.15,
                          description="lowest effluent temperature; the pattern is clipped below it")
    m_mean = m.parameter("mean_mass_flow", unit="kg/s", start=162.0, min=0.0, max=1e5,
                         description="annual mean effluent mass flow (Jena: 14 000 m3/d)")
    a_1 = m.parameter("daily_flow_amplitude", unit="1", start=0.25, min=0.0, max=0.5,
                      description="relative amplitude of the daily flow cycle (first harmonic)")
    t_1 = m.parameter("daily_flow_peak_time", unit="s", start=13 * HOUR, min=0.0, max=DAY,
                      description="time of day of the first harmonic's flow maximum")
    a_2 = m.parameter("half_day_flow_amplitude", unit="1", start=0.10, min=0.0, max=0.5,
                      description="relative amplitude of the half-day flow cycle (second harmonic)")
    t_2 = m.parameter("half_day_flow_peak_time", unit="s", start=10 * HOUR, min=0.0, max=DAY / 2,
                      description="time of day of the second harmonic's first flow maximum")
    a_f = m.parameter("seasonal_flow_amplitude", unit="1", start=0.0, min=0.0, max=0.5,
                      description="relative amplitude of the annual flow cycle (0: none)")
    t_f = m.parameter("wettest_time_of_year", unit="s", start=59 * DAY, min=0.0, max=YEAR,
                      description="time of year of the annual flow maximum")
    cp = m.parameter("water_specific_heat", unit="J/(kg.K)", start=4190.0, min=100.0, max=1e4,
                     description="specific heat capacity of the effluent")

    tau = m.local("time_of_year", m.time + start_day * DAY, unit="s",
                  description="time since 1 January 00:00 of the start year")
    yearly, daily = 2 * math.pi / YEAR, 2 * math.pi / DAY
    t_raw = m.local("pattern_temperature",
                    t_mean + a_s * sp.cos(yearly * (tau - t_s)) + a_d * sp.cos(daily * (tau - t_d)),
                    unit="K", description="effluent temperature pattern before the floor is applied")
    temperature = m.output("temperature", sp.Max(t_raw, t_floor), unit="K",
                           description="effluent temperature")
    m.output("at_minimum_temperature", sp.Piecewise((1, t_raw < t_floor), (0, True)), unit="1", type="Boolean",
             description="1 while the pattern is below the minimum temperature and is clipped to it")
    daily_factor = m.local(
        "daily_flow_factor",
        1 + a_1 * sp.cos(daily * (tau - t_1)) + a_2 * sp.cos(2 * daily * (tau - t_2)),
        unit="1", description="diurnal flow factor (mean 1 over a day)",
    )
    seasonal_factor = m.local("seasonal_flow_factor", 1 + a_f * sp.cos(yearly * (tau - t_f)), unit="1",
                              description="seasonal flow factor (mean 1 over a year)")
    flow = m.output("mass_flow", m_mean * seasonal_factor * daily_factor, unit="kg/s", min=0.0,
                    description="effluent mass flow")

    m.fluid_port("outlet", mass_flow=flow, temperature=temperature, specific_heat=cp, inlet=False,
                 description="the effluent leaving the source")
    m.heat_port("boundary", power=flow * cp * (temperature - T_REF),
                description="enthalpy the effluent brings from the plant (outside the system)")
    return m.finish()
