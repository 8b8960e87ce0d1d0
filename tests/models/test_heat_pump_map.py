"""The heat pump's EN 14511 performance map (WAMAK 220 kW) against the published data points, bilinear
between them, limited and flagged outside the envelope, the first and second law over random
operating points, the analytic Jacobian, and through the exported FMI 2.0 and 3.0 FMUs."""

from __future__ import annotations

import ctypes
import math
import subprocess

import numpy as np
import pytest
from fmpy import simulate_fmu
from fmpy.validation import validate_fmu
from hypothesis import given, settings
from hypothesis import strategies as st

from kreislauf.fmu import FmuComponent, build_fmu
from kreislauf.fmu.build import find_compiler, runtime_dir
from kreislauf.fmu.codegen import generate
from kreislauf.models import get_model
from kreislauf.models.heat_pump import (
    PART_LOAD,
    PERFORMANCE_MAP,
    STATUS_CAPACITY,
    STATUS_ENVELOPE,
    STATUS_OK,
    STATUS_SOURCE,
    SUPPLY_SETPOINT,
)
from kreislauf.models.simulate import simulate

CP = 4190.0
C0 = 273.15
PORTS = ["condenser_inlet", "condenser_outlet", "evaporator_inlet", "evaporator_outlet", "compressor"]
MAP = {"performance_model": PERFORMANCE_MAP, "nominal_heating_capacity": 108.6e3,
       "minimum_evaporator_outlet_temperature": 250.0}
"""Map mode at scale 1: the default nominal point is 60 °C / 12 °C, where WAMAK gives 108.6 kW."""

# physics notes §4.2: WAMAK 220 kW (T_con,out °C, T_eva,in °C) -> Q_con W, P_el W, COP, Q_eva W
PUBLISHED = [
    (55, 5, 90_500, 30_200, 2.997, 60_300),
    (55, 12, 112_800, 30_300, 3.723, 82_500),
    (60, 10, 102_100, 33_600, 3.039, 68_500),
    (60, 12, 108_600, 33_600, 3.232, 75_000),
    (70, 12, 100_500, 41_600, 2.416, 58_900),
    (70, 20, 126_100, 41_600, 3.031, 84_500),
    (80, 20, 114_300, 51_400, 2.224, 62_900),
]


@pytest.fixture(scope="module")
def hp():
    return get_model("heat_pump")


def one(out: dict, name: str) -> float:
    return float(np.asarray(out[name]).flat[0])


def steady_point(hp, t_con_out: float, t_eva_in: float, part_load: float = 1.0, m_c: float = 5.0,
                 m_e: float = 5.0, **parameters) -> dict:
    """Evaluate map mode with the condenser at ``t_con_out`` and the evaporator inlet at ``t_eva_in`` (first
    with the coldest condenser inlet, so that the condenser outlet limit does not bind), then set the
    condenser inlet and evaporator outlet so that both water volumes are in steady state."""
    values = dict(MAP, demand_mode=PART_LOAD, part_load_ratio=part_load, condenser_mass_flow=m_c,
                  evaporator_mass_flow=m_e, condenser_outlet_temperature=t_con_out,
                  evaporator_inlet_temperature=t_eva_in, condenser_inlet_temperature=253.15,
                  evaporator_outlet_temperature=t_eva_in - 3.0)
    values.update(parameters)
    first = hp.evaluate(**values)
    values["condenser_inlet_temperature"] = t_con_out - one(first, "condenser_heat") / (m_c * CP)
    values["evaporator_outlet_temperature"] = t_eva_in - one(first, "evaporator_heat") / (m_e * CP)
    out = hp.evaluate(**values)
    out["inputs"] = values
    return out


