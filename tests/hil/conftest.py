"""Fixtures for the HIL tests: the tank double, its register map, served devices and a fault proxy.

Every server, proxy and client started here is stopped by its fixture's finaliser.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from faultproxy import FaultProxy  # noqa: E402
from hil_tank_double import HeatedTank  # noqa: E402

from kreislauf.hil.registermap import RegisterMap, load_register_map, register_map_from_dict  # noqa: E402
from kreislauf.hil.server import DeviceServer  # noqa: E402

TANK_MAP = HERE / "tank_map.toml"


@pytest.fixture
def tank_map() -> RegisterMap:
    """The lock-step register map of the tank double."""
    return load_register_map(TANK_MAP)


@pytest.fixture
def free_map() -> RegisterMap:
    """The tank map without a trigger point: the served tank runs free against the wall clock."""
    data = tomllib.loads(TANK_MAP.read_text())
    del data["device"]["trigger"]
    del data["points"]["step_trigger"]
    return register_map_from_dict(data, source=f"{TANK_MAP} (free-running)")


@pytest.fixture
def served_tank(tank_map: RegisterMap) -> Iterator[DeviceServer]:
    """The tank served in lock-step on 127.0.0.1 and a free port."""
    server = DeviceServer(HeatedTank(), tank_map).start()
    yield server
    server.stop()


@pytest.fixture
def proxy_factory() -> Iterator:
    """Start fault proxies towards a given port; all are stopped afterwards."""
    proxies: list[FaultProxy] = []

    def make(port: int) -> FaultProxy:
        proxy = FaultProxy(port).start()
        proxies.append(proxy)
        return proxy

    yield make
    for proxy in proxies:
        proxy.stop()


@pytest.fixture(scope="session")
def hx_fmu(tmp_path_factory) -> Path:
    """The fouling heat exchanger exported as an FMI 2.0 co-simulation FMU (built once per session)."""
    from kreislauf.fmu import build_fmu

    return build_fmu("fouling_heat_exchanger", tmp_path_factory.mktemp("fmus"), 2)
