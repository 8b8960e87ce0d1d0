'''Water-to-water heat pump (Carnot effectiveness or EN 14511 map) with capacity and source limits.

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
source-limited unit therefore runs at the COP of its capacity-limited demand.

Performance: EN 14511 map (``performance_model`` = 2; Modelica Buildings
``ModularReversible.RefrigerantCycle.TableData2D``). Two tables over the condenser outlet temperature
T_c (the state) and the evaporator inlet temperature T_e,in give the condenser heat Q_map and the
electrical power P_map of the unit at full load, read by bilinear interpolation::

    Q_cap,unit = s Q_map(T_c*, T_e,in)            s = Q_nom / Q_map(T_con,nom*, T_eva,nom)
    COP        = Q_map(T_c*, T_e,in) / P_map(T_c*, T_e,in)
    y          = Q_1 / Q_cap,unit

The scale factor s makes the map's condenser heat at the nominal point (parameters
``map_nominal_condenser_outlet_temperature``, ``map_nominal_evaporator_inlet_temperature``; default
60 °C / 12 °C, where WAMAK gives 108.6 kW = the default ``nominal_heating_capacity``, so s = 1) equal
to ``nominal_heating_capacity``. Part load: the demand and the limits are those of the Carnot mode with
the capacity Q_cap,unit of the map at the current temperatures (part-load input: y Q_cap,unit), and
heat and power scale together (a speed-controlled compressor, as Buildings scales both tables by the
compressor speed): the COP at part load is the map's full-load COP. P_el = Q_con / COP and
Q_eva = Q_con - P_el, so the first law holds exactly. ``minimum_cop``/``maximum_cop`` act on the Carnot
model only.

Operating envelope (map): the map is only defined where the data sheet gives numbers. WAMAK
tabulates 55 °C for T_e,in from -5 to 45 °C, 60 °C from 0 °C, 70 °C from 10 °C and 80 °C from 20 °C
(zeros in the data record). The highest allowed condenser outlet temperature is therefore the
staircase T_env(T_e,in) = 55, 60, 70 or 80 °C (the highest row tabulated at T_e,in; every cell of the
bilinear interpolation below it holds four published values). Operation outside it is limited to the
envelope's edge, never extrapolated:

* the condenser outlet limit becomes min(``maximum_condenser_outlet_temperature``, T_env(T_e,in)):
  Q_cap = min(Q_cap,unit, max(0, m_c c_c (T_lim - T_c,in))), so a set point above the envelope gives
  the highest supply temperature the unit can reach (in steady state T_c = T_env);
* the map is read at T_c* = min(T_c, T_env(T_e,in)) and at T_e,in clamped to the tabulated range
  (-5 to 45 °C); a condenser outlet below 55 °C is read at 55 °C (the lowest tabulated row).

``status`` (Integer): 0 ok, 1 capacity-limited (the demand exceeds the unit's capacity or the
condenser outlet limit), 2 source-limited (the evaporator outlet limit caps the output), 3 envelope
limit: in Carnot mode the Carnot COP is above ``maximum_cop`` or below ``minimum_cop`` and is held at
that limit; in map mode the envelope caps the demand, or the map is read at a clamped point (T_c above
T_env or below 55 °C, T_e,in outside -5 to 45 °C). The highest applicable value is reported.

Second law (checked by the tests): in steady state the stream entropy generation
m_c c_c ln(T_c/T_c,in) + m_e c_e ln(T_e/T_e,in) ≥ 0 and 1 < COP < COP_Lorenz, which holds whenever
η_Carnot η_PL(y) ≤ 1 (COP ≤ Carnot(T_c, T_e) ≤ Lorenz of the two streams; Reinholdt et al. 2018).
``entropy_generation`` is that stream expression evaluated with the states as outlets; during
transients it also contains the change of the water held.

Assumptions: constant specific heats; lossless casing (Q_con = Q_eva + P_el); fully mixed water volumes;
demand and limits are evaluated from the inlets and the current states (no algebraic loop); the source
and condenser limits are steady-state limits (the mixed volumes may pass them briefly in transients).
Validity: liquid water or brine 0-100 °C, temperature lifts where status is not 3; map mode: the WAMAK
envelope (condenser outlet 55-80 °C, evaporator inlet -5-45 °C) with EN 14511 stream spreads (3-10 K):
the map does not depend on the flows, and far larger spreads (e.g. a source stream cooled by 50 K) can
give a COP above the streams' reversible limit; the spreads are not flagged.

References and published numbers used by the tests: Drammen 14 MW, 65 → 90 °C, fjord water
8-9 °C, COP 3.0, implied Carnot effectiveness 0.68 (§4.7); Wien ebswien 55 MW, 2/3 of the heat from the
effluent cooled by ~6 K (§4.7); ANIKA 162 kg/s effluent at 12 °C cannot give 20 MW (§1.1); the map's
published points (§4.2). Map data: WAMAK TWW220 WHR heavy duty, 220 kW water to water, R513A (WAMAK
product sheet 2023/24), as transcribed in the Modelica Buildings Library record
``Buildings.Fluid.HeatPumps.ModularReversible.Data.TableData2D.EN14511.WAMAK_WaterToWater_220kW``
(tables ``tabQCon_flow`` and ``tabPEle``; condenser outlet and evaporator inlet temperatures).
'''