@pytest.mark.parametrize(("t_con", "t_eva", "q_con", "p_el", "cop", "q_eva"), PUBLISHED)
def test_published_wamak_points_in_steady_state(hp, t_con, t_eva, q_con, p_el, cop, q_eva):
    out = steady_point(hp, C0 + t_con, C0 + t_eva)
    assert abs(one(out, "der(condenser_outlet_temperature)")) < 1e-9
    assert abs(one(out, "der(evaporator_outlet_temperature)")) < 1e-9
    assert one(out, "map_scale_factor") == pytest.approx(1.0, rel=1e-15)
    assert one(out, "condenser_heat") == pytest.approx(q_con, rel=1e-12)
    assert one(out, "electrical_power") == pytest.approx(p_el, rel=1e-12)
    assert one(out, "cop") == pytest.approx(cop, abs=5e-4)  # published to three decimals
    assert one(out, "evaporator_heat") == pytest.approx(q_eva, rel=1e-12)
    # 70 °C at 12 °C and 80 °C at 20 °C are the envelope's edge: full load there meets the condenser
    # outlet limit exactly, which may round to "capacity-limited"; never to "outside the envelope"
    at_edge = (t_con, t_eva) in ((70, 12), (80, 20))
    assert one(out, "status") == STATUS_OK or (at_edge and one(out, "status") == STATUS_CAPACITY)


def test_capacity_and_power_scale_with_the_nominal_capacity_and_the_nominal_point(hp):
    """Scale = nominal_heating_capacity / map heat at the nominal point: twice 108.6 kW doubles heat and
    power at 70 °C / 20 °C; a nominal point of 80 °C / 20 °C with 114.3 kW (its published value) is scale 1."""
    doubled = steady_point(hp, C0 + 70, C0 + 20, nominal_heating_capacity=2 * 108.6e3)
    assert one(doubled, "condenser_heat") == pytest.approx(2 * 126_100, rel=1e-12)
    assert one(doubled, "electrical_power") == pytest.approx(2 * 41_600, rel=1e-12)
    moved = steady_point(hp, C0 + 55, C0 + 12, nominal_heating_capacity=114.3e3,
                         map_nominal_condenser_outlet_temperature=C0 + 80,
                         map_nominal_evaporator_inlet_temperature=C0 + 20)
    assert one(moved, "map_scale_factor") == pytest.approx(1.0, rel=1e-15)
    assert one(moved, "condenser_heat") == pytest.approx(112_800, rel=1e-12)


# neighbouring cells of the data record (Buildings ...EN14511.WAMAK_WaterToWater_220kW, tabQCon_flow and
# tabPEle): (T_con,out °C, T_eva,in °C) -> (Q_con W, P_el W)
RECORD = {
    (55, 12): (112_800, 30_300), (55, 13): (116_400, 30_400),
    (60, 12): (108_600, 33_600), (60, 13): (111_900, 33_600),
    (70, 12): (100_500, 41_600), (70, 13): (103_300, 41_600),
    (70, 30): (168_200, 41_600), (70, 31): (173_200, 41_700),
    (80, 30): (149_500, 51_000), (80, 31): (153_600, 51_000),
    (55, -5): (65_800, 30_100), (55, 45): (304_600, 32_700),
}
COP_RANGE = (65_800 / 30_100, 304_600 / 32_700)
"""Lowest (55 °C / -5 °C) and highest (55 °C / 45 °C) COP of the record's tabulated cells."""


def hand_bilinear(t_con: float, t_eva: float, corner: tuple[int, int], size: tuple[int, int], k: int) -> float:
    """Bilinear interpolation of RECORD entry k in the cell with lower corner ``corner`` (°C)."""
    x0, y0 = corner
    x1, y1 = x0 + size[0], y0 + size[1]
    tx, ty = (t_con - x0) / (x1 - x0), (t_eva - y0) / (y1 - y0)
    return ((1 - tx) * (1 - ty) * RECORD[(x0, y0)][k] + tx * (1 - ty) * RECORD[(x1, y0)][k]
            + (1 - tx) * ty * RECORD[(x0, y1)][k] + tx * ty * RECORD[(x1, y1)][k])


