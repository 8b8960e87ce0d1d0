"""Exported FMUs are standalone, valid for fmpy, and compute what the Python evaluator computes."""

from __future__ import annotations

import math
import shutil
import subprocess
import zipfile

import numpy as np
import pytest
import sympy as sp
from fmpy import simulate_fmu
from fmpy.fmi1 import FMICallException
from fmpy.validation import validate_fmu
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from kreislauf.component import ComponentError, StepStatus
from kreislauf.fmu import FmuComponent, export_fmu
from kreislauf.fmu.build import PLATFORM_DIR
from kreislauf.models import Model, get_model
from kreislauf.models.simulate import simulate

DAY = 86400.0
VERSIONS = [2, 3]


@pytest.mark.parametrize("version", VERSIONS)
def test_fmpy_validation_finds_no_problem(hx_fmus, tank_fmus, version):
    assert validate_fmu(str(hx_fmus[version])) == []
    assert validate_fmu(str(tank_fmus[version])) == []


@pytest.mark.parametrize("version", VERSIONS)
def test_binary_needs_only_libc_and_libm(hx_fmus, tmp_path, version):
    if shutil.which("readelf") is None:
        pytest.skip("readelf (binutils) is not installed")
    with zipfile.ZipFile(hx_fmus[version]) as z:
        members = [n for n in z.namelist() if n.startswith(f"binaries/{PLATFORM_DIR[version]}/")]
        assert len(members) == 1
        library = tmp_path / "model.so"
        library.write_bytes(z.read(members[0]))
        names = set(z.namelist())
    out = subprocess.run(["readelf", "-d", str(library)], capture_output=True, text=True, check=True).stdout
    needed = {line.split("[")[1].split("]")[0] for line in out.splitlines() if "(NEEDED)" in line}
    assert needed and needed <= {"libc.so.6", "libm.so.6"}, needed
    # sources ship inside the FMU so that any importer can rebuild it
    assert {"sources/kl_model.c", "sources/kl_runtime.c", "sources/kl_solver.c"} <= names
    assert ("sources/buildDescription.xml" in names) == (version == 3)


@pytest.mark.parametrize("version", VERSIONS)
def test_fmu_matches_python_evaluator_over_days_with_fouling_and_a_cleaning(hx_fmus, version):
    """Four days at 15-min steps, Kern–Seaton fouling with tau = 1 d, one scheduled cleaning at 2.5 d."""
    params = {"fouling_time_constant": DAY, "cleaning_interval": 2.5 * DAY, "solver_relative_tolerance": 1e-8}
    outputs = ["fouling_resistance", "heat_flow", "wastewater_outlet_temperature", "loop_outlet_energy",
               "cleaning_count"]
    res = simulate_fmu(str(hx_fmus[version]), stop_time=4 * DAY, output_interval=900.0, start_values=params,
                       output=outputs)
    ref = simulate(get_model("fouling_heat_exchanger"), 4 * DAY, 900.0, rtol=1e-11,
                   parameters={k: v for k, v in params.items() if not k.startswith("solver")})
    np.testing.assert_allclose(res["time"], ref["time"])
    rtol = 10 * 1e-8
    for name in outputs:
        scale = np.max(np.abs(ref[name])) or 1.0
        np.testing.assert_allclose(res[name], ref[name], rtol=rtol, atol=rtol * scale, err_msg=name)
    assert res["cleaning_count"][-1] == 1
    after = res["time"] == 2.5 * DAY
    assert res["fouling_resistance"][after][0] == 0.0


