"""Simulate a model in Python, with the same stepping semantics as its exported co-simulation FMU.

This is the reference the FMU is checked against, and a quick way to study a single model:

* communication points t_k = start + k·step; inputs are sampled at t_k and held until t_{k+1}
  (zero-order hold, as a co-simulation master does);
* at t_k, a rising edge of an input (from below 0.5 to 0.5 or above) fires that input's resets;
* between communication points the states are integrated by SciPy's implicit Radau method with a
  finite-difference Jacobian, stopping exactly at periodic reset times t = n·period;
* results are recorded at every communication point, after the events due there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import sympy as sp
from scipy.integrate import solve_ivp

from kreislauf.models.declare import Model, ModelInputError, _check_range

__all__ = ["simulate"]

InputValue = float | Callable[[float], float]


def simulate(
    model: Model,
    stop: float,
    step: float,
    *,
    parameters: Mapping[str, float] | None = None,
    inputs: Mapping[str, InputValue] | None = None,
    start: float = 0.0,
    rtol: float = 1e-10,
    atol: float = 1e-12,
) -> dict[str, np.ndarray]:
    """Simulate ``model`` from ``start`` to ``stop`` (s) with communication step ``step`` (s).

    ``inputs`` maps input names to constants or functions of time (sampled at each communication
    point). ``atol`` is scaled by each state's nominal value. Returns arrays keyed by ``time`` and
    every output, local and state name. Parameters and inputs outside their declared range (NaN
    included), and fractional values of Integer or Boolean parameters, raise :class:`ModelInputError`.
    """
    if step <= 0 or stop <= start:
        raise ModelInputError(f"model '{model.name}': need step > 0 and stop > start")
    params = {d.name: float(d.start) for d in model.parameters}
    for name, value in (parameters or {}).items():
        if name not in params:
            raise ModelInputError(f"model '{model.name}': no parameter called '{name}'")
        params[name] = float(value)
    for d in model.parameters:
        _check_range(model.name, d, np.asarray(params[d.name]))
        if d.vtype != "Real" and params[d.name] != round(params[d.name]):
            raise ModelInputError(f"model '{model.name}': parameter '{d.name}' = {params[d.name]:g} is not a whole "
                                  f"number ({d.vtype})")
    input_spec: dict[str, InputValue] = {d.name: float(d.start) for d in model.inputs}
    for name, value in (inputs or {}).items():
        if name not in input_spec:
            raise ModelInputError(f"model '{model.name}': no input called '{name}'")
        input_spec[name] = value

    states = model.states
    n = len(states)
    x = np.array([model.initial_state(params)[d.name] for d in states], dtype=float)
    scale = np.array([d.nominal for d in states], dtype=float)
    f = model.derivative_function()
    pvals = [np.float64(params[d.name]) for d in model.parameters]
    args = [model.time] + [d.symbol for d in model.argument_declarations()]
    resets = [(r, sp.lambdify(args, r.value, modules="numpy"),
               float(r.period.xreplace({model.variables[k].symbol: v for k, v in params.items()}))
               if r.period is not None else None)
              for r in model.resets]
    state_index = {d.name: i for i, d in enumerate(states)}

    def sample(t: float) -> list[float]:
        values = []
        for d in model.inputs:
            spec = input_spec[d.name]
            value = float(spec(t) if callable(spec) else spec)
            if not np.isfinite(value) or (d.minimum is not None and value < d.minimum) or (
                    d.maximum is not None and value > d.maximum):
                raise ModelInputError(
                    f"model '{model.name}': input '{d.name}' = {value:g} at t = {t:g} s is outside its range")
            values.append(value)
        return values

    def apply(selected: list, t: float, u: list[float], xs: np.ndarray) -> np.ndarray:
        new = xs.copy()
        for r, fn, _period in selected:
            new[state_index[r.state]] = float(fn(t, *pvals, *u, *xs))
        return new

    steps = int(round((stop - start) / step))
    times = start + step * np.arange(steps + 1)
    record_x = np.empty((steps + 1, n))
    record_u = np.empty((steps + 1, len(model.inputs)))
    u_prev = sample(start)
    input_names = [d.name for d in model.inputs]
    record_x[0], record_u[0] = x, u_prev
    for k in range(steps):
        t0, t1 = times[k], times[k + 1]
        u = sample(t0)
        rising = [item for item in resets if item[0].rising is not None
                  and u_prev[input_names.index(item[0].rising)] < 0.5 <= u[input_names.index(item[0].rising)]]
        if rising:
            x = apply(rising, t0, u, x)
        # periodic events inside (t0, t1]
        event_times = sorted({
            m * p for _r, _fn, p in resets if p is not None and p > 0
            for m in range(int(np.floor(t0 / p)) + 1, int(np.floor(t1 / p + 1e-9)) + 1)
        })
        t = t0
        for te in sorted({*event_times, t1}):
            if te > t and n:
                held = (*pvals, *(np.float64(value) for value in u))
                with np.errstate(all="ignore"):
                    sol = solve_ivp(lambda tt, xx, held=held: f(tt, *held, *xx), (t, te), x, method="Radau",
                                    rtol=rtol, atol=atol * scale)
                if not sol.success:
                    raise ModelInputError(f"model '{model.name}': integration failed at t = {t:g} s: {sol.message}")
                x = sol.y[:, -1]
            t = te
            due = [item for item in resets if item[2] is not None and item[2] > 0
                   and abs(te - round(te / item[2]) * item[2]) <= 1e-9 * item[2] and te >= 0.5 * item[2]]
            if due:
                x = apply(due, te, u, x)
        u_prev = u
        record_x[k + 1], record_u[k + 1] = x, u
    values: dict[str, Any] = {d.name: record_u[:, i] for i, d in enumerate(model.inputs)}
    values.update({d.name: record_x[:, i] for i, d in enumerate(states)})
    values.update({d.name: params[d.name] for d in model.parameters})
    result = model.evaluate(times, check=False, **values)
    result.update({d.name: record_x[:, i] for i, d in enumerate(states)})
    result["time"] = times
    return {k: np.asarray(v) for k, v in result.items() if not k.startswith("der(")}
