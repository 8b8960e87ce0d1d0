"""Tests of the FMU runtime's cheap-step behaviour: the solver's step size carried from one communication
step to the next, the block solve of quadrature states, the one-pass Jacobian check, and the output cache
and its invalidation.

The runtime is compiled with the exporter's warning flags together with the hand-written test models of
tests/fmu/runtime_c/ (``stiff_pair``: a linear pair with a closed-form solution and two quadratures;
``heat_meter``: no states, outputs heat_flow = mass_flow * specific_heat * (supply - return) *
efficiency / 100 and elapsed = time; ``blind_decay``: x' = -rate x and its quadrature, with a Jacobian hook
that writes NaN and infinities). Expected values come from closed forms and the models' equations, never
from the runtime.
"""

from __future__ import annotations

import math
import re
import struct
import subprocess
from pathlib import Path

import fmpy
import pytest
from fmpy.fmi2 import FMU2Slave, fmi2CallbackFunctions, fmi2CallbackLoggerTYPE
from fmpy.fmi2 import defaultCallbacks as default
from fmpy.fmi3 import FMU3Slave

REPO = Path(__file__).resolve().parents[2]
RUNTIME = REPO / "fmu" / "runtime"
MODELS = Path(__file__).resolve().parent / "runtime_c"
FMI_HEADERS = Path(fmpy.__file__).parent / "c-code"
RUNTIME_SOURCES = [RUNTIME / name for name in ("kl_runtime.c", "kl_solver.c", "kl_fmi2.c", "kl_fmi3.c")]
WARNINGS = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Wpedantic", "-Werror"]
METER_TOKEN = "{2b6c0a51-7e3d-4f8a-8d10-heatmeter0001}"
METER_VR = {"supply": 4, "return": 5, "mass_flow": 6, "specific_heat": 7, "efficiency": 8, "heat_flow": 9,
            "elapsed": 10}


