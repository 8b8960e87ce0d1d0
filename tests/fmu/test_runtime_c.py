"""Tests of the generic C runtime of kreislauf FMUs (fmu/runtime/).

The runtime is compiled with gcc and the exporter's flags (-Werror) together with two hand-written test
models (tests/fmu/runtime_c/): ``stiff_pair`` (a stiff linear pair with a closed-form solution, a
quadrature, a periodic time event and an input edge event) and ``heat_meter`` (no states). A C driver
calls the FMI 2 and FMI 3 functions directly; fmpy loads the shared libraries like the master will.
Expected values come from the closed-form solution and from counting, never from the runtime.
"""

from __future__ import annotations

import math
import re
import subprocess
from pathlib import Path

import fmpy
import pytest
from fmpy.fmi2 import FMU2Slave
from fmpy.fmi3 import FMU3Slave

REPO = Path(__file__).resolve().parents[2]
RUNTIME = REPO / "fmu" / "runtime"
MODELS = Path(__file__).resolve().parent / "runtime_c"
FMI_HEADERS = Path(fmpy.__file__).parent / "c-code"
RUNTIME_SOURCES = [RUNTIME / name for name in ("kl_runtime.c", "kl_solver.c", "kl_fmi2.c", "kl_fmi3.c")]
WARNINGS = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Wpedantic", "-Werror"]
SHARED = ["-fPIC", "-shared", "-fvisibility=hidden"]

STIFF_TOKEN = "{8c1d2f0e-5b7a-4c3e-9f21-stiffpair0001}"
METER_TOKEN = "{2b6c0a51-7e3d-4f8a-8d10-heatmeter0001}"
VR = {"time": 0, "rtol": 1, "k1": 4, "u": 9, "x1": 14, "x2": 15, "quadrature": 16, "clock": 17}
METER_VR = {"supply": 4, "return": 5, "mass_flow": 6, "specific_heat": 7, "heat_flow": 9, "elapsed": 10}


