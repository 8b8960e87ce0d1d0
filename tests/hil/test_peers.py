"""Independent Modbus peers against the served tank: mbpoll (command line) and a libmodbus C client.

Both use only the documented map (tests/hil/tank_map.toml) and check values against the tank's
closed form, a float32 and an int32 in both word orders included. ``.ci/run`` installs the Debian
packages ``mbpoll`` and ``libmodbus-dev``.
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from hil_tank_double import HEAT_CAPACITY, INITIAL_TEMPERATURE, UA

HERE = Path(__file__).resolve().parent


def closed_form(t: float, ambient: float, power: float) -> float:
    """T(t) of C dT/dt = P - UA (T - T_amb) from T(0) = 313.15 K at constant inputs."""
    t_inf = ambient + power / UA
    return t_inf + (INITIAL_TEMPERATURE - t_inf) * math.exp(-t * UA / HEAT_CAPACITY)


def mbpoll(port: int, *args: str) -> subprocess.CompletedProcess:
    exe = shutil.which("mbpoll")
    assert exe, "mbpoll is not installed (apt-get install mbpoll)"
    return subprocess.run(
        [exe, "-m", "tcp", "-p", str(port), "-a", "1", "-0", "-1", "-o", "1", *args],
        capture_output=True,
        text=True,
        timeout=20,
    )


def mbpoll_read(port: int, *args: str) -> dict[int, float]:
    result = mbpoll(port, *args, "127.0.0.1")
    assert result.returncode == 0, result.stdout + result.stderr
    return {int(a): float(v) for a, v in re.findall(r"^\[(\d+)\]:\s+(\S+)", result.stdout, re.MULTILINE)}


def mbpoll_write(port: int, *args: str, value: str) -> subprocess.CompletedProcess:
    return mbpoll(port, *args, "127.0.0.1", "--", value)


def test_mbpoll_reads_and_writes_the_served_tank(served_tank):
    port = served_tank.port
    assert mbpoll_write(port, "-r", "0", "-t", "4:float", "-B", value="8000").returncode == 0  # ABCD
    assert mbpoll_write(port, "-r", "2", "-t", "4:int", value="-2000").returncode == 0  # CDAB (mbpoll default)
    assert mbpoll_write(port, "-r", "4", "-t", "4", value="100").returncode == 0  # 283.15 K
    assert served_tank.value("heater_power_set") == 8000.0
    assert served_tank.value("external_heat_set") == -2000.0
    assert served_tank.value("ambient_temperature_set") == pytest.approx(283.15)
    assert mbpoll_read(port, "-r", "2", "-t", "4:int")[2] == -2000  # read back in the same word order

    for _ in range(2):  # two steps of 900 s: uint32 ms, ABCD
        assert mbpoll_write(port, "-r", "5", "-t", "4:int", "-B", value="900000").returncode == 0
    expected = closed_form(1800.0, 283.15, 6000.0)
    abcd = mbpoll_read(port, "-r", "0", "-t", "3:float", "-B")[0]
    cdab = mbpoll_read(port, "-r", "2", "-t", "3:float")[2]
    assert abcd == pytest.approx(expected, rel=1e-5)  # mbpoll prints 6 significant digits
    assert cdab == pytest.approx(expected, rel=1e-5)
    stored_kj = HEAT_CAPACITY * (expected - INITIAL_TEMPERATURE) / 1000.0
    assert mbpoll_read(port, "-r", "4", "-t", "3:int", "-B")[4] == pytest.approx(stored_kj, abs=0.5)
    assert mbpoll_read(port, "-r", "6", "-t", "3:int")[6] == pytest.approx(stored_kj, abs=0.5)

    refused = mbpoll_write(port, "-r", "0", "-t", "4:float", "-B", value="50000")  # above max 20000 W
    assert refused.returncode != 0
    assert mbpoll_write(port, "-r", "22", "-t", "4", value="1").returncode != 0  # read-only point
    assert served_tank.value("heater_power_set") == 8000.0
    assert served_tank.stats.exceptions == {3: 1, 2: 1}


@pytest.fixture(scope="module")
def peer_client(tmp_path_factory) -> Path:
    gcc = shutil.which("gcc") or shutil.which("cc")
    assert gcc, "no C compiler"
    flags = subprocess.run(
        ["pkg-config", "--cflags", "--libs", "libmodbus"], capture_output=True, text=True, timeout=20
    )
    assert flags.returncode == 0, "libmodbus-dev is not installed (apt-get install libmodbus-dev)"
    exe = tmp_path_factory.mktemp("peer") / "peer_client"
    build = subprocess.run(
        [
            gcc,
            "-std=c99",
            "-Wall",
            "-Werror",
            "-O1",
            str(HERE / "peer_client.c"),
            "-o",
            str(exe),
            *flags.stdout.split(),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert build.returncode == 0, build.stderr
    return exe


def test_libmodbus_client_reads_and_writes_the_served_tank(served_tank, peer_client):
    result = subprocess.run([str(peer_client), str(served_tank.port)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    values = dict(line.split() for line in result.stdout.splitlines())
    expected = closed_form(1800.0, 283.15, 6000.0)
    assert float(values["tank_temperature_abcd"]) == pytest.approx(expected, rel=2.0**-24)
    assert float(values["tank_temperature_cdab"]) == pytest.approx(expected, rel=2.0**-24)
    stored_kj = HEAT_CAPACITY * (expected - INITIAL_TEMPERATURE) / 1000.0
    assert int(values["stored_energy_kJ_abcd"]) == pytest.approx(stored_kj, abs=0.5)
    assert int(values["stored_energy_kJ_cdab"]) == pytest.approx(stored_kj, abs=0.5)
    assert float(values["model_time"]) == 1800.0
    assert values["pump_running"] == "1"
    assert values["external_heat_readback"] == "-2000"
    assert values["out_of_range_refused"] == "1"
    assert values["read_only_refused"] == "1"
    assert served_tank.value("heater_power_set") == 8000.0