@pytest.mark.parametrize("version", VERSIONS)
def test_cleaning_request_input_edge_cleans_like_the_reference(hx_fmus, version):
    step, n = 3600.0, 48
    request = [1.0 if k in (20, 21) else 0.0 for k in range(n)]
    comp = FmuComponent(hx_fmus[version], "hx")
    try:
        comp.setup(0.0, None, {"solver_relative_tolerance": 1e-9, "fouling_time_constant": DAY / 2})
        rf = []
        for k in range(n):
            comp.set_inputs({"cleaning_request": request[k]})
            assert comp.do_step(k * step, step).ok
            rf.append(comp.get_outputs(["fouling_resistance"])[0])
    finally:
        comp.close()
    ref = simulate(get_model("fouling_heat_exchanger"), n * step, step, rtol=1e-11,
                   parameters={"fouling_time_constant": DAY / 2},
                   inputs={"cleaning_request": lambda t: request[int(round(t / step))]})
    np.testing.assert_allclose(rf, ref["fouling_resistance"][1:], rtol=1e-7, atol=1e-13)
    assert ref["cleaning_count"][-1] == 1  # held high for two steps: one rising edge, one cleaning


def test_two_instances_and_two_different_fmus_run_side_by_side(hx_fmus, tank_fmus):
    comps = [FmuComponent(hx_fmus[2], "hx_a"), FmuComponent(hx_fmus[3], "hx_b"),
             FmuComponent(tank_fmus[2], "tank_a"), FmuComponent(tank_fmus[3], "tank_b")]
    try:
        comps[0].setup(0.0, None, {"fouling_time_constant": DAY})
        comps[1].setup(0.0, None, {"fouling_time_constant": 4 * DAY})
        comps[2].setup(0.0, None, {"loss_conductance": 10.0})
        comps[3].setup(0.0, None, {"loss_conductance": 40.0})
        for k in range(24):
            for c in comps:
                assert c.do_step(k * 3600.0, 3600.0).ok
        rf_a, rf_b = (c.get_outputs(["fouling_resistance"])[0] for c in comps[:2])
        t_a, t_b = (c.get_outputs(["temperature"])[0] for c in comps[2:])
    finally:
        for c in comps:
            c.close()
    assert rf_a == pytest.approx(3e-4 * (1 - math.exp(-1.0)), rel=1e-6)
    assert rf_b == pytest.approx(3e-4 * (1 - math.exp(-0.25)), rel=1e-6)
    for t, ua in ((t_a, 10.0), (t_b, 40.0)):
        expected = 293.15 + 40.0 * math.exp(-ua * DAY / 4.19e6)
        assert t == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(("name", "value"), [("wastewater_mass_flow", -5.0), ("loop_inlet_temperature", float("nan")),
                                             ("wastewater_inlet_temperature", 1e4)])
def test_input_out_of_range_or_nan_is_an_error_with_a_message(hx_fmus, version, name, value):
    comp = FmuComponent(hx_fmus[version], "hx")
    try:
        comp.setup(0.0, None, {})
        with pytest.raises(ComponentError, match=name) as info:
            comp.set_inputs({name: value})
        assert "outside [" in str(info.value)
        # the FMU checks too, for importers that do not: straight through fmpy, past FmuComponent
        vr = comp.variables[name].value_reference
        with pytest.raises(FMICallException):
            (comp._fmu.setReal if version == 2 else comp._fmu.setFloat64)([vr], [value])
        assert name in comp.last_error()
    finally:
        comp.close()


@pytest.mark.parametrize("version", VERSIONS)
def test_state_save_and_restore_repeats_a_step_bit_for_bit(hx_fmus, version):
    comp = FmuComponent(hx_fmus[version], "hx")
    try:
        comp.setup(0.0, None, {"fouling_time_constant": DAY})
        comp.do_step(0.0, 3600.0)
        saved = comp.save_state()
        comp.do_step(3600.0, 7200.0)
        first = comp.get_outputs(["fouling_resistance", "loop_outlet_energy"])
        comp.restore_state(saved)
        comp.do_step(3600.0, 7200.0)
        again = comp.get_outputs(["fouling_resistance", "loop_outlet_energy"])
    finally:
        comp.close()
    assert np.array_equal(first, again)


