"""Declare a model once: variables with units and ranges, symbolic equations, energy ports.

A model is built with :class:`Model`: parameters, inputs, states and outputs are declared with unit,
start, min/max and a description, and each returns a SymPy symbol to write equations with::

    m = Model("tank", "A mixed water tank")
    c = m.parameter("heat_capacity", unit="J/K", start=4.2e6, min=1.0, description="...")
    q = m.input("heat_flow", unit="W", start=0.0, description="...")
    t = m.state("temperature", unit="K", start=330.0, min=200.0, max=500.0, description="...")
    m.derivative(t, q / c)
    m.heat_port("heater", power=q)
    m.stored_energy(c * (t - T_REF))
    model = m.finish()

:meth:`Model.finish` checks the declaration (duplicate names, unknown units, starts outside
[min, max], equations with undeclared symbols, states without a derivative) and raises
:class:`ModelDeclarationError` naming the model and variable. The finished model serves two back
ends: a vectorised numpy evaluator (:meth:`Model.evaluate`) and the FMU exporter
(:mod:`kreislauf.fmu`), which reads :attr:`Model.variables` and the primitive expressions.

Energy accounting: every port's power is positive into the component. Each port gets an output
``<port>_power`` (W) and a state ``<port>_energy`` (J, the time integral of the power since the start),
and the model has an output ``stored_energy`` (J). Over any interval
``stored_energy(t1) - stored_energy(t0) = sum over ports of (energy(t1) - energy(t0))``.
Fluid enthalpy flows are ``m_dot * c_p * (T - T_REF)`` with ``T_REF = 273.15 K``.

Tables: :meth:`Model.table2d` declares a two-dimensional table (e.g. a performance map) and returns
its bilinear interpolation at two expressions, usable in any equation. Outside the grid the query
is clamped to the grid's edge (the model flags such operation itself). Both back ends evaluate the
same lookup: numpy (:func:`table2d_lookup`) and the generated C; the partial derivatives are
companion lookups, so the Jacobian stays analytic.
"""

from __future__ import annotations

import hashlib
import keyword
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp

from kreislauf.models.units import UnknownUnitError, dimension

__all__ = [
    "T_REF",
    "Declared",
    "Model",
    "ModelDeclarationError",
    "ModelInputError",
    "Port",
    "Reset",
    "Table2D",
    "table2d_lookup",
]

T_REF = 273.15
"""Reference temperature (K) of all fluid enthalpy flows."""

KINDS = ("parameter", "input", "state", "output", "local")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
RESERVED = {"time"}

NumberOrExpr = float | int | sp.Expr


class ModelDeclarationError(ValueError):
    """A mistake in a model declaration; the message names the model and the variable."""

    def __init__(self, model: str, message: str, variable: str | None = None):
        self.model = model
        self.variable = variable
        where = f"model '{model}'" + (f", variable '{variable}'" if variable else "")
        super().__init__(f"{where}: {message}")


class ModelInputError(ValueError):
    """A value handed to a model's evaluator that is outside the declared range or unknown."""


@dataclass
class Declared:
    """One declared variable of a model.

    ``kind`` is one of parameter, input, state, output, local. ``expr`` is the defining expression of
    an output or local; ``start`` of a state may be an expression of parameters. ``vtype`` is
    ``"Real"``, ``"Integer"`` or ``"Boolean"``.
    """

    name: str
    kind: str
    symbol: sp.Symbol
    unit: str
    description: str
    start: Any = None
    minimum: float | None = None
    maximum: float | None = None
    vtype: str = "Real"
    expr: sp.Expr | None = None
    nominal: float = 1.0
    exposed: bool = True  # states: exposed as outputs (True) or kept local


@dataclass(frozen=True)
class Port:
    """An energy port: ``power`` is the symbolic port power in W, positive into the component."""

    name: str
    kind: str  # heat, fluid, electrical, chemical
    power: sp.Expr
    description: str = ""
    mass_flow: str | None = None
    temperature: str | None = None
    specific_heat: str | float | None = None


