"""System files, durations, units and `kreislauf check` / `kreislauf run` from the command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cosim_doubles import HeatCapacity

from kreislauf import units
from kreislauf.api import System, check, load
from kreislauf.results import read_metadata
from kreislauf.system import DurationError, SystemFileError, parse_duration

DOUBLES = Path(__file__).with_name("cosim_doubles.py")

GOOD = f"""
[system]
name = "two-tanks"

[master]
algorithm = "gauss-seidel"
stop = "6h"
step = "5min"

[components.a]
python = "{DOUBLES}:HeatCapacity"
[components.a.parameters]
C = 2e6
T0 = 350.0
G = 100.0

[components.b]
python = "{DOUBLES}:HeatCapacity"
parameters = {{ C = 1e6, T0 = 290.0 }}

[outputs]
variables = ["a.T", "b.*"]
"""

CONNECTIONS = """
connections = [
    "b.T -> a.T_neighbour",
    { from = "a.Q_cond", to = "b.Q_in", factor = 1.0 },
]
bonds = ["a.cond -> b.heat"]
"""


def write(tmp_path: Path, text: str, name: str = "system.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def good_file(tmp_path: Path) -> Path:
    # top-level keys must precede the tables in TOML
    return write(tmp_path, CONNECTIONS + GOOD)


def test_durations_match_their_definitions():
    assert parse_duration("365d") == 365 * 86400
    assert parse_duration("15min") == 900
    assert parse_duration("60s") == 60
    assert parse_duration("1.5h") == 5400
    assert parse_duration("2w") == 14 * 86400
    assert parse_duration(30) == 30
    for bad in ("365x", "-5s", "d", "", "1e400s", True):
        with pytest.raises(DurationError):
            parse_duration(bad, "[master] stop")


def test_unit_conversions_match_published_factors():
    assert units.conversion("kWh", "J").factor == 3.6e6
    assert units.conversion("MWh", "kWh").factor == pytest.approx(1e3)
    assert units.conversion("bar", "Pa").factor == 1e5
    c = units.conversion("degC", "K")
    assert c.factor * 20.0 + c.offset == pytest.approx(293.15)
    f = units.conversion("degF", "degC")
    assert f.factor * 212.0 + f.offset == pytest.approx(100.0)
    assert units.conversion("m3/h", "m3/s").factor == pytest.approx(1 / 3600)
    assert units.conversion(None, "W").identity
    with pytest.raises(units.UnitError, match="'K' .*'W'"):
        units.conversion("K", "W")
    with pytest.raises(units.UnitError, match="did you mean 'kW'"):
        units.conversion("kw", "W")


def test_a_system_file_runs_like_the_same_system_built_in_python(tmp_path):
    from_file = load(good_file(tmp_path)).run(out_dir=tmp_path / "file")
    a = HeatCapacity("a", C=2e6, T0=350.0, G=100.0)
    b = HeatCapacity("b", C=1e6, T0=290.0)
    in_python = System.from_components(
        [a, b],
        ["b.T -> a.T_neighbour", "a.Q_cond -> b.Q_in"],
        bonds=["a.cond -> b.heat"],
        outputs=["a.T", "b.*"],
        algorithm="gauss-seidel",
        stop="6h",
        step="5min",
    ).run(out_dir=tmp_path / "python")
    first, second = from_file.read(), in_python.read()
    assert list(first) == ["time", "a.T"] + [
        f"b.{v}" for v in ("T", "Q_cond", "P_heat", "E_heat", "P_cond", "E_cond", "U")
    ] + [f"bond:a.cond->b.heat:{k}" for k in ("sent", "received", "residual")]
    for name in first:
        assert first[name].tobytes() == second[name].tobytes()
    assert len(first["time"]) == 6 * 12 + 1
    meta = read_metadata(from_file.results_path)
    assert meta["system_file"].endswith("system.toml")
    assert meta["settings"]["algorithm"] == "gauss-seidel" and meta["versions"]["kreislauf"]


def test_unit_conversion_on_a_connection(tmp_path):
    from cosim_doubles import Gain

    source = Gain("source", k=0.0, c=20.0, unit="degC")  # 20 °C
    tank = HeatCapacity("tank", T0=293.15 + 10.0, G=50.0)
    system = System.from_components([source, tank], ["source.y -> tank.T_neighbour"], stop=60, step=60)
    data = system.run(out_dir=tmp_path).read(["tank.Q_cond"])
    # 20 degC arrives as 293.15 K: the tank is 10 K warmer and loses G·10 K = 500 W
    assert data["tank.Q_cond"][0] == pytest.approx(500.0)


BROKEN = f"""
connections = [
    "b.T -> a.T_nieghbour",
    "a.T -> b.Q_in",
    "a.Q_cond -> b.T",
    "c.T -> a.Q_in",
    "b.E_heat -> a.T_neighbour",
    "b.U -> a.T_neighbour",
    "not a connection",
]

[master]
stop = "365x"
step = "60s"
algoritm = "jacobi"

[components.a]
python = "{DOUBLES}:HeatCapacity"
parameters = {{ C = -1.0 }}

[components.b]
python = "{DOUBLES}:HeatCapacity"