@pytest.fixture(scope="module")
def tank_component(tank_fmus):
    comp = FmuComponent(tank_fmus[2], "tank")
    comp.setup(0.0, None, {"solver_relative_tolerance": 1e-9})
    yield comp
    comp.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.floats(-5e4, 5e4), st.floats(250.0, 330.0), st.floats(1.0, 7200.0)),
                min_size=1, max_size=12))
def test_stored_energy_change_equals_integrated_port_energy_through_the_fmu(tank_component, steps):
    comp = tank_component
    names = ["stored_energy", "heater_energy", "ambient_energy"]
    state = comp.save_state()
    try:
        t = comp._time
        before = comp.get_outputs(names)
        throughput = 0.0
        for heating, ambient, dt in steps:
            comp.set_inputs({"heating": heating, "ambient_temperature": ambient})
            outcome = comp.do_step(t, dt)
            assert outcome.status is StepStatus.OK
            t += dt
            throughput += abs(heating) * dt
        after = comp.get_outputs(names)
    finally:
        comp.restore_state(state)
    d_stored = after[0] - before[0]
    d_ports = (after[1] - before[1]) + (after[2] - before[2])
    loss_scale = abs(after[2] - before[2])
    assert abs(d_stored - d_ports) <= 10 * 1e-9 * (throughput + loss_scale + abs(d_stored)) + 1e-6


@pytest.fixture(scope="module")
def hx_component(hx_fmus):
    comp = FmuComponent(hx_fmus[3], "hx")
    comp.setup(0.0, None, {"solver_relative_tolerance": 1e-9, "fouling_time_constant": DAY})
    yield comp
    comp.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.one_of(st.just(0.0), st.floats(0.0, 500.0)),
                          st.one_of(st.just(0.0), st.floats(0.0, 500.0)),
                          st.floats(275.0, 300.0), st.floats(275.0, 300.0), st.floats(1.0, 86400.0)),
                min_size=1, max_size=8))
@example(steps=[(0.0, 0.0, 275.0, 275.0, 1.0), (0.0, 5e-324, 275.0, 275.0, 1.0)])  # Jacobian singular here
def test_exchanger_fmu_port_energies_balance_its_stored_energy(hx_component, steps):
    """The exchanger stores nothing, so over any interval the four enthalpy-flow counters sum to zero."""
    comp = hx_component
    ports = ["wastewater_inlet_energy", "wastewater_outlet_energy", "loop_inlet_energy", "loop_outlet_energy"]
    names = ["stored_energy", *ports]
    state = comp.save_state()
    try:
        t = comp._time
        before = comp.get_outputs(names)
        throughput = 0.0
        for m_ww, m_lp, t_ww, t_lp, dt in steps:
            comp.set_inputs({"wastewater_mass_flow": m_ww, "loop_mass_flow": m_lp,
                             "wastewater_inlet_temperature": t_ww, "loop_inlet_temperature": t_lp})
            assert comp.do_step(t, dt).ok
            t += dt
            throughput += 4190.0 * (m_ww * (t_ww - 273.15) + m_lp * (t_lp - 273.15)) * dt
        after = comp.get_outputs(names)
    finally:
        comp.restore_state(state)
    delta = after - before
    assert delta[0] == 0.0
    assert abs(delta[1:].sum()) <= 10 * 1e-9 * throughput + 1e-3


