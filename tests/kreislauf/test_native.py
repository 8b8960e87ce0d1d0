"""The native stepping path (kreislauf.native): the same results and the same errors as the Python path.

Every comparison runs one system twice, ``native = "off"`` (the master's Python loop) and
``native = "on"`` (compiled C), and checks the native run against the Python run and, where one
exists, against the analytic solution, so that agreement cannot come from a shared mistake alone.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cosim_doubles import HeatCapacity
from fmu_probe import export_probes
from fmu_tank import export_tanks

from kreislauf.api import System, load
from kreislauf.component import ComponentError
from kreislauf.ledger import Ledger
from kreislauf.master import (
    AlgebraicLoopError,
    InputRangeError,
    Master,
    NativePathError,
    NonFiniteValueError,
    StepError,
)
from kreislauf.native import CHUNK, compile_library
from kreislauf.results import ResultWriter, read_results
from kreislauf.system import SystemFileError, make_component
from kreislauf.timeseries import TimeSeries

pytestmark = pytest.mark.skipif(
    shutil.which("cc") is None and shutil.which("gcc") is None, reason="needs a C compiler"
)

C1, C2, G, T1, T2 = 2e6, 1e6, 100.0, 350.0, 290.0
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def tanks(tmp_path_factory) -> dict[int, Path]:
    return export_tanks(tmp_path_factory.mktemp("native-tanks"))


@pytest.fixture(scope="module")
def probes(tmp_path_factory) -> dict[int, Path]:
    return export_probes(tmp_path_factory.mktemp("native-probes"))


def tank_system(tmp_path: Path, tanks: dict[int, Path], versions=(2, 3), master: str = "") -> Path:
    """Tank A (conductance G to B, as its loss to ambient) heats tank B: the two-capacity system."""
    path = tmp_path / "tanks.toml"
    path.write_text(f"""
connections = [
    "B.temperature -> A.ambient_temperature",
    {{ from = "A.ambient_power", to = "B.heating", factor = -1.0 }},
]
bonds = ["A.ambient -> B.heater"]

[master]
step = 60.0
stop = "6h"
{master}

[components.A]
fmu = "{tanks[versions[0]]}"
[components.A.parameters]
heat_capacity = {C1}
loss_conductance = {G}
temperature_start = {T1}
solver_relative_tolerance = 1e-10
solver_absolute_tolerance = 1e-10

