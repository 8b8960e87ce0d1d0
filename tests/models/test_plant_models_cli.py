"""The pyrolysis, digester and CHP models through the command line: listed by ``kreislauf models`` and
exported by ``kreislauf fmu build`` into FMUs that fmpy accepts."""

from __future__ import annotations

import subprocess
import sys

from fmpy.validation import validate_fmu

PLANT_MODELS = ("pyrolysis_reactor", "anaerobic_digester", "chp_unit")


def kreislauf(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kreislauf", *args], capture_output=True, text=True, timeout=300)


def test_models_lists_each_plant_model_with_its_description():
    proc = kreislauf("models")
    assert proc.returncode == 0, proc.stderr
    lines = {line.split()[0]: line for line in proc.stdout.splitlines() if line.strip()}
    assert "AM2" in lines["anaerobic_digester"]
    assert "CHP" in lines["chp_unit"]
    assert "pyrolysis" in lines["pyrolysis_reactor"].lower()


def test_models_shows_the_variables_of_one_model():
    proc = kreislauf("models", "chp_unit")
    assert proc.returncode == 0, proc.stderr
    assert "methane_mass_flow" in proc.stdout and "kg/s" in proc.stdout


def test_fmu_build_exports_a_valid_fmu_for_a_plant_model(tmp_path):
    proc = kreislauf("fmu", "build", "anaerobic_digester", "--fmi", "2", "-o", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    path = tmp_path / "2.0" / "anaerobic_digester.fmu"
    assert str(path) in proc.stdout
    assert validate_fmu(str(path)) == []