@pytest.mark.parametrize(("t_con", "t_eva", "corner", "size"), [
    (57.5, 12.25, (55, 12), (5, 1)),
    (65.0, 12.5, (60, 12), (10, 1)),
    (62.0, 12.9, (60, 12), (10, 1)),
    (76.0, 30.4, (70, 30), (10, 1)),
])
def test_between_points_the_map_is_bilinear(hp, t_con, t_eva, corner, size):
    out = steady_point(hp, C0 + t_con, C0 + t_eva)
    q = hand_bilinear(t_con, t_eva, corner, size, 0)
    p = hand_bilinear(t_con, t_eva, corner, size, 1)
    assert one(out, "condenser_heat") == pytest.approx(q, rel=1e-9)
    assert one(out, "cop") == pytest.approx(q / p, rel=1e-9)
    assert one(out, "electrical_power") == pytest.approx(p, rel=1e-9)
    assert one(out, "status") == STATUS_OK


def test_part_load_keeps_the_map_cop(hp):
    full = steady_point(hp, C0 + 60, C0 + 12, part_load=1.0)
    half = steady_point(hp, C0 + 60, C0 + 12, part_load=0.5)
    assert one(half, "condenser_heat") == pytest.approx(0.5 * 108_600, rel=1e-12)
    assert one(half, "part_load") == pytest.approx(0.5, rel=1e-12)
    assert one(half, "cop") == one(full, "cop")


def test_capacity_limit_in_map_mode_is_the_map_at_the_current_temperatures(hp):
    """A 60 °C set point for 5 kg/s from 50 °C asks 209.5 kW; at 60 °C / 12 °C the unit gives the
    published 108.6 kW (status 1), at 60 °C / 20 °C the record's 138.5 kW (row 60 °C, column 20 °C)."""
    common = dict(MAP, demand_mode=SUPPLY_SETPOINT, supply_temperature_setpoint=C0 + 60, condenser_mass_flow=5.0,
                  condenser_inlet_temperature=C0 + 50, condenser_outlet_temperature=C0 + 60,
                  evaporator_mass_flow=20.0)
    cold = hp.evaluate(**common, evaporator_inlet_temperature=C0 + 12)
    assert one(cold, "heat_demand") == pytest.approx(5.0 * CP * 10, rel=1e-12)
    assert one(cold, "condenser_heat") == pytest.approx(108_600, rel=1e-12)
    assert one(cold, "status") == STATUS_CAPACITY
    warm = hp.evaluate(**common, evaporator_inlet_temperature=C0 + 20)
    assert one(warm, "condenser_heat") == pytest.approx(138_500, rel=1e-12)
    assert one(warm, "status") == STATUS_CAPACITY


def test_a_setpoint_above_the_envelope_is_limited_to_its_edge_and_flagged(hp):
    """Evaporator inlet 12 °C: WAMAK tabulates 70 °C but not 80 °C. An 80 °C set point settles at 70 °C
    with status 3, running at the published 70 °C / 12 °C COP."""
    m_c, t_ci = 2.0, C0 + 60
    res = simulate(hp, 4 * 3600.0, 600.0, rtol=1e-9, atol=1e-11,
                   parameters={**MAP, "demand_mode": SUPPLY_SETPOINT, "condenser_outlet_temperature_start": C0 + 60,
                               "evaporator_outlet_temperature_start": C0 + 8},
                   inputs={"condenser_mass_flow": m_c, "condenser_inlet_temperature": t_ci,
                           "evaporator_mass_flow": 10.0, "evaporator_inlet_temperature": C0 + 12,
                           "supply_temperature_setpoint": C0 + 80})
    assert res["heat_demand"][-1] == pytest.approx(m_c * CP * 20, rel=1e-12)
    assert res["condenser_outlet_temperature"][-1] == pytest.approx(C0 + 70, abs=1e-6)
    assert np.all(res["condenser_outlet_temperature"] <= C0 + 70 + 1e-6)
    assert res["condenser_heat"][-1] == pytest.approx(m_c * CP * 10, rel=1e-12)
    assert res["cop"][-1] == pytest.approx(2.416, abs=5e-4)
    assert np.all(res["status"][1:] == STATUS_ENVELOPE)
    # the same unit below the envelope edge: a 65 °C set point is met, status ok
    ok = hp.evaluate(**MAP, demand_mode=SUPPLY_SETPOINT, supply_temperature_setpoint=C0 + 65, condenser_mass_flow=m_c,
                     condenser_inlet_temperature=t_ci, condenser_outlet_temperature=C0 + 65,
                     evaporator_inlet_temperature=C0 + 12, evaporator_mass_flow=10.0)
    assert one(ok, "condenser_heat") == pytest.approx(m_c * CP * 5, rel=1e-12)
    assert one(ok, "status") == STATUS_OK


