"""The 2-D table primitive (Model.table2d): declaration errors, bilinear values checked by hand, the
numpy and the generated C lookups agreeing at random points, derivatives against finite differences,
and a model with a table exported as FMI 2.0 and 3.0 FMUs that validate and simulate in fmpy."""

from __future__ import annotations

import ctypes
import math
import subprocess

import numpy as np
import pytest
from fmpy import simulate_fmu
from fmpy.validation import validate_fmu
from hypothesis import given, settings
from hypothesis import strategies as st

from kreislauf.fmu import export_fmu
from kreislauf.fmu.build import find_compiler, runtime_dir
from kreislauf.fmu.codegen import generate
from kreislauf.models import Model, ModelDeclarationError

X_AXIS = [0.0, 1.0, 3.0, 4.5]
Y_AXIS = [-2.0, 0.0, 5.0]
VALUES = [[1.0, 2.0, 0.0],
          [4.0, -1.0, 3.0],
          [2.0, 2.0, 10.0],
          [-5.0, 7.0, 1.0]]
OUTPUTS = ("value", "dx", "dy", "dxy")


def probe_model() -> Model:
    """Inputs x and y; outputs the table's value and its three derivatives at (x, y)."""
    m = Model("test_table_probe", "outputs a table lookup and its derivatives at the inputs")
    x = m.input("x", unit="1", start=0.5, description="first coordinate")
    y = m.input("y", unit="1", start=0.5, description="second coordinate")
    value = m.table2d("probe", X_AXIS, Y_AXIS, VALUES, x, y)
    m.output("value", value, unit="1", description="interpolated value")
    for output in OUTPUTS[1:]:
        m.output(output, m.tables["probe"].functions[output](x, y), unit="1", description=f"lookup {output}")
    return m.finish()


@pytest.fixture(scope="module")
def probe():
    return probe_model()


@pytest.fixture(scope="module")
def probe_c(probe, tmp_path_factory):
    """The generated C of the probe model, compiled with the FMU's warning flags, as a function
    (x, y) -> (value, dx, dy, dxy)."""
    tmp = tmp_path_factory.mktemp("table_c")
    generated = generate(probe)
    for name, text in generated.files.items():
        (tmp / name).write_text(text)
    library = tmp / "probe.so"
    subprocess.run([find_compiler(), "-std=c99", "-O2", "-fPIC", "-shared", "-Wall", "-Wextra", "-Wpedantic",
                    "-Werror", f"-I{runtime_dir()}", f"-I{tmp}", str(tmp / "kl_model.c"), "-o", str(library), "-lm"],
                   check=True, capture_output=True)
    lib = ctypes.CDLL(str(library))
    dp = ctypes.POINTER(ctypes.c_double)
    lib.kl_set_start_values.argtypes = [dp]
    lib.kl_outputs.argtypes = [dp]
    vr = {r.name: r.vr for r in generated.variables}

    def evaluate(x: float, y: float) -> tuple[float, ...]:
        v = np.zeros(len(generated.variables))
        lib.kl_set_start_values(v.ctypes.data_as(dp))
        v[vr["x"]], v[vr["y"]] = x, y
        lib.kl_outputs(v.ctypes.data_as(dp))
        return tuple(float(v[vr[o]]) for o in OUTPUTS)

    return evaluate


def hand_bilinear(x: float, y: float) -> float:
    """Bilinear interpolation written out independently: clamp, find the cell by a linear scan, weight
    the four corners by the opposite sub-rectangle's area."""
    x = min(max(x, X_AXIS[0]), X_AXIS[-1])
    y = min(max(y, Y_AXIS[0]), Y_AXIS[-1])
    i = max(k for k in range(len(X_AXIS) - 1) if X_AXIS[k] <= x)
    j = max(k for k in range(len(Y_AXIS) - 1) if Y_AXIS[k] <= y)
    x0, x1, y0, y1 = X_AXIS[i], X_AXIS[i + 1], Y_AXIS[j], Y_AXIS[j + 1]
    area = (x1 - x0) * (y1 - y0)
    return (VALUES[i][j] * (x1 - x) * (y1 - y) + VALUES[i + 1][j] * (x - x0) * (y1 - y)
            + VALUES[i][j + 1] * (x1 - x) * (y - y0) + VALUES[i + 1][j + 1] * (x - x0) * (y - y0)) / area


