"""A time-varying gain as an FMU, for the native stepping path's failure tests.

``y = (gain + gain_rate·t)·u + offset + offset_rate·t`` (direct feedthrough from u, so two of them
wired both ways form an algebraic loop whose gain grows with time) and ``root = sqrt(root_time − t)``,
which turns NaN after ``root_time`` (the FMU's own output check then fails the step); an Integer
input ``level`` and a Boolean input ``flag`` echoed as ``echo = level + 1000·flag``, an Integer output
``hours`` (whole hours since the start) and a Boolean output ``late`` (t > 2 h).
"""

from __future__ import annotations

from pathlib import Path

import sympy as sp

from kreislauf.models import Model


def probe() -> Model:
    """The gain model (no states)."""
    m = Model("native_probe", "time-varying gain with a square root that turns NaN at a given time")
    k = m.parameter("gain", unit="1", start=0.0, min=-1e6, max=1e6, description="gain at t = 0")
    kr = m.parameter("gain_rate", unit="1/s", start=0.0, min=-1e6, max=1e6, description="growth of the gain")
    c = m.parameter("offset", unit="1", start=0.0, min=-1e9, max=1e9, description="offset at t = 0")
    cr = m.parameter("offset_rate", unit="1/s", start=0.0, min=-1e6, max=1e6, description="growth of the offset")
    tr = m.parameter("root_time", unit="s", start=1e30, min=0.0, max=1e30, description="root turns NaN after it")
    u = m.input("u", unit="1", start=0.0, min=-1000.0, max=1000.0, description="input")
    m.output("y", (k + kr * m.time) * u + c + cr * m.time, unit="1", description="gain times input plus offset")
    m.output("root", sp.sqrt(tr - m.time), unit="1", description="sqrt(root_time - t)")
    level = m.input("level", unit="1", start=0, min=0, max=100, type="Integer", description="whole number")
    flag = m.input("flag", unit="1", start=0, min=0, max=1, type="Boolean", description="a flag")
    m.output("hours", sp.floor(m.time / 3600), unit="1", type="Integer", description="whole hours since start")
    m.output("late", sp.Piecewise((1, m.time > 7200), (0, True)), unit="1", type="Boolean", description="t > 2 h")
    m.output("echo", level + 1000 * flag, unit="1", description="level + 1000 flag")
    return m.finish()


def export_probes(out: Path) -> dict[int, Path]:
    """The probe as FMI 2.0 and FMI 3.0 FMUs in ``out``."""
    from kreislauf.fmu import export_fmu

    model = probe()
    return {v: export_fmu(model, out, v) for v in (2, 3)}