@pytest.mark.parametrize(("t_c", "t_ei", "read_at"), [
    (75.0, 12.0, (70, 12)),  # condenser water above the envelope (10 °C <= T_eva,in < 20 °C: 70 °C)
    (58.0, -2.0, None),  # below 0 °C only 55 °C is tabulated
    (50.0, 12.0, (55, 12)),  # below the lowest row: read at 55 °C
    (60.0, 50.0, None),  # evaporator inlet above the map (45 °C)
    (55.0, -8.0, (55, -5)),  # evaporator inlet below the map (-5 °C)
])
def test_outside_the_envelope_status_is_3_and_the_map_is_read_at_its_edge(hp, t_c, t_ei, read_at):
    out = hp.evaluate(**MAP, demand_mode=PART_LOAD, part_load_ratio=1.0, condenser_mass_flow=5.0,
                      condenser_inlet_temperature=C0 + 45, condenser_outlet_temperature=C0 + t_c,
                      evaporator_inlet_temperature=C0 + t_ei, evaporator_mass_flow=10.0,
                      evaporator_outlet_temperature=C0 + t_ei - 3)
    assert one(out, "status") == STATUS_ENVELOPE
    if read_at is not None:
        q, p = RECORD[read_at]
        assert one(out, "full_load_heat") == pytest.approx(q, rel=1e-12)
        assert one(out, "cop") == pytest.approx(q / p, rel=1e-12)
    # never beyond the published range: full-load heat and COP between the map's extremes
    assert 65_800 * (1 - 1e-12) <= one(out, "full_load_heat") <= 304_600 * (1 + 1e-12)
    assert COP_RANGE[0] * (1 - 1e-12) <= one(out, "cop") <= COP_RANGE[1] * (1 + 1e-12)
    # and the heat never lifts the condenser water above the envelope's edge in steady state
    envelope = C0 + (55 if t_ei < 0 else 60 if t_ei < 10 else 70 if t_ei < 20 else 80)
    assert one(out, "condenser_heat") <= 5.0 * CP * (envelope - (C0 + 45)) * (1 + 1e-12)


def test_edge_values_outside_the_evaporator_range(hp):
    """Evaporator inlet 50 °C is read at 45 °C (55 °C row: 304.6 kW, 32.7 kW); -8 °C at -5 °C (65.8 kW)."""
    hot = hp.evaluate(**MAP, demand_mode=PART_LOAD, condenser_outlet_temperature=C0 + 55,
                      evaporator_inlet_temperature=C0 + 50, condenser_mass_flow=20.0, evaporator_mass_flow=20.0)
    assert one(hot, "condenser_heat") == pytest.approx(304_600, rel=1e-12)
    assert one(hot, "electrical_power") == pytest.approx(32_700, rel=1e-12)
    cold = hp.evaluate(**MAP, demand_mode=PART_LOAD, condenser_outlet_temperature=C0 + 55,
                       evaporator_inlet_temperature=C0 - 8, condenser_mass_flow=20.0, evaporator_mass_flow=20.0)
    assert one(cold, "condenser_heat") == pytest.approx(65_800, rel=1e-12)
    assert one(cold, "status") == STATUS_ENVELOPE