[components.B]
fmu = "{tanks[versions[1]]}"
[components.B.parameters]
heat_capacity = {C2}
temperature_start = {T2}
solver_relative_tolerance = 1e-10
solver_absolute_tolerance = 1e-10
""")
    return path


def both(path: Path, out: Path, **settings):
    """Run ``path`` on the Python and on the native path; returns both results."""
    python = load(path).run(out_dir=out / "python", native="off", progress=False, **settings)
    native = load(path).run(out_dir=out / "native", native="on", progress=False, **settings)
    assert python.stats.path == "python" and native.stats.path == "native"
    return python, native


def assert_same_columns(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert list(a) == list(b)
    for name in a:
        assert a[name].tobytes() == b[name].tobytes(), name


def exact(t):
    """The two-capacity system: both temperatures relax to the mean with rate G (1/C1 + 1/C2)."""
    mean = (C1 * T1 + C2 * T2) / (C1 + C2)
    diff = (T1 - T2) * np.exp(-G * (1 / C1 + 1 / C2) * t)
    return mean + C2 / (C1 + C2) * diff, mean - C1 / (C1 + C2) * diff


@pytest.mark.parametrize("versions", [(2, 2), (3, 3), (2, 3)])
@pytest.mark.parametrize("algorithm", ["jacobi", "gauss-seidel"])
def test_two_tanks_native_equals_python_bit_for_bit_and_follows_the_analytic_solution(
    tmp_path, tanks, algorithm, versions
):
    python, native = both(tank_system(tmp_path, tanks, versions), tmp_path, algorithm=algorithm)
    data = native.read()
    assert_same_columns(python.read(), data)
    a, b = exact(data["time"])
    # first-order coupling: the error stays below h·λ·ΔT/2 = 60 s · 1.5e-4 /s · 60 K / 2 = 0.27 K
    bound = 60.0 * G * (1 / C1 + 1 / C2) * (T1 - T2) / 2
    assert np.abs(data["A.temperature"] - a).max() < bound
    assert np.abs(data["B.temperature"] - b).max() < bound
    assert native.balance.as_dict() == python.balance.as_dict()
    assert [vars(b) for b in native.bonds] == [vars(b) for b in python.bonds]
    assert native.stats.steps == python.stats.steps == 360


def test_runs_longer_than_a_chunk_book_the_ledger_across_chunk_boundaries(tmp_path, tanks):
    # 10 s steps over 12 h: 4320 steps, one full chunk of C steps and a partial one
    path = tank_system(tmp_path, tanks)
    python, native = both(path, tmp_path, step=10.0, stop="12h", row_group_size=1000)
    assert native.stats.steps == 4320 > CHUNK
    data = native.read()
    assert_same_columns(python.read(), data)
    np.testing.assert_array_equal(data["time"], np.arange(0.0, 43200.0 + 1.0, 10.0))
    # the bond's sent energy per step is what left A's port: the change of A's counter, summed
    sent = data["bond:A.ambient->B.heater:sent"]
    counter = data["A.ambient_energy"]
    assert np.sum(sent[1:]) == pytest.approx(-(counter[-1] - counter[0]), rel=1e-12)


def test_the_native_path_repeats_bit_for_bit(tmp_path, tanks):
    path = tank_system(tmp_path, tanks)
    first = load(path).run(out_dir=tmp_path / "1", native="on", progress=False, algorithm="gauss-seidel")
    second = load(path).run(out_dir=tmp_path / "2", native="on", progress=False, algorithm="gauss-seidel")
    assert_same_columns(first.read(), second.read())


@pytest.mark.parametrize("algorithm", ["jacobi", "gauss-seidel"])
def test_a_day_of_anika_native_matches_python_within_the_loop_tolerance(tmp_path, algorithm):
    # ANIKA has an algebraic loop (boiler <-> network) solved by Newton at every communication point;
    # the native solver repeats the same iterations, so the results agree to the loop tolerance (1e-10)
    python, native = both(EXAMPLES / "anika.toml", tmp_path, stop="1d", algorithm=algorithm)
    a, b = python.read(), native.read()
    assert list(a) == list(b) and len(b["time"]) == 1441
    for name in a:
        scale = max(1.0, float(np.abs(a[name]).max()))
        np.testing.assert_allclose(b[name], a[name], rtol=1e-9, atol=1e-9 * scale, err_msg=name)
    assert native.stats.loop_iterations == python.stats.loop_iterations > 0


def test_the_run_summary_says_which_path_ran_and_why(tmp_path, tanks):
    path = tank_system(tmp_path, tanks)
    load(path).run(out_dir=tmp_path / "auto", progress=False)
    stats = json.loads((tmp_path / "auto" / "summary.json").read_text())["stats"]
    assert stats["path"] == "native" and "every component an FMU" in stats["path_reason"]
    load(path).run(out_dir=tmp_path / "ext", progress=False, extrapolation=1)
    summary = json.loads((tmp_path / "ext" / "summary.json").read_text())
    assert summary["stats"]["path"] == "python"
    assert summary["stats"]["path_reason"] == "input extrapolation of order 1 (native: 0)"
    assert summary["settings"]["native"] == "auto"


@pytest.mark.parametrize(
    ("settings", "reason"),
    [
        ({"algorithm": "iterative"}, "algorithm 'iterative' (native: jacobi or gauss-seidel)"),
        ({"adaptive": True}, "adaptive step size (native: fixed step)"),
        ({"extrapolation": 1}, "input extrapolation of order 1 (native: 0)"),
        ({"energy_conserving": True}, "energy-conserving coupling"),
        ({"realtime": True, "realtime_factor": 1e9}, "real-time pacing"),
    ],
)
def test_native_on_names_why_it_cannot_run(tmp_path, tanks, settings, reason):
    with pytest.raises(NativePathError) as info:
        load(tank_system(tmp_path, tanks)).run(out_dir=tmp_path, native="on", progress=False, **settings)
    assert info.value.reasons == [reason]
    assert reason in str(info.value)


def test_native_on_lists_every_reason_and_auto_falls_back(tmp_path, tanks):
    spec = load(tank_system(tmp_path, tanks)).spec
    comps = {n: make_component(c) for n, c in spec.components.items()}
    spec.settings.native, spec.settings.extrapolation, spec.settings.algorithm = "on", 1, "iterative"
    try:
        with pytest.raises(NativePathError) as info:
            Master(spec, comps).run(tmp_path / "on", progress=False)
        assert info.value.reasons == [
            "algorithm 'iterative' (native: jacobi or gauss-seidel)", "input extrapolation of order 1 (native: 0)"
        ]
    finally:
        for comp in comps.values():
            comp.close()
    a = HeatCapacity("a", C=C1, T0=T1, G=G)
    b = HeatCapacity("b", C=C2, T0=T2)
    system = System.from_components([a, b], ["b.T -> a.T_neighbour", "a.Q_cond -> b.Q_in"], step=60.0, stop=600.0)
    result = system.run(out_dir=tmp_path / "doubles", progress=False)
    assert result.stats.path == "python"
    assert result.stats.path_reason == (
        "component 'a' is a HeatCapacity, not an FMU, and has connected inputs (T_neighbour; native: Python "
        "components only as sources without inputs); component 'b' is a HeatCapacity, not an FMU, and has "
        "connected inputs (Q_in; native: Python components only as sources without inputs)"
    )


def test_an_unknown_native_setting_is_a_system_file_error(tmp_path, tanks):
    path = tank_system(tmp_path, tanks, master='native = "fast"')
    with pytest.raises(SystemFileError) as info:
        load(path)
    assert "[master] native 'fast' is not one of auto, on, off" in str(info.value)


def probe_system(tmp_path: Path, probes: dict[int, Path], a: str, b: str, loop: bool, master: str = "") -> Path:
    """Probes a (FMI 2) and b (FMI 3): a.y -> b.u, and with ``loop`` also b.y -> a.u."""
    path = tmp_path / "probes.toml"
    connections = '"a.y -> b.u", "b.y -> a.u"' if loop else '"a.y -> b.u"'
    path.write_text(f"""
