"""The user path through the command line: list models, export FMUs, inspect them, get clear errors."""

from __future__ import annotations

import subprocess
import sys

from fmpy.validation import validate_fmu


def kreislauf(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kreislauf", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


def test_models_lists_the_heat_exchanger_with_a_description():
    out = kreislauf("models")
    assert out.returncode == 0, out.stderr
    line = next(x for x in out.stdout.splitlines() if x.startswith("fouling_heat_exchanger"))
    assert "fouling" in line.lower() and len(line.split()) > 2


def test_fmu_build_both_versions_then_info(tmp_path):
    out = kreislauf("fmu", "build", "fouling_heat_exchanger", "--fmi", "both", "-o", "out", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    for version in ("2.0", "3.0"):
        fmu = tmp_path / "out" / version / "fouling_heat_exchanger.fmu"
        assert str(fmu.relative_to(tmp_path)) in out.stdout
        assert validate_fmu(str(fmu)) == []
    info = kreislauf("fmu", "info", "out/3.0/fouling_heat_exchanger.fmu", cwd=tmp_path)
    assert info.returncode == 0, info.stderr
    assert "wastewater_mass_flow" in info.stdout and "kg/s" in info.stdout
    assert "loop_outlet" in info.stdout  # the energy ports are listed


def test_unknown_model_is_a_clear_error_with_a_suggestion(tmp_path):
    out = kreislauf("fmu", "build", "fouling_heat_exchangr", "-o", "out", cwd=tmp_path)
    assert out.returncode == 2
    assert "no model called 'fouling_heat_exchangr'" in out.stderr
    assert "fouling_heat_exchanger" in out.stderr
    assert "Traceback" not in out.stderr


def test_fmu_info_on_a_broken_file_names_it(tmp_path):
    (tmp_path / "broken.fmu").write_text("not a zip")
    out = kreislauf("fmu", "info", "broken.fmu", cwd=tmp_path)
    assert out.returncode == 2
    assert "broken.fmu" in out.stderr and "not a zip archive" in out.stderr