def _edge_model():
    """No Real inputs, an unexposed state, Integer/Boolean outputs, one trigger resetting two states, and
    variable names that the generated C code uses for its own locals (cse_0, new_0, period_0, fired, next)."""
    m = Model("test_edge_cases", "edge cases of the code generator")
    rate = m.parameter("event", unit="1/s", start=2.0, min=0.0, max=10.0, description="ramp rate")
    value = m.parameter("new_0", unit="1", start=5.0, description="value after a reset")
    period = m.parameter("next", unit="s", start=100.0, description="reset period")
    fired = m.input("fired", unit="1", start=0, min=0, max=1, type="Boolean", description="reset trigger")
    ramp = m.state("cse_0", unit="1", start=0.0, description="ramp, reset periodically and on the trigger")
    clock = m.state("period_0", unit="s", start=0.0, start_parameter=False, description="time since trigger")
    hidden = m.state("t", unit="s", start=0.0, start_parameter=False, output=False, description="hidden clock")
    m.derivative(ramp, rate)
    m.derivative(clock, 1.0)
    m.derivative(hidden, 1.0)
    m.reset(ramp, value, every=period, on_rising=fired)
    m.reset(clock, 0.0, on_rising=fired)
    m.output("i", hidden * (1 + rate) / (1 + rate), unit="s", description="the hidden clock, through an output")
    m.output("count", sp.floor(clock / 10), unit="1", type="Integer", description="whole tens of seconds")
    m.output("late", sp.Piecewise((1, clock > 25), (0, True)), unit="1", type="Boolean", description="late")
    return m.finish()


@pytest.fixture(scope="module")
def edge_fmus(fmu_dir):
    model = _edge_model()
    return {v: export_fmu(model, fmu_dir, v) for v in VERSIONS}


@pytest.mark.parametrize("version", VERSIONS)
def test_edge_case_model_is_valid_and_resets_two_states_on_one_trigger(edge_fmus, version):
    assert validate_fmu(str(edge_fmus[version])) == []
    comp = FmuComponent(edge_fmus[version], "edge")
    assert comp.variables["count"].variability.value == "discrete"
    assert comp.variables["late"].variability.value == "discrete"
    assert comp.variables["t"].causality.value == "local"
    names = ["cse_0", "period_0", "i", "count", "late"]
    try:
        comp.setup(0.0, None, {})
        seen = {}
        for k in range(15):
            comp.set_inputs({"fired": 1.0 if k >= 5 else 0.0})  # rising edge at t = 50 s, then held
            assert comp.do_step(10.0 * k, 10.0).ok
            seen[10.0 * (k + 1)] = comp.get_outputs(names)
    finally:
        comp.close()
    # ramp: 2/s from 0, set to 5 at t = 50 (trigger) and t = 100 (period)
    assert seen[40.0][0] == pytest.approx(80.0, rel=1e-9)
    assert seen[100.0][0] == pytest.approx(5.0, rel=1e-9)
    assert seen[150.0][0] == pytest.approx(105.0, rel=1e-9)
    assert seen[150.0][1] == pytest.approx(100.0, rel=1e-9)  # restarted at 50 s, not at 100 s
    assert seen[150.0][2] == pytest.approx(150.0, rel=1e-9)  # the hidden state is never reset
    assert list(seen[150.0][3:]) == [10.0, 1.0]
    assert list(seen[70.0][3:]) == [2.0, 0.0]


@pytest.mark.parametrize("version", VERSIONS)
def test_input_setter_and_output_getter_agree_with_the_by_name_path(tank_fmus, version):
    names = ["heating", "ambient_temperature"]
    outs = ["temperature", "stored_energy", "heater_energy"]
    runs = []
    for fast in (False, True):
        with FmuComponent(tank_fmus[version], "tank") as comp:
            comp.setup(0.0, None, {})
            setter, getter = comp.input_setter(names), comp.output_getter(outs)
            for k in range(10):
                values = np.array([1000.0 * k, 280.0 + k])
                setter(values) if fast else comp.set_inputs(dict(zip(names, values, strict=True)))
                assert comp.do_step(600.0 * k, 600.0).ok
            runs.append(getter() if fast else comp.get_outputs(outs))
    assert np.array_equal(runs[0], runs[1])
    # heater energy is the integral of the piecewise-constant heating: sum of 1000 k * 600 s
    assert runs[1][2] == pytest.approx(sum(1000.0 * k * 600.0 for k in range(10)), rel=1e-9)


