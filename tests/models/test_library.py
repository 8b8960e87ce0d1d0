"""The model library as a whole: ``kreislauf models`` lists every registered model with its description,
each has a docs page with equations, assumptions, validity and references, and ``kreislauf fmu build
--all`` exports every model as FMI 2.0 and 3.0 FMUs that fmpy validates and simulates with their
energy counters closing the stored-energy balance."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fmpy import simulate_fmu
from fmpy.validation import validate_fmu

from kreislauf.models import MODELS, get_model

DOCS = Path(__file__).resolve().parents[2] / "docs" / "models"


def kreislauf(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kreislauf", *args], capture_output=True, text=True, timeout=600)


def test_models_lists_every_registered_model_with_its_description():
    proc = kreislauf("models")
    assert proc.returncode == 0, proc.stderr
    listed = {line.split()[0]: line.split(None, 1)[1] for line in proc.stdout.splitlines() if line.strip()}
    assert set(listed) == set(MODELS)
    for name in MODELS:
        assert listed[name].strip() == get_model(name).description


def docs_page(name: str) -> str:
    """The docs page whose title names the model (``# `name` ...``)."""
    for page in sorted(DOCS.glob("*.md")):
        text = page.read_text()
        if f"`{name}`" in text.splitlines()[0]:
            return text
    raise AssertionError(f"no page in {DOCS} has `{name}` in its title")


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_has_a_docs_page_with_equations_assumptions_validity_and_references(name):
    text = docs_page(name)
    headings = [line.lower() for line in text.splitlines() if line.startswith("#")]
    for topic in ("equation", "assumption", "validit", "reference"):
        assert any(topic in h for h in headings), f"{name}: no heading on {topic}"
    assert any(("validation" in h or h.startswith("## tests")) for h in headings), f"{name}: no tests section"


@pytest.mark.slow
def test_fmu_build_all_exports_every_model_and_fmpy_validates_and_simulates_each(tmp_path):
    proc = kreislauf("fmu", "build", "--all", "-o", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    for version in ("2.0", "3.0"):
        assert {p.stem for p in (tmp_path / version).glob("*.fmu")} == set(MODELS), version
    for name in sorted(MODELS):
        counters = [f"{p}_energy" for p in get_model(name).ports]
        for version in ("2.0", "3.0"):
            path = str(tmp_path / version / f"{name}.fmu")
            assert validate_fmu(path) == [], path
            res = simulate_fmu(path, stop_time=6 * 3600.0, output_interval=600.0,
                               output=["stored_energy", *counters])
            for column in res.dtype.names:
                assert np.all(np.isfinite(res[column])), (path, column)
            ports = sum(res[c] for c in counters)
            stored = res["stored_energy"] - res["stored_energy"][0]
            throughput = sum(np.abs(res[c]) for c in counters)[-1] + 1.0
            # ten times the FMUs' default relative integrator tolerance (1e-6)
            assert np.max(np.abs(stored - ports)) <= 1e-5 * throughput, path