def test_the_source_limit_still_caps_the_map(hp):
    """The evaporator outlet limit works in map mode: 2 kg/s at 12 °C down to 4 °C gives 67 kW from the
    source, Q_con = Q_eva COP/(COP - 1) at the map's COP."""
    out = hp.evaluate(**{**MAP, "minimum_evaporator_outlet_temperature": C0 + 4}, demand_mode=PART_LOAD,
                      condenser_outlet_temperature=C0 + 60, evaporator_inlet_temperature=C0 + 12,
                      evaporator_mass_flow=2.0, condenser_mass_flow=5.0)
    cop = 108_600 / 33_600
    assert one(out, "status") == STATUS_SOURCE
    assert one(out, "evaporator_heat") == pytest.approx(2.0 * CP * 8.0, rel=1e-12)
    assert one(out, "condenser_heat") == pytest.approx(2.0 * CP * 8.0 * cop / (cop - 1), rel=1e-12)


def lorenz_cop(sink_in: float, sink_out: float, source_in: float, source_out: float) -> float:
    """Reversible COP between two streams with glide (thermodynamic mean temperatures)."""
    def mean(a: float, b: float) -> float:
        return a if abs(a - b) < 1e-9 else (b - a) / math.log(b / a)
    t_sink, t_source = mean(sink_in, sink_out), mean(source_in, source_out)
    return t_sink / (t_sink - t_source)


temps_map = st.tuples(st.floats(C0 + 50, C0 + 85), st.floats(C0 - 8, C0 + 50))
flows = st.one_of(st.just(0.0), st.floats(1e-3, 500.0))


@settings(max_examples=200, deadline=None)
@given(t=temps_map, m_c=flows, m_e=flows, t_ci=st.floats(C0 + 20, C0 + 90), t_set=st.floats(C0 + 20, C0 + 95),
       t_e=st.floats(C0 - 10, C0 + 50), y_in=st.floats(0.0, 1.0), mode=st.sampled_from([SUPPLY_SETPOINT, PART_LOAD]),
       q_nom=st.floats(1e3, 1e7), t_min=st.floats(C0 - 5, C0 + 15))
def test_map_mode_first_law_and_limits_hold_everywhere(hp, t, m_c, m_e, t_ci, t_set, t_e, y_in, mode, q_nom, t_min):
    t_c, t_ei = t
    out = hp.evaluate(
        performance_model=PERFORMANCE_MAP, nominal_heating_capacity=q_nom, minimum_evaporator_outlet_temperature=t_min,
        condenser_mass_flow=m_c, evaporator_mass_flow=m_e, condenser_inlet_temperature=t_ci,
        evaporator_inlet_temperature=t_ei, condenser_outlet_temperature=t_c, evaporator_outlet_temperature=t_e,
        supply_temperature_setpoint=t_set, part_load_ratio=y_in, demand_mode=mode)
    q_con, q_eva, p_el, cop = (one(out, n) for n in ("condenser_heat", "evaporator_heat", "electrical_power", "cop"))
    assert all(math.isfinite(v) for v in (q_con, q_eva, p_el, cop))
    assert abs(q_con - q_eva - p_el) <= 1e-9 * q_con + 1e-9
    scale = q_nom / 108_600
    assert 0.0 <= q_con <= 304_600 * scale * (1 + 1e-12)
    assert COP_RANGE[0] * (1 - 1e-12) <= cop <= COP_RANGE[1] * (1 + 1e-12)
    assert q_eva <= max(0.0, m_e * CP * (t_ei - t_min)) * (1 + 1e-9) + 1e-9
    # never above the envelope: 55 °C below 0 °C evaporator inlet, 60 °C below 10 °C, 70 °C below 20 °C, 80 °C
    envelope = C0 + (55 if t_ei < C0 else 60 if t_ei < C0 + 10 else 70 if t_ei < C0 + 20 else 80)
    assert q_con <= max(0.0, m_c * CP * (envelope - t_ci)) * (1 + 1e-12) + 1e-9
    status = one(out, "status")
    if q_con < one(out, "heat_demand") * (1 - 1e-9) - 1e-6:
        assert status in (STATUS_CAPACITY, STATUS_SOURCE, STATUS_ENVELOPE)
    outside = t_ei < C0 - 5 or t_ei > C0 + 45 or t_c > envelope or t_c < C0 + 55
    if outside:
        assert status == STATUS_ENVELOPE
    rate = 2e5 * (one(out, "der(condenser_outlet_temperature)") + one(out, "der(evaporator_outlet_temperature)"))
    ports = sum(one(out, f"{p}_power") for p in PORTS)
    assert abs(rate - ports) <= 1e-9 * (sum(abs(one(out, f"{p}_power")) for p in PORTS) + 1.0)


