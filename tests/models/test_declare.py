"""Declaration mistakes are caught when a model is declared, with errors naming model and variable;
a correct declaration evaluates vectorised and conserves energy by construction of its ports."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from kreislauf.models import T_REF, Model, ModelDeclarationError, ModelInputError
from kreislauf.models.simulate import simulate
from kreislauf.models.units import UnknownUnitError, dimension


def tank() -> Model:
    m = Model("tank", "a mixed water tank")
    c = m.parameter("heat_capacity", unit="J/K", start=4.2e6, min=1.0, description="heat capacity")
    q = m.input("heating", unit="W", start=1000.0, description="heating power")
    t = m.state("temperature", unit="K", start=300.0, min=200.0, max=500.0, description="tank temperature")
    m.derivative(t, q / c)
    m.heat_port("heater", power=q)
    m.stored_energy(c * (t - T_REF))
    return m


def test_a_correct_model_finishes_and_evaluates_vectorised():
    model = tank().finish()
    out = model.evaluate(heating=np.array([0.0, 4.2e6]), temperature=310.0)
    np.testing.assert_allclose(out["der(temperature)"], [0.0, 1.0])
    np.testing.assert_allclose(out["heater_power"], [0.0, 4.2e6])
    assert "temperature_start" in model.variables  # the initial value is a parameter
    assert model.output_dependencies()["heater_power"] == ["heating"]


def test_stored_energy_rate_equals_the_sum_of_port_powers():
    model = tank().finish()
    c, q = 4.2e6, 1234.5
    out = model.evaluate(heating=q, heat_capacity=c, temperature=320.0)
    d_stored = c * out["der(temperature)"]
    assert d_stored == pytest.approx(float(out["heater_power"]), rel=1e-15)
    assert out["der(heater_energy)"] == pytest.approx(q)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda m: m.parameter("heat_capacity", unit="J/K", start=1.0, description="again"), "declared twice"),
        (lambda m: m.parameter("volume", unit="litre", start=1.0, description="volume"), "not an SI unit"),
        (lambda m: m.parameter("volume", unit="m3", start=-1.0, min=0.0, description="volume"), "outside"),
        (lambda m: m.output("leak", sp.Symbol("undeclared") * 2, unit="W", description="leak"), "undeclared"),
        (lambda m: m.parameter("Bad-Name", unit="1", start=0.0, description="x"), "lower-case"),
        (lambda m: m.parameter("time", unit="s", start=0.0, description="x"), "reserved"),
        (lambda m: m.parameter("flag", unit="1", start=0.5, type="Boolean", description="x"), "Boolean"),
        (lambda m: m.parameter("span", unit="1", start=1.0, min=2.0, max=1.0, description="x"), "min 2 > max 1"),
        (lambda m: m.state("level", unit="m", start=1.0, description="no derivative"), "without a derivative"),
        (lambda m: m.parameter("mode", unit="1", start=1, min=0.5, type="Integer", description="x"), "whole numbers"),
    ],
)
def test_declaration_mistakes_name_the_model_and_variable(mutate, message):
    m = tank()
    with pytest.raises(ModelDeclarationError, match=message) as info:
        mutate(m)
        m.finish()
    assert "model 'tank'" in str(info.value)
    assert info.value.variable is not None


def test_algebraic_cycles_are_refused():
    m = tank()
    a = sp.Symbol("a", real=True)
    m.local("b", a + 1, unit="W", description="b")
    m.local("a", sp.Symbol("b", real=True) * 2, unit="W", description="a")
    with pytest.raises(ModelDeclarationError, match="algebraic cycle"):
        m.finish()


def test_unit_dimensions():
    assert dimension("m2.K/W") == (-1, 0, 3, 1, 0, 0)
    assert dimension("J/(kg.K)") == (0, 2, -2, -1, 0, 0)
    assert dimension("W") == dimension("J/s")
    with pytest.raises(UnknownUnitError, match="degC"):
        dimension("degC")


@pytest.mark.parametrize(("parameters", "message"), [
    ({"heat_capacity": 0.0}, r"parameter 'heat_capacity' = 0 is outside \[1, inf\] J/K"),
    ({"heat_capacity": float("nan")}, r"parameter 'heat_capacity' = nan is outside"),
    ({"mode": 1.5}, r"parameter 'mode' = 1.5 is not a whole number"),
])
def test_simulate_refuses_bad_parameters_naming_them(parameters, message):
    m = tank()
    m.parameter("mode", unit="1", start=1, min=1, max=2, type="Integer", description="operating mode")
    with pytest.raises(ModelInputError, match=message):
        simulate(m.finish(), 10.0, 1.0, parameters=parameters)