@pytest.mark.parametrize("version", VERSIONS)
def test_integer_and_boolean_values_are_checked_not_rounded(hx_fmus, edge_fmus, version):
    with FmuComponent(hx_fmus[version], "hx") as comp:
        with pytest.raises(ComponentError, match=r"flow_arrangement.*whole number"):
            comp.setup(0.0, None, {"flow_arrangement": 1.5})
    with FmuComponent(edge_fmus[version], "edge") as comp:
        comp.setup(0.0, None, {})
        setter = comp.input_setter(["fired"])
        with pytest.raises(ComponentError, match=r"'fired'.*outside \[0, 1\]"):
            setter(np.array([2.0]))
        with pytest.raises(ComponentError, match="whole number"):
            setter(np.array([0.5]))
        with pytest.raises(ComponentError, match="expected 1 input values"):
            setter(np.array([0.0, 1.0]))
        with pytest.raises(ComponentError, match="causality output"):
            comp.input_setter(["count"])


@pytest.mark.parametrize("version", VERSIONS)
def test_closed_component_raises_instead_of_calling_freed_code(tank_fmus, version):
    comp = FmuComponent(tank_fmus[version], "tank")
    comp.setup(0.0, None, {})
    getter = comp.output_getter(["temperature"])
    unzipped = comp._unzipdir
    comp.close()
    comp.close()  # a second close does nothing
    assert not unzipped.exists()
    with pytest.raises(ComponentError, match="closed"):
        getter()
    with pytest.raises(ComponentError, match="closed"):
        comp.do_step(0.0, 1.0)


def test_extracted_files_go_with_a_component_that_was_never_closed(tank_fmus):
    import gc

    comp = FmuComponent(tank_fmus[2], "tank")
    unzipped = comp._unzipdir
    assert unzipped.is_dir()
    del comp
    gc.collect()
    assert not unzipped.exists()


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


@pytest.mark.parametrize("version", VERSIONS)
def test_dropped_snapshots_are_freed_in_the_fmu(tank_fmus, version):
    with FmuComponent(tank_fmus[version], "tank") as comp:
        comp.setup(0.0, None, {})
        kept = comp.save_state()
        comp.do_step(0.0, 60.0)
        for _ in range(2000):  # warm up the allocator
            comp.save_state()
        before = _rss()
        for _ in range(30000):
            comp.save_state()
        grown = _rss() - before
        t_after = comp.get_outputs(["temperature"])[0]
        comp.restore_state(kept)
        assert comp.get_outputs(["temperature"])[0] == pytest.approx(333.15, abs=1e-12)
        assert t_after < 333.15
        with FmuComponent(tank_fmus[version], "other") as other:
            other.setup(0.0, None, {})
            with pytest.raises(ComponentError, match="snapshot from this component"):
                other.restore_state(kept)
    # each snapshot holds the variables and the integrator's state (hundreds of bytes): 30000 kept
    # would be several MB
    assert grown < 1_000_000, grown


def test_model_without_states_or_inputs_exports_and_runs(fmu_dir):
    m = Model("test_stateless", "no states, no inputs: an output of time and a parameter")
    gain = m.parameter("gain", unit="W/s", start=2.0, min=0.0, max=10.0, description="slope")
    m.output("ramp", gain * m.time, unit="W", description="gain times time")
    model = m.finish()
    assert model.states == [] and model.inputs == []
    for version in VERSIONS:
        path = export_fmu(model, fmu_dir, version)
        assert validate_fmu(str(path)) == []
        with FmuComponent(path, "ramp") as comp:
            comp.setup(0.0, None, {"gain": 3.0})
            for k in range(3):
                assert comp.do_step(10.0 * k, 10.0).ok
            assert list(comp.get_outputs(["ramp", "stored_energy"])) == [90.0, 0.0]