@settings(max_examples=200, deadline=None)
@given(t_con=st.floats(C0 + 55, C0 + 80), t_ei=st.floats(C0 - 5, C0 + 45), y_in=st.floats(0.05, 1.0),
       spread_c=st.floats(3.0, 10.0), spread_e=st.floats(3.0, 10.0))
def test_map_mode_second_law_in_steady_state(hp, t_con, t_ei, y_in, spread_c, spread_e):
    """Inside the envelope and with the stream spreads of EN 14511 rating (3-10 K, the map's validity: it
    does not know the flows), at a steady state of both water volumes: the two streams generate entropy
    and 1 < COP < COP_Lorenz of the streams."""
    envelope = C0 + (55 if t_ei < C0 else 60 if t_ei < C0 + 10 else 70 if t_ei < C0 + 20 else 80)
    t_con = min(t_con, envelope)
    first = steady_point(hp, t_con, t_ei, part_load=y_in)
    m_c = one(first, "condenser_heat") / (CP * spread_c)
    m_e = one(first, "evaporator_heat") / (CP * spread_e)
    out = steady_point(hp, t_con, t_ei, part_load=y_in, m_c=m_c, m_e=m_e)
    inputs = out["inputs"]
    assert inputs["condenser_inlet_temperature"] == pytest.approx(t_con - spread_c, abs=1e-9)
    assert inputs["evaporator_outlet_temperature"] == pytest.approx(t_ei - spread_e, abs=1e-9)
    assert abs(one(out, "der(condenser_outlet_temperature)")) < 1e-6
    assert abs(one(out, "der(evaporator_outlet_temperature)")) < 1e-6
    assert one(out, "status") == STATUS_OK or (t_con == envelope and one(out, "status") == STATUS_CAPACITY)
    q_con = one(out, "condenser_heat")
    assert one(out, "entropy_generation") >= -1e-9 * q_con / t_con
    limit = lorenz_cop(inputs["condenser_inlet_temperature"], t_con, t_ei, inputs["evaporator_outlet_temperature"])
    assert 1.0 < one(out, "cop") < limit


