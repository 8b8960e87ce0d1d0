"""Generate the per-model C code of an FMU from a model declaration.

The output is two files that implement the contract in ``runtime/kl_model.h``:

* ``kl_config.h`` — identifiers and sizes;
* ``kl_model.c`` — the variable table and the hooks (start values, initialisation, derivatives,
  analytic Jacobian and ∂f/∂t, outputs, time events and input events).

Expressions are the model's primitive expressions (outputs and locals substituted) printed with
SymPy's C99 printer after common sub-expression elimination. ``Min``/``Max`` differentiate to
Heaviside steps, printed as comparisons (1/2 at a tie); a Jacobian row that would hold a DiracDelta
is differentiated with ``Min``/``Max`` rewritten as ``Piecewise`` instead.

Tables declared with ``Model.table2d`` become static const arrays and small lookup functions
(value, ∂/∂x, ∂/∂y, ∂²/∂x∂y; bilinear with the query clamped to the grid, the same semantics as
:func:`kreislauf.models.declare.table2d_lookup`), emitted once into ``kl_model.c`` and only when an
equation uses them, so the model code needs nothing beyond libm.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import sympy as sp
from sympy.printing.c import C99CodePrinter

from kreislauf.models.declare import TABLE_OUTPUTS, Declared, Model, Table2D

__all__ = ["GeneratedModel", "VariableLayout", "generate", "layout"]

C_RESERVED = {
    # C keywords
    "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else", "enum",
    "extern", "float", "for", "goto", "if", "inline", "int", "long", "register", "restrict", "return",
    "short", "signed", "sizeof", "static", "struct", "switch", "typedef", "union", "unsigned", "void",
    "volatile", "while",
    # names of math.h and of the hook arguments
    "exp", "log", "pow", "sqrt", "sin", "cos", "tan", "fabs", "floor", "ceil", "fmin", "fmax", "expm1",
    "log1p", "round", "v", "dx", "jac", "dfdt", "previous", "t", "y", "j0", "j1", "jn", "y0", "y1", "yn",
    "gamma", "erf", "erfc", "exp2", "log2", "log10", "cbrt", "hypot", "atan", "atan2", "asin", "acos",
    "sinh", "cosh", "tanh", "trunc", "fmod", "remainder", "nan", "signbit", "isnan", "isinf",
    "ldexp", "frexp", "modf", "lgamma", "tgamma", "rint", "lrint", "llrint", "lround", "llround", "nearbyint",
    "fma", "fdim", "copysign", "logb", "ilogb", "scalbn", "scalbln", "nextafter", "nexttoward", "remquo",
    "asinh", "acosh", "atanh", "isfinite", "isnormal", "fpclassify", "main",
    # locals of the generated hooks
    "i", "fired", "next", "event",
}
_GENERATED_LOCAL = re.compile(r"^(cse|new|period|due)_\d+$")
CAUSALITY_C = {
    "independent": "KL_INDEPENDENT",
    "parameter": "KL_PARAMETER",
    "calculatedParameter": "KL_CALCULATED_PARAMETER",
    "input": "KL_INPUT",
    "output": "KL_OUTPUT",
    "local": "KL_LOCAL",
}
TYPE_C = {"Real": "KL_REAL", "Integer": "KL_INTEGER", "Boolean": "KL_BOOLEAN"}


@dataclass(frozen=True)
class VariableLayout:
    """One FMU variable: value reference (= index in the runtime's value array) and FMI attributes."""

    vr: int
    name: str
    causality: str  # independent, parameter, input, output, local
    variability: str  # continuous, discrete, fixed
    vtype: str  # Real, Integer, Boolean
    unit: str
    description: str
    start: float | None  # None for calculated variables
    minimum: float | None
    maximum: float | None
    declared: Declared | None  # None for time


def layout(model: Model) -> list[VariableLayout]:
    """The FMU variables of ``model`` in value-reference order: time, parameters, inputs, states,
    outputs, locals."""
    rows = [VariableLayout(0, "time", "independent", "continuous", "Real", "s",
                           "simulation time since the start of the run", None, None, None, None)]
    for kind in ("parameter", "input", "state", "output", "local"):
        for d in model.of_kind(kind):
            if kind == "parameter":
                causality, variability, start = "parameter", "fixed", float(d.start)
            elif kind == "input":
                causality, start = "input", float(d.start)
                variability = "continuous" if d.vtype == "Real" else "discrete"
            elif kind == "state":
                causality, variability, start = ("output" if d.exposed else "local"), "continuous", None
            else:
                # FMI 2.0 and 3.0: only Real (Float64) variables may be continuous
                causality, start = ("output" if kind == "output" else "local"), None
                variability = "continuous" if d.vtype == "Real" else "discrete"
            rows.append(VariableLayout(len(rows), d.name, causality, variability, d.vtype, d.unit, d.description,
                                       start, d.minimum, d.maximum, d))
    return rows


@dataclass(frozen=True)
class GeneratedModel:
    """The generated C sources and the layout they were generated for."""

    identifier: str
    token: str
    variables: list[VariableLayout]
    files: dict[str, str]  # file name -> text


class _Printer(C99CodePrinter):
    """C99 printer that keeps integer-valued floats exact and prints Eq() as ==."""

    def _print_Relational(self, expr: sp.Basic) -> str:
        ops = {"==": "==", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
        return f"({self._print(expr.lhs)} {ops[expr.rel_op]} {self._print(expr.rhs)})"

    def _print_Heaviside(self, expr: sp.Basic) -> str:
        # the derivative of Min/Max: H(x) = 1 for x > 0, 0 for x < 0, H0 (1/2 by default) at 0
        x = self._print(expr.args[0])
        h0 = self._print(expr.args[1]) if len(expr.args) > 1 else "0.5"
        return f"(({x}) > 0 ? 1.0 : (({x}) < 0 ? 0.0 : {h0}))"

    def _print_Function(self, expr: sp.Basic) -> str:
        if hasattr(expr.func, "kl_table"):  # a table lookup: a function emitted into kl_model.c
            return f"{expr.func.__name__}({', '.join(self._print(a) for a in expr.args)})"
        return super()._print_Function(expr)

    def _print_BooleanTrue(self, expr: sp.Basic) -> str:
        return "1"

    def _print_BooleanFalse(self, expr: sp.Basic) -> str:
        return "0"


def _c_name(name: str) -> str:
    """The C identifier of a model variable. Names that a C keyword, a math.h function or a local of
    the generated hooks (``cse_3``, ``new_0``, ``fired``, ...) would shadow get the prefix ``KL_V_``:
    model names are lower case, so the prefixed name cannot clash with another variable."""
    return f"KL_V_{name}" if name in C_RESERVED or _GENERATED_LOCAL.match(name) else name


def _minmax_as_piecewise(e: sp.Expr) -> sp.Expr:
    """``Max(a, b, ...)`` as ``Piecewise((a, a >= Max(b, ...)), (Max(b, ...), True))`` (``<=`` for Min),
    built without SymPy's own rewrite, which folds and simplifies the conditions (seconds per model)
    for no change in value."""
    relation = sp.Ge if isinstance(e, sp.Max) else sp.Le
    result = e.args[-1]
    for a in reversed(e.args[:-1]):
        result = sp.Piecewise((a, relation(a, result)), (result, True), evaluate=False)
    return result


def _rewrite_minmax(expr: sp.Expr) -> sp.Expr:
    return expr.replace(lambda e: isinstance(e, (sp.Min, sp.Max)), _minmax_as_piecewise)


def _number(value: float) -> str:
    if math.isinf(value):
        return "INFINITY" if value > 0 else "-INFINITY"
    return repr(float(value))


def _token(model: Model, rows: Sequence[VariableLayout]) -> str:
    text = model.name + "|" + "|".join(f"{r.vr}:{r.name}:{r.causality}:{r.vtype}:{r.start}" for r in rows)
    for d in model.states:
        text += f"|der({d.name})={model.defining_expression(f'der({d.name})')}"
    return "{" + str(uuid.uuid5(uuid.NAMESPACE_URL, "kreislauf:" + text)) + "}"


class _Emitter:
    """Prints blocks of assignments with shared common sub-expressions."""

    def __init__(self, model: Model, rows: Sequence[VariableLayout]):
        self.model = model
        self.vr = {r.name: r.vr for r in rows}
        self.printer = _Printer()
        self.begin()

    def begin(self) -> None:
        """Start a new C function: forget the names declared so far."""
        self.declared: set[str] = set()
        self.cse_count = 0

    def reads(self, exprs: Sequence[sp.Expr], source: str = "v") -> list[str]:
        symbols: set[sp.Symbol] = set()
        for e in exprs:
            symbols |= e.free_symbols
        lines = []
        for s in sorted(symbols, key=str):
            name = str(s)
            if name in self.declared:
                continue
            self.declared.add(name)
            lines.append(f"    const double {_c_name(name)} = {source}[{self.vr[name]}];")
        return lines

    def block(self, targets: Sequence[str], exprs: Sequence[sp.Expr], source: str = "v") -> list[str]:
        exprs = [sp.sympify(e) for e in exprs]
        rename = {s: sp.Symbol(_c_name(str(s)), real=True) for e in exprs for s in e.free_symbols
                  if _c_name(str(s)) != str(s)}
        exprs = [e.xreplace(rename) if rename else e for e in exprs]
        replacements, reduced = sp.cse(
            exprs, symbols=sp.numbered_symbols("cse_", start=self.cse_count), optimizations=None
        )
        self.cse_count += len(replacements)
        originals = {v: k for k, v in rename.items()}
        lines = self.reads([e.xreplace(originals) for e in exprs], source)
        if not lines:  # constant expressions (e.g. the Jacobian of a linear model) read nothing
            lines.append(f"    (void){source};")
        for sym, sub in replacements:
            lines.append(f"    const double {sym} = {self.printer.doprint(sub)};")
        for target, e in zip(targets, reduced, strict=True):
            lines.append(f"    {target} = {self.printer.doprint(e)};")
        return lines


@cache
def generate(model: Model) -> GeneratedModel:
    """Generate ``kl_config.h`` and ``kl_model.c`` for ``model`` (cached per model object)."""
    rows = layout(model)
    vr = {r.name: r.vr for r in rows}
    token = _token(model, rows)
    states = model.states
    ident = model.name
    em = _Emitter(model, rows)

    config = f"""/* Generated by kreislauf for model {ident}. Do not edit. */
#ifndef KL_CONFIG_H
#define KL_CONFIG_H

#define KL_MODEL_IDENTIFIER {ident}
#define KL_MODEL_NAME "{ident}"
#define KL_INSTANTIATION_TOKEN "{token}"
#define KL_N_VARIABLES {len(rows)}
#define KL_N_STATES {len(states)}
#define KL_VR_RELATIVE_TOLERANCE {vr["solver_relative_tolerance"]}
#define KL_VR_ABSOLUTE_TOLERANCE {vr["solver_absolute_tolerance"]}
#define KL_VR_MAX_SOLVER_STEP {vr["solver_max_step"]}

#endif
"""
    out: list[str] = [
        f"/* Generated by kreislauf for model {ident}: {model.description}. Do not edit. */",
        "#include <math.h>",
        '#include "kl_model.h"',
        "",
        "const kl_variable_info kl_variables[KL_N_VARIABLES] = {",
    ]
    for r in rows:
        start = r.start
        if r.declared is not None and r.declared.kind == "state":
            start = model.initial_state().get(r.name, 0.0)
        lo = -math.inf if r.minimum is None else r.minimum
        hi = math.inf if r.maximum is None else r.maximum
        unit = "" if r.unit == "1" else r.unit
        out.append(
            f'    {{"{r.name}", "{unit}", {TYPE_C[r.vtype]}, {CAUSALITY_C[r.causality]}, '
            f"{_number(start or 0.0)}, {_number(lo)}, {_number(hi)}}},"
        )
    out.append("};")
    if states:
        out.append("const int kl_state_vr[KL_N_STATES] = {" + ", ".join(str(vr[d.name]) for d in states) + "};")
        out.append(
            "const double kl_state_nominal[KL_N_STATES] = {" + ", ".join(_number(d.nominal) for d in states) + "};"
        )
    out += ["", "void kl_set_start_values(double *v)", "{", "    int i;",
            "    for (i = 0; i < KL_N_VARIABLES; i++) v[i] = kl_variables[i].start;",
            "    v[KL_VR_TIME] = 0.0;", "}", ""]

    init_targets = [f"v[{vr[d.name]}]" for d in states]
    init_exprs = [sp.sympify(d.start) for d in states]
    em.begin()
    out += ["void kl_initialize(double *v)", "{"]
    out += em.block(init_targets, init_exprs) if states else ["    (void)v;"]
    out += ["}", ""]

    der = [model.defining_expression(f"der({d.name})") for d in states]
    em.begin()
    out += ["void kl_derivatives(const double *v, double *dx)", "{"]
    out += em.block([f"dx[{i}]" for i in range(len(states))], der) if states else ["    (void)v; (void)dx;"]
    out += ["}", ""]

    em.begin()
    out += ["void kl_jacobian(const double *v, double *jac, double *dfdt)", "{"]
    if states:
        for targets, exprs, names in _jacobian(model):
            out += em.block(targets, exprs)
            em.declared.update(names)  # defined in the block: later blocks must not read them from v
    else:
        out += ["    (void)v; (void)jac; (void)dfdt;"]
    out += ["}", ""]

    calc = model.of_kind("output", "local")
    em.begin()
    out += ["void kl_outputs(double *v)", "{"]
    out += em.block([f"v[{vr[d.name]}]" for d in calc], [model.defining_expression(d.name) for d in calc])
    out += ["}", ""]

    periodic = [r for r in model.resets if r.period is not None]
    rising = [r for r in model.resets if r.rising is not None]
    em.begin()
    out += ["double kl_next_time_event(const double *v)", "{", "    double next = INFINITY;"]
    periods = sorted({str(r.period) for r in periodic})
    period_expr = {str(r.period): r.period for r in periodic}
    if periods:
        out += em.block([f"const double period_{i}" for i in range(len(periods))],
                        [period_expr[p] for p in periods])
        out.append("    const double t = v[KL_VR_TIME];")
        for i in range(len(periods)):
            out += [
                f"    if (period_{i} > 0.0) {{",
                f"        double event = (floor(t / period_{i}) + 1.0) * period_{i};",
                f"        if (event <= t) event += period_{i};",
                "        if (event < next) next = event;",
                "    }",
            ]
    else:
        out.append("    (void)v;")
    out += ["    return next;", "}", ""]

    em.begin()
    out += _reset_function(
        em, vr, "int kl_time_events(double *v)", periodic, periods,
        lambda r: f"due_{periods.index(str(r.period))}",
        prologue=(
            em.block([f"const double period_{i}" for i in range(len(periods))], [period_expr[p] for p in periods])
            + ["    const double t = v[KL_VR_TIME];"]
            + [f"    const int due_{i} = period_{i} > 0.0 && t >= 0.5 * period_{i} && "
               f"fabs(t - round(t / period_{i}) * period_{i}) <= 1e-9 * period_{i};" for i in range(len(periods))]
        ) if periods else [],
    )
    em.begin()
    out += _reset_function(
        em, vr, "int kl_input_events(const double *previous, double *v)", rising, [],
        lambda r: f"(previous[{vr[r.rising]}] < 0.5 && v[{vr[r.rising]}] >= 0.5)",
        prologue=[] if rising else ["    (void)previous;"],
    )
    body = "\n".join(out) + "\n"
    tables = _table_code(model.tables.values(), body)
    if tables:
        at = body.index("const kl_variable_info kl_variables")
        body = body[:at] + "\n".join(tables) + "\n\n" + body[at:]
    return GeneratedModel(ident, token, rows, {"kl_config.h": config, "kl_model.c": body})


_TABLE_LOOKUP_C = """/* Bilinear interpolation in a table of nx x ny values (row-major: values[i * ny + j] belongs to
   x[i], y[j]). The query is clamped to the grid (derivatives along a clamped coordinate are 0); a query on an
   inner grid line belongs to the cell above it. which: 0 value, 1 d/dx, 2 d/dy, 3 d2/dxdy. */
static int kl_table_cell(const double *axis, int n, double q)
{
    int lo = 0, hi = n - 1;
    if (!(q >= axis[1])) return 0;
    if (q >= axis[n - 2]) return n - 2;
    while (hi - lo > 1) {
        const int mid = (lo + hi) / 2;
        if (q >= axis[mid]) lo = mid; else hi = mid;
    }
    return lo;
}

static double kl_table_lookup(const double *xa, int nx, const double *ya, int ny, const double *values,
                              double x, double y, int which)
{
    const int inside_x = x >= xa[0] && x <= xa[nx - 1];
    const int inside_y = y >= ya[0] && y <= ya[ny - 1];
    const double xc = x < xa[0] ? xa[0] : (x > xa[nx - 1] ? xa[nx - 1] : x);
    const double yc = y < ya[0] ? ya[0] : (y > ya[ny - 1] ? ya[ny - 1] : y);
    const int i = kl_table_cell(xa, nx, xc);
    const int j = kl_table_cell(ya, ny, yc);
    const double hx = xa[i + 1] - xa[i], hy = ya[j + 1] - ya[j];
    const double tx = (xc - xa[i]) / hx, ty = (yc - ya[j]) / hy;
    const double v00 = values[i * ny + j], v10 = values[(i + 1) * ny + j];
    const double v01 = values[i * ny + j + 1], v11 = values[(i + 1) * ny + j + 1];
    if (isnan(x) || isnan(y)) return NAN;
    switch (which) {
    case 1: return inside_x ? ((1.0 - ty) * (v10 - v00) + ty * (v11 - v01)) / hx : 0.0;
    case 2: return inside_y ? ((1.0 - tx) * (v01 - v00) + tx * (v11 - v10)) / hy : 0.0;
    case 3: return inside_x && inside_y ? (v11 - v10 - v01 + v00) / (hx * hy) : 0.0;
    default: return (1.0 - tx) * (1.0 - ty) * v00 + tx * (1.0 - ty) * v10 + (1.0 - tx) * ty * v01 + tx * ty * v11;
    }
}"""


def _table_code(tables: Sequence[Table2D], body: str) -> list[str]:
    """C for the tables whose lookups ``body`` calls: the shared lookup once, then per table its axes
    and values as static const arrays and one function per lookup used (unused static functions and
    arrays would not compile under -Werror)."""
    used = [(t, [o for o in TABLE_OUTPUTS if re.search(rf"\b{t.functions[o].__name__}\(", body)]) for t in tables]
    used = [(t, outputs) for t, outputs in used if outputs]
    if not used:
        return []
    lines = [_TABLE_LOOKUP_C, ""]
    for table, outputs in used:
        base = table.functions["value"].__name__
        nx, ny = len(table.x_axis), len(table.y_axis)
        lines.append(f"/* table {table.name}: {nx} x {ny} values */")
        lines.append(f"static const double {base}_x[{nx}] = {{{', '.join(_number(v) for v in table.x_axis)}}};")
        lines.append(f"static const double {base}_y[{ny}] = {{{', '.join(_number(v) for v in table.y_axis)}}};")
        lines.append(f"static const double {base}_v[{nx * ny}] = {{")
        for row in table.values:
            lines.append("    " + ", ".join(_number(v) for v in row) + ",")
        lines.append("};")
        for output in outputs:
            name = table.functions[output].__name__
            lines += [f"static double {name}(double x, double y)", "{",
                      f"    return kl_table_lookup({base}_x, {nx}, {base}_y, {ny}, {base}_v, x, y, "
                      f"{TABLE_OUTPUTS.index(output)});", "}"]
        lines.append("")
    return lines


def _jacobian(model: Model) -> list[tuple[list[str], list[sp.Expr], list[str]]]:
    """∂f/∂x (row-major) and ∂f/∂t by the chain rule over the model's own equations (forward mode).

    Each output or local v that the state derivatives use is computed once from its defining
    expression, followed by its tangents dv/dx_k = Σ_s ∂e_v/∂s · ds/dx_k over the symbols s of that
    expression (states and time: unit tangents; parameters and inputs: zero; earlier outputs and
    locals: their tangents). Differentiating the small defining expressions instead of the fully
    substituted ones keeps the code generation fast and the C compact. Min and Max differentiate to
    Heaviside steps (printed as comparisons); only an expression whose partial derivatives would hold a
    distribution (DiracDelta) is differentiated with Min/Max rewritten as Piecewise instead.

    Returns blocks of (C targets, expressions, names defined) in evaluation order; definitions no
    Jacobian entry needs are left out.
    """
    states = model.states
    n = len(states)
    columns = [d.symbol for d in states] + [model.time]
    defined = {d.symbol: d for d in model.variables.values() if d.expr is not None}
    tangent: dict[sp.Symbol, list[sp.Expr]] = {
        c: [sp.Integer(1 if j == k else 0) for j in range(n + 1)] for k, c in enumerate(columns)
    }

    def chain(expr: sp.Expr) -> list[sp.Expr]:
        symbols = [s for s in expr.free_symbols if s in tangent]
        partial = {s: sp.diff(expr, s) for s in symbols}
        if any(e.has(sp.DiracDelta) for e in partial.values()):
            smooth = _rewrite_minmax(expr)
            partial = {s: sp.diff(smooth, s) for s in symbols}
        row = []
        for k in range(n + 1):
            terms = [partial[s] * tangent[s][k] for s in symbols if tangent[s][k] != 0 and partial[s] != 0]
            row.append(sp.Add(*terms) if terms else sp.Integer(0))
        return row

    order: list[sp.Symbol] = []
    seen: set[sp.Symbol] = set()

    def visit(symbol: sp.Symbol) -> None:
        if symbol in seen:
            return
        seen.add(symbol)
        for s in sorted(defined[symbol].expr.free_symbols, key=str):
            if s in defined:
                visit(s)
        order.append(symbol)

    direct = [sp.sympify(model.derivatives[d.name]) for d in states]
    for f in direct:
        for s in sorted(f.free_symbols, key=str):
            if s in defined:
                visit(s)

    steps: list[tuple[sp.Symbol, str, sp.Expr]] = []  # (owner, target symbol name, expression)
    for symbol in order:
        expr = defined[symbol].expr
        steps.append((symbol, str(symbol), expr))
        row = chain(expr)
        if any(e != 0 for e in row):
            tangent[symbol] = []
            for k, e in enumerate(row):
                if e == 0:
                    tangent[symbol].append(sp.Integer(0))
                else:
                    ds = sp.Symbol(f"KL_D{k}_{symbol}", real=True)
                    steps.append((symbol, str(ds), e))
                    tangent[symbol].append(ds)
    final_targets: list[str] = []
    final_exprs: list[sp.Expr] = []
    for i, f in enumerate(direct):
        row = chain(f)
        final_targets += [f"jac[{i * n + j}]" for j in range(n)] + [f"dfdt[{i}]"]
        final_exprs += row

    needed = {str(s) for e in final_exprs for s in e.free_symbols}
    kept: list[tuple[sp.Symbol, str, sp.Expr]] = []
    for owner, target, expr in reversed(steps):
        if target in needed:
            kept.append((owner, target, expr))
            needed |= {str(s) for s in expr.free_symbols}
    kept.reverse()
    blocks: list[tuple[list[str], list[sp.Expr], list[str]]] = []
    owners: list[sp.Symbol] = []  # one block per output or local: its value and its tangents
    for owner, target, expr in kept:
        name = _c_name(target) if target == str(owner) else target
        if not (owners and owners[-1] == owner):
            blocks.append(([], [], []))
            owners.append(owner)
        blocks[-1][0].append(f"const double {name}")
        blocks[-1][1].append(expr)
        blocks[-1][2].append(target)
    blocks.append((final_targets, final_exprs, []))
    return blocks


def _reset_function(em: _Emitter, vr: dict[str, int], signature: str, resets: list, periods: list,
                    condition, prologue: list[str]) -> list[str]:
    """A hook that applies ``resets`` whose condition holds, all from the values before any reset."""
    lines = [signature, "{", "    int fired = 0;"] + prologue
    if not resets:
        lines += ["    (void)v;", "    return fired;", "}", ""]
        return lines
    values = em.block([f"const double new_{i}" for i in range(len(resets))], [r.value for r in resets])
    lines += values
    for i, r in enumerate(resets):
        lines += [f"    if ({condition(r)}) {{ v[{vr[r.state]}] = new_{i}; fired++; }}"]
    lines += ["    return fired;", "}", ""]
    return lines