@dataclass(frozen=True)
class Reset:
    """A discrete change of a state: ``state := value`` at a periodic time or an input's rising edge.

    ``period`` (s, an expression of parameters; a non-positive period disables it) fires at
    t = k * period, k = 1, 2, ...; ``rising`` names an input whose crossing of 0.5 from below between
    two steps fires the reset at the start of the step.
    """

    state: str
    value: sp.Expr
    period: sp.Expr | None = None
    rising: str | None = None


TABLE_OUTPUTS = ("value", "dx", "dy", "dxy")
"""What a table lookup returns: the interpolated value or one of its partial derivatives."""


@dataclass(frozen=True, eq=False)
class Table2D:
    """A two-dimensional table for bilinear interpolation, declared with :meth:`Model.table2d`.

    ``values[i][j]`` is the tabulated value at ``(x_axis[i], y_axis[j])``; both axes are strictly
    increasing. ``functions`` maps each of :data:`TABLE_OUTPUTS` to the SymPy function class that
    stands for it in equations (``value``: the interpolation, ``dx``/``dy``: its partial derivatives,
    ``dxy``: the mixed derivative); their names are the C identifiers of the generated lookups.
    """

    name: str
    x_axis: tuple[float, ...]
    y_axis: tuple[float, ...]
    values: tuple[tuple[float, ...], ...]
    functions: dict[str, type]


