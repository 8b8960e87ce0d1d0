"""``kreislauf hil serve`` and ``kreislauf hil map`` end to end."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pymodbus.client import ModbusTcpClient

from kreislauf.cli import main

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


@pytest.fixture
def serve_process():
    procs = []

    def start(*args: str) -> subprocess.Popen:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))
        proc = subprocess.Popen(
            [sys.executable, "-m", "kreislauf", "hil", "serve", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=REPO,
        )
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        proc.stdout.close()
        proc.stderr.close()


def test_serve_a_component_from_a_factory_and_step_it(serve_process):
    proc = serve_process(
        "hil_tank_double:make_tank", "--map", str(HERE / "tank_map.toml"), "--port", "0", "--duration", "20"
    )
    line = proc.stdout.readline()
    assert "serving component 'tank' (trigger mode) on 127.0.0.1:" in line, line + proc.stderr.read()
    port = int(line.split("127.0.0.1:")[1].split()[0])
    client = ModbusTcpClient("127.0.0.1", port=port, timeout=2.0, retries=0)
    try:
        assert client.connect()
        regs = client.read_input_registers(0, count=2, device_id=1).registers
        assert client.convert_from_registers(regs, client.DATATYPE.FLOAT32) == pytest.approx(313.15, rel=2.0**-24)
        reply = client.write_registers(5, client.convert_to_registers(2500, client.DATATYPE.UINT32), device_id=1)
        assert not reply.isError()
        regs = client.read_input_registers(10, count=4, device_id=1).registers
        assert client.convert_from_registers(regs, client.DATATYPE.FLOAT64) == 2.5
    finally:
        client.close()
    proc.terminate()  # SIGTERM: a clean stop with a summary
    out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert "stopped: 3 requests, 1 steps" in out


def test_serve_rejects_a_bad_factory_with_a_message(capsys):
    assert main(["hil", "serve", "no_such_module_here:make", "--map", str(HERE / "tank_map.toml")]) == 2
    assert "cannot import module 'no_such_module_here'" in capsys.readouterr().err


def test_map_lists_points_and_reports_errors_with_the_file(tmp_path, capsys):
    assert main(["hil", "map", str(REPO / "examples" / "bench" / "heat_pump_map.toml")]) == 0
    out = capsys.readouterr().out
    assert "supply_temperature_set" in out and "(trigger)" in out
    bad = tmp_path / "bad.toml"
    bad.write_text('[points.x]\ntable = "holding"\naddress = 0\nvariable = "x"\ntype = "float24"\n')
    assert main(["hil", "map", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.toml" in err and "point 'x'" in err and "float24" in err


def test_serve_an_fmu_file(serve_process, hx_fmu):
    from kreislauf.fmu import FmuComponent

    proc = serve_process(str(hx_fmu), "--map", str(HERE / "hx_map.toml"), "--port", "0", "--duration", "20")
    line = proc.stdout.readline()
    assert "(trigger mode) on 127.0.0.1:" in line, line + proc.stderr.read()
    port = int(line.split("127.0.0.1:")[1].split()[0])
    client = ModbusTcpClient("127.0.0.1", port=port, timeout=2.0, retries=0)
    f32, u32, f64 = client.DATATYPE.FLOAT32, client.DATATYPE.UINT32, client.DATATYPE.FLOAT64
    try:
        assert client.connect()
        for address, value in ((0, 150.0), (2, 288.5), (6, 279.25)):  # float32-exact values
            assert not client.write_registers(address, client.convert_to_registers(value, f32), device_id=1).isError()
        assert not client.write_registers(8, client.convert_to_registers(600, u32), device_id=1).isError()
        regs = client.read_input_registers(0, count=4, device_id=1).registers
        heat_flow = client.convert_from_registers(regs, f64)
    finally:
        client.close()
    reference = FmuComponent(hx_fmu)
    try:
        reference.setup(0.0, None, {})
        reference.set_inputs(
            {"wastewater_mass_flow": 150.0, "wastewater_inlet_temperature": 288.5, "loop_inlet_temperature": 279.25}
        )
        assert reference.do_step(0.0, 600.0).ok
        assert heat_flow == reference.get_outputs(["heat_flow"])[0]
    finally:
        reference.close()


def test_read_prints_every_point_of_the_served_device(served_tank, capsys):
    assert main(["hil", "read", str(HERE / "tank_map.toml"), "--port", str(served_tank.port)]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[2]: float(line.split()[3]) for line in out.splitlines()}
    assert set(rows) == set(served_tank.register_map.points)
    for name, value in rows.items():
        assert value == pytest.approx(served_tank.value(name), rel=1e-8), name
    assert rows["tank_temperature"] == pytest.approx(313.15, rel=2.0**-24)


def test_read_from_no_device_is_a_clean_error(capsys):
    import socket

    with socket.socket() as probe:  # a port that was free a moment ago: nobody listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert main(["hil", "read", str(HERE / "tank_map.toml"), "--port", str(port)]) == 2
    assert "cannot connect" in capsys.readouterr().err


def test_serve_a_component_of_a_system_file_with_its_parameters(serve_process):
    """``SYSTEM.toml:NAME`` serves the entry as the file configures it: ANIKA's heat pump pumps 60 and
    160 kg/s (its parameters, where the model's start values are 5 kg/s) and delivers megawatts (its
    8 MW capacity; the model's default is 108.6 kW)."""
    anika = REPO / "examples" / "anika.toml"
    bench_map = REPO / "examples" / "bench" / "heat_pump_map.toml"
    proc = serve_process(f"{anika}:heat_pump", "--map", str(bench_map), "--port", "0", "--duration", "60")
    line = proc.stdout.readline()
    assert "serving component 'heat_pump' (trigger mode) on 127.0.0.1:" in line, line + proc.stderr.read()
    port = int(line.split("127.0.0.1:")[1].split()[0])
    client = ModbusTcpClient("127.0.0.1", port=port, timeout=5.0, retries=0)
    f32, u32 = client.DATATYPE.FLOAT32, client.DATATYPE.UINT32
    try:
        assert client.connect()
        regs = client.read_holding_registers(4, count=6, device_id=1).registers
        assert client.convert_from_registers(regs[0:2], f32) == 160.0  # evaporator_mass_flow
        assert client.convert_from_registers(regs[4:6], f32) == 60.0  # condenser_mass_flow
        # set point 90 degC, source 12 degC, return 55 degC (float32-exact), then one step of 60 s
        for address, value in ((0, 363.25), (2, 285.25), (6, 328.25)):
            assert not client.write_registers(address, client.convert_to_registers(value, f32), device_id=1).isError()
        assert not client.write_registers(11, client.convert_to_registers(60000, u32), device_id=1).isError()
        regs = client.read_input_registers(4, count=2, device_id=1).registers
        condenser_heat = client.convert_from_registers(regs, f32)
    finally:
        client.close()
    assert 1e6 < condenser_heat <= 8.0e6 * (1 + 2.0**-23)
    proc.terminate()
    out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0 and "1 steps" in out


def test_serve_names_a_missing_component_of_a_system_file(capsys):
    anika = REPO / "examples" / "anika.toml"
    map_file = str(REPO / "examples" / "bench" / "heat_pump_map.toml")
    assert main(["hil", "serve", f"{anika}:pump", "--map", map_file]) == 2
    err = capsys.readouterr().err
    assert "has no component 'pump'" in err and "heat_pump" in err