connections = [{connections}]
[master]
step = 60.0
stop = "1d"
row_group_size = 16
{master}
[components.a]
fmu = "{probes[2]}"
parameters = {{ {a} }}
[components.b]
fmu = "{probes[3]}"
parameters = {{ {b} }}
""")
    return path


def fail_both(path: Path, out: Path, error: type[Exception], **settings):
    """Both paths fail with the same exception and message and leave the same rows on disk."""
    caught = []
    for mode in ("off", "on"):
        with pytest.raises(error) as info:
            load(path).run(out_dir=out / mode, native=mode, progress=False, **settings)
        caught.append(info.value)
        summary = json.loads((out / mode / "summary.json").read_text())
        assert summary["status"] == "failed" and error.__name__ in summary["error"]
        assert summary["stats"]["path"] == ("python" if mode == "off" else "native")
    python, native = caught
    assert str(native) == str(python)
    rows = read_results(out / "on" / "results.parquet")
    assert_same_columns(read_results(out / "off" / "results.parquet"), rows)
    return native, rows


@pytest.mark.parametrize("step", [40.0, 8.0])
@pytest.mark.parametrize("algorithm", ["jacobi", "gauss-seidel"])
def test_an_input_leaving_its_range_stops_both_paths_alike(tmp_path, probes, algorithm, step):
    # a.y = 0.02 t reaches b.u's maximum (1000) at t = 50 000 s and exceeds it one step later: Jacobi
    # meets it refreshing b's feedthrough at that communication point; Gauss-Seidel already in the
    # step before, where b is set after a has stepped. At 8 s steps that is after 6250 steps, in
    # the second chunk of the native path.
    path = probe_system(tmp_path, probes, "offset_rate = 0.02", "", loop=False)
    error, rows = fail_both(path, tmp_path, InputRangeError, algorithm=algorithm, step=step)
    assert (error.component, error.variable) == ("b", "u")
    assert f"input value {0.02 * (50000.0 + step):g} outside the allowed range [-1000, 1000]" in str(error)
    assert "a.y -> b.u" in str(error)
    assert error.time == (50000.0 + step if algorithm == "jacobi" else 50000.0)
    np.testing.assert_array_equal(rows["time"], np.arange(0.0, 50000.0 + 1.0, step))
    np.testing.assert_allclose(rows["a.y"], 0.02 * rows["time"], rtol=1e-12)


@pytest.mark.parametrize("algorithm", ["jacobi", "gauss-seidel"])
def test_a_nan_inside_an_fmu_fails_its_step_on_both_paths_alike(tmp_path, probes, algorithm):
    # b.root = sqrt(5000 - t) turns NaN in the step from 4980 s to 5040 s: the FMU fails that step
    path = probe_system(tmp_path, probes, "offset = 1.0", "root_time = 5000.0", loop=False)
    error, rows = fail_both(path, tmp_path, StepError, algorithm=algorithm)
    assert (error.component, error.time) == ("b", 4980.0)
    assert "output 'root' is" in str(error) and "nan" in str(error)
    np.testing.assert_array_equal(rows["time"], np.arange(0.0, 4981.0, 60.0))
    np.testing.assert_allclose(rows["b.root"], np.sqrt(5000.0 - rows["time"]), rtol=1e-12)


@pytest.mark.parametrize("algorithm", ["jacobi", "gauss-seidel"])
def test_a_loop_that_stops_converging_fails_both_paths_alike(tmp_path, probes, algorithm):
    # y_a = 1e-4 t · y_b + 1 and y_b = y_a + 2: y_a = (1 + 2e-4 t) / (1 − 1e-4 t); the fixed-point
    # map's contraction 1e-4 t approaches 1 towards t = 10 000 s and 50 iterations no longer suffice
    path = probe_system(tmp_path, probes, "gain_rate = 1e-4, offset = 1.0", "gain = 1.0, offset = 2.0", loop=True,
                        master='loop_solver = "fixed-point"')
    error, rows = fail_both(path, tmp_path, AlgebraicLoopError, algorithm=algorithm)
    assert set(error.variables) == {"a.y", "b.y", "a.u", "b.u"}
    assert "fixed-point did not converge in 50 iterations" in str(error)
    assert 2000.0 < error.time < 10000.0
    assert rows["time"][-1] == error.time - 60.0
    t = rows["time"]
    np.testing.assert_allclose(rows["a.y"], (1 + 2e-4 * t) / (1 - 1e-4 * t), rtol=1e-8)


def test_a_loop_solution_leaving_an_input_range_fails_both_paths_alike(tmp_path, probes):
    # with Newton the loop is solved until its solution y_b = (3 − 1e-4 t·... ) leaves a.u's range
    path = probe_system(tmp_path, probes, "gain_rate = 1e-4, offset = 1.0", "gain = 1.0, offset = 2.0", loop=True)
    error, rows = fail_both(path, tmp_path, AlgebraicLoopError)
    assert sorted(error.variables) == ["a.u", "a.y", "b.u", "b.y"]
    assert isinstance(error.__cause__, InputRangeError)
    assert (error.__cause__.component, error.__cause__.variable) == ("a", "u")
    assert "no solution within the inputs' ranges" in str(error) and "component 'a', variable 'u'" in str(error)
    t = rows["time"]
    np.testing.assert_allclose(rows["b.y"], (1 + 2e-4 * t) / (1 - 1e-4 * t) + 2.0, rtol=1e-8)
    assert np.all(np.abs(rows["b.y"]) <= 1000.0)


def test_a_loop_without_solution_is_named_by_newton_on_both_paths(tmp_path, probes):
    # a.y = a.u + 1, b.y = b.u + 2 in a loop: x = x + 3 has no solution. The finite-difference Jacobian
    # is only nearly singular, so Newton's first step is huge and leaves a.u's range: that is reported as
    # the loop's failure, naming its variables, with the range error as the cause; no row is written.
    path = probe_system(tmp_path, probes, "gain = 1.0, offset = 1.0", "gain = 1.0, offset = 2.0", loop=True)
    error, rows = fail_both(path, tmp_path, AlgebraicLoopError)
    assert sorted(error.variables) == ["a.u", "a.y", "b.u", "b.y"] and error.time == 0.0
    assert isinstance(error.__cause__, InputRangeError) and error.__cause__.variable == "u"
    assert len(rows["time"]) == 0


@pytest.mark.parametrize("versions", [(2, 3), (3, 2)])
@pytest.mark.parametrize("algorithm", ["jacobi", "gauss-seidel"])
def test_integer_and_boolean_variables_cross_fmi_versions_alike(tmp_path, probes, versions, algorithm):
    path = tmp_path / "ints.toml"
    path.write_text(f"""