def test_map_mode_jacobian_matches_finite_differences(tmp_path):
    """The generated analytic Jacobian (table derivatives by the chain rule) against central differences
    of the generated derivatives, in map mode around the published points and across the envelope."""
    generated = generate(get_model("heat_pump"))
    for name, text in generated.files.items():
        (tmp_path / name).write_text(text)
    library = tmp_path / "hp.so"
    subprocess.run([find_compiler(), "-std=c99", "-O1", "-fPIC", "-shared", f"-I{runtime_dir()}", f"-I{tmp_path}",
                    str(tmp_path / "kl_model.c"), "-o", str(library), "-lm"], check=True, capture_output=True)
    lib = ctypes.CDLL(str(library))
    dp = ctypes.POINTER(ctypes.c_double)
    for fn, args in (("kl_set_start_values", [dp]), ("kl_initialize", [dp]), ("kl_derivatives", [dp, dp]),
                     ("kl_jacobian", [dp, dp, dp])):
        getattr(lib, fn).argtypes = args
        getattr(lib, fn).restype = None
    vr = {r.name: r.vr for r in generated.variables}
    n = len(get_model("heat_pump").states)  # the two water temperatures and the five energy counters
    state_vrs = [vr[d.name] for d in get_model("heat_pump").states]
    states = [vr["condenser_outlet_temperature"], vr["evaporator_outlet_temperature"]]
    rng = np.random.default_rng(11)
    compared = 0
    for _ in range(60):
        v = np.zeros(len(generated.variables))
        lib.kl_set_start_values(v.ctypes.data_as(dp))
        lib.kl_initialize(v.ctypes.data_as(dp))
        v[vr["performance_model"]] = PERFORMANCE_MAP
        v[vr["demand_mode"]] = rng.choice([SUPPLY_SETPOINT, PART_LOAD])
        v[vr["part_load_ratio"]] = rng.uniform(0.1, 1.0)
        v[vr["condenser_mass_flow"]] = rng.uniform(0.5, 10.0)
        v[vr["evaporator_mass_flow"]] = rng.uniform(0.5, 10.0)
        v[vr["evaporator_inlet_temperature"]] = C0 + rng.uniform(-8.0, 48.0)
        v[vr["condenser_inlet_temperature"]] = C0 + rng.uniform(40.0, 70.0)
        v[vr["supply_temperature_setpoint"]] = C0 + rng.uniform(50.0, 85.0)
        v[states[0]] = C0 + rng.uniform(50.0, 85.0)
        v[states[1]] = C0 + rng.uniform(-5.0, 40.0)
        jac, dfdt = np.zeros(n * n), np.zeros(n)
        lib.kl_jacobian(v.ctypes.data_as(dp), jac.ctypes.data_as(dp), dfdt.ctypes.data_as(dp))

        def derivatives(x: np.ndarray) -> np.ndarray:
            dx = np.zeros(n)
            lib.kl_derivatives(x.ctypes.data_as(dp), dx.ctypes.data_as(dp))
            return dx

        f0 = derivatives(v)
        for vr_j in states:
            j = state_vrs.index(vr_j)
            h = 1e-5
            up, down = v.copy(), v.copy()
            up[vr_j] += h
            down[vr_j] -= h
            f_up, f_down = derivatives(up), derivatives(down)
            forward, backward, central = (f_up - f0) / h, (f0 - f_down) / h, (f_up - f_down) / (2 * h)
            scale = np.abs(f0) / v[vr_j] + np.abs(central)
            smooth = np.abs(forward - backward) <= 1e-4 * scale + 1e-12
            good = np.abs(jac[j::n] - central) <= 1e-4 * scale + 1e-12
            assert np.all(good | ~smooth), (j, jac[j::n], central)
            compared += int(np.sum(smooth))
    assert compared > 100


@pytest.fixture(scope="module")
def fmus(tmp_path_factory):
    # one build per session for both heat pump test modules (build_fmu reuses an identical build)
    out = tmp_path_factory.getbasetemp() / "heat_pump_fmus"
    return {v: build_fmu("heat_pump", out, v) for v in (2, 3)}


