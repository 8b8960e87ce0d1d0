"""The generated analytic Jacobian (kl_jacobian) against central finite differences of the generated
derivatives (kl_derivatives), both compiled by the system C compiler, for every registered model."""

from __future__ import annotations

import ctypes
import subprocess

import numpy as np
import pytest

from kreislauf.fmu.build import find_compiler, runtime_dir
from kreislauf.fmu.codegen import generate
from kreislauf.models import MODELS, get_model


def _compile(model_name: str, tmp_path) -> tuple[ctypes.CDLL, list]:
    generated = generate(get_model(model_name))
    for name, text in generated.files.items():
        (tmp_path / name).write_text(text)
    library = tmp_path / "model.so"
    subprocess.run([find_compiler(), "-std=c99", "-O1", "-fPIC", "-shared", f"-I{runtime_dir()}", f"-I{tmp_path}",
                    str(tmp_path / "kl_model.c"), "-o", str(library), "-lm"], check=True, capture_output=True)
    lib = ctypes.CDLL(str(library))
    dp = ctypes.POINTER(ctypes.c_double)
    for fn, args in (("kl_set_start_values", [dp]), ("kl_initialize", [dp]), ("kl_derivatives", [dp, dp]),
                     ("kl_jacobian", [dp, dp, dp])):
        getattr(lib, fn).argtypes = args
        getattr(lib, fn).restype = None
    return lib, generated.variables


@pytest.mark.parametrize("model_name", sorted(MODELS))
def test_analytic_jacobian_matches_finite_differences(model_name, tmp_path):
    lib, rows = _compile(model_name, tmp_path)
    model = get_model(model_name)
    n = len(model.states)
    if n == 0:
        pytest.skip("no states")
    vr = {r.name: r.vr for r in rows}
    state_vrs = [vr[d.name] for d in model.states]
    rng = np.random.default_rng(7)
    dp = ctypes.POINTER(ctypes.c_double)

    def derivatives(v: np.ndarray) -> np.ndarray:
        dx = np.zeros(n)
        lib.kl_derivatives(v.ctypes.data_as(dp), dx.ctypes.data_as(dp))
        return dx

    compared = 0
    for _ in range(20):
        v = np.zeros(len(rows))
        lib.kl_set_start_values(v.ctypes.data_as(dp))
        lib.kl_initialize(v.ctypes.data_as(dp))
        v[0] = rng.uniform(0.0, 86400.0)
        for r in rows[1:]:  # perturb inputs and states around their start, within their range
            if r.declared is None or r.declared.kind not in ("input", "state") or r.vtype != "Real":
                continue
            x = v[r.vr] * rng.uniform(0.8, 1.2) + rng.uniform(0.0, 0.1) * max(abs(r.declared.nominal), 1e-3)
            lo = -np.inf if r.minimum is None else r.minimum
            hi = np.inf if r.maximum is None else r.maximum
            v[r.vr] = min(max(x, lo), hi)
        jac, dfdt = np.zeros(n * n), np.zeros(n)
        lib.kl_jacobian(v.ctypes.data_as(dp), jac.ctypes.data_as(dp), dfdt.ctypes.data_as(dp))
        f0 = derivatives(v)
        if not np.all(np.isfinite(f0)):
            continue
        columns = [(k, vr_k) for k, vr_k in enumerate(state_vrs)] + [(n, 0)]
        for j, vr_j in columns:
            h = 1e-6 * max(abs(v[vr_j]), 1.0)
            up, down = v.copy(), v.copy()
            up[vr_j] += h
            down[vr_j] -= h
            f_up, f_down = derivatives(up), derivatives(down)
            forward, backward, central = (f_up - f0) / h, (f0 - f_down) / h, (f_up - f_down) / (2 * h)
            analytic = dfdt if j == n else jac[j::n]
            scale = np.abs(f0) / max(abs(v[vr_j]), 1.0) + np.abs(central)
            smooth = np.abs(forward - backward) <= 1e-3 * scale + 1e-12  # no kink within +-h
            good = np.abs(analytic - central) <= 1e-4 * scale + 1e-12
            assert np.all(good | ~smooth), (model_name, j, analytic, central)
            compared += int(np.sum(smooth))
    assert compared > 0