def test_corners_centres_and_clamped_queries_equal_hand_computed_values(probe, probe_c):
    # every grid node gives its tabulated value
    for i, x in enumerate(X_AXIS):
        for j, y in enumerate(Y_AXIS):
            assert float(probe.evaluate(x=x, y=y, check=False)["value"]) == VALUES[i][j]
            assert probe_c(x, y)[0] == VALUES[i][j]
    # a cell centre is the mean of its four corners: cell x in [1, 3], y in [0, 5]
    centre = (VALUES[1][1] + VALUES[2][1] + VALUES[1][2] + VALUES[2][2]) / 4  # (-1 + 2 + 3 + 10) / 4
    assert centre == 3.5
    assert float(probe.evaluate(x=2.0, y=2.5)["value"]) == pytest.approx(3.5, abs=1e-14)
    assert probe_c(2.0, 2.5)[0] == pytest.approx(3.5, abs=1e-14)
    # a quarter point of cell x in [0, 1], y in [-2, 0]: weights 9/16, 3/16, 3/16, 1/16
    expected = (9 * 1.0 + 3 * 4.0 + 3 * 2.0 + 1 * -1.0) / 16
    assert float(probe.evaluate(x=0.25, y=-1.5)["value"]) == pytest.approx(expected, abs=1e-14)
    assert probe_c(0.25, -1.5)[0] == pytest.approx(expected, abs=1e-14)
    # outside the grid the query is clamped to the edge: the corner value, no extrapolation
    assert float(probe.evaluate(x=-10.0, y=100.0, check=False)["value"]) == VALUES[0][2]
    assert probe_c(-10.0, 100.0)[0] == VALUES[0][2]
    assert probe_c(9.0, 2.5)[0] == pytest.approx((VALUES[3][1] + VALUES[3][2]) / 2, abs=1e-14)
    # along a clamped coordinate the derivative is 0, along the other it is the edge's slope
    _, dx, dy, dxy = probe_c(9.0, 2.5)
    assert dx == 0.0 and dxy == 0.0 and dy == pytest.approx((VALUES[3][2] - VALUES[3][1]) / 5.0, rel=1e-14)


finite = st.floats(-4.0, 7.0)


@settings(max_examples=300, deadline=None)
@given(x=finite, y=finite)
def test_c_and_numpy_lookups_agree_and_match_the_hand_bilinear(probe, probe_c, x, y):
    out = probe.evaluate(x=x, y=y, check=False)
    c = probe_c(x, y)
    for name, c_value in zip(OUTPUTS, c, strict=True):
        assert c_value == pytest.approx(float(out[name]), rel=1e-13, abs=1e-13), name
    assert c[0] == pytest.approx(hand_bilinear(x, y), rel=1e-12, abs=1e-12)


@settings(max_examples=200, deadline=None)
@given(x=st.floats(-1.0, 5.5), y=st.floats(-3.0, 6.0))
def test_derivatives_match_finite_differences(probe_c, x, y):
    h = 1e-6
    grid_x = any(abs(x - a) < 2 * h for a in X_AXIS)
    grid_y = any(abs(y - a) < 2 * h for a in Y_AXIS)
    _, dx, dy, dxy = probe_c(x, y)
    if not grid_x:
        assert dx == pytest.approx((probe_c(x + h, y)[0] - probe_c(x - h, y)[0]) / (2 * h), rel=1e-6, abs=1e-6)
    if not grid_y:
        assert dy == pytest.approx((probe_c(x, y + h)[0] - probe_c(x, y - h)[0]) / (2 * h), rel=1e-6, abs=1e-6)
    if not (grid_x or grid_y):
        assert dxy == pytest.approx((probe_c(x + h, y)[2] - probe_c(x - h, y)[2]) / (2 * h), rel=1e-5, abs=1e-5)