@pytest.mark.parametrize("version", [2, 3])
def test_map_mode_fmu_validates_simulates_and_closes_the_energy_balance(fmus, version):
    """Through the FMU in map mode: a 75 °C set point at 12 °C source water is limited to 70 °C (status 3);
    when the source warms to 22 °C the set point is met; the counters close the energy balance."""
    assert validate_fmu(str(fmus[version])) == []
    inputs = np.array([(0.0, C0 + 12.0), (4 * 3600.0, C0 + 12.0), (4 * 3600.0, C0 + 22.0)],  # a step at 4 h
                      dtype=[("time", float), ("evaporator_inlet_temperature", float)])
    res = simulate_fmu(str(fmus[version]), stop_time=8 * 3600.0, output_interval=300.0,
                       start_values={"performance_model": PERFORMANCE_MAP, "nominal_heating_capacity": 108.6e3,
                                     "supply_temperature_setpoint": C0 + 75, "condenser_mass_flow": 2.0,
                                     "condenser_inlet_temperature": C0 + 60, "evaporator_mass_flow": 10.0,
                                     "condenser_outlet_temperature_start": C0 + 60,
                                     "solver_relative_tolerance": 1e-8},
                       input=inputs,
                       output=["stored_energy", "condenser_heat", "cop", "status", "condenser_outlet_temperature",
                               *(f"{p}_energy" for p in PORTS)])
    for name in res.dtype.names:
        assert np.all(np.isfinite(res[name])), name
    before = res["time"] == 4 * 3600.0 - 300.0
    assert res["status"][before] == STATUS_ENVELOPE
    assert res["condenser_outlet_temperature"][before] == pytest.approx(C0 + 70, abs=1e-4)
    assert res["cop"][before] == pytest.approx(2.416, abs=5e-4)  # published 70 °C / 12 °C
    assert res["status"][-1] == STATUS_OK
    assert res["condenser_outlet_temperature"][-1] == pytest.approx(C0 + 75, abs=1e-4)
    assert res["condenser_heat"][-1] == pytest.approx(2.0 * CP * 15, rel=1e-6)
    stored = res["stored_energy"] - res["stored_energy"][0]
    ports = sum(res[f"{p}_energy"] for p in PORTS)
    throughput = sum(np.abs(res[f"{p}_energy"]) for p in PORTS)
    np.testing.assert_allclose(stored, ports, atol=1e-7 * throughput[-1])


@settings(max_examples=20, deadline=None)
@given(st.lists(
    st.tuples(st.floats(0.1, 20.0), st.floats(C0 + 30, C0 + 75), st.floats(0.1, 30.0), st.floats(C0 - 8, C0 + 50),
              st.floats(C0 + 40, C0 + 90), st.floats(60.0, 7200.0)),
    min_size=1, max_size=5,
))
def test_map_mode_fmu_counters_close_over_random_input_sequences(fmus, steps):
    """Random held inputs across and outside the envelope through the FMI 3 FMU in map mode: the stored
    energy change equals the sum of the port energies to ten times the integrator tolerance."""
    comp = FmuComponent(fmus[3], "heat_pump")
    counters = [f"{p}_energy" for p in PORTS]
    try:
        comp.setup(0.0, None, {"performance_model": PERFORMANCE_MAP, "solver_relative_tolerance": 1e-8,
                               "minimum_evaporator_outlet_temperature": 250.0})
        stored0 = float(comp.get_outputs(["stored_energy"])[0])
        t = 0.0
        for m_c, t_ci, m_e, t_ei, t_set, dt in steps:
            comp.set_inputs({"condenser_mass_flow": m_c, "condenser_inlet_temperature": t_ci,
                             "evaporator_mass_flow": m_e, "evaporator_inlet_temperature": t_ei,
                             "supply_temperature_setpoint": t_set})
            assert comp.do_step(t, dt).ok
            t += dt
        after = comp.get_outputs(counters)
        stored = float(comp.get_outputs(["stored_energy"])[0]) - stored0
        status = float(comp.get_outputs(["status"])[0])
    finally:
        comp.close()
    assert status in (STATUS_OK, STATUS_CAPACITY, STATUS_SOURCE, STATUS_ENVELOPE)
    assert abs(stored - float(np.sum(after))) <= 1e-7 * float(np.sum(np.abs(after))) + 1e-3