from __future__ import annotations

import sympy as sp

from kreislauf.models.declare import T_REF, Model

__all__ = [
    "CARNOT",
    "PART_LOAD",
    "PERFORMANCE_MAP",
    "STATUS_CAPACITY",
    "STATUS_ENVELOPE",
    "STATUS_OK",
    "STATUS_SOURCE",
    "SUPPLY_SETPOINT",
    "WAMAK_CONDENSER_HEAT",
    "WAMAK_CONDENSER_OUTLET_TEMPERATURES",
    "WAMAK_ELECTRICAL_POWER",
    "WAMAK_EVAPORATOR_INLET_TEMPERATURES",
    "build",
    "envelope_rows",
    "filled_map",
]

SUPPLY_SETPOINT = 1
PART_LOAD = 2
CARNOT = 1
PERFORMANCE_MAP = 2
"""Values of the ``performance_model`` parameter."""
STATUS_OK, STATUS_CAPACITY, STATUS_SOURCE, STATUS_ENVELOPE = 0, 1, 2, 3
"""Values of the ``status`` output."""


def _flag(difference: sp.Expr) -> sp.Expr:
    """1 where ``difference`` > 0, else 0, without a Piecewise (``floor((1 + sign(d)) / 2)``)."""
    return sp.floor((1 + sp.sign(difference)) / 2)