def test_nan_queries_give_nan_in_both_back_ends(probe, probe_c):
    assert all(math.isnan(v) for v in probe_c(math.nan, 1.0))
    out = probe.evaluate(x=1.0, y=math.nan, check=False)
    assert all(math.isnan(float(out[o])) for o in OUTPUTS)


@pytest.mark.parametrize(("x_axis", "y_axis", "values", "message"), [
    ([0.0, 2.0, 1.0], [0.0, 1.0], [[0, 0], [0, 0], [0, 0]], "strictly increasing"),
    ([0.0, 1.0], [0.0, 0.0], [[0, 0], [0, 0]], "strictly increasing"),
    ([0.0], [0.0, 1.0], [[0, 0]], "at least two"),
    ([0.0, 1.0], [0.0, 1.0], [[0, 0], [0, math.nan]], "not finite"),
    ([0.0, 1.0], [0.0, 1.0], [[0, 0, 0], [0, 0, 0]], "one row per x point"),
])
def test_bad_tables_are_rejected_naming_model_and_table(x_axis, y_axis, values, message):
    m = Model("bad_table_model", "a model with a bad table")
    u = m.input("u", unit="1", start=0.0, description="u")
    with pytest.raises(ModelDeclarationError, match=message) as info:
        m.table2d("efficiency_map", x_axis, y_axis, values, u, u)
    assert "bad_table_model" in str(info.value) and "efficiency_map" in str(info.value)


def test_a_table_is_declared_once():
    m = Model("twice", "a model declaring a table twice")
    u = m.input("u", unit="1", start=0.0, description="u")
    m.table2d("t", [0, 1], [0, 1], [[0, 1], [1, 2]], u, u)
    with pytest.raises(ModelDeclarationError, match="declared twice"):
        m.table2d("t", [0, 1], [0, 1], [[0, 1], [1, 2]], u, u)


TAU, T_EQ = 500.0, 320.0


def relaxing_model() -> Model:
    """dT/dt = g(T, u) with g tabulated on a grid where it is linear in T, g = -(T - T_EQ)/TAU + 0 u,
    so bilinear interpolation is exact: T(t) = T_EQ + (T0 - T_EQ) exp(-t/TAU) (inside the grid)."""
    m = Model("test_table_relaxing", "a state relaxing at a rate read from a table")
    u = m.input("u", unit="1", start=0.5, min=0.0, max=1.0, description="second table coordinate (no effect)")
    t = m.state("temperature", unit="K", start=360.0, min=200.0, max=500.0, nominal=300.0,
                description="relaxing temperature")
    temps = [280.0, 300.0, 340.0, 400.0]
    rate = m.table2d("rate", temps, [0.0, 1.0], [[-(tk - T_EQ) / TAU] * 2 for tk in temps], t, u)
    m.derivative(t, rate)
    m.heat_port("source", power=4.19e3 * rate)
    m.stored_energy(4.19e3 * (t - 273.15))
    return m.finish()


@pytest.mark.parametrize("version", [2, 3])
def test_model_with_a_table_exports_validates_and_follows_the_analytic_solution(tmp_path, version):
    fmu = export_fmu(relaxing_model(), tmp_path, version)
    assert validate_fmu(str(fmu)) == []
    res = simulate_fmu(str(fmu), stop_time=2000.0, output_interval=100.0,
                       start_values={"solver_relative_tolerance": 1e-9, "solver_absolute_tolerance": 1e-11},
                       output=["temperature", "stored_energy", "source_energy"])
    expected = T_EQ + (360.0 - T_EQ) * np.exp(-res["time"] / TAU)
    np.testing.assert_allclose(res["temperature"] - T_EQ, expected - T_EQ, rtol=1e-6)
    np.testing.assert_allclose(res["stored_energy"] - res["stored_energy"][0], res["source_energy"],
                               rtol=1e-7, atol=1e-3)