connections = ["a.hours -> b.level", "a.late -> b.flag"]
[master]
step = 600.0
stop = "1d"
algorithm = "{algorithm}"
[components.a]
fmu = "{probes[versions[0]]}"
[components.b]
fmu = "{probes[versions[1]]}"
""")
    python, native = both(path, tmp_path)
    data = native.read()
    assert_same_columns(python.read(), data)
    t = data["time"]
    np.testing.assert_array_equal(data["a.hours"], np.floor(t / 3600.0))
    np.testing.assert_array_equal(data["a.late"], (t > 7200.0).astype(float))
    # b echoes the inputs set at the last communication point (feedthrough: refreshed there)
    np.testing.assert_array_equal(data["b.echo"], np.floor(t / 3600.0) + 1000.0 * (t > 7200.0))


def test_a_fractional_value_for_an_integer_input_stops_both_paths_alike(tmp_path, probes):
    # a.y = 1 + t / 1000 is 1.5 at the first communication point (500 s), where b.level (an Integer)
    # is refreshed because b.echo depends on it
    path = tmp_path / "fraction.toml"
    path.write_text(f"""
connections = ["a.y -> b.level"]
[master]
step = 500.0
stop = "1d"
[components.a]
fmu = "{probes[2]}"
parameters = {{ offset = 1.0, offset_rate = 0.001 }}
[components.b]
fmu = "{probes[3]}"
""")
    error, rows = fail_both(path, tmp_path, ComponentError)
    assert (error.component, error.variable) == ("b", "level")
    assert "t = 500 s: value 1.5 is not a whole number (Integer variable)" in str(error)
    np.testing.assert_array_equal(rows["time"], [0.0])


def test_profiling_counts_every_fmu_step(tmp_path, tanks):
    spec = load(tank_system(tmp_path, tanks)).spec
    comps = {n: make_component(c) for n, c in spec.components.items()}
    try:
        master = Master(spec, comps)
        master.native_profile = True
        result = master.run(tmp_path, progress=False)
    finally:
        for comp in comps.values():
            comp.close()
    assert set(master.native_timing) == {"A", "B"}
    for timing in master.native_timing.values():
        assert timing["do_step_calls"] == result.stats.steps == 360
        assert 0.0 < timing["do_step_s"] < result.stats.wall_time


def test_the_library_is_compiled_once_per_source(tmp_path):
    first = compile_library(tmp_path)
    mtime = first.stat().st_mtime_ns
    assert compile_library(tmp_path) == first and first.stat().st_mtime_ns == mtime
    assert [p.name for p in tmp_path.iterdir()] == [first.name]


def test_block_writes_and_chunk_booking_match_row_by_row(tmp_path):
    rng = np.random.default_rng(1)
    rows = rng.normal(size=(50, 4))
    with ResultWriter(tmp_path / "rows.parquet", list("abcd"), row_group_size=7) as one:
        for row in rows:
            one.append(row)
    with ResultWriter(tmp_path / "block.parquet", list("abcd"), row_group_size=7) as block:
        block.write_rows(rows[:20])
        block.write_rows(rows[20:])
    assert_same_columns(read_results(tmp_path / "rows.parquet"), read_results(tmp_path / "block.parquet"))
    y = rng.normal(size=(30, 5)).cumsum(axis=0)
    step, chunk = Ledger(["x", "z"], [0, 2], [1, 3], [4], [], False), Ledger(["x", "z"], [0, 2], [1, 3], [4], [], False)
    step.start(y[0].copy())
    chunk.start(y[0].copy())
    booked = []
    for k in range(1, 30):
        step.book_step(y[k])
        booked.append((step.step_sent.copy(), step.step_received.copy()))
    sent, received = chunk.book_chunk(y[1:, [0, 2]], y[1:, [1, 3]], y[-1])
    assert sent.tobytes() == np.array([b[0] for b in booked]).tobytes()
    assert received.tobytes() == np.array([b[1] for b in booked]).tobytes()
    assert chunk.entries() == step.entries()
    # sent is what left the senders: the telescoping sum is the change of their counters
    np.testing.assert_allclose(sent.sum(axis=0), y[0, [0, 2]] - y[-1, [0, 2]], rtol=1e-12)


def test_the_command_line_chooses_the_path(tmp_path, tanks):
    path = tank_system(tmp_path, tanks)
    outputs = {}
    for flag in ("--native", "--no-native"):
        proc = subprocess.run([sys.executable, "-m", "kreislauf", "run", str(path), "-o", str(tmp_path / flag),
                               "--no-progress", flag], capture_output=True, text=True, timeout=120, check=False)
        assert proc.returncode == 0, proc.stderr
        outputs[flag] = read_results(tmp_path / flag / "results.parquet")
        assert ("path:    native" if flag == "--native" else 'path:    python (native = "off")') in proc.stdout
    assert_same_columns(outputs["--native"], outputs["--no-native"])
    proc = subprocess.run([sys.executable, "-m", "kreislauf", "run", str(path), "-o", str(tmp_path / "rt"),
                           "--no-progress", "--native", "--realtime", "1e9"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2 and "native stepping path cannot run this system: real-time pacing" in proc.stderr


def test_without_a_compiler_auto_steps_in_python_and_says_why(tmp_path, tanks):
    # no compiler on PATH, no $CC and an empty cache: the library cannot be built
    path = tank_system(tmp_path, tanks)
    env = {"PATH": str(tmp_path / "empty"), "XDG_CACHE_HOME": str(tmp_path / "cache"), "HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "kreislauf", "run", str(path), "-o", str(tmp_path / "out"),
                           "--no-progress"], capture_output=True, text=True, timeout=120, check=False, env=env)
    assert proc.returncode == 0, proc.stderr
    stats = json.loads((tmp_path / "out" / "summary.json").read_text())["stats"]
    assert stats["path"] == "python"
    assert stats["path_reason"].startswith("the native stepper is not available: no C compiler found")
    proc = subprocess.run([sys.executable, "-m", "kreislauf", "run", str(path), "-o", str(tmp_path / "on"),
                           "--no-progress", "--native"], capture_output=True, text=True, timeout=120, check=False,
                          env=env)
    assert proc.returncode == 2 and "no C compiler found" in proc.stderr


NAN_SCRIPT = '''
from pythonfmu import Fmi2Causality, Fmi2Slave, Real


class NanAfter(Fmi2Slave):
    author = "test"
    description = "an output that turns NaN after 3000 s, with no check of its own"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.u = 0.0
        self.y = 1.0
        self.register_variable(Real("u", causality=Fmi2Causality.input, start=0.0))
        self.register_variable(Real("y", causality=Fmi2Causality.output))

    def do_step(self, current_time, step_size):
        self.y = float("nan") if current_time + step_size > 3000.0 else 1.0 + self.u
        return True
'''


@pytest.mark.parametrize("feeds", [True, False])
@pytest.mark.parametrize("algorithm", ["jacobi", "gauss-seidel"])
def test_a_nan_from_an_fmu_without_checks_names_it_on_both_paths(tmp_path, tanks, algorithm, feeds):
    # a pythonfmu FMU (another tool, no output check) hands out NaN from the step ending at 3060 s;
    # whether the NaN then reaches the tank's input (its range check finds it) or no input at all (the
    # check after the communication point finds it), the error names the FMU that produced it
    pytest.importorskip("pythonfmu")
    source = tmp_path / "nanafter.py"
    source.write_text(NAN_SCRIPT)
    subprocess.run([sys.executable, "-m", "pythonfmu", "build", "-f", str(source), "-d", str(tmp_path)],
                   check=True, capture_output=True, cwd=tmp_path)
    path = tmp_path / "nan.toml"
    feed = '{ from = "n.y", to = "A.heating", factor = 100.0 }, ' if feeds else ""
    path.write_text(f"""