WAMAK_CONDENSER_OUTLET_TEMPERATURES: tuple[float, ...] = (328.15, 333.15, 343.15, 353.15)
"""Rows of the WAMAK 220 kW map: condenser outlet temperatures (K), 55, 60, 70 and 80 °C."""
WAMAK_EVAPORATOR_INLET_TEMPERATURES: tuple[float, ...] = tuple(round(268.15 + k, 2) for k in range(51))
"""Columns of the WAMAK 220 kW map: evaporator inlet temperatures (K), -5 to 45 °C in 1 K steps."""
WAMAK_CONDENSER_HEAT: tuple[tuple[float, ...], ...] = (
    (  # T_con,out = 328.15 K
        65800, 68000, 70200, 72400, 74800, 77200, 79700, 82300, 84900, 87700, 90500, 93400, 96400, 99500,
        102600, 105900, 109300, 112800, 116400, 120100, 123900, 127800, 131900, 136100, 140400, 144800, 149300,
        154000, 158800, 163800, 168900, 174100, 179500, 185000, 190700, 196600, 202600, 208700, 215000, 221500,
        228200, 235000, 242000, 249200, 256500, 264100, 271800, 279700, 287800, 296100, 304600,
    ),
    (  # T_con,out = 333.15 K
        0, 0, 0, 0, 0, 75200, 77600, 80000, 82500, 85000, 87700, 90400, 93200, 96100, 99100, 102100, 105300,
        108600, 111900, 115400, 119000, 122600, 126400, 130300, 134400, 138500, 142800, 147200, 151700, 156300,
        161100, 166100, 171100, 176300, 181700, 187200, 192800, 198600, 204600, 210700, 217000, 223400, 230000,
        236800, 243800, 250900, 258200, 265700, 273400, 281200, 289300,
    ),
    (  # T_con,out = 343.15 K
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 95000, 97700, 100500, 103300, 106300, 109400, 112500,
        115800, 119100, 122600, 126100, 129800, 133600, 137500, 141500, 145600, 149900, 154300, 158800, 163500,
        168200, 173200, 178200, 183400, 188800, 194300, 199900, 205700, 211700, 217800, 224100, 230600, 237200,
        244000, 250900, 258100,
    ),
    (  # T_con,out = 353.15 K
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 114300, 117300, 120500,
        123700, 127000, 130500, 134100, 137700, 141500, 145400, 149500, 153600, 157900, 162300, 166800, 171500,
        176300, 181300, 186400, 191700, 197100, 202600, 208300, 214200, 220200, 226400,
    ),
)
"""Condenser heat (W) of the WAMAK 220 kW map, one row per condenser outlet temperature, one column
per evaporator inlet temperature; 0 marks operation outside the unit's envelope (the data record's
convention)."""
WAMAK_ELECTRICAL_POWER: tuple[tuple[float, ...], ...] = (
    (  # T_con,out = 328.15 K
        30100, 30100, 30100, 30100, 30100, 30100, 30100, 30100, 30100, 30100, 30200, 30200, 30200, 30200,
        30200, 30300, 30300, 30300, 30400, 30400, 30400, 30500, 30500, 30600, 30600, 30700, 30700, 30800,
        30800, 30900, 31000, 31000, 31100, 31200, 31200, 31300, 31400, 31500, 31500, 31600, 31700, 31800,
        31900, 32000, 32100, 32200, 32300, 32400, 32500, 32600, 32700,
    ),
    (  # T_con,out = 333.15 K
        0, 0, 0, 0, 0, 33500, 33500, 33500, 33500, 33500, 33500, 33500, 33600, 33600, 33600, 33600, 33600,
        33600, 33600, 33700, 33700, 33700, 33700, 33800, 33800, 33900, 33900, 33900, 34000, 34000, 34100,
        34100, 34200, 34200, 34300, 34300, 34400, 34400, 34500, 34600, 34600, 34700, 34800, 34900, 34900,
        35000, 35100, 35200, 35300, 35400, 35400,
    ),
    (  # T_con,out = 343.15 K
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 41700, 41600, 41600, 41600, 41600, 41600, 41600, 41600,
        41600, 41600, 41600, 41600, 41600, 41600, 41600, 41600, 41600, 41600, 41600, 41600, 41600, 41700,
        41700, 41700, 41700, 41700, 41800, 41800, 41800, 41900, 41900, 41900, 42000, 42000, 42100, 42100,
    ),
    (  # T_con,out = 353.15 K
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 51400, 51400, 51300, 51300,
        51200, 51200, 51200, 51100, 51100, 51000, 51000, 51000, 50900, 50900, 50900, 50800, 50800, 50800,
        50800, 50700, 50700, 50700, 50700, 50600, 50600, 50600,
    ),
)
"""Electrical power (W) of the WAMAK 220 kW map, same layout as :data:`WAMAK_CONDENSER_HEAT`."""


def envelope_rows(values: tuple[tuple[float, ...], ...], columns: tuple[float, ...]) -> list[float]:
    """Per row of a map whose zeros mark the outside of the envelope: the lowest column value from which
    the row is tabulated (the row is tabulated from there to the last column, checked).

    Rows must open up in order: a higher row starts at the same or a higher column.
    """
    first = []
    for k, row in enumerate(values):
        start = next(j for j, v in enumerate(row) if v != 0)
        if any(v == 0 for v in row[start:]):
            raise ValueError(f"map row {k} has a gap inside its envelope")
        if first and columns[start] < first[-1]:
            raise ValueError(f"map row {k} starts below the row before it")
        first.append(columns[start])
    return first


