"""A biogas chain through the master: the AM2 digester FMU (FMI 2.0) feeds its methane to the CHP FMU
(FMI 3.0), with the biogas chemical power as an energy bond. (Energy-conserving coupling does not apply:
the engine takes a methane mass flow, not a power input.)"""

from __future__ import annotations

import numpy as np
import pytest

from kreislauf.api import load
from kreislauf.fmu import export_fmu
from kreislauf.models import get_model

DAY = 86400.0


@pytest.fixture(scope="module")
def chain_fmus(tmp_path_factory):
    out = tmp_path_factory.mktemp("chain_fmus")
    return export_fmu(get_model("anaerobic_digester"), out, 2), export_fmu(get_model("chp_unit"), out, 3)


def chain_file(tmp_path, fmus, step: float):
    digester, chp = fmus
    path = tmp_path / f"chain-{step}.toml"
    path.write_text(f"""
connections = ["digester.methane_mass_flow -> chp.methane_mass_flow"]
bonds = ["digester.biogas -> chp.fuel"]

[master]
algorithm = "jacobi"
step = {step}
stop = "20d"

[components.digester]
fmu = "{digester}"
[components.digester.parameters]
methanogens_start = 0.3

[components.chp]
fmu = "{chp}"
[components.chp.parameters]
rated_fuel_power = 4e5
minimum_load = 0.2
""")
    return path


def test_biogas_chain_runs_and_the_engine_burns_what_the_digester_delivers(tmp_path, chain_fmus):
    result = load(chain_file(tmp_path, chain_fmus, 3600.0)).run(out_dir=tmp_path / "chain")
    assert result.ok, result.error
    data = result.read(["chp.fuel_energy", "chp.generator_energy", "chp.load", "chp.surplus_methane_mass_flow",
                        "digester.biogas_energy"])
    for name, values in data.items():
        assert np.all(np.isfinite(values)), name
    # the engine is never full, so all methane is burnt, one step late (zero-order hold): the bond residual
    # is a small share of the biogas energy
    assert np.all(data["chp.surplus_methane_mass_flow"] <= 1e-12)
    fuel, biogas = data["chp.fuel_energy"][-1], -data["digester.biogas_energy"][-1]
    assert fuel == pytest.approx(biogas, rel=1e-2)
    assert abs(result.balance.bond_residual) < 1e-2 * biogas
    # electricity at the part-load efficiencies the engine passed through
    chp = get_model("chp_unit")
    loads = data["chp.load"][1:]
    eta = chp.evaluate(methane_mass_flow=np.array([loads.min(), loads.max()]) * 4e5 / 50.01e6,
                       rated_fuel_power=4e5, minimum_load=0.2)["electrical_efficiency"]
    assert eta[0] <= -data["chp.generator_energy"][-1] / fuel <= eta[1]


def test_plain_coupling_residual_shrinks_with_the_step(tmp_path, chain_fmus):
    """Zero-order hold delays the methane by one step, so the bond residual is first order in the step."""
    residuals = []
    for step in (7200.0, 3600.0):
        result = load(chain_file(tmp_path, chain_fmus, step)).run(out_dir=tmp_path / f"plain{step}")
        assert result.ok, result.error
        residuals.append(abs(result.balance.bond_residual))
    assert residuals[1] > 0
    assert residuals[0] / residuals[1] == pytest.approx(2.0, rel=0.2)
