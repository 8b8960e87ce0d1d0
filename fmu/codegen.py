"""Generate the per-model C code of an FMU from a model declaration.

The output is two files that implement the contract in ``runtime/kl_model.h``:

* ``kl_config.h`` — identifiers and sizes;
* ``kl_model.c`` — the variable table and the hooks (start values, initialisation, derivatives,
  analytic Jacobian and ∂f/∂t, outputs, time events and input events).

Expressions are the model's primitive expressions (outputs and locals substituted) printed with
SymPy's C99 printer after common sub-expression elimination. ``Min``/``Max`` differentiate to
Heaviside steps, printed as comparisons (1/2 at a tie); a Jacobian row that would hold a DiracDelta
is differentiated with ``Min``/``Max`` rewritten as ``Piecewise`` instead.
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

from kreislauf.models.declare import Declared, Model

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
        targets, exprs = _jacobian(model, der)
        out += em.block(targets, exprs)
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
    return GeneratedModel(ident, token, rows, {"kl_config.h": config, "kl_model.c": "\n".join(out) + "\n"})


def _jacobian(model: Model, der: list[sp.Expr]) -> tuple[list[str], list[sp.Expr]]:
    """The entries of ∂f/∂x (row-major) and ∂f/∂t with their C targets.

    Min and Max differentiate to Heaviside steps (printed as comparisons), which is fast. Only when
    a derivative still holds a distribution (DiracDelta, from differentiating a step the model itself
    contains) is that row redone with Min/Max rewritten as Piecewise, the slower but distribution-free
    form."""
    states = model.states
    targets: list[str] = []
    exprs: list[sp.Expr] = []
    for i, f in enumerate(der):
        row = [sp.diff(f, d.symbol) for d in states] + [sp.diff(f, model.time)]
        if any(e.has(sp.DiracDelta) for e in row):
            smooth = _rewrite_minmax(f)
            row = [sp.diff(smooth, d.symbol) for d in states] + [sp.diff(smooth, model.time)]
        targets += [f"jac[{i * len(states) + j}]" for j in range(len(states))] + [f"dfdt[{i}]"]
        exprs += row
    return targets, exprs


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