def _gcc(args: list[str]) -> None:
    result = subprocess.run(["gcc", *args], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def _shared_library(model: str, out: Path) -> Path:
    _gcc([*WARNINGS, *SHARED, f"-I{RUNTIME}", f"-I{MODELS / model}", f"-I{FMI_HEADERS}",
          *map(str, RUNTIME_SOURCES), str(MODELS / model / "kl_model.c"), "-lm", "-o", str(out)])
    return out


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Compile the driver and both test models as shared libraries in FMU layout (FMI 2 and FMI 3)."""
    root = tmp_path_factory.mktemp("kl_runtime")
    built = {"driver": _driver(root / "driver"), "root": root}
    for model, identifier in (("stiff", "stiff_pair"), ("algebraic", "heat_meter")):
        unzipped = root / identifier
        for platform in ("linux64", "x86_64-linux"):
            (unzipped / "binaries" / platform).mkdir(parents=True)
        library = _shared_library(model, unzipped / "binaries" / "linux64" / f"{identifier}.so")
        (unzipped / "binaries" / "x86_64-linux" / f"{identifier}.so").write_bytes(library.read_bytes())
        built[identifier] = unzipped
    return built


def _driver(out: Path, *extra_flags: str) -> Path:
    _gcc([*WARNINGS, *extra_flags, f"-I{RUNTIME}", f"-I{MODELS / 'stiff'}", f"-I{FMI_HEADERS}",
          *map(str, RUNTIME_SOURCES), str(MODELS / "stiff" / "kl_model.c"), str(MODELS / "driver.c"), "-lm",
          "-o", str(out)])
    return out


def _drive(build: dict[str, Path], *args: str, driver: str = "driver", returncode: int = 0) -> list[str]:
    result = subprocess.run([str(build[driver]), *args], capture_output=True, text=True, timeout=60)
    assert result.returncode == returncode, result.stdout + result.stderr
    return result.stdout.splitlines()


def _points(lines: list[str]) -> list[list[float]]:
    return [[float(x) for x in line.split()[1:]] for line in lines if line.startswith("point ")]


def _stats(lines: list[str]) -> dict[str, int]:
    (line,) = [line for line in lines if line.startswith("stats ")]
    accepted, rejected, time_events, input_events = (int(x) for x in line.split()[1:])
    return {"accepted": accepted, "rejected": rejected, "time_events": time_events, "input_events": input_events}


def _cases(lines: list[str]) -> dict[str, tuple[str, str]]:
    cases = {}
    for line in lines:
        if line.startswith("case "):
            head, _, message = line.partition(" |")
            _, name, status = head.split()
            cases[name] = (status, message)
    return cases


def analytic(t: float, k1: float, k2: float = 1.0, source: float = 1.0, x1_0: float = 0.0, x2_0: float = 1.0):
    """Closed-form solution of x1' = -k1 x1 + s, x2' = -k2 (x2 - x1), q' = x2 with q(0) = 0."""
    a = source / k1
    b = x1_0 - a
    d = k2 * b / (k2 - k1)
    c = x2_0 - a - d
    x1 = a + b * math.exp(-k1 * t)
    x2 = a + d * math.exp(-k1 * t) + c * math.exp(-k2 * t)
    q = a * t + d / k1 * (1.0 - math.exp(-k1 * t)) + c / k2 * (1.0 - math.exp(-k2 * t))
    return x1, x2, q


# ---- the shared library ------------------------------------------------------------------------------


def _exported_names(header: str, macro: str) -> set[str]:
    return set(re.findall(rf"{macro}\s+\w+\s+(fmi\d\w+);", (FMI_HEADERS / header).read_text()))


def test_library_exports_every_fmi2_and_fmi3_function_and_nothing_else(build):
    expected = _exported_names("fmi2Functions.h", "FMI2_Export") | _exported_names("fmi3Functions.h", "FMI3_Export")
    library = build["stiff_pair"] / "binaries/linux64/stiff_pair.so"
    dynamic = subprocess.run(["readelf", "--dyn-syms", "-W", str(library)], capture_output=True, text=True,
                             check=True).stdout
    defined = {fields[7] for fields in (line.split() for line in dynamic.splitlines())
               if len(fields) >= 8 and fields[3] == "FUNC" and fields[6] != "UND"}
    assert len(expected) == 119
    assert defined == expected


@pytest.mark.parametrize("identifier", ["stiff_pair", "heat_meter"])
def test_library_needs_only_libc_and_libm(build, identifier):
    dynamic = subprocess.run(["readelf", "-d", str(build[identifier] / f"binaries/linux64/{identifier}.so")],
                             capture_output=True, text=True, check=True).stdout
    needed = set(re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", dynamic))
    assert needed <= {"libc.so.6", "libm.so.6", "ld-linux-x86-64.so.2"}
    assert "libc.so.6" in needed


# ---- the integrator ------------------------------------------------------------------------------------


@pytest.mark.parametrize("api", ["run2", "run3"])
@pytest.mark.parametrize("k1", [1e4, 50.0])
@pytest.mark.parametrize("rtol", [1e-3, 1e-6, 1e-8])
def test_solution_matches_closed_form_within_ten_times_tolerance(build, api, k1, rtol):
    atol = 1e-8  # the model's solver_absolute_tolerance start value; all state nominals are 1
    points = _points(_drive(build, api, f"k1={k1}", f"rtol={rtol}", "T=10", "h=0.1", "period=1e9"))
    assert len(points) == 101
    for t, x1, x2, q, *_ in points:
        for value, exact in zip((x1, x2, q), analytic(t, k1), strict=True):
            assert abs(value - exact) <= 10 * (rtol * abs(exact) + atol), (t, value, exact)


def test_tighter_tolerance_gives_smaller_error(build):
    errors = {}
    for rtol in (1e-4, 1e-6, 1e-8):
        points = _points(_drive(build, "run2", "k1=50", f"rtol={rtol}", "T=5", "h=5", "period=1e9"))
        t, _, x2, q, *_ = points[-1]
        _, x2_exact, q_exact = analytic(t, 50.0)
        errors[rtol] = max(abs(x2 - x2_exact), abs(q - q_exact))
    assert errors[1e-8] < errors[1e-6] < errors[1e-4]
    assert errors[1e-8] < errors[1e-4] / 100


def test_observed_order_of_convergence_is_three(build):
    # loose tolerance and solver_max_step = h: every communication step is one solver step of size h,
    # so the global error of ROS34PW2 (order 3) must fall by ~2**3 when h halves
    errors = []
    for step in (0.05, 0.025, 0.0125):
        points = _points(_drive(build, "run2", "k1=3", "rtol=0.1", "T=2", f"h={step}", f"max_step={step}",
                                "period=1e9"))
        t, x1, x2, q, *_ = points[-1]
        errors.append(max(abs(a - b) for a, b in zip((x1, x2, q), analytic(t, 3.0), strict=True)))
    orders = [math.log2(coarse / fine) for coarse, fine in zip(errors, errors[1:], strict=False)]
    assert all(2.7 < order < 3.3 for order in orders), orders


def test_stiff_case_needs_far_fewer_steps_than_an_explicit_method(build):
    # explicit methods are stable only for h < ~2/k1: at least 5e4 steps over 10 s for k1 = 1e4
    k1, horizon = 1e4, 10.0
    explicit_minimum = horizon / (2.0 / k1)
    lines = _drive(build, "run2", f"k1={k1}", "rtol=1e-6", f"T={horizon}", f"h={horizon}", "period=1e9")
    stats = _stats(lines)
    t, _, x2, q, *_ = _points(lines)[-1]
    _, x2_exact, q_exact = analytic(t, k1)
    assert abs(x2 - x2_exact) <= 10 * (1e-6 * x2_exact + 1e-8)
    assert stats["accepted"] + stats["rejected"] < explicit_minimum / 50
    print(f"stiff k1={k1:g}: {stats['accepted']} accepted + {stats['rejected']} rejected steps "
          f"vs >= {explicit_minimum:.0f} for an explicit method")


def test_step_size_below_minimum_is_an_error_naming_time_and_state(build):
    # der(x2) is NaN for t > 0.55 s: the solver creeps up to 0.55 s and must stop there with an error
    lines = _drive(build, "minstep2")
    status, message = _cases(lines)["below_minimum_step"]
    assert status == "3"
    assert re.search(r"solver failed at t = 0\.549999\d* s: step size \S+ s fell below the minimum", message)
    assert "derivative of state 'x2' is nan" in message
    (last,) = [float(line.split()[1]) for line in lines if line.startswith("last_successful_time")]
    assert 0.55 - 1e-12 < last <= 0.55


def test_solver_gives_up_after_the_step_limit(build):
    build["driver_capped"] = _driver(build["root"] / "driver_capped", "-DKL_MAX_SOLVER_STEPS=50")
    lines = _drive(build, "run2", "T=1", "h=1", "period=1e9", "rtol=1e-10", driver="driver_capped",
                   returncode=1)
    assert "doStep failed at 0" in lines
    assert any("solver gave up at t = " in line and "after 50 steps on the way to t = 1 s" in line for line in lines)


def test_solver_max_step_bounds_the_step_size(build):
    lines = _drive(build, "run2", "k1=50", "rtol=1e-3", "T=10", "h=10", "period=1e9", "max_step=0.05")
    assert _stats(lines)["accepted"] >= 10 / 0.05


@pytest.mark.parametrize("api", ["run2", "run3"])
def test_experiment_tolerance_replaces_the_relative_tolerance_parameter(build, api):
    common = ("k1=50", "T=10", "h=10", "period=1e9")
    loose = _stats(_drive(build, api, *common, "rtol=1e-3"))
    tight = _stats(_drive(build, api, *common, "rtol=1e-8"))
    overridden = _stats(_drive(build, api, *common, "rtol=1e-8", "exp_tol=1e-3"))
    assert tight["accepted"] > 2 * loose["accepted"]
    assert overridden == loose


# ---- events ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("api", ["run2", "run3"])
@pytest.mark.parametrize("step", [0.1, 0.25, 0.07, 0.3])
def test_time_events_fire_once_at_exact_multiples_of_the_period(build, api, step):
    period = 0.3
    lines = _drive(build, api, "T=3", f"h={step}", f"period={period}")
    for t, _, _, _, clock, resets, _ in _points(lines):
        fired = math.floor(t / period + 1e-9)  # events due at or before t (t carries round-off)
        assert resets == fired, t
        assert abs(clock - (t - fired * period)) < 1e-9, t
    assert _stats(lines)["time_events"] == math.floor(3.0 / period + 1e-9)


def test_input_rising_edge_resets_the_quadrature(build):
    # reset_request is true for communication points in [1.05, 1.5) and from 2.0: rising edges at the
    # first points >= 1.05 and >= 2.0 (1.1 and 2.0); the quadrature restarts from 0 at each.
    points = _points(_drive(build, "run2", "T=3", "h=0.1", "period=1e9", "edges=1.05,1.5,2.0"))
    edge_times = []
    for (t_prev, *_, count_prev), (t, _, _, q, _, _, count) in zip(points, points[1:], strict=False):
        if count > count_prev:
            edge_times.append(t_prev)
        if edge_times:
            q_exact = analytic(t, 1e4)[2] - analytic(edge_times[-1], 1e4)[2]
            assert abs(q - q_exact) <= 1e-5 * abs(q_exact) + 1e-7, t
    assert [round(t, 9) for t in edge_times] == [1.1, 2.0]
    assert points[-1][6] == 2


# ---- FMU state ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("api", ["state2", "state3"])
def test_restored_and_deserialized_state_continue_bit_identically(build, api):
    lines = _drive(build, api)
    rows = {line.split()[0]: line.split()[1:] for line in lines
            if line.split()[0] in ("direct", "restored", "deserialized")}
    assert len(rows["direct"]) > 23
    assert rows["direct"] == rows["restored"] == rows["deserialized"]
    assert all(line.split()[1] == "0" for line in lines if line.startswith(("set", "serialize", "deserialize ")))


def test_corrupted_serialized_state_is_rejected_with_a_message(build):
    lines = _drive(build, "state2")
    cases = _cases(lines)
    (size,) = [int(line.split()[3]) for line in lines if line.startswith("serialize ")]
    assert cases["payload"][0] == "3" and "corrupted" in cases["payload"][1]
    assert cases["magic"][0] == "3" and "not a serialised kreislauf FMU state" in cases["magic"][1]
    assert cases["token"][0] == "3" and "instantiation token" in cases["token"][1]
    assert cases["truncated"][0] == "3" and f"found {size - 8}, expected {size}" in cases["truncated"][1]
    assert cases["intact"][0] == "0"
    assert "outstanding 0" in lines  # every allocation through the FMI 2 callbacks was freed


def test_fmi3_corrupted_state_is_rejected(build):
    status, message = _cases(_drive(build, "state3"))["payload"]
    assert status == "3" and "corrupted" in message


# ---- rejected input ---------------------------------------------------------------------------------------


def test_fmi2_rejected_writes_name_variable_value_range_and_unit(build):
    lines = _drive(build, "errors2")
    cases = _cases(lines)
    expected_messages = {
        "below_min": "input 'u' = -3 is outside [0, 1000] kg/s",
        "above_max": "input 'u' = 1000.5 is outside [0, 1000] kg/s",
        "nan": "input 'u' = nan is not finite; allowed [0, 1000] kg/s",
        "inf": "input 'u' = inf is not finite",
        "percent_unit": "parameter 'efficiency' = 150 is outside [0, 100] %",
        "integer_above_max": "input 'stage' = 5 is outside [0, 3]",
        "integer_fraction": "Integer input 'stage' = 1.5 is not an integer",
        "real_to_integer": "input 'stage' (vr 10) is Integer (Int32), not Real",
        "boolean_two": "'reset_request' = 2 is neither false (0) nor true (1)",
        "output_write": "cannot set output 'x1' (vr 14)",
        "calculated_write": "cannot set calculated parameter 'time_constant_1'",
        "time_write": "cannot set independent variable 'time'",
        "parameter_after_init": "cannot set parameter 'k1' (vr 4) in step mode",
        "unknown_vr": "unknown value reference 99",
        "get_integer_as_real": "fmi2GetReal: input 'stage' (vr 10) is Integer",
        "string_set": "not String",
        "model_exchange_call": "fmi2GetDerivatives is not supported",
        "do_step_wrong_time": "communication point 5 s differs from the FMU time 0 s",
        "do_step_negative": "step size -0.1 s",
    }
    for name, fragment in expected_messages.items():
        status, message = cases[name]
        assert status == "3", name
        assert fragment in message, (name, message)
    for name in ("at_max", "integer_ok", "parameter_in_init", "do_step_after_errors"):
        assert cases[name][0] == "0", name
    assert cases["wrong_guid"] == ("null", cases["wrong_guid"][1])
    assert "'{not-100%-this-one}' does not match" in cases["wrong_guid"][1]
    assert cases["model_exchange"][0] == "null" and "co-simulation only" in cases["model_exchange"][1]
    # rejected writes changed nothing: the last accepted values are in place and stepping works
    assert "values u 1000 stage 2" in lines
    assert "last_successful_time 0.5" in lines


def test_fmi3_rejected_writes_and_types_name_the_variable(build):
    lines = _drive(build, "errors3")
    cases = _cases(lines)
    expected_messages = {
        "time_write": "cannot set independent variable 'time' (vr 0)",
        "below_min": "input 'u' = -3 is outside [0, 1000] kg/s (fmi3SetFloat64, vr 9)",
        "nan": "input 'u' = nan is not finite",
        "float32": "fmi3GetFloat32: input 'u' (vr 9) is Real (Float64), not Float32",
        "int64": "fmi3SetInt64: input 'u' (vr 9)",
        "int32_below_min": "input 'stage' = -1 is outside [0, 3]",
        "float64_on_int32": "fmi3GetFloat64: input 'stage' (vr 10) is Integer",
        "boolean_two": "'reset_request' = 2 is neither false (0) nor true (1)",
        "n_values": "1 values for 2 value references",
        "event_mode": "fmi3EnterEventMode is not supported",
        "unknown_vr_int32": "unknown value reference 1234",
    }
    for name, fragment in expected_messages.items():
        status, message = cases[name]
        assert status == "3", name
        assert fragment in message, (name, message)
    assert cases["time_read"][0] == "0" and "time 0" in lines
    assert cases["wrong_token"][0] == "null" and "instantiation token does not match" in cases["wrong_token"][1]
    assert cases["model_exchange"][0] == "null"


def test_non_finite_derivative_and_output_are_errors_naming_the_variable(build):
    lines = _drive(build, "nonfinite2")
    cases = _cases(lines)
    assert cases["nan_derivative"] == ("3", "the derivative of state 'x2' is nan at t = 0.5 s")
    assert "last_successful_time 0.5" in lines
    assert cases["step_in_error_mode"][0] == "3" and "error mode" in cases["step_in_error_mode"][1]
    assert cases["rollback"][0] == "0"
    assert cases["infinite_output"][0] == "3"
    assert "output 'x2_exp' is inf at t = 0.6 s" in cases["infinite_output"][1]
    assert cases["rollback_again"][0] == "0" and cases["step_after_rollback"][0] == "0"


def test_reset_repeats_the_first_run_and_stop_time_is_enforced(build):
    lines = _drive(build, "reset2")
    rows = {line.split()[0]: line.split()[1:] for line in lines if line.startswith(("first", "second"))}
    assert rows["first"] == rows["second"]
    cases = _cases(lines)
    assert [cases[name][0] for name in ("terminate", "reset", "setup_with_stop_time")] == ["0", "0", "0"]
    assert cases["step_after_terminate"] == ("3", "DoStep is not allowed in terminated mode")
    assert cases["beyond_stop_time"][0] == "3"
    assert "would pass the experiment stop time 1.45 s" in cases["beyond_stop_time"][1]
    assert "outstanding 0" in lines


# ---- instances, logging -------------------------------------------------------------------------------------


def test_two_instances_run_side_by_side_independently(build):
    lines = _drive(build, "two2")
    by_name = {line.split()[0]: [float(x) for x in line.split()[2:]] for line in lines if line[:2] in ("a ", "b ")}
    for name, k1, source, period in (("a", 1e4, 1.0, 0.3), ("b", 50.0, 3.0, 0.7)):
        t, x1, x2, q, clock, resets, _ = by_name[name]
        for value, exact in zip((x1, x2, q), analytic(t, k1, source=source), strict=True):
            assert abs(value - exact) <= 1e-5 * abs(exact) + 1e-7, (name, value, exact)
        fired = math.floor(t / period + 1e-9)
        assert resets == fired and abs(clock - (t - fired * period)) < 1e-9, name


def test_debug_logging_respects_switch_and_categories(build):
    lines = _drive(build, "logging2")
    counts = {line.split()[0]: int(line.split()[1]) for line in lines if line.startswith("messages_")}
    assert counts["messages_off"] == 0
    assert counts["messages_all"] > 0
    assert counts["messages_off_again"] == 0
    start = lines.index("only_events")
    only_events = [line for line in lines[start:] if line.startswith("log ")][: counts["messages_only_events"]]
    assert counts["messages_only_events"] == 4  # time events at 2.1, 2.4, 2.7, 3.0 s
    assert all(line.split()[3] == "logEvents" for line in only_events)
    status, message = _cases(lines)["unknown_category"]
    assert status == "3" and "unknown log category 'logEverything'" in message


@pytest.mark.parametrize("scenario", ["run2", "run3", "state2", "state3", "errors2", "errors3", "nonfinite2",
                                      "minstep2", "reset2", "two2", "logging2"])
def test_runtime_is_clean_under_address_and_undefined_behaviour_sanitizers(build, scenario):
    if "driver_sanitized" not in build:
        build["driver_sanitized"] = _driver(build["root"] / "driver_sanitized", "-O1", "-g",
                                            "-fsanitize=address,undefined", "-fno-sanitize-recover=all")
    result = subprocess.run([str(build["driver_sanitized"]), scenario], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "runtime error" not in result.stderr and "Sanitizer" not in result.stderr


# ---- through fmpy, as the master loads FMUs ----------------------------------------------------------------


def test_fmpy_runs_a_stiff_and_a_stateless_fmu_side_by_side(build):
    stiff = FMU2Slave(guid=STIFF_TOKEN, unzipDirectory=str(build["stiff_pair"]), modelIdentifier="stiff_pair",
                      instanceName="stiff")
    meter = FMU3Slave(guid=METER_TOKEN, unzipDirectory=str(build["heat_meter"]), modelIdentifier="heat_meter",
                      instanceName="meter")
    stiff.instantiate()
    meter.instantiate()
    try:
        stiff.setupExperiment(startTime=0.0)
        stiff.enterInitializationMode()
        stiff.exitInitializationMode()
        meter.enterInitializationMode(startTime=0.0)
        meter.setFloat64([METER_VR["specific_heat"]], [4186.0])
        meter.exitInitializationMode()
        t, h = 0.0, 0.5
        for i in range(8):
            mass_flow = 1.0 + i
            meter.setFloat64([METER_VR["mass_flow"]], [mass_flow])
            stiff.doStep(t, h)
            meter.doStep(t, h)
            t += h
            heat_flow, elapsed, now = meter.getFloat64([METER_VR["heat_flow"], METER_VR["elapsed"], 0])
            assert heat_flow == pytest.approx(mass_flow * 4186.0 * (350.0 - 320.0), rel=1e-12)
            assert elapsed == pytest.approx(t, abs=1e-12) and now == pytest.approx(t, abs=1e-12)
        x2, q = stiff.getReal([VR["x2"], VR["quadrature"]])
        _, x2_exact, q_exact = analytic(t, 1e4)
        assert x2 == pytest.approx(x2_exact, rel=1e-5) and q == pytest.approx(q_exact, rel=1e-5)
    finally:
        stiff.freeInstance()
        meter.freeInstance()


def test_fmpy_serializes_and_restores_a_stateless_fmu(build):
    meter = FMU2Slave(guid=METER_TOKEN, unzipDirectory=str(build["heat_meter"]), modelIdentifier="heat_meter",
                      instanceName="meter")
    meter.instantiate()
    try:
        meter.setupExperiment(startTime=10.0)
        meter.enterInitializationMode()
        meter.exitInitializationMode()
        meter.doStep(10.0, 5.0)
        saved = meter.serializeFMUstate(meter.getFMUstate())
        meter.doStep(15.0, 5.0)
        assert meter.getReal([METER_VR["elapsed"]]) == [20.0]
        meter.setFMUstate(meter.deSerializeFMUstate(saved))
        assert meter.getReal([METER_VR["elapsed"]]) == [15.0]
        meter.doStep(15.0, 1.0)
        assert meter.getReal([METER_VR["elapsed"]]) == [16.0]
    finally:
        meter.freeInstance()