def filled_map(values: tuple[tuple[float, ...], ...]) -> list[list[float]]:
    """The map with each cell outside the envelope (0) replaced by the value of the nearest tabulated row
    below it in the same column.

    The model reads the map only inside the envelope (the query is limited to T_env), where the
    replaced cells carry an interpolation weight of exactly zero; the replacement keeps the table
    finite and the interpolation of the tabulated cells exact.
    """
    filled: list[list[float]] = []
    for row in values:
        filled.append([v if v != 0 else filled[-1][j] for j, v in enumerate(row)])
    return filled


def _at_least(difference: sp.Expr) -> sp.Expr:
    """1 where ``difference`` >= 0, else 0 (``floor(1 + sign(d) / 2)``)."""
    return sp.floor(1 + sp.sign(difference) / 2)


def build() -> Model:
    """Declare the water-to-water heat pump model."""
    m = Model(
        "heat_pump",
        "Water-to-water heat pump (Carnot effectiveness or EN 14511 map) with capacity and source limits",
        references=[
            "Modelica Buildings Library, Buildings.Fluid.Chillers.BaseClasses.Carnot",
            "Modelica Buildings Library, Buildings.Fluid.HeatPumps.ModularReversible.Data.TableData2D.EN14511."
            "WAMAK_WaterToWater_220kW (WAMAK product sheet 2023/24)",
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
        description="condenser heat at full load: the capacity (Carnot model) or the capacity at the map's "
                    "nominal point (map model)",
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
    performance = m.parameter(
        "performance_model", unit="1", start=CARNOT, min=1, max=2, type="Integer",
        description="1 Carnot effectiveness, 2 EN 14511 performance map (WAMAK 220 kW, scaled)",
    )
    t_con_nom = m.parameter(
        "map_nominal_condenser_outlet_temperature", unit="K", start=333.15,
        min=WAMAK_CONDENSER_OUTLET_TEMPERATURES[0], max=WAMAK_CONDENSER_OUTLET_TEMPERATURES[-1],
        description="map model: condenser outlet temperature of the point where the condenser heat at full "
                    "load is nominal_heating_capacity (limited to the envelope)",
    )
    t_eva_nom = m.parameter(
        "map_nominal_evaporator_inlet_temperature", unit="K", start=285.15,
        min=WAMAK_EVAPORATOR_INLET_TEMPERATURES[0], max=WAMAK_EVAPORATOR_INLET_TEMPERATURES[-1],
        description="map model: evaporator inlet temperature of that nominal point",
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

    carnot_weight, map_weight = 2 - performance, performance - 1  # exactly 1 and 0 for the selected model
    rows, columns = WAMAK_CONDENSER_OUTLET_TEMPERATURES, WAMAK_EVAPORATOR_INLET_TEMPERATURES
    first = envelope_rows(WAMAK_CONDENSER_HEAT, columns)
    if first != envelope_rows(WAMAK_ELECTRICAL_POWER, columns):
        raise ValueError("the WAMAK heat and power maps have different envelopes")

    def envelope_limit(t_eva_in: sp.Expr) -> sp.Expr:
        """T_env: the highest tabulated condenser outlet temperature at this evaporator inlet temperature."""
        return rows[0] + sum((rows[k] - rows[k - 1]) * _at_least(t_eva_in - first[k]) for k in range(1, len(rows)))

    t_env = m.local("envelope_condenser_outlet_limit", envelope_limit(t_ei), unit="K",
                    description="map model: highest condenser outlet temperature of the envelope at the current "
                                "evaporator inlet temperature")
    t_c_map = sp.Min(t_c, t_env)
    map_heat = m.table2d("wamak_condenser_heat", rows, columns, filled_map(WAMAK_CONDENSER_HEAT), t_c_map, t_ei)
    map_power = m.table2d("wamak_electrical_power", rows, columns, filled_map(WAMAK_ELECTRICAL_POWER), t_c_map, t_ei)
    scale = m.local(
        "map_scale_factor",
        q_nom / m.lookup("wamak_condenser_heat", sp.Min(t_con_nom, envelope_limit(t_eva_nom)), t_eva_nom),
        unit="1", description="map model: nominal_heating_capacity / map condenser heat at the nominal point")
    cap_unit = m.local("full_load_heat", carnot_weight * q_nom + map_weight * scale * map_heat, unit="W",
                       description="condenser heat at full load: nominal_heating_capacity (Carnot) or the scaled "
                                   "map at the current temperatures")
    t_lim = carnot_weight * t_con_max + map_weight * sp.Min(t_con_max, t_env)
    cap = sp.Min(cap_unit, sp.Max(0, m_c * cp_c * (t_lim - t_ci)))
    setpoint_heat = sp.Max(0, m_c * cp_c * (t_set - t_ci))
    demand = m.output("heat_demand", (2 - demand_mode) * setpoint_heat + (demand_mode - 1) * y_in * cap_unit,
                      unit="W", min=0.0,
                      description="condenser heat requested by the set point or the part-load input")
    q_1 = m.local("capacity_limited_heat", sp.Min(demand, cap), unit="W",
                  description="demand limited by the capacity and the condenser outlet limit")
    y = m.output("part_load", q_1 / cap_unit, unit="1", description="part-load ratio Q_1 / Q_cap,unit")
    t_con_act = t_c + y * app_con
    t_eva_act = t_e - y * app_eva
    eta_pl = a0 + (1 - a0 - a2) * y + a2 * y**2
    cop_carnot = m.local("unlimited_cop", eta * eta_pl * t_con_act / sp.Max(1, t_con_act - t_eva_act),
                         unit="1", description="Carnot model: COP before the maximum_cop and minimum_cop limits")
    cop = m.output("cop", carnot_weight * sp.Max(sp.Min(cop_carnot, cop_max), cop_min)
                   + map_weight * map_heat / map_power, unit="1",
                   description="coefficient of performance Q_con / P_el at the operating point")
    source_heat = sp.Max(0, m_e * cp_e * (t_ei - t_eva_min))
    source_cap = m.local("source_limited_heat", source_heat * cop / (cop - 1), unit="W",
                         description="largest condenser heat the source allows at this COP")
    q_con = m.output("condenser_heat", sp.Min(q_1, source_cap), unit="W", min=0.0,
                     description="heat delivered to the condenser water")
    p_el = m.output("electrical_power", q_con / cop, unit="W", min=0.0,
                    description="electrical power of the compressor")
    q_eva = m.output("evaporator_heat", q_con - p_el, unit="W", description="heat taken from the evaporator water")
    carnot_envelope = sp.Max(_flag(cop_carnot - cop_max), _flag(cop_min - cop_carnot))
    map_envelope = sp.Max(
        # the envelope caps the demand (by more than round-off: at the edge itself the unit runs as asked)
        _flag(demand - (1 + 1e-9) * sp.Max(0, m_c * cp_c * (t_env - t_ci))),
        _flag(t_c - t_env), _flag(rows[0] - t_c),  # the map is read at a clamped condenser outlet
        _flag(columns[0] - t_ei), _flag(t_ei - columns[-1]),  # ... or a clamped evaporator inlet
    )
    m.output(
        "status",
        sp.Max(STATUS_ENVELOPE * (carnot_weight * carnot_envelope + map_weight * map_envelope),
               STATUS_SOURCE * _flag(q_1 - source_cap), STATUS_CAPACITY * _flag(demand - cap)),
        unit="1", type="Integer", min=0, max=3,
        description="0 ok, 1 capacity-limited, 2 source-limited, 3 envelope limit (Carnot: COP limit; map: "
                    "outside the map's envelope, limited to its edge)",
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