[components.pump]
fmu = "missing/pump.fmu"
"""


def test_check_reports_every_problem_at_once(tmp_path):
    path = write(tmp_path, BROKEN)
    problems = check(path)
    text = "\n".join(str(p) for p in problems)
    lines = BROKEN.splitlines()

    def line_of(text: str) -> int:
        return next(number for number, line in enumerate(lines, start=1) if text in line)

    expected = [
        ("'365x' is not a duration", line_of("365x")),
        ("unknown setting 'algoritm'; did you mean 'algorithm'", line_of("algoritm")),
        ("FMU file 'missing/pump.fmu' not found", line_of("pump.fmu")),
        ('must read "component.output -> component.input"', line_of("not a connection")),
        ("no variable called 'T_nieghbour'; did you mean 'T_neighbour'", line_of("T_nieghbour")),
        ("unit mismatch: unit 'K' (K) cannot be converted to 'W'", line_of("a.T -> b.Q_in")),
        ("output-to-output", line_of("a.Q_cond -> b.T")),
        ("no component called 'c'", line_of("c.T -> a.Q_in")),
        ("unit mismatch: unit 'J' (J) cannot be converted to 'K'", line_of("b.E_heat ->")),
        ("input connected twice", line_of("b.U ->")),
        ("parameter value -1 outside the allowed range [1e-09, inf] J/K", line_of("C = -1.0")),
    ]
    for message, line in expected:
        matching = [p for p in problems if message in str(p)]
        assert matching, f"missing: {message}\n{text}"
        assert matching[0].line == line, f"{message}: line {matching[0].line}, expected {line}"
        assert str(matching[0]).startswith(f"{path}:{line}: ")
    assert len(problems) == len(expected) + 1  # b.U -> a.T_neighbour is also a unit mismatch
    with pytest.raises(SystemFileError) as info:
        load(path)
    assert len(info.value.problems) == 4  # the file-level problems; the rest needs the components


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "kreislauf", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_cli_check_lists_every_problem_and_exits_1(tmp_path):
    done = run_cli("check", str(write(tmp_path, BROKEN)), cwd=tmp_path)
    assert done.returncode == 1
    assert done.stdout.count("system.toml:") == 12  # as in the test above
    assert "did you mean 'T_neighbour'" in done.stdout
    good = run_cli("check", str(good_file(tmp_path)), cwd=tmp_path)
    assert good.returncode == 0, good.stdout + good.stderr


def test_cli_run_writes_results_and_csv(tmp_path):
    done = run_cli("run", str(good_file(tmp_path)), "--stop", "1h", "--step", "60s", "-o", "out", "--csv", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    csv = (tmp_path / "out" / "results.csv").read_text().splitlines()
    assert csv[0].startswith('"time","a.T"') and len(csv) == 61 + 1
    data = np.loadtxt(tmp_path / "out" / "results.csv", delimiter=",", skiprows=1)
    assert data[-1, 0] == 3600.0
    bad = run_cli("run", str(good_file(tmp_path)), "--stop", "365x", cwd=tmp_path)
    assert bad.returncode == 2 and "'365x' is not a duration" in bad.stderr


def test_check_reports_what_only_the_master_sees(tmp_path):
    path = write(
        tmp_path,
        f"""
connections = ["a.y -> b.u", "b.y -> a.u"]

[master]
adaptive = true

[components.a]
python = "{DOUBLES}:Gain"
arguments = {{ can_rollback = false }}

[components.b]
python = "{DOUBLES}:Gain"
step = "5min"
""",
    )
    messages = [str(p) for p in check(path)]
    assert len(messages) == 2, messages
    assert "multi-rate components (b) need a fixed step" in messages[0]
    assert "adaptive steps without rollback (a cannot roll back) need power bonds" in messages[1]
    fixed = path.read_text().replace("adaptive = true", "").replace('step = "5min"', "")
    path.write_text(fixed)
    messages = [str(p) for p in check(path)]
    assert len(messages) == 1 and "algebraic loop over" in messages[0]
    assert "runs through a, which cannot roll back" in messages[0]


def test_cli_run_draws_a_progress_bar_when_asked(tmp_path):
    done = run_cli(
        "run", str(good_file(tmp_path)), "--stop", "1d", "--step", "60s", "-o", "out", "--progress", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert "100.0%" in done.stderr and "[" + "#" * 30 + "]" in done.stderr
    quiet = run_cli("run", str(good_file(tmp_path)), "--stop", "1h", "-o", "out2", cwd=tmp_path)
    assert "%" not in quiet.stderr  # stderr is not a terminal here


def test_a_bad_file_is_refused_before_it_touches_earlier_results(tmp_path):
    good = good_file(tmp_path)
    load(good).run(out_dir=tmp_path / "out")
    before = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()}
    wrong = '"c.T -> a.T_neighbour", "b.Tx -> a.Q_in", "b.E_heat -> b.T_neighbour", "b.T -> a.Q_cond",'
    bad = write(tmp_path, good.read_text().replace('"b.T -> a.T_neighbour",', wrong), "bad.toml")
    done = run_cli("run", str(bad), "-o", "out", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    for message in (
        "no component called 'c'",
        "no variable called 'Tx'",
        "unit mismatch: unit 'J' (J) cannot be converted to 'K'",
        "output-to-output",
    ):
        assert message in done.stderr, done.stderr
    assert "bad.toml:" in done.stderr
    assert {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()} == before
