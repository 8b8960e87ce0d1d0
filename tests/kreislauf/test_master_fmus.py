"""The master over real FMUs exported by kreislauf (compiled with the system C compiler at test time).

Two mixed tanks as FMUs, A (FMI 2.0, with the conductance G to B as its "loss" to ambient) and B
(FMI 3.0, heated by what A loses): the two-capacity system with its analytic solution.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from fmu_tank import export_tanks

from kreislauf.api import load

pytestmark = pytest.mark.skipif(
    shutil.which("cc") is None and shutil.which("gcc") is None, reason="needs a C compiler to export FMUs"
)

C1, C2, G, T1, T2 = 2e6, 1e6, 100.0, 350.0, 290.0
STOP = 6 * 3600.0


@pytest.fixture(scope="module")
def tank_fmus(tmp_path_factory) -> dict[int, Path]:
    return export_tanks(tmp_path_factory.mktemp("master-fmus"))


def system_file(tmp_path: Path, fmus: dict[int, Path], algorithm: str, step: float, conserving: bool = False):
    path = tmp_path / f"tanks-{algorithm}-{step}-{conserving}.toml"
    path.write_text(f"""
connections = [
    "B.temperature -> A.ambient_temperature",
    {{ from = "A.ambient_power", to = "B.heating", factor = -1.0 }},
]
bonds = ["A.ambient -> B.heater"]

[master]
algorithm = "{algorithm}"
step = {step}
stop = "6h"
energy_conserving = {str(conserving).lower()}

[components.A]
fmu = "{fmus[2]}"
[components.A.parameters]
heat_capacity = {C1}
loss_conductance = {G}
temperature_start = {T1}
solver_relative_tolerance = 1e-10
solver_absolute_tolerance = 1e-10

[components.B]
fmu = "{fmus[3]}"
[components.B.parameters]
heat_capacity = {C2}
temperature_start = {T2}
solver_relative_tolerance = 1e-10
solver_absolute_tolerance = 1e-10
""")
    return path


def exact(t):
    mean = (C1 * T1 + C2 * T2) / (C1 + C2)
    diff = (T1 - T2) * np.exp(-G * (1 / C1 + 1 / C2) * t)
    return mean + C2 / (C1 + C2) * diff, mean - C1 / (C1 + C2) * diff


def error(result) -> float:
    data = result.read(["time", "A.temperature", "B.temperature"])
    a, b = exact(data["time"])
    return float(max(np.abs(data["A.temperature"] - a).max(), np.abs(data["B.temperature"] - b).max()))


@pytest.mark.parametrize(("algorithm", "order"), [("jacobi", 1), ("gauss-seidel", 1), ("iterative", 2)])
def test_fmus_converge_to_the_analytic_solution_with_the_expected_order(tmp_path, tank_fmus, algorithm, order):
    errors = [
        error(load(system_file(tmp_path, tank_fmus, algorithm, h)).run(out_dir=tmp_path / f"{algorithm}{h}"))
        for h in (600.0, 300.0)
    ]
    assert errors[0] / errors[1] == pytest.approx(2.0**order, rel=0.15)


def test_fmus_with_energy_conserving_coupling_close_the_balance(tmp_path, tank_fmus):
    result = load(system_file(tmp_path, tank_fmus, "jacobi", 300.0, conserving=True)).run(out_dir=tmp_path)
    assert result.ok and result.balance.relative_imbalance < 1e-9
    data = result.read(["A.temperature", "B.temperature"])
    # stored energy C (T − T_ref) of both tanks, from the temperatures, plus what is in transit
    stored = C1 * data["A.temperature"] + C2 * data["B.temperature"]
    assert abs(stored[-1] - stored[0] + result.balance.in_transit) < 1e-6 * C1 * abs(T1 - T2)