connections = [{feed}"A.temperature -> n.u"]
[master]
step = 60.0
stop = "1d"
algorithm = "{algorithm}"
order = ["A", "n"]
[components.n]
fmu = "{tmp_path / 'NanAfter.fmu'}"
[components.A]
fmu = "{tanks[2]}"
""")
    error, rows = fail_both(path, tmp_path, NonFiniteValueError)
    assert (error.component, error.variable, error.time) == ("n", "y", 3060.0)
    np.testing.assert_array_equal(rows["time"], np.arange(0.0, 3001.0, 60.0))
    assert np.all(np.isfinite(rows["n.y"]))


# ----------------------------------------------------------------------------- multi-rate


def rated(path: Path, component: str, step: float) -> Path:
    """``path`` with ``component`` stepping every ``step`` seconds (multi-rate)."""
    text = path.read_text().replace(f"[components.{component}]\n", f"[components.{component}]\nstep = {step}\n", 1)
    path.write_text(text)
    return path


@pytest.mark.parametrize("algorithm", ["jacobi", "gauss-seidel"])
def test_a_multi_rate_system_native_equals_python_bit_for_bit(tmp_path, tanks, algorithm):
    # B steps every third macro step (180 s); the stop (6 h 2 min) is no multiple of 180 s, so B's last
    # step is cut to 120 s and its outputs show at the stop
    path = rated(tank_system(tmp_path, tanks), "B", 180.0)
    python, native = both(path, tmp_path, algorithm=algorithm, stop=21720.0)
    data = native.read()
    assert_same_columns(python.read(), data)
    assert native.balance.as_dict() == python.balance.as_dict()
    assert "multi-rate (B every 3)" in native.stats.path_reason
    t = data["time"]
    assert len(t) == 363 and t[-1] == 21720.0
    # B's outputs change only where the master reaches the end of one of its steps: every third row
    # and the stop; A's at every row
    rows = np.arange(len(t))
    assert np.array_equal(np.flatnonzero(np.diff(data["B.temperature"])) + 1,
                          rows[(rows % 3 == 0) & (rows > 0) | (rows == len(t) - 1)])
    assert np.all(np.diff(data["A.temperature"]) != 0.0)
    # a coupling three times as coarse: the error stays below 3 h λ ΔT / 2 with h = 60 s
    a, b = exact(t)
    bound = 3 * 60.0 * G * (1 / C1 + 1 / C2) * (T1 - T2) / 2
    assert np.abs(data["A.temperature"] - a).max() < bound
    assert np.abs(data["B.temperature"] - b).max() < bound


@pytest.mark.parametrize("algorithm", ["jacobi", "gauss-seidel"])
def test_a_multi_rate_feedthrough_refreshed_during_its_step_native_equals_python(tmp_path, probes, algorithm):
    # b (y = 2 u, u = a.y = 0.02 t) steps every 180 s; it is refreshed at every communication point,
    # into its pending outputs while its step runs ahead and into y otherwise: y_b shows 2 a.y at the
    # last multiple of 180 s (and at the cut stop, 3 h 2 min)
    path = rated(probe_system(tmp_path, probes, "offset_rate = 0.02", "gain = 2.0", loop=False), "b", 180.0)
    python, native = both(path, tmp_path, algorithm=algorithm, stop=10920.0)
    data = native.read()
    assert_same_columns(python.read(), data)
    t = data["time"]
    held = np.where(t == 10920.0, t, 180.0 * np.floor(t / 180.0))
    np.testing.assert_allclose(data["a.y"], 0.02 * t, rtol=1e-12)
    np.testing.assert_allclose(data["b.y"], 2 * 0.02 * held, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("algorithm", ["jacobi", "gauss-seidel"])
def test_a_multi_rate_component_in_an_algebraic_loop_native_equals_python(tmp_path, probes, algorithm):
    # the loop y_a = 1e-4 t · y_b + 1, y_b = y_a + 2 solved at every communication point although b
    # steps every 180 s: y_a = (1 + 2e-4 t) / (1 − 1e-4 t)
    path = rated(probe_system(tmp_path, probes, "gain_rate = 1e-4, offset = 1.0", "gain = 1.0, offset = 2.0",
                              loop=True, master='loop_solver = "fixed-point"'), "b", 180.0)
    python, native = both(path, tmp_path, algorithm=algorithm, stop=3000.0)
    data = native.read()
    assert_same_columns(python.read(), data)
    assert native.stats.loop_iterations == python.stats.loop_iterations > 0
    t = data["time"]
    np.testing.assert_allclose(data["a.y"], (1 + 2e-4 * t) / (1 - 1e-4 * t), rtol=1e-8)


# ----------------------------------------------------------------------------- Python sources


def weather_system(tmp_path: Path, tanks: dict[int, Path], source_step: float, hours: int, master: str = "") -> Path:
    """A time series of the ambient temperature (degC, hourly: 20, 5, 30, 10, ...) around tank A."""
    samples = [20.0, 5.0, 30.0, 10.0] * (hours // 4 + 1)
    csv = tmp_path / "weather.csv"
    csv.write_text("time [h],ambient [degC]\n" + "".join(f"{h},{v}\n" for h, v in enumerate(samples[: hours + 1])))
    path = tmp_path / "weather.toml"
    path.write_text(f"""
