"""The bench example end to end: `kreislauf hil serve` in one process, the system file run in another
(here: in the test process), gives the same results as the system with the simulated model."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kreislauf.api import load

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
BENCH = REPO / "examples" / "bench"


def test_bench_system_with_the_served_exchanger_matches_the_simulated_one(tmp_path, hx_fmu):
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kreislauf",
            "hil",
            "serve",
            str(hx_fmu),
            "--map",
            str(BENCH / "heat_exchanger_map.toml"),
            "--port",
            "0",
            "--duration",
            "60",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=dict(os.environ),
    )
    try:
        line = server.stdout.readline()
        assert "127.0.0.1:" in line, line + server.stderr.read()
        port = int(line.split("127.0.0.1:")[1].split()[0])
        text = (BENCH / "heat_exchanger_bench.toml").read_text()
        device_line = next(ln for ln in text.splitlines() if ln.startswith("device = "))
        with_device = text.replace('map = "heat_exchanger_map.toml"', f'map = "{BENCH / "heat_exchanger_map.toml"}"')
        with_device = with_device.replace("port = 5020", f"port = {port}")
        with_model = text.replace(device_line + "\n", "")  # the one-line swap
        assert 'model = "fouling_heat_exchanger"' in with_model and "device" not in with_model.split("[master]")[1]
        (tmp_path / "device.toml").write_text(with_device)
        (tmp_path / "model.toml").write_text(with_model)
        got_run = load(tmp_path / "device.toml").run(out_dir=tmp_path / "device")
        want_run = load(tmp_path / "model.toml").run(out_dir=tmp_path / "model")
        got, want = got_run.read(), want_run.read()
    finally:
        server.terminate()
        out, err = server.communicate(timeout=10)
    assert server.returncode == 0, err
    assert "48 steps" in out
    assert len(got["time"]) == 49
    for name in ("time", "exchanger.heat_flow", "exchanger.fouling_resistance", "exchanger.loop_outlet_temperature"):
        assert got[name].tobytes() == want[name].tobytes(), name  # float64 on the wire: identical
    assert got["exchanger.fouling_resistance"][-1] > got["exchanger.fouling_resistance"][1] > 0.0
    # the four ports are on the system boundary and the map carries their counters and the stored
    # energy (float64): the system balance is the simulated one to the bit, over the same energies
    assert want_run.balance.scale > 1e12  # MW through each port for two days
    assert got_run.balance == want_run.balance


def test_a_device_fault_stops_the_run_with_every_earlier_result_on_disk(tmp_path, hx_fmu, proxy_factory):
    import json

    import pytest

    from kreislauf.fmu import FmuComponent
    from kreislauf.hil import DeviceServer, load_register_map
    from kreislauf.master import StepError
    from kreislauf.results import read_results

    server = DeviceServer(FmuComponent(hx_fmu), load_register_map(BENCH / "heat_exchanger_map.toml")).start()
    try:
        proxy = proxy_factory(server.port)
        replies = []

        def fail_from_the_eleventh_read(pdu: bytes) -> bytes:
            if pdu[0] == 0x04:
                replies.append(pdu)
                if len(replies) > 11:  # the setup read and ten steps pass
                    return bytes([0x84, 0x04])
            return pdu

        proxy.rewrite(fail_from_the_eleventh_read, n=10**6)
        text = (BENCH / "heat_exchanger_bench.toml").read_text()
        text = text.replace('map = "heat_exchanger_map.toml"', f'map = "{BENCH / "heat_exchanger_map.toml"}"')
        (tmp_path / "system.toml").write_text(text.replace("port = 5020", f"port = {proxy.port}"))
        with pytest.raises(StepError, match="exception 04") as info:
            load(tmp_path / "system.toml").run(out_dir=tmp_path / "out")
        assert info.value.time == 10 * 3600.0
    finally:
        server.stop()
    results = read_results(tmp_path / "out" / "results.parquet")
    assert list(results["time"]) == [k * 3600.0 for k in range(11)]  # t = 0 and the ten good steps
    assert (results["exchanger.heat_flow"] > 0).all()
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["status"] == "failed" and "exception 04" in summary["error"]
    assert summary["time_reached_s"] == 10 * 3600.0


def test_a_held_device_fault_is_reported_in_the_run_summary(tmp_path, hx_fmu, proxy_factory):
    """Under the hold policy the run goes on with the last good values; summary.json names every fault
    with its time, point and the action taken, and the results hold every step."""
    import json

    from kreislauf.fmu import FmuComponent
    from kreislauf.hil import DeviceServer, load_register_map
    from kreislauf.results import read_results

    server = DeviceServer(FmuComponent(hx_fmu), load_register_map(BENCH / "heat_exchanger_map.toml")).start()
    try:
        proxy = proxy_factory(server.port)
        replies = []

        def fail_reads_11_to_13(pdu: bytes) -> bytes:
            if pdu[0] == 0x04:
                replies.append(pdu)
                if 11 < len(replies) <= 13:
                    return bytes([0x84, 0x04])
            return pdu

        proxy.rewrite(fail_reads_11_to_13, n=10**6)
        text = (BENCH / "heat_exchanger_bench.toml").read_text()
        text = text.replace('map = "heat_exchanger_map.toml"', f'map = "{BENCH / "heat_exchanger_map.toml"}"')
        text = text.replace('policy = "stop"', 'policy = "hold", hold_time = 36000.0')
        text = text.replace('stop = "2d"', 'stop = "1d"')
        (tmp_path / "system.toml").write_text(text.replace("port = 5020", f"port = {proxy.port}"))
        load(tmp_path / "system.toml").run(out_dir=tmp_path / "out", progress=False)
    finally:
        server.stop()
    results = read_results(tmp_path / "out" / "results.parquet")
    assert len(results["time"]) == 25  # t = 0 and all 24 steps
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["status"] == "ok"
    *held, recovered = summary["faults"]
    assert [f["time_s"] for f in held] == [10 * 3600.0, 11 * 3600.0]
    assert all(f["component"] == "exchanger" and f["point"] and f["kind"] == "exception" for f in held)
    assert all(f["action"].startswith("hold last values") for f in held)
    assert (recovered["time_s"], recovered["kind"]) == (12 * 3600.0, "recovered")


def _bench_map_without(tmp_path: Path, *points: str) -> Path:
    """The bench exchanger map with ``points`` removed, written to ``tmp_path``."""
    text = (BENCH / "heat_exchanger_map.toml").read_text()
    for point in points:
        start = text.index(f"[points.{point}]")
        end = text.find("[points.", start + 1)
        text = text[:start] + (text[end:] if end >= 0 else "")
    path = tmp_path / "short_map.toml"
    path.write_text(text)
    return path


def _bench_system(tmp_path: Path, map_file: Path, device: str | None = None) -> Path:
    """The bench system file pointing at ``map_file``, its device table replaced by ``device`` if given."""
    text = (BENCH / "heat_exchanger_bench.toml").read_text()
    text = text.replace('map = "heat_exchanger_map.toml"', f'map = "{map_file}"')
    if device is not None:
        old = next(ln for ln in text.splitlines() if ln.startswith("device = "))
        text = text.replace('model = "fouling_heat_exchanger"\n' + old, device)
    path = tmp_path / "bench.toml"
    path.write_text(text)
    return path


def test_a_boundary_port_whose_counter_the_map_lacks_is_named_by_check_and_refused_by_run(tmp_path, capsys):
    """The exchanger's loop outlet is bonded to nothing: it is on the system boundary. A map without its
    energy counter would drop the port from the device and the system balance would miss its energy
    without a word; check names the component, the port and the missing point, and run refuses."""
    from kreislauf.cli import main
    from kreislauf.system import SystemFileError

    short_map = _bench_map_without(tmp_path, "loop_outlet_energy")
    system = _bench_system(tmp_path, short_map)
    assert main(["check", str(system)]) == 1
    problems = capsys.readouterr().out.splitlines()
    assert len(problems) == 1, problems
    problem = problems[0]
    assert "component 'exchanger'" in problem and "energy port 'loop_outlet'" in problem
    assert "'loop_outlet_energy'" in problem and str(short_map) in problem and "system boundary" in problem
    # the run stops before it connects (nothing listens on port 5020 here): the same problem, no fault
    with pytest.raises(SystemFileError, match="energy port 'loop_outlet'"):
        load(system).run(out_dir=tmp_path / "out", progress=False)


def test_a_stored_energy_and_a_power_the_map_lacks_are_named(tmp_path, capsys):
    from kreislauf.cli import main

    system = _bench_system(tmp_path, _bench_map_without(tmp_path, "stored_energy", "wastewater_inlet_power"))
    assert main(["check", str(system)]) == 1
    problems = capsys.readouterr().out.splitlines()
    assert len(problems) == 2, problems
    port, stored = problems
    assert "component 'exchanger'" in port and "energy port 'wastewater_inlet'" in port
    assert "carries 'wastewater_inlet_power' (add" in port  # the counter is there, the power is not
    assert "component 'exchanger'" in stored and "stored energy 'stored_energy'" in stored


def test_a_device_without_a_model_names_the_ports_of_its_fallback_it_cannot_carry(tmp_path, capsys, hx_fmu):
    """A device entry without a model takes the energy ports of its fallback table's component as far
    as the map carries them; the ports it cannot carry are named the same way."""
    from kreislauf.cli import main

    device = f'device = {{ map = "{{map}}", port = 5020, fallback = {{ fmu = "{hx_fmu}" }} }}'
    full_map = BENCH / "heat_exchanger_map.toml"
    assert main(["check", str(_bench_system(tmp_path, full_map, device.replace("{map}", str(full_map))))]) == 0
    capsys.readouterr()
    short_map = _bench_map_without(tmp_path, "loop_inlet_energy")
    system = _bench_system(tmp_path, short_map, device.replace("{map}", str(short_map)))
    assert main(["check", str(system)]) == 1
    problems = capsys.readouterr().out.splitlines()
    assert len(problems) == 1, problems
    assert "the fallback's energy port 'loop_inlet'" in problems[0] and "'loop_inlet_energy'" in problems[0]
