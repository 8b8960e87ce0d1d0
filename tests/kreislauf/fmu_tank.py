"""A mixed tank model, exported to FMUs at test time for the master's FMU tests."""

from __future__ import annotations

from pathlib import Path

from kreislauf.models import T_REF, Model


def tank() -> Model:
    """C dT/dt = P_heating − UA (T − T_ambient)."""
    m = Model("master_test_tank", "mixed tank heated from outside, losing heat through UA")
    c = m.parameter("heat_capacity", unit="J/K", start=1e6, min=1.0, max=1e12, description="heat capacity")
    ua = m.parameter("loss_conductance", unit="W/K", start=0.0, min=0.0, max=1e6, description="UA")
    p = m.input("heating", unit="W", start=0.0, min=-1e7, max=1e7, description="heating power")
    t_amb = m.input(
        "ambient_temperature",
        unit="K",
        start=293.15,
        min=200.0,
        max=400.0,
        description="temperature on the other side of UA",
    )
    t = m.state(
        "temperature", unit="K", start=330.0, min=200.0, max=500.0, nominal=300.0, description="tank temperature"
    )
    loss = m.local("loss", ua * (t - t_amb), unit="W", description="heat lost through UA")
    m.derivative(t, (p - loss) / c)
    m.heat_port("heater", power=p)
    m.heat_port("ambient", power=-loss)
    m.stored_energy(c * (t - T_REF))
    return m.finish()


def export_tanks(out: Path) -> dict[int, Path]:
    """The tank as FMI 2.0 and FMI 3.0 FMUs in ``out``."""
    from kreislauf.fmu import export_fmu

    model = tank()
    return {v: export_fmu(model, out, v) for v in (2, 3)}