connections = ["weather.ambient -> A.ambient_temperature"]
[master]
step = 10.0
{master}
[components.weather]
python = "kreislauf.timeseries:TimeSeries"
arguments = {{ file = "{csv}" }}
step = {source_step}
[components.A]
fmu = "{tanks[3]}"
[components.A.parameters]
heat_capacity = {C1}
loss_conductance = {G}
temperature_start = {T1}
""")
    return path


def hourly(t: np.ndarray, hours: int) -> np.ndarray:
    """The weather file's ambient temperature (K) at ``t``, interpolated linearly."""
    samples = np.array([20.0, 5.0, 30.0, 10.0] * (hours // 4 + 1))[: hours + 1]
    return np.interp(t, 3600.0 * np.arange(hours + 1), samples + 273.15)


@pytest.mark.parametrize("source_step", [10.0, 30.0])
@pytest.mark.parametrize("algorithm", ["jacobi", "gauss-seidel"])
def test_a_time_series_source_feeding_an_fmu_native_equals_python_bit_for_bit(tmp_path, tanks, algorithm,
                                                                                source_step):
    # 10 s macro steps for 12 h 20 s: 4322 steps, across the first chunk's end (4096, no multiple of 3);
    # the series steps every macro step or every third (30 s), its last step cut to 20 s at the stop
    path = weather_system(tmp_path, tanks, source_step, hours=13)
    python, native = both(path, tmp_path, algorithm=algorithm, stop=43220.0)
    data = native.read()
    assert_same_columns(python.read(), data)
    assert "FMUs and Python sources (weather)" in native.stats.path_reason
    t = data["time"]
    assert len(t) == 4323 > CHUNK
    # the recorded series is the file's value at the end of the series' latest step (held in between)
    held = np.where(t == 43220.0, t, source_step * np.floor(t / source_step + 1e-9))
    np.testing.assert_allclose(data["weather.ambient"], hourly(held, 13), rtol=1e-14)
    # the tank's first law: its stored energy changed by what crossed its ambient port
    stored = data["A.stored_energy"] - data["A.stored_energy"][0]
    np.testing.assert_allclose(stored, data["A.ambient_energy"] - data["A.ambient_energy"][0],
                               atol=1e-6 * np.abs(stored).max())


class OpenEnded(TimeSeries):
    """A time series whose setup does not check that its data reaches the stop time: it fails the
    step that leaves its data (the TimeSeries' own error outcome)."""

    def setup(self, start: float, stop: float | None, parameters) -> None:
        super().setup(start, None, parameters)


@pytest.mark.parametrize("step", [60.0, 1.0])
@pytest.mark.parametrize("algorithm", ["jacobi", "gauss-seidel"])
def test_a_source_leaving_its_data_stops_both_paths_at_the_same_step(tmp_path, tanks, algorithm, step):
    # the data ends at 2 h; the series steps every third macro step and fails its step from 7200 s.
    # At 1 s steps that is macro step 7200, in the second chunk of the native path
    weather_system(tmp_path, tanks, 3 * step, hours=2)
    errors, rows = [], []
    for mode in ("off", "on"):
        tank = make_component(load(tmp_path / "weather.toml").spec.components["A"])
        system = System.from_components(
            [OpenEnded("weather", tmp_path / "weather.csv"), tank], ["weather.ambient -> A.ambient_temperature"],
            parameters={"A": {"heat_capacity": C1, "loss_conductance": G, "temperature_start": T1}},
            component_steps={"weather": 3 * step}, step=step, stop="3h", algorithm=algorithm,
        )
        with pytest.raises(StepError) as info:
            system.run(out_dir=tmp_path / mode, native=mode, progress=False)
        errors.append(info.value)
        summary = json.loads((tmp_path / mode / "summary.json").read_text())
        assert summary["status"] == "failed" and summary["stats"]["path"] == ("python" if mode == "off" else "native")
        rows.append(read_results(tmp_path / mode / "results.parquet"))
    python, native = errors
    assert str(native) == str(python)
    assert (native.component, native.time) == ("weather", 7200.0)
    assert f"step from t = 7200 s over {3 * step:g} s failed" in str(native) and "outside the data" in str(native)
    assert_same_columns(rows[0], rows[1])
    np.testing.assert_array_equal(rows[1]["time"], np.arange(0.0, 7200.0 + 1.0, step))


class GoesOffline(TimeSeries):
    """A time series whose outputs cannot be read after 1 h (a logger that went offline): its
    get_outputs raises instead of its step failing."""

    def get_outputs(self, names):
        if self._time > 3600.0:
            raise ComponentError(self.name, "the logger went offline", time=self._time)
        return super().get_outputs(names)


@pytest.mark.parametrize("algorithm", ["jacobi", "gauss-seidel"])
def test_an_exception_from_a_source_stops_both_paths_at_the_same_step(tmp_path, tanks, algorithm):
    # the series steps every 30 s; reading it after its step to 3630 s raises: the same exception
    # object's message on both paths, with the rows up to 3600 s on disk
    weather_system(tmp_path, tanks, 30.0, hours=2)
    errors, rows = [], []
    for mode in ("off", "on"):
        tank = make_component(load(tmp_path / "weather.toml").spec.components["A"])
        system = System.from_components(
            [GoesOffline("weather", tmp_path / "weather.csv"), tank], ["weather.ambient -> A.ambient_temperature"],
            parameters={"A": {"heat_capacity": C1, "loss_conductance": G, "temperature_start": T1}},
            component_steps={"weather": 30.0}, step=10.0, stop="2h", algorithm=algorithm,
        )
        with pytest.raises(ComponentError) as info:
            system.run(out_dir=tmp_path / mode, native=mode, progress=False)
        errors.append(info.value)
        rows.append(read_results(tmp_path / mode / "results.parquet"))
    python, native = errors
    assert type(native) is type(python) is ComponentError
    assert str(native) == str(python) and "the logger went offline" in str(native)
    assert (native.component, native.time) == ("weather", 3630.0)
    assert_same_columns(rows[0], rows[1])
    np.testing.assert_array_equal(rows[1]["time"], np.arange(0.0, 3600.0 + 1.0, 10.0))


@pytest.mark.parametrize("days", [pytest.param(2, id="2d"), pytest.param(30, id="30d", marks=pytest.mark.slow)])
def test_kahla_runs_natively_and_equals_the_python_path_bit_for_bit(tmp_path, days):
    # Kahla: two time series (every 15 min), a digester FMU every 15 min, four FMUs every minute
    python, native = both(EXAMPLES / "kahla.toml", tmp_path, stop=f"{days}d")
    assert native.stats.path_reason == (
        'native = "on": FMUs and Python sources (feed, site), multi-rate (feed every 15, site every 15, '
        "digester every 15), gauss-seidel"
    )
    data = native.read()
    assert_same_columns(python.read(), data)
    assert len(data["time"]) == days * 1440 + 1 and len(data) > 80
    assert native.balance.as_dict() == python.balance.as_dict()


class WallClockSeries(TimeSeries):
    """A source that cannot roll back, as a device's readings: it must not be stepped ahead of the FMUs."""

    can_rollback = False


def test_a_source_that_cannot_roll_back_keeps_the_python_path(tmp_path, tanks):
    weather_system(tmp_path, tanks, 10.0, hours=1)
    tank = make_component(load(tmp_path / "weather.toml").spec.components["A"])
    system = System.from_components(
        [WallClockSeries("weather", tmp_path / "weather.csv"), tank], ["weather.ambient -> A.ambient_temperature"],
        parameters={"A": {"heat_capacity": C1, "loss_conductance": G, "temperature_start": T1}},
        step=10.0, stop="10min",
    )
    result = system.run(out_dir=tmp_path / "auto", progress=False)
    assert result.stats.path == "python"
    assert result.stats.path_reason == (
        "component 'weather' is a WallClockSeries that cannot roll back (a device, or tied to the wall clock): "
        "it is never stepped ahead of the FMUs"
    )
