"""Swapping a component for a device is a change of one line in the system file.

The device is a real Modbus TCP server on 127.0.0.1 (port 0) serving the same Python component in
lock-step; with float64 registers the run matches the all-Python run bit for bit.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cosim_doubles import HeatCapacity

from kreislauf.api import load
from kreislauf.master import AlgebraicLoopError

HERE = Path(__file__).parent
DOUBLES = HERE / "cosim_doubles.py"


def system_text(b_line: str) -> str:
    return f"""
connections = ["b.T -> a.T_neighbour", "a.Q_cond -> b.Q_in"]

[master]
stop = "1h"
step = "60s"

[components.a]
python = "{DOUBLES}:HeatCapacity"
parameters = {{ C = 2e6, T0 = 350.0, G = 100.0 }}

[components.b]
{b_line}

[outputs]
variables = ["a.T", "b.T"]
"""


@pytest.fixture
def served_capacity():
    from kreislauf.hil import DeviceServer, load_register_map

    server = DeviceServer(HeatCapacity("b", C=1e6, T0=290.0), load_register_map(HERE / "capacity_map.toml"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_a_device_in_place_of_a_component_gives_the_same_run(tmp_path, served_capacity):
    python = tmp_path / "python.toml"
    python.write_text(system_text(f'python = "{DOUBLES}:HeatCapacity"\narguments = {{ C = 1e6, T0 = 290.0 }}'))
    device = tmp_path / "device.toml"
    # the device's outputs change only in an exchange (do_step): it declares no direct feedthrough
    entry = f'device = {{ map = "{HERE / "capacity_map.toml"}", port = {served_capacity.port} }}'
    device.write_text(system_text(entry))
    expected = load(python).run(out_dir=tmp_path / "python").read()
    got = load(device).run(out_dir=tmp_path / "device").read()
    assert len(got["time"]) == 61
    for name in ("time", "a.T", "b.T"):
        assert got[name].tobytes() == expected[name].tobytes(), name
    assert served_capacity.component.steps == 60


def test_an_algebraic_loop_through_a_device_is_refused(tmp_path, served_capacity):
    # a device declares no direct feedthrough of its own; where the system file says the device's T
    # responds at once to Q_in, b.T -> g.u -> g.y -> b.Q_in closes an algebraic loop through a
    # component that cannot roll back
    text = f"""
connections = ["b.T -> g.u", "g.y -> b.Q_in"]

[master]
stop = "2min"
step = "60s"

[components.g]
python = "{DOUBLES}:Gain"
arguments = {{ k = 1.0, unit = "" }}

[components.b]
device = {{ map = "{HERE / "capacity_map.toml"}", port = {served_capacity.port} }}
output_dependencies = {{ T = ["Q_in"] }}
"""
    path = tmp_path / "loop.toml"
    path.write_text(text)
    with pytest.raises(AlgebraicLoopError) as info:
        load(path).run(out_dir=tmp_path / "loop")
    assert set(info.value.variables) == {"b.T", "g.u", "g.y", "b.Q_in"}
    assert "runs through b, which cannot roll back" in str(info.value)
    assert served_capacity.component.steps == 0