def table2d_lookup(
    x_axis: np.ndarray, y_axis: np.ndarray, values: np.ndarray, x: Any, y: Any, output: str = "value"
) -> np.ndarray:
    """Bilinear interpolation of ``values`` (shape ``(len(x_axis), len(y_axis))``) at ``(x, y)``,
    vectorised over arrays that broadcast.

    A query outside the grid is clamped to the grid's edge (constant continuation, never an
    extrapolation), so the partial derivative along a clamped coordinate is 0. A query on an inner
    grid line belongs to the cell above it (one-sided derivatives from the right); on the last line
    to the last cell. ``output`` selects the value (``"value"``), ``"dx"``, ``"dy"`` or the mixed
    derivative ``"dxy"``. NaN queries give NaN. Within a cell with corners v00, v10, v01, v11 and
    fractions tx, ty::

        f = (1-tx)(1-ty) v00 + tx(1-ty) v10 + (1-tx) ty v01 + tx ty v11
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    xc = np.clip(x, x_axis[0], x_axis[-1])
    yc = np.clip(y, y_axis[0], y_axis[-1])
    i = np.clip(np.searchsorted(x_axis, xc, side="right") - 1, 0, len(x_axis) - 2)
    j = np.clip(np.searchsorted(y_axis, yc, side="right") - 1, 0, len(y_axis) - 2)
    hx = x_axis[i + 1] - x_axis[i]
    hy = y_axis[j + 1] - y_axis[j]
    tx = (xc - x_axis[i]) / hx
    ty = (yc - y_axis[j]) / hy
    v00, v10, v01, v11 = values[i, j], values[i + 1, j], values[i, j + 1], values[i + 1, j + 1]
    inside_x = (x >= x_axis[0]) & (x <= x_axis[-1])
    inside_y = (y >= y_axis[0]) & (y <= y_axis[-1])
    if output == "value":
        result = (1 - tx) * (1 - ty) * v00 + tx * (1 - ty) * v10 + (1 - tx) * ty * v01 + tx * ty * v11
    elif output == "dx":
        result = np.where(inside_x, ((1 - ty) * (v10 - v00) + ty * (v11 - v01)) / hx, 0.0)
    elif output == "dy":
        result = np.where(inside_y, ((1 - tx) * (v01 - v00) + tx * (v11 - v10)) / hy, 0.0)
    elif output == "dxy":
        result = np.where(inside_x & inside_y, (v11 - v10 - v01 + v00) / (hx * hy), 0.0)
    else:
        raise ValueError(f"a table lookup gives one of {TABLE_OUTPUTS}, not '{output}'")
    nan = np.isnan(x) | np.isnan(y)
    return np.where(nan, np.nan, result) if np.any(nan) else result


def _table_functions(
    table_name: str, digest: str, arrays: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> dict[str, type]:
    """The SymPy function classes of one table: the value and its derivatives, each with a numpy
    implementation (``_imp_``, picked up by ``lambdify``) and ``fdiff`` giving the next derivative."""
    base = f"KL_T_{table_name}_{digest}"
    names = {"value": base, "dx": f"{base}_dx", "dy": f"{base}_dy", "dxy": f"{base}_dxy"}
    # ∂/∂x and ∂/∂y of each lookup; bilinear: ∂²f/∂x² = ∂²f/∂y² = 0 inside the cells
    chain = {"value": ("dx", "dy"), "dx": (None, "dxy"), "dy": ("dxy", None), "dxy": (None, None)}
    classes: dict[str, type] = {}

    def make(output: str) -> type:
        def fdiff(self: sp.Function, argindex: int = 1) -> sp.Expr:
            if argindex not in (1, 2):
                raise sp.ArgumentIndexError(self, argindex)
            target = chain[output][argindex - 1]
            return sp.Integer(0) if target is None else classes[target](*self.args)

        def eval_(cls: type, x: sp.Expr, y: sp.Expr) -> sp.Expr | None:
            if x.is_Number and y.is_Number:
                return sp.Float(float(table2d_lookup(*arrays, float(x), float(y), output)))
            return None

        def implementation(x: Any, y: Any) -> np.ndarray:
            return table2d_lookup(*arrays, x, y, output)

        return type(names[output], (sp.Function,), {
            "nargs": 2,
            "fdiff": fdiff,
            "eval": classmethod(eval_),
            "_eval_is_real": lambda self: True,
            "_imp_": staticmethod(implementation),
            "kl_table": table_name,
        })

    for output in TABLE_OUTPUTS:
        classes[output] = make(output)
    return classes


@dataclass
class _Compiled:
    args: list[sp.Symbol]
    names: list[str]
    function: Callable[..., Any]


class Model:
    """A model declaration: variables, equations, energy ports and resets. See the module docstring."""

    def __init__(self, name: str, description: str, *, references: Iterable[str] = ()):
        if not _NAME.match(name):
            raise ModelDeclarationError(name, "a model name is lower-case letters, digits and '_'")
        self.name = name
        self.description = description
        self.references = list(references)
        self.time = sp.Symbol("time", real=True)
        self.variables: dict[str, Declared] = {}
        self.derivatives: dict[str, sp.Expr] = {}
        self.ports: dict[str, Port] = {}
        self.resets: list[Reset] = []
        self.tables: dict[str, Table2D] = {}
        self._stored_energy: sp.Expr | None = None
        self._finished = False
        self._primitive_cache: dict[str, sp.Expr] = {}
        self._compiled: dict[str, _Compiled] = {}

    # ------------------------------------------------------------------ declaration
    def _declare(self, name: str, kind: str, unit: str, description: str, **kw: Any) -> sp.Symbol:
        if self._finished:
            raise ModelDeclarationError(self.name, "the model is finished; declare before finish()", name)
        if not _NAME.match(name) or keyword.iskeyword(name):
            raise ModelDeclarationError(
                self.name, "a variable name is lower-case letters, digits and '_', starting with a letter", name
            )
        if name in RESERVED:
            raise ModelDeclarationError(self.name, f"'{name}' is reserved", name)
        if name in self.variables:
            raise ModelDeclarationError(
                self.name, f"declared twice (first as a {self.variables[name].kind}, now as a {kind})", name
            )
        try:
            dimension(unit)
        except UnknownUnitError as exc:
            raise ModelDeclarationError(self.name, str(exc), name) from None
        if not description:
            raise ModelDeclarationError(self.name, "every variable needs a description", name)
        symbol = sp.Symbol(name, real=True)
        self.variables[name] = Declared(name, kind, symbol, unit, description, **kw)
        return symbol

    def parameter(
        self,
        name: str,
        *,
        unit: str,
        start: float,
        description: str,
        min: float | None = None,
        max: float | None = None,
        type: str = "Real",
    ) -> sp.Symbol:
        """Declare a parameter (fixed during a run) with its start value, range and unit."""
        return self._declare(name, "parameter", unit, description, start=start, minimum=min, maximum=max, vtype=type)

    def input(
        self,
        name: str,
        *,
        unit: str,
        start: float,
        description: str,
        min: float | None = None,
        max: float | None = None,
        type: str = "Real",
    ) -> sp.Symbol:
        """Declare an input (held constant over each communication step)."""
        return self._declare(name, "input", unit, description, start=start, minimum=min, maximum=max, vtype=type)

    def state(
        self,
        name: str,
        *,
        unit: str,
        start: NumberOrExpr,
        description: str,
        min: float | None = None,
        max: float | None = None,
        nominal: float | None = None,
        output: bool = True,
        start_parameter: bool = True,
    ) -> sp.Symbol:
        """Declare a continuous state. Its derivative is given with :meth:`derivative`.

        With ``start_parameter`` (the default) the initial value is a parameter ``<name>_start``
        with the state's unit and range, whose start is ``start``; otherwise the state starts at
        ``start`` (a number or an expression of parameters). ``nominal`` is the magnitude used to
        scale the integrator's absolute tolerance (default: ``max(|start|, 1)``).
        """
        if start_parameter:
            if not isinstance(start, (int, float)):
                raise ModelDeclarationError(self.name, "a start parameter needs a numeric start", name)
            init = self.parameter(
                f"{name}_start",
                unit=unit,
                start=float(start),
                min=min,
                max=max,
                description=f"initial value of {name}",
            )
            start_value: NumberOrExpr = init
        else:
            start_value = start
        if nominal is None:
            nominal = max_abs(start)
        return self._declare(
            name,
            "state",
            unit,
            description,
            start=start_value,
            minimum=min,
            maximum=max,
            nominal=nominal,
            exposed=output,
        )

    def derivative(self, state: sp.Symbol, expr: NumberOrExpr) -> None:
        """Give the time derivative of ``state`` (SI units of the state per second)."""
        name = str(state)
        if name not in self.variables or self.variables[name].kind != "state":
            raise ModelDeclarationError(self.name, "a derivative is given for something that is not a state", name)
        if name in self.derivatives:
            raise ModelDeclarationError(self.name, "the derivative is given twice", name)
        self.derivatives[name] = sp.sympify(expr)

    def output(
        self,
        name: str,
        expr: NumberOrExpr,
        *,
        unit: str,
        description: str,
        min: float | None = None,
        max: float | None = None,
        type: str = "Real",
    ) -> sp.Symbol:
        """Declare an output defined by ``expr``; the returned symbol may be used in later equations."""
        return self._declare(
            name, "output", unit, description, expr=sp.sympify(expr), minimum=min, maximum=max, vtype=type
        )

    def local(self, name: str, expr: NumberOrExpr, *, unit: str, description: str) -> sp.Symbol:
        """Declare an intermediate quantity (exported as a local variable, visible but not an output)."""
        return self._declare(name, "local", unit, description, expr=sp.sympify(expr))

    def reset(
        self,
        state: sp.Symbol,
        value: NumberOrExpr,
        *,
        every: NumberOrExpr | None = None,
        on_rising: sp.Symbol | None = None,
    ) -> None:
        """Set ``state`` to ``value`` periodically (``every`` seconds) and/or on an input's rising edge."""
        name = str(state)
        if name not in self.variables or self.variables[name].kind != "state":
            raise ModelDeclarationError(self.name, "only states can be reset", name)
        if every is None and on_rising is None:
            raise ModelDeclarationError(self.name, "a reset needs 'every' or 'on_rising'", name)
        if on_rising is not None:
            trigger = str(on_rising)
            if trigger not in self.variables or self.variables[trigger].kind != "input":
                raise ModelDeclarationError(self.name, "a reset is triggered by an input's rising edge", trigger)
            self.resets.append(Reset(name, sp.sympify(value), rising=trigger))
        if every is not None:
            self.resets.append(Reset(name, sp.sympify(value), period=sp.sympify(every)))

    def table2d(
        self,
        name: str,
        x_axis: Iterable[float],
        y_axis: Iterable[float],
        values: Iterable[Iterable[float]],
        x: NumberOrExpr,
        y: NumberOrExpr,
    ) -> sp.Expr:
        """Declare a 2-D table and return its bilinear interpolation at ``(x, y)`` as an expression.

        ``values[i][j]`` belongs to ``(x_axis[i], y_axis[j])``. Both axes need at least two points and
        must be strictly increasing; all values must be finite (:class:`ModelDeclarationError`
        naming the model and the table otherwise). Outside the grid the query is clamped to the edge
        (see :func:`table2d_lookup`): a model that must not run there flags it itself. The same
        table may be used at other points with :meth:`lookup`.
        """
        if self._finished:
            raise ModelDeclarationError(self.name, "the model is finished; declare before finish()", name)
        if not _NAME.match(name):
            raise ModelDeclarationError(self.name, "a table name is lower-case letters, digits and '_'", name)
        if name in self.tables:
            raise ModelDeclarationError(self.name, "table declared twice", name)
        axes = []
        for label, axis in (("x", x_axis), ("y", y_axis)):
            try:
                a = tuple(float(v) for v in axis)
            except (TypeError, ValueError):
                raise ModelDeclarationError(self.name, f"table: the {label} axis must be numbers", name) from None
            if len(a) < 2 or not all(math.isfinite(v) for v in a):
                raise ModelDeclarationError(
                    self.name, f"table: the {label} axis needs at least two finite points, got {list(a)}", name)
            bad = [k for k in range(len(a) - 1) if not a[k + 1] > a[k]]
            if bad:
                k = bad[0]
                raise ModelDeclarationError(
                    self.name, f"table: the {label} axis must be strictly increasing, but point {k + 1} "
                    f"({a[k + 1]:g}) follows {a[k]:g}", name)
            axes.append(a)
        try:
            grid = tuple(tuple(float(v) for v in row) for row in values)
        except (TypeError, ValueError):
            raise ModelDeclarationError(self.name, "table: the values must be numbers", name) from None
        shape = (len(axes[0]), len(axes[1]))
        if len(grid) != shape[0] or any(len(row) != shape[1] for row in grid):
            raise ModelDeclarationError(
                self.name, f"table: the values must have one row per x point and one column per y point, "
                f"shape {shape}", name)
        for i, row in enumerate(grid):
            for j, v in enumerate(row):
                if not math.isfinite(v):
                    raise ModelDeclarationError(
                        self.name, f"table: value {v} at x = {axes[0][i]:g}, y = {axes[1][j]:g} is not finite", name)
        digest = hashlib.sha256(repr((axes, grid)).encode()).hexdigest()[:8]
        arrays = (np.array(axes[0]), np.array(axes[1]), np.array(grid))
        table = Table2D(name, axes[0], axes[1], grid, _table_functions(name, digest, arrays))
        self.tables[name] = table
        return self.lookup(name, x, y)

    def lookup(self, table: str, x: NumberOrExpr, y: NumberOrExpr) -> sp.Expr:
        """The bilinear interpolation of the declared table ``table`` at ``(x, y)``."""
        if table not in self.tables:
            raise ModelDeclarationError(self.name, "no table of that name is declared", table)
        return self.tables[table].functions["value"](sp.sympify(x), sp.sympify(y))

    # ------------------------------------------------------------------ energy ports
    def _port(self, port: Port) -> None:
        if port.name in self.ports:
            raise ModelDeclarationError(self.name, "energy port declared twice", port.name)
        self.ports[port.name] = port
        self.output(
            f"{port.name}_power",
            port.power,
            unit="W",
            description=f"{port.kind} power into the component at port {port.name}",
        )
        energy = self.state(
            f"{port.name}_energy",
            unit="J",
            start=0.0,
            nominal=1e6,
            start_parameter=False,
            description=f"{port.kind} energy into the component at port {port.name} since the start",
        )
        self.derivative(energy, port.power)

    def heat_port(self, name: str, *, power: NumberOrExpr, description: str = "") -> None:
        """A heat flow port; ``power`` in W, positive into the component."""
        self._port(Port(name, "heat", sp.sympify(power), description))

    def electrical_port(self, name: str, *, power: NumberOrExpr, description: str = "") -> None:
        """An electrical power port; ``power`` in W, positive into the component."""
        self._port(Port(name, "electrical", sp.sympify(power), description))

    def chemical_port(self, name: str, *, power: NumberOrExpr, description: str = "") -> None:
        """A chemical power port (mass flow times lower heating value), W, positive into the component."""
        self._port(Port(name, "chemical", sp.sympify(power), description))

    def fluid_port(
        self,
        name: str,
        *,
        mass_flow: sp.Symbol,
        temperature: sp.Symbol,
        specific_heat: sp.Symbol | float,
        inlet: bool,
        description: str = "",
    ) -> None:
        """A fluid stream port: enthalpy flow ``m_dot * c_p * (T - T_REF)``, into the component at an
        inlet and out of it at an outlet."""
        sign = 1 if inlet else -1
        power = sign * mass_flow * specific_heat * (temperature - T_REF)
        cp = str(specific_heat) if isinstance(specific_heat, sp.Symbol) else float(specific_heat)
        self._port(Port(name, "fluid", power, description, str(mass_flow), str(temperature), cp))

    def stored_energy(self, expr: NumberOrExpr) -> None:
        """The energy stored in the component (J), as an expression of states and parameters."""
        self._stored_energy = sp.sympify(expr)

    # ------------------------------------------------------------------ finishing and checks
    def finish(self) -> Model:
        """Add the solver parameters and the stored-energy output, check everything, and freeze."""
        self.parameter(
            "solver_relative_tolerance",
            unit="1",
            start=1e-6,
            min=1e-12,
            max=0.1,
            description="relative error tolerance of the FMU's internal integrator",
        )
        self.parameter(
            "solver_absolute_tolerance",
            unit="1",
            start=1e-6,
            min=1e-15,
            max=1.0,
            description="absolute error tolerance of the integrator, relative to each state's nominal value",
        )
        self.parameter(
            "solver_max_step",
            unit="s",
            start=0.0,
            min=0.0,
            description="largest internal integrator step (0: no limit)",
        )
        self.output(
            "stored_energy",
            self._stored_energy if self._stored_energy is not None else sp.Integer(0),
            unit="J",
            description="energy stored in the component",
        )
        self._check()
        self._finished = True
        return self

    def _check(self) -> None:
        known = {d.symbol for d in self.variables.values()} | {self.time}
        for d in self.variables.values():
            if d.minimum is not None and d.maximum is not None and d.minimum > d.maximum:
                raise ModelDeclarationError(self.name, f"min {d.minimum:g} > max {d.maximum:g}", d.name)
            if d.kind in ("parameter", "input"):
                if not isinstance(d.start, (int, float)) or not math.isfinite(d.start):
                    raise ModelDeclarationError(self.name, "start must be a finite number", d.name)
                if not _within(d.start, d.minimum, d.maximum):
                    raise ModelDeclarationError(
                        self.name, f"start {d.start:g} is outside {_range(d)}", d.name
                    )
                if d.vtype == "Boolean" and d.start not in (0, 1):
                    raise ModelDeclarationError(self.name, "a Boolean starts at 0 or 1", d.name)
                if d.vtype == "Integer" and float(d.start) != int(d.start):
                    raise ModelDeclarationError(self.name, "an Integer starts at a whole number", d.name)
            if d.vtype not in ("Real", "Integer", "Boolean"):
                raise ModelDeclarationError(self.name, f"unknown type '{d.vtype}'", d.name)
            if d.vtype != "Real" and any(b is not None and b != int(b) for b in (d.minimum, d.maximum)):
                raise ModelDeclarationError(self.name, f"the min and max of an {d.vtype} are whole numbers", d.name)
            exprs = []
            if d.expr is not None:
                exprs.append(d.expr)
            if d.kind == "state":
                if d.name not in self.derivatives:
                    raise ModelDeclarationError(self.name, "state without a derivative", d.name)
                exprs.append(self.derivatives[d.name])
                exprs.append(sp.sympify(d.start))
                if isinstance(d.start, (int, float)) and not _within(d.start, d.minimum, d.maximum):
                    raise ModelDeclarationError(self.name, f"start {d.start:g} is outside {_range(d)}", d.name)
            for e in exprs:
                unknown = e.free_symbols - known
                if unknown:
                    names = ", ".join(sorted(str(s) for s in unknown))
                    raise ModelDeclarationError(self.name, f"equation uses undeclared symbol(s) {names}", d.name)
        for r in self.resets:
            for e in (r.value, r.period):
                if e is not None and e.free_symbols - known:
                    names = ", ".join(sorted(str(s) for s in e.free_symbols - known))
                    raise ModelDeclarationError(self.name, f"reset uses undeclared symbol(s) {names}", r.state)
            if r.period is not None:
                bad = {str(s) for s in r.period.free_symbols} - {
                    n for n, d in self.variables.items() if d.kind == "parameter"
                }
                if bad:
                    raise ModelDeclarationError(
                        self.name, f"a reset period may depend on parameters only, not {sorted(bad)}", r.state
                    )
        self._check_acyclic()

    def _check_acyclic(self) -> None:
        defined = {n: d.expr for n, d in self.variables.items() if d.expr is not None}
        state_of: dict[str, int] = {}

        def visit(name: str, chain: list[str]) -> None:
            mark = state_of.get(name)
            if mark == 2:
                return
            if mark == 1:
                cycle = " -> ".join([*chain[chain.index(name):], name])
                raise ModelDeclarationError(self.name, f"algebraic cycle {cycle}", name)
            state_of[name] = 1
            for s in defined[name].free_symbols:
                if str(s) in defined:
                    visit(str(s), [*chain, name])
            state_of[name] = 2

        for n in defined:
            visit(n, [])

    # ------------------------------------------------------------------ views used by the back ends
    def of_kind(self, *kinds: str) -> list[Declared]:
        """Declared variables of the given kinds, in declaration order."""
        return [d for d in self.variables.values() if d.kind in kinds]

    @property
    def parameters(self) -> list[Declared]:
        """The parameters, in declaration order."""
        return self.of_kind("parameter")

    @property
    def inputs(self) -> list[Declared]:
        """The inputs, in declaration order."""
        return self.of_kind("input")

    @property
    def states(self) -> list[Declared]:
        """The continuous states, in declaration order."""
        return self.of_kind("state")

    @property
    def outputs(self) -> list[Declared]:
        """The outputs (defined by expressions), in declaration order."""
        return self.of_kind("output")

    @property
    def locals(self) -> list[Declared]:
        """The local intermediate quantities, in declaration order."""
        return self.of_kind("local")

    def primitive(self, expr: sp.Expr) -> sp.Expr:
        """``expr`` with every output and local replaced by its definition, recursively: an expression
        of time, parameters, inputs and states only."""
        defined = {d.symbol: d for d in self.variables.values() if d.expr is not None}
        subs = {s: self._primitive_of(d.name) for s, d in defined.items() if s in expr.free_symbols}
        if not subs:
            return expr
        # substitute without re-evaluating the enclosing nodes: the value is the same, and re-evaluating
        # Min/Max over large arguments (SymPy compares them pairwise) costs seconds per model
        with sp.evaluate(False):
            return expr.xreplace(subs)

    def _primitive_of(self, name: str) -> sp.Expr:
        if name not in self._primitive_cache:
            self._primitive_cache[name] = self.primitive(self.variables[name].expr)
        return self._primitive_cache[name]

    def defining_expression(self, name: str) -> sp.Expr:
        """The primitive expression of an output or local, or of a state's derivative (``der(name)``)."""
        if name.startswith("der(") and name.endswith(")"):
            return self.primitive(self.derivatives[name[4:-1]])
        return self._primitive_of(name)

    def output_dependencies(self) -> dict[str, list[str]]:
        """For every output: the inputs it depends on directly (direct feedthrough)."""
        inputs = {d.symbol: d.name for d in self.inputs}
        deps: dict[str, list[str]] = {}
        for d in self.variables.values():
            if d.kind == "output" or (d.kind == "state" and d.exposed):
                expr = self._primitive_of(d.name) if d.kind == "output" else sp.Integer(0)
                deps[d.name] = [inputs[s] for s in sorted(expr.free_symbols, key=str) if s in inputs]
        return deps

    # ------------------------------------------------------------------ numpy back end
    def argument_declarations(self) -> list[Declared]:
        """The arguments of the numpy functions after time: parameters, then inputs, then states."""
        return self.parameters + self.inputs + self.states

    def _arguments(self) -> list[sp.Symbol]:
        return [self.time] + [d.symbol for d in self.argument_declarations()]

    def _compile(self, key: str, names: list[str], exprs: list[sp.Expr]) -> _Compiled:
        if key not in self._compiled:
            args = self._arguments()
            function = sp.lambdify(args, exprs, modules="numpy", cse=True)
            self._compiled[key] = _Compiled(args, names, function)
        return self._compiled[key]

    def _argument_values(self, time: Any, values: Mapping[str, Any], check: bool) -> list[Any]:
        unknown = set(values) - {d.name for d in self.of_kind("parameter", "input", "state")}
        if unknown:
            raise ModelInputError(f"model '{self.name}': no parameter, input or state called {sorted(unknown)}")
        out: list[Any] = [np.asarray(time, dtype=float)]
        for d in self.argument_declarations():
            if d.name in values:
                value = np.asarray(values[d.name], dtype=float)
                if check and d.kind != "state":
                    _check_range(self.name, d, value)
            elif d.kind == "state":
                value = np.asarray(self.initial_state(values)[d.name], dtype=float)
            else:
                value = np.asarray(float(d.start))
            out.append(value)
        return out

    def evaluate(self, time: Any = 0.0, check: bool = True, **values: Any) -> dict[str, np.ndarray]:
        """Evaluate every output and local with numpy, vectorised over array arguments.

        ``values`` gives parameters, inputs and states by name (scalars or arrays that broadcast);
        missing parameters and inputs take their start values, missing states their initial values.
        Returns a dict of arrays: outputs, locals, and ``der(<state>)`` for each state's derivative.
        Inputs and parameters outside their declared range raise :class:`ModelInputError` unless
        ``check`` is false.
        """
        names = [d.name for d in self.of_kind("output", "local")] + [f"der({d.name})" for d in self.states]
        compiled = self._compile("all", names, [self.defining_expression(n) for n in names])
        args = self._argument_values(time, values, check)
        with np.errstate(all="ignore"):
            results = compiled.function(*args)
        shape = np.broadcast_shapes(*(np.shape(a) for a in args))
        return {n: np.broadcast_to(np.asarray(r, dtype=float), shape) for n, r in zip(names, results, strict=True)}

    def derivative_function(self) -> Callable[..., Any]:
        """A numpy function ``f(time, *parameters, *inputs, *states)`` returning the list of state
        derivatives, in the order of :attr:`states`."""
        names = [f"der({d.name})" for d in self.states]
        return self._compile("der", names, [self.defining_expression(n) for n in names]).function

    def initial_state(self, values: Mapping[str, Any] | None = None) -> dict[str, float]:
        """The initial value of each state for the given parameter values (start values otherwise)."""
        values = dict(values or {})
        subs = {
            d.symbol: float(values.get(d.name, d.start)) for d in self.parameters
        }
        return {d.name: float(sp.sympify(d.start).xreplace(subs)) for d in self.states}

    def __repr__(self) -> str:
        counts = ", ".join(f"{len(self.of_kind(k))} {k}s" for k in KINDS)
        return f"<Model {self.name}: {counts}>"


def max_abs(value: Any) -> float:
    """``max(|value|, 1)`` for numbers, 1 for expressions."""
    if isinstance(value, (int, float)):
        return max(abs(float(value)), 1.0)
    return 1.0


def _within(value: float, lo: float | None, hi: float | None) -> bool:
    return (lo is None or value >= lo) and (hi is None or value <= hi)


def _range(d: Declared) -> str:
    lo = "-inf" if d.minimum is None else f"{d.minimum:g}"
    hi = "inf" if d.maximum is None else f"{d.maximum:g}"
    return f"[{lo}, {hi}] {d.unit}"


def _check_range(model: str, d: Declared, value: np.ndarray) -> None:
    bad = np.isnan(value)
    if d.minimum is not None:
        bad |= value < d.minimum
    if d.maximum is not None:
        bad |= value > d.maximum
    if np.any(bad):
        first = value[bad].flat[0] if value.ndim else float(value)
        raise ModelInputError(f"model '{model}': {d.kind} '{d.name}' = {first:g} is outside {_range(d)}")