def _gcc(args: list[str]) -> None:
    result = subprocess.run(["gcc", *args], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The stiff_pair driver and the heat_meter model as a shared library in FMI 2 and FMI 3 layout."""
    root = tmp_path_factory.mktemp("kl_runtime_speed")
    driver = root / "driver"
    _gcc([*WARNINGS, f"-I{RUNTIME}", f"-I{MODELS / 'stiff'}", f"-I{FMI_HEADERS}", *map(str, RUNTIME_SOURCES),
          str(MODELS / "stiff" / "kl_model.c"), str(MODELS / "driver.c"), "-lm", "-o", str(driver)])
    meter = root / "heat_meter"
    for platform in ("linux64", "x86_64-linux"):
        (meter / "binaries" / platform).mkdir(parents=True)
        _gcc([*WARNINGS, "-fPIC", "-shared", "-fvisibility=hidden", f"-I{RUNTIME}", f"-I{MODELS / 'algebraic'}",
              f"-I{FMI_HEADERS}", *map(str, RUNTIME_SOURCES), str(MODELS / "algebraic" / "kl_model.c"), "-lm",
              "-o", str(meter / "binaries" / platform / "heat_meter.so")])
    return {"driver": driver, "heat_meter": meter}


def _run(build: dict[str, Path], *args: str) -> tuple[list[list[float]], int]:
    """Communication points (t, x1, x2, quadrature, ...) and solver steps (accepted + rejected)."""
    result = subprocess.run([str(build["driver"]), "run2", *args], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    points = [[float(x) for x in line.split()[1:]] for line in lines if line.startswith("point ")]
    (stats,) = [line.split() for line in lines if line.startswith("stats ")]
    return points, int(stats[1]) + int(stats[2])


def _analytic(t: float, k1: float) -> tuple[float, float, float]:
    """x1' = -k1 x1 + 1, x2' = -(x2 - x1), q' = x2 with x1(0) = 0, x2(0) = 1, q(0) = 0."""
    a = 1.0 / k1
    d = -a / (1.0 - k1)
    c = 1.0 - a - d
    x1 = a - a * math.exp(-k1 * t)
    x2 = a + d * math.exp(-k1 * t) + c * math.exp(-t)
    q = a * t + d / k1 * (1.0 - math.exp(-k1 * t)) + c * (1.0 - math.exp(-t))
    return x1, x2, q


# ---- the step size carried across communication steps ----------------------------------------------------


def test_smooth_problem_takes_about_one_solver_step_per_short_communication_step(build):
    # the solver's own step at rtol 1e-3 (~0.5 s) is far longer than 0.1 s: with the step size carried
    # over, nearly every doStep is one solver step; restarting each doStep from the initial step
    # estimate (~0.01 s here) needs two to three
    points, steps = _run(build, "k1=1.5", "rtol=1e-3", "T=10", "h=0.1", "period=1e9")
    assert len(points) == 101
    assert steps <= 100 + 15


@pytest.mark.parametrize("k1", [1.5, 50.0, 1e4])
@pytest.mark.parametrize("step", [0.1, 1.0])
def test_communication_grid_adds_at_most_one_step_per_communication_point(build, k1, step):
    # one 10 s doStep against doSteps of `step`: cutting the solver steps at the grid may add one step per
    # communication point, but the step size history must survive (no restart at every point)
    _, one_interval = _run(build, f"k1={k1}", "rtol=1e-3", "T=10", "h=10", "period=1e9")
    _, many_intervals = _run(build, f"k1={k1}", "rtol=1e-3", "T=10", f"h={step}", "period=1e9")
    assert many_intervals <= one_interval + round(10 / step)


@pytest.mark.parametrize("step", [0.01, 0.1, 1.0, 10.0])
@pytest.mark.parametrize("k1", [1.5, 1e4])
def test_results_match_the_closed_form_for_every_communication_step(build, step, k1):
    rtol, atol = 1e-6, 1e-8
    points, _ = _run(build, f"k1={k1}", f"rtol={rtol}", "T=10", f"h={step}", "period=1e9")
    assert points[-1][0] == pytest.approx(10.0, abs=1e-12)
    for t, x1, x2, q, *_ in points[:: max(1, len(points) // 50)] + points[-1:]:
        for value, exact in zip((x1, x2, q), _analytic(t, k1), strict=True):
            assert abs(value - exact) <= 10 * (rtol * abs(exact) + atol), (t, value, exact)


def test_quadrature_of_a_stiff_state_is_exact_to_tolerance_at_tight_tolerance(build):
    # q' = x2 is solved by substitution after the LU of the (x1, x2) block; at rtol 1e-10 the quadrature
    # must still follow the closed form to ten times the tolerance
    rtol, atol = 1e-10, 1e-8
    points, _ = _run(build, "k1=1e4", f"rtol={rtol}", "T=10", "h=2.5", "period=1e9")
    for t, x1, x2, q, *_ in points:
        for value, exact in zip((x1, x2, q), _analytic(t, 1e4), strict=True):
            assert abs(value - exact) <= 10 * (rtol * abs(exact) + atol), (t, value, exact)


# ---- the output cache ------------------------------------------------------------------------------------


def _heat_flow(mass_flow: float, supply: float, ret: float = 320.0, cp: float = 4180.0) -> float:
    return mass_flow * cp * (supply - ret)


class _Meter:
    """heat_meter through fmpy, FMI 2 or FMI 3, with one pair of set/get calls for both."""

    def __init__(self, build: dict[str, Path], version: int) -> None:
        cls = FMU2Slave if version == 2 else FMU3Slave
        self.version = version
        self.fmu = cls(guid=METER_TOKEN, unzipDirectory=str(build["heat_meter"]), modelIdentifier="heat_meter",
                       instanceName=f"meter{version}")
        self.fmu.instantiate()
        if version == 2:
            self.fmu.setupExperiment(startTime=0.0)
            self.fmu.enterInitializationMode()
        else:
            self.fmu.enterInitializationMode(startTime=0.0)
        self.fmu.exitInitializationMode()

    def set(self, name: str, value: float) -> None:
        setter = self.fmu.setReal if self.version == 2 else self.fmu.setFloat64
        setter([METER_VR[name]], [value])

    def get(self, name: str) -> float:
        getter = self.fmu.getReal if self.version == 2 else self.fmu.getFloat64
        return getter([METER_VR[name]])[0]

    def save(self):
        return self.fmu.getFMUstate() if self.version == 2 else self.fmu.getFMUState()

    def restore(self, state) -> None:
        if self.version == 2:
            self.fmu.setFMUstate(state)
        else:
            self.fmu.setFMUState(state)


@pytest.fixture(params=[2, 3])
def meter(build, request):
    m = _Meter(build, request.param)
    yield m
    m.fmu.freeInstance()


def test_set_input_invalidates_the_outputs_read_before(meter):
    assert meter.get("heat_flow") == pytest.approx(_heat_flow(2.0, 350.0), rel=1e-15)
    meter.set("supply", 360.0)
    assert meter.get("heat_flow") == pytest.approx(_heat_flow(2.0, 360.0), rel=1e-15)
    meter.set("supply", 360.0)  # the same value again
    assert meter.get("heat_flow") == pytest.approx(_heat_flow(2.0, 360.0), rel=1e-15)
    meter.set("mass_flow", 3.0)
    meter.set("mass_flow", 2.5)  # two writes, one read
    assert meter.get("heat_flow") == pytest.approx(_heat_flow(2.5, 360.0), rel=1e-15)


def test_restoring_a_state_restores_the_outputs_of_its_inputs(meter):
    meter.set("supply", 340.0)
    saved_fresh = meter.save()  # outputs not yet brought up to date for 340 K
    assert meter.get("heat_flow") == pytest.approx(_heat_flow(2.0, 340.0), rel=1e-15)
    saved_read = meter.save()  # outputs up to date
    meter.set("supply", 370.0)
    assert meter.get("heat_flow") == pytest.approx(_heat_flow(2.0, 370.0), rel=1e-15)
    for saved in (saved_fresh, saved_read):
        meter.restore(saved)
        assert meter.get("heat_flow") == pytest.approx(_heat_flow(2.0, 340.0), rel=1e-15)
        meter.set("supply", 370.0)
        assert meter.get("heat_flow") == pytest.approx(_heat_flow(2.0, 370.0), rel=1e-15)
        meter.set("supply", 340.0)  # the restored value again: outputs agree with it
        assert meter.get("heat_flow") == pytest.approx(_heat_flow(2.0, 340.0), rel=1e-15)


def test_do_step_brings_the_outputs_to_the_new_time(meter):
    t = 0.0
    for step, mass_flow in ((5.0, 1.0), (2.5, 4.0), (0.0, 6.0)):
        meter.set("mass_flow", mass_flow)
        meter.fmu.doStep(t, step)
        t += step
        assert meter.get("elapsed") == pytest.approx(t, abs=1e-12)
        assert meter.get("heat_flow") == pytest.approx(_heat_flow(mass_flow, 350.0), rel=1e-15)


# ---- a Jacobian that cannot be used -------------------------------------------------------------------------

BLIND_TOKEN = "{5e0f3c2a-1b9d-4e7f-a6c4-blinddecay01}"
BLIND_VR = {"rtol": 1, "max_step": 3, "rate": 4, "jacobian_mode": 6, "x": 7, "quadrature": 8}


@pytest.fixture(scope="module")
def blind(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The blind_decay test model (its Jacobian hook writes NaN and infinities) in FMI 2 layout."""
    root = tmp_path_factory.mktemp("kl_blind") / "blind_decay"
    (root / "binaries" / "linux64").mkdir(parents=True)
    _gcc([*WARNINGS, "-fPIC", "-shared", "-fvisibility=hidden", f"-I{RUNTIME}", f"-I{MODELS / 'blind'}",
          f"-I{FMI_HEADERS}", *map(str, RUNTIME_SOURCES), str(MODELS / "blind" / "kl_model.c"), "-lm", "-o",
          str(root / "binaries" / "linux64" / "blind_decay.so")])
    return root


def _blind_run(unzipped: Path, mode: int, rtol: float, step: float, horizon: float,
               max_step: float = 0.0) -> tuple[list[tuple[float, float, float]], list[str]]:
    """Communication points (t, x, quadrature) and the solver's log messages."""
    messages: list[str] = []

    def log(_env, _name, _status, category, message) -> None:
        messages.append(f"{category.decode()}: {message.decode()}")

    logger = fmi2CallbackLoggerTYPE(log)
    callbacks = fmi2CallbackFunctions(logger=logger, allocateMemory=default.allocateMemory,
                                      freeMemory=default.freeMemory)
    fmu = FMU2Slave(guid=BLIND_TOKEN, unzipDirectory=str(unzipped), modelIdentifier="blind_decay",
                    instanceName="blind")
    fmu.instantiate(callbacks=callbacks, loggingOn=True)
    try:
        fmu.setDebugLogging(True, ["logSolver"])
        fmu.setupExperiment(startTime=0.0)
        fmu.enterInitializationMode()
        fmu.setInteger([BLIND_VR["jacobian_mode"]], [mode])
        fmu.setReal([BLIND_VR["rtol"], BLIND_VR["max_step"]], [rtol, max_step])
        fmu.exitInitializationMode()
        points = []
        n = round(horizon / step)
        for k in range(n):
            fmu.doStep(k * step, step)
            x, q = fmu.getReal([BLIND_VR["x"], BLIND_VR["quadrature"]])
            points.append(((k + 1) * step, x, q))
        return points, messages
    finally:
        fmu.freeInstance()


def _decay(t: float, rate: float = 0.5) -> tuple[float, float]:
    return math.exp(-rate * t), (1.0 - math.exp(-rate * t)) / rate


@pytest.mark.parametrize("mode", [0, 1])
def test_non_finite_jacobian_entries_are_replaced_by_zero_and_the_solution_holds(blind, mode):
    rtol, atol = 1e-6, 1e-10
    points, messages = _blind_run(blind, mode, rtol, step=1.0, horizon=10.0)
    for t, x, q in points:
        for value, exact in zip((x, q), _decay(t), strict=True):
            assert abs(value - exact) <= 10 * (rtol * abs(exact) + atol), (t, value, exact)
    solver = [m for m in messages if m.startswith("logSolver: the")]
    assert any("d(der(x))/d(x) is nan" in m and m.endswith("using 0") for m in solver)
    if mode == 0:
        assert any("d(der(x))/d(quadrature) is inf" in m for m in solver)
        assert any("d(der(quadrature))/d(x) is -inf" in m for m in solver)
        assert any("d(der(x))/dt is inf" in m for m in solver)
    else:
        assert not any("d(der(quadrature))/d(x)" in m or "/dt" in m for m in solver)


def test_w_method_keeps_order_three_with_the_jacobian_replaced_by_zero(blind):
    # loose tolerance and solver_max_step = h: every communication step is one solver step of size h
    errors = []
    for step in (0.4, 0.2, 0.1):
        points, _ = _blind_run(blind, 0, 0.1, step=step, horizon=4.0, max_step=step)
        t, x, q = points[-1]
        errors.append(max(abs(a - b) for a, b in zip((x, q), _decay(t), strict=True)))
    orders = [math.log2(coarse / fine) for coarse, fine in zip(errors, errors[1:], strict=False)]
    assert all(2.6 < order < 3.4 for order in orders), (errors, orders)


# ---- the Jacobian reused over several steps -----------------------------------------------------------------

STIFF_TOKEN = "{8c1d2f0e-5b7a-4c3e-9f21-stiffpair0001}"
STIFF_VR = {"rtol": 1, "k1": 4, "x1": 14, "x2": 15, "quadrature": 16, "timer_period": 8}
SOLVER_LOG = re.compile(r"so far (\d+) accepted and (\d+) rejected solver steps, (\d+) derivative and (\d+) Jacobian"
                        r" evaluations, (\d+) LU decompositions")


@pytest.fixture(scope="module", params=[1, 10], ids=["reuse1", "reuse10"])
def stiff_library(request, tmp_path_factory: pytest.TempPathFactory) -> tuple[int, Path]:
    """stiff_pair in FMI 2 layout, built with J evaluated every step (1) or every 10 steps (the default)."""
    reuse = request.param
    root = tmp_path_factory.mktemp(f"kl_stiff_reuse{reuse}") / "stiff_pair"
    (root / "binaries" / "linux64").mkdir(parents=True)
    _gcc([*WARNINGS, f"-DKL_JACOBIAN_REUSE={reuse}", "-fPIC", "-shared", "-fvisibility=hidden", f"-I{RUNTIME}",
          f"-I{MODELS / 'stiff'}", f"-I{FMI_HEADERS}", *map(str, RUNTIME_SOURCES), str(MODELS / "stiff" / "kl_model.c"),
          "-lm", "-o", str(root / "binaries" / "linux64" / "stiff_pair.so")])
    return reuse, root


def test_jacobian_reuse_keeps_the_closed_form_and_evaluates_j_once_per_reuse_accepted_steps(stiff_library):
    reuse, unzipped = stiff_library
    messages: list[str] = []
    logger = fmi2CallbackLoggerTYPE(lambda _env, _name, _status, _category, message: messages.append(message.decode()))
    callbacks = fmi2CallbackFunctions(logger=logger, allocateMemory=default.allocateMemory,
                                      freeMemory=default.freeMemory)
    fmu = FMU2Slave(guid=STIFF_TOKEN, unzipDirectory=str(unzipped), modelIdentifier="stiff_pair", instanceName="s")
    fmu.instantiate(callbacks=callbacks, loggingOn=True)
    try:
        fmu.setDebugLogging(True, ["logSolver"])
        fmu.setupExperiment(startTime=0.0)
        fmu.enterInitializationMode()
        fmu.setReal([STIFF_VR["k1"], STIFF_VR["rtol"], STIFF_VR["timer_period"]], [1e4, 1e-6, 1e9])
        fmu.exitInitializationMode()
        rtol, atol = 1e-6, 1e-8
        for k in range(20):
            fmu.doStep(k * 0.5, 0.5)
            values = fmu.getReal([STIFF_VR["x1"], STIFF_VR["x2"], STIFF_VR["quadrature"]])
            for value, exact in zip(values, _analytic((k + 1) * 0.5, 1e4), strict=True):
                assert abs(value - exact) <= 10 * (rtol * abs(exact) + atol), (k, value, exact)
    finally:
        fmu.freeInstance()
    accepted, rejected, _, jacobians, _ = (int(x) for x in SOLVER_LOG.search(messages[-1]).groups())
    # J once per `reuse` accepted steps, and again after a rejected step taken with an older J
    assert math.ceil(accepted / reuse) <= jacobians <= math.ceil(accepted / reuse) + rejected + 1


@pytest.mark.parametrize("version", [2, 3])
def test_restored_state_continues_bit_identically_with_a_jacobian_in_use(hx_fmus, version):
    # the exchanger's J depends on its inputs, which change every step: after 25 steps the J in use was
    # evaluated 5 steps earlier, so a restore that re-evaluated J would continue differently in the last bits
    from kreislauf.fmu import FmuComponent

    outputs = ["heat_flow", "loop_outlet_temperature", "fouling_resistance", "loop_outlet_energy",
               "wastewater_outlet_energy"]

    def inputs(k: int) -> dict[str, float]:
        return {"wastewater_mass_flow": 20.0 + 5.0 * math.sin(k / 3.0), "loop_mass_flow": 15.0 + 2.0 * math.cos(k),
                "wastewater_inlet_temperature": 288.15 + math.sin(k / 5.0), "loop_inlet_temperature": 278.15}

    def run(comp, k0: int, n: int) -> list[list[float]]:
        values = []
        for k in range(k0, k0 + n):
            comp.set_inputs(inputs(k))
            assert comp.do_step(k * 60.0, 60.0).status.name == "OK"
            values.append(list(comp.get_outputs(outputs)))
        return values

    with FmuComponent(hx_fmus[version], "hx") as comp:
        comp.setup(0.0, None, {})
        run(comp, 0, 25)
        saved = comp.save_state()
        first = run(comp, 25, 7)
        comp.restore_state(saved)
        again = run(comp, 25, 7)
    assert again == first


def _fnv1a(data: bytes) -> int:
    """FNV-1a, 64 bit (the published algorithm; the serialised state's checksum)."""
    value = 14695981039346656037
    for byte in data:
        value = ((value ^ byte) * 1099511628211) % 2**64
    return value


def test_deserialize_rejects_a_state_with_an_invalid_jacobian_use_count(stiff_library):
    reuse, unzipped = stiff_library
    messages: list[str] = []
    logger = fmi2CallbackLoggerTYPE(lambda _env, _name, _status, _category, message: messages.append(message.decode()))
    callbacks = fmi2CallbackFunctions(logger=logger, allocateMemory=default.allocateMemory,
                                      freeMemory=default.freeMemory)
    fmu = FMU2Slave(guid=STIFF_TOKEN, unzipDirectory=str(unzipped), modelIdentifier="stiff_pair", instanceName="s")
    fmu.instantiate(callbacks=callbacks)
    try:
        fmu.setupExperiment(startTime=0.0)
        fmu.enterInitializationMode()
        fmu.exitInitializationMode()
        fmu.doStep(0.0, 0.5)
        blob = bytearray(fmu.serializeFMUstate(fmu.getFMUstate()))
        token_length, n_variables = struct.unpack_from("<II", blob, 16)
        payload = 40 + token_length
        # payload: v, previous, h_next, rejected_last, 8 statistics, 6 scalars, then the Jacobian use count
        uses_offset = payload + 8 * (2 * n_variables + 2 + 8 + 6)
        assert struct.unpack_from("<d", blob, uses_offset)[0] in range(0, reuse + 1)
        for bad in (0.5, -1.0, reuse + 1.0, math.nan):
            corrupt = bytearray(blob)
            struct.pack_into("<d", corrupt, uses_offset, bad)
            struct.pack_into("<Q", corrupt, 32, _fnv1a(bytes(corrupt[payload:])))
            with pytest.raises(Exception, match="fmi2DeSerializeFMUstate"):
                fmu.deSerializeFMUstate(bytes(corrupt))
            assert "invalid count of Jacobian uses" in messages[-1] and f"[0, {reuse}]" in messages[-1]
        restored = fmu.deSerializeFMUstate(bytes(blob))  # the untouched state is accepted
        fmu.freeFMUstate(restored)
    finally:
        fmu.freeInstance()
