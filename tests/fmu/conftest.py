"""FMUs exported once per test session: the fouling heat exchanger (FMI 2.0 and 3.0) and a small mixed
tank declared here, so that two different kreislauf FMUs can run side by side."""

from __future__ import annotations

from pathlib import Path

import pytest

from kreislauf.fmu import export_fmu
from kreislauf.models import T_REF, Model, get_model


def mixed_tank() -> Model:
    """A fully mixed water tank with a heater and losses: C dT/dt = P_heater - UA (T - T_amb)."""
    m = Model("test_mixed_tank", "mixed tank with a heater and losses to ambient")
    c = m.parameter("heat_capacity", unit="J/K", start=4.19e6, min=1.0, max=1e12, description="heat capacity")
    ua = m.parameter("loss_conductance", unit="W/K", start=5.0, min=0.0, max=1e6, description="loss UA")
    p = m.input("heating", unit="W", start=0.0, min=-1e7, max=1e7, description="heating power")
    t_amb = m.input("ambient_temperature", unit="K", start=293.15, min=200.0, max=400.0,
                    description="ambient temperature")
    t = m.state("temperature", unit="K", start=333.15, min=200.0, max=500.0, nominal=300.0,
                description="tank temperature")
    loss = m.local("loss", ua * (t - t_amb), unit="W", description="heat loss")
    m.derivative(t, (p - loss) / c)
    m.heat_port("heater", power=p)
    m.heat_port("ambient", power=-loss)
    m.stored_energy(c * (t - T_REF))
    return m.finish()


@pytest.fixture(scope="session")
def fmu_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fmus")


@pytest.fixture(scope="session")
def hx_fmus(fmu_dir) -> dict[int, Path]:
    model = get_model("fouling_heat_exchanger")
    return {v: export_fmu(model, fmu_dir, v) for v in (2, 3)}


@pytest.fixture(scope="session")
def tank_fmus(fmu_dir) -> dict[int, Path]:
    model = mixed_tank()
    return {v: export_fmu(model, fmu_dir, v) for v in (2, 3)}
