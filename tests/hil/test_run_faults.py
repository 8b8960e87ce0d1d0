"""Faults in the middle of a run of the bench system: the run follows the device's policy, the run
summary names the fault with its time and point, and every result up to the fault is on disk.

The bench exchanger (examples/bench) is served by ``DeviceServer`` from its FMU; the system file talks
to it through the loopback fault proxy. The fault hits the twelfth input-register read: the setup read
and ten macro steps of one hour pass, the step from t = 10 h is the first to fail.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from kreislauf.api import load
from kreislauf.fmu import FmuComponent
from kreislauf.hil import DeviceServer, load_register_map
from kreislauf.master import StepError
from kreislauf.results import read_results

BENCH = Path(__file__).resolve().parents[2] / "examples" / "bench"
MAP = BENCH / "heat_exchanger_map.toml"
FAULT_READ = 12  # FC 04 replies: the setup read, ten good steps, then the fault
FAULT_TIME = 10 * 3600.0
GOOD_ROWS = [k * 3600.0 for k in range(11)]  # t = 0 and the ten good steps
READ_INPUT_REGISTERS = 0x04


def _system(tmp_path: Path, port: int, policy: str) -> Path:
    text = (BENCH / "heat_exchanger_bench.toml").read_text()
    text = text.replace('map = "heat_exchanger_map.toml"', f'map = "{MAP}"').replace("port = 5020", f"port = {port}")
    path = tmp_path / "bench.toml"
    path.write_text(text.replace('policy = "stop"', f'policy = "{policy}"'))
    return path


def _simulated(tmp_path: Path) -> Path:
    """The bench system without its device line: the simulated exchanger."""
    text = (BENCH / "heat_exchanger_bench.toml").read_text()
    path = tmp_path / "model.toml"
    path.write_text("\n".join(ln for ln in text.splitlines() if not ln.startswith("device = ")))
    return path


@pytest.fixture
def bench(hx_fmu, proxy_factory):
    """The served exchanger behind a fault proxy; ``restart()`` replaces the server by a fresh one on the
    same port, as a device that reboots (``servers`` lists them all). Every server is stopped afterwards."""
    servers = [DeviceServer(FmuComponent(hx_fmu), load_register_map(MAP)).start()]
    proxy = proxy_factory(servers[0].port)

    def restart() -> None:
        port = servers[-1].port
        servers[-1].stop()
        proxy.reset(1)  # the reply in flight never arrives: the connection drops with the device
        servers.append(DeviceServer(FmuComponent(hx_fmu), load_register_map(MAP), port=port).start())

    yield proxy, restart, servers
    for server in servers:
        server.stop()


FAULTS = {
    # name: (what the proxy does from the twelfth read on, fault kinds the device may see)
    "latency": (lambda proxy, restart: proxy.delay(1.0), {"timeout"}),  # the map's timeout is 0.5 s
    "dropped replies": (lambda proxy, restart: proxy.drop(10**6), {"timeout"}),
    "connection reset": (lambda proxy, restart: proxy.reset(10**6), {"connection", "timeout"}),
    "exception response": (lambda proxy, restart: proxy.exception(0x04, 10**6), {"exception"}),
    "device restart": (lambda proxy, restart: restart(), {"connection", "timeout"}),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_fault_mid_run_stops_it_with_the_fault_reported_and_every_earlier_result_on_disk(tmp_path, bench, fault):
    proxy, restart, servers = bench
    inject, kinds = FAULTS[fault]
    proxy.on_reply(READ_INPUT_REGISTERS, FAULT_READ, lambda: inject(proxy, restart))
    with pytest.raises(StepError) as info:
        load(_system(tmp_path, proxy.port, "stop")).run(out_dir=tmp_path / "out", progress=False)
    assert info.value.time == FAULT_TIME
    assert "heat_flow" in str(info.value)  # the first point of the read that failed
    results = read_results(tmp_path / "out" / "results.parquet")
    assert list(results["time"]) == GOOD_ROWS
    assert np.all(results["exchanger.heat_flow"] > 0) and np.all(np.isfinite(results["exchanger.fouling_resistance"]))
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["status"] == "failed" and summary["time_reached_s"] == FAULT_TIME
    (record,) = summary["faults"]
    assert (record["component"], record["time_s"], record["point"], record["action"]) == (
        "exchanger",
        FAULT_TIME,
        "heat_flow",
        "stop",
    )
    assert record["kind"] in kinds, record
    assert len(servers) == (2 if fault == "device restart" else 1)  # the restart happened, once


def test_a_device_restart_mid_run_hands_over_to_the_model_under_the_fallback_policy(tmp_path, bench):
    """The model stepped in the shadow with the same inputs takes over: the run completes, and since the
    registers carry float64 the results and the energy balance are those of the simulated run."""
    proxy, restart, servers = bench
    proxy.on_reply(READ_INPUT_REGISTERS, FAULT_READ, restart)
    result = load(_system(tmp_path, proxy.port, "fallback")).run(out_dir=tmp_path / "out", progress=False)
    assert result.ok and len(servers) == 2
    reference = load(_simulated(tmp_path)).run(out_dir=tmp_path / "model", progress=False)
    got, want = result.read(), reference.read()
    assert len(got["time"]) == 49
    for name in want:
        assert got[name].tobytes() == want[name].tobytes(), name
    assert result.balance == reference.balance
    (record,) = json.loads((tmp_path / "out" / "summary.json").read_text())["faults"]
    assert (record["time_s"], record["point"], record["action"]) == (FAULT_TIME, "heat_flow", "fallback to 'exchanger'")


def test_the_bench_run_paced_against_the_wall_clock_reports_its_deadlines(tmp_path, bench, capsys):
    """``kreislauf run --realtime`` with the device in the loop: 48 steps of one hour at 172 800
    simulated seconds per wall second are released 20.8 ms apart, so the run cannot take less than
    47 periods; the summary carries the deadline accounting, and the results are those of the
    simulated exchanger."""
    import time

    from kreislauf.cli import main

    proxy, _, _ = bench
    system = _system(tmp_path, proxy.port, "stop")
    factor = 172800.0
    started = time.monotonic()
    assert main(["run", str(system), "--realtime", str(factor), "-o", str(tmp_path / "paced"), "--no-progress"]) == 0
    wall = time.monotonic() - started
    assert "pacing:  lateness p50" in capsys.readouterr().out
    period = 3600.0 / factor
    assert wall >= 47 * period
    paced = json.loads((tmp_path / "paced" / "summary.json").read_text())["realtime"]
    assert paced["steps"] == 48 and paced["target_realtime_factor"] == factor
    assert 0.0 <= paced["lateness_p50_s"] <= paced["lateness_p99_s"] <= paced["lateness_max_s"]
    # simulated time over wall time: never faster than the schedule (the last step is not waited for)
    assert paced["realtime_factor"] <= factor * 48 / 47
    got = read_results(tmp_path / "paced" / "results.parquet")
    want = load(_simulated(tmp_path)).run(out_dir=tmp_path / "model", progress=False).read()
    for name in want:
        assert got[name].tobytes() == want[name].tobytes(), name
