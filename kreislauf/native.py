"""The native stepping path: fixed-step Jacobi and Gauss–Seidel over FMUs, stepped in compiled C.

When every component is an FMU (:class:`kreislauf.fmu.FmuComponent`) or a source (a Python component
without connected inputs, such as :class:`kreislauf.timeseries.TimeSeries`) and the master steps with
a fixed step, the macro steps need no Python: ``kreislauf/native/stepper.c`` runs them through the
FMUs' own FMI functions (the instances fmpy loaded, addresses from
:meth:`~kreislauf.fmu.FmuComponent.fmi_interface`), with the master's own index arrays as its plan.
It mirrors :class:`~kreislauf.master.Master` operation for operation: per component in stepping
order the connected inputs (``y[src]·factor + offset``) are range-checked and set, the FMU steps,
its outputs are read; then the communication point is resolved (feedthrough refreshes, algebraic
loops by fixed point or damped Newton with a finite-difference Jacobian, same tolerance and
iteration limit), every output is checked to be finite and the recorded columns are copied into a
row buffer. Python books the ledger and writes the rows in chunks of :data:`CHUNK` steps.

Multi-rate components (a rate k: stepped at every k-th macro step over ``min(k h, stop − t)``) keep
their outputs pending until the master reaches the end of their step or the stop time, as the
master's ``_dt``/``_read_stepped``/``_expose`` do; a refresh at a communication point while such a
step runs updates the pending outputs. A source is not called from C: before each chunk Python makes
the source's own calls (``do_step``, then its outputs, at exactly the times and steps of the Python
path) for every macro step of the chunk at which it is stepped and stores the outputs row by row; C
copies the row where it would have called the component. Its calls keep their order, so results stay
bit-identical; a failure of a source ends its rows there, and C stops at that step.

Any failure stops C at once; Python then raises exactly what its own path raises (an input's range
error is replayed through the master's own setter for the identical message), after the rows of the
completed steps are written.

The library is compiled at first use with the system C compiler (``-O2``, warnings as errors) into
the cache beside the exported FMUs, keyed by a hash of its sources and flags.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import subprocess
import tempfile
import time
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kreislauf.component import VariableType

if TYPE_CHECKING:
    from kreislauf.master import Master
    from kreislauf.results import ResultWriter

__all__ = ["CHUNK", "CFLAGS", "NativeError", "NativeStepper", "compile_library", "ineligibility", "library",
           "sources"]

CHUNK = 4096  # macro steps per call into C
CFLAGS = ["-std=c99", "-O2", "-fPIC", "-shared", "-fvisibility=hidden", "-ffp-contract=off",
          "-Wall", "-Wextra", "-Wpedantic", "-Werror"]
SOURCES = ("stepper.c", "stepper.h")

# the C type of an FmuComponent access (fmu/importer.py) -> the value kind of stepper.h; an FMI 2
# Boolean (an int32 buffer) is kind 10
_KIND = {ctypes.c_double: 0, ctypes.c_float: 1, ctypes.c_int8: 2, ctypes.c_uint8: 3, ctypes.c_int16: 4,
         ctypes.c_uint16: 5, ctypes.c_int32: 6, ctypes.c_uint32: 7, ctypes.c_int64: 8, ctypes.c_uint64: 9,
         ctypes.c_bool: 11}
_FMI2_BOOLEAN = 10

ERR_RANGE, ERR_VALUE, ERR_SET, ERR_GET, ERR_STEP, ERR_NONFINITE = 1, 2, 3, 4, 5, 6
ERR_LOOP_NONFINITE, ERR_LOOP_SINGULAR, ERR_LOOP_DIVERGED, ERR_SOURCE = 7, 8, 9, 10

_i32p = ctypes.POINTER(ctypes.c_int32)
_f64p = ctypes.POINTER(ctypes.c_double)


class _Access(ctypes.Structure):
    _fields_ = [("kind", ctypes.c_int32), ("count", ctypes.c_int32), ("fn", ctypes.c_void_p),
                ("vrs", ctypes.POINTER(ctypes.c_uint32)), ("positions", _i32p), ("buffer", ctypes.c_void_p)]


class _Component(ctypes.Structure):
    _fields_ = [("fmi", ctypes.c_int32), ("n_inputs", ctypes.c_int32), ("u_start", ctypes.c_int32),
                ("n_outputs", ctypes.c_int32), ("y_start", ctypes.c_int32), ("n_set", ctypes.c_int32),
                ("n_get", ctypes.c_int32), ("n_bounds", ctypes.c_int32), ("identity", ctypes.c_int32),
                ("rate", ctypes.c_int32), ("source", ctypes.c_int32), ("has_pending", ctypes.c_int32),
                ("instance", ctypes.c_void_p), ("do_step", ctypes.c_void_p), ("set", ctypes.POINTER(_Access)),
                ("get", ctypes.POINTER(_Access)), ("bound_pos", _i32p), ("bound_lo", _f64p), ("bound_hi", _f64p),
                ("pending", _f64p), ("source_rows", _f64p), ("source_ready", ctypes.c_int64),
                ("time", ctypes.c_double)]


class _Loop(ctypes.Structure):
    _fields_ = [("n_inputs", ctypes.c_int32), ("n_components", ctypes.c_int32), ("inputs", _i32p),
                ("components", _i32p)]


class _Error(ctypes.Structure):
    _fields_ = [("code", ctypes.c_int32), ("component", ctypes.c_int32), ("loop", ctypes.c_int32),
                ("status", ctypes.c_int32), ("terminate", ctypes.c_int32), ("early_return", ctypes.c_int32),
                ("count", ctypes.c_int32), ("pad", ctypes.c_int32), ("time", ctypes.c_double),
                ("step", ctypes.c_double), ("last_time", ctypes.c_double), ("residual", ctypes.c_double),
                ("values", _f64p)]


class _Plan(ctypes.Structure):
    _fields_ = [("n_components", ctypes.c_int32), ("algorithm", ctypes.c_int32), ("n_u", ctypes.c_int32),
                ("n_y", ctypes.c_int32), ("u_identity", ctypes.c_int32), ("n_ops", ctypes.c_int32),
                ("n_record", ctypes.c_int32), ("loop_solver", ctypes.c_int32),
                ("max_iterations", ctypes.c_int32), ("profile", ctypes.c_int32),
                ("loop_tolerance", ctypes.c_double),
                ("start", ctypes.c_double), ("stop", ctypes.c_double), ("step", ctypes.c_double),
                ("components", ctypes.POINTER(_Component)), ("order", _i32p), ("u_src", _i32p),
                ("u_factor", _f64p), ("u_offset", _f64p), ("y", _f64p), ("u", _f64p), ("work", _f64p),
                ("ops", _i32p), ("loops", ctypes.POINTER(_Loop)), ("record", _i32p),
                ("loop_iterations", ctypes.c_int64), ("step_seconds", _f64p), ("io_seconds", _f64p),
                ("step_calls", ctypes.POINTER(ctypes.c_int64)), ("error", _Error)]


class NativeError(RuntimeError):
    """The native stepping path cannot be built or loaded (no compiler, a failed compilation)."""


def source_dir() -> Path:
    """The directory of the C sources shipped with kreislauf."""
    return Path(str(resources.files("kreislauf") / "native"))


def _cache_dir() -> Path:
    from kreislauf.system import default_cache_dir

    return default_cache_dir().parent / "native"


def compile_library(out_dir: Path | None = None) -> Path:
    """Compile the stepper into ``out_dir`` (default: the kreislauf cache) unless a build of the same
    sources and flags is there; returns the shared library. Raises :class:`NativeError`."""
    from kreislauf.fmu.build import CompilerNotFoundError, find_compiler

    try:
        compiler = find_compiler()
    except CompilerNotFoundError as exc:
        raise NativeError(str(exc)) from None
    key = hashlib.sha256(" ".join([compiler, *CFLAGS]).encode())
    for name in SOURCES:
        key.update((source_dir() / name).read_bytes())
    out_dir = out_dir or _cache_dir()
    target = out_dir / f"kreislauf-stepper-{key.hexdigest()[:16]}.so"
    if target.is_file():
        return target
    out_dir.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(prefix=target.stem, suffix=".part", dir=out_dir)
    os.close(fd)
    cmd = [compiler, *CFLAGS, str(source_dir() / "stepper.c"), "-o", partial, "-lm"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise NativeError(f"compiling the native stepper failed ({' '.join(cmd)}):\n{proc.stderr.strip()}")
        os.replace(partial, target)  # atomic: a concurrent process sees the whole library or none
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    return target


_LIBRARY: ctypes.CDLL | NativeError | None = None


def library() -> ctypes.CDLL:
    """The compiled stepper, built and loaded once per process. Raises :class:`NativeError`."""
    global _LIBRARY
    if _LIBRARY is None:
        try:
            lib = ctypes.CDLL(str(compile_library()))
            lib.kl_run.argtypes = [ctypes.POINTER(_Plan), ctypes.c_int64, ctypes.c_int64, _f64p]
            lib.kl_run.restype = ctypes.c_int64
            _LIBRARY = lib
        except (NativeError, OSError) as exc:
            _LIBRARY = exc if isinstance(exc, NativeError) else NativeError(f"cannot load the native stepper: {exc}")
    if isinstance(_LIBRARY, NativeError):
        raise _LIBRARY
    return _LIBRARY


def sources(master: Master) -> list[int]:
    """The components the native path runs as sources: Python components (not FMUs) without connected
    inputs that can roll back (one that cannot, such as a device, is never stepped ahead). Such a
    component is never refreshed at a communication point nor part of an algebraic loop (both need a
    connected input), so its calls are only its own ``do_step`` and ``get_outputs``, which Python makes
    ahead of C for a whole chunk (:meth:`NativeStepper.precompute`)."""
    from kreislauf.fmu import FmuComponent

    return [i for i, comp in enumerate(master.components)
            if not isinstance(comp, FmuComponent) and not master.in_names[i] and getattr(comp, "can_rollback", False)]


def ineligibility(master: Master) -> list[str]:
    """Why the native path cannot step this master's system, one line per reason (empty: it can)."""
    from kreislauf.fmu import FmuComponent

    s = master.settings
    reasons = []
    for i, (name, comp) in enumerate(zip(master.names, master.components, strict=True)):
        if not isinstance(comp, FmuComponent):
            if master.in_names[i]:
                reasons.append(f"component '{name}' is a {type(comp).__name__}, not an FMU, and has connected "
                               f"inputs ({', '.join(master.in_names[i])}; native: Python components only as "
                               "sources without inputs)")
            elif not getattr(comp, "can_rollback", False):
                reasons.append(f"component '{name}' is a {type(comp).__name__} that cannot roll back (a device, or "
                               "tied to the wall clock): it is never stepped ahead of the FMUs")
        else:
            from kreislauf.fmu.importer import _FMI2_ACCESS, _FMI3_ACCESS

            table = _FMI2_ACCESS if comp.fmi_version == 2 else _FMI3_ACCESS
            for var in master.in_names[i] + master.out_names[i]:
                if comp._fmi_type.get(var) not in table:
                    reasons.append(f"component '{name}': variable '{var}' has FMI type {comp._fmi_type.get(var)}")
    if s.algorithm not in ("jacobi", "gauss-seidel"):
        reasons.append(f"algorithm '{s.algorithm}' (native: jacobi or gauss-seidel)")
    if s.adaptive:
        reasons.append("adaptive step size (native: fixed step)")
    if s.extrapolation:
        reasons.append(f"input extrapolation of order {s.extrapolation} (native: 0)")
    if s.energy_conserving:
        reasons.append("energy-conserving coupling")
    if s.realtime:
        reasons.append("real-time pacing")
    return reasons


def _ints(values: Sequence[int]) -> Any:
    return (ctypes.c_int32 * max(1, len(values)))(*values)


def _doubles(values: Sequence[float]) -> Any:
    return (ctypes.c_double * max(1, len(values)))(*values)


class NativeStepper:
    """The plan of a set-up :class:`~kreislauf.master.Master` (components initialised, fast paths
    bound) and the chunked run over it. ``profile`` times every FMU call in C (doStep and set/get, per
    component): :meth:`timing` returns the totals."""

    def __init__(self, master: Master, profile: bool = False):
        from kreislauf.master import _Loop as MasterLoop

        self.master = master
        self.lib = library()
        self._keep: list[Any] = []  # every ctypes array the plan points into
        m = master
        self.sources = sources(m)
        self.source_rows = {i: np.zeros((CHUNK, max(1, len(m.out_names[i])))) for i in self.sources}
        self.pending = [np.zeros(max(1, len(names))) for names in m.out_names]
        self.failures: dict[int, Exception] = {}
        self.source_seconds = np.zeros(len(m.components))
        self.source_calls = np.zeros(len(m.components), dtype=np.int64)
        comps = (_Component * len(m.components))()
        for i, comp in enumerate(m.components):
            comps[i] = self._source(i) if i in self.source_rows else self._component(i, comp)
        self.comps = comps
        self.loops = loops = [op for op in m._plan if isinstance(op, MasterLoop)]
        ops, k = [], 0
        for op in m._plan:
            if isinstance(op, MasterLoop):
                ops.append(-(k + 1))
                k += 1
            else:
                ops.append(int(op))
        c_loops = (_Loop * max(1, len(loops)))()
        for j, loop in enumerate(loops):
            inputs, members = _ints(loop.inputs.tolist()), _ints(loop.components)
            self._keep += [inputs, members]
            c_loops[j] = _Loop(len(loop.inputs), len(loop.components), inputs, members)
        n_max = max((len(loop.inputs) for loop in loops), default=0)
        ledger = m.ledger
        self.record = np.concatenate([m.record_idx, ledger.sender_idx, ledger.receiver_idx]).astype(np.int32)
        n = len(m.components)
        self.step_seconds, self.io_seconds = np.zeros(n), np.zeros(n)
        self.step_calls = np.zeros(n, dtype=np.int64)
        self.u = np.zeros(max(1, len(m.u_owner)))
        self.work = np.zeros(max(1, (n_max + 8) * n_max))
        self.error_values = np.zeros(max(1, len(m.u_owner)))
        arrays = [
            _ints(m._order), _ints(m.u_src.tolist()), _doubles(m.u_factor.tolist()), _doubles(m.u_offset.tolist()),
            _ints(ops), _ints(self.record.tolist()),
        ]
        self._keep += [comps, c_loops, *arrays]
        s = m.settings
        self.plan = _Plan(
            n_components=n, algorithm=0 if s.algorithm == "jacobi" else 1, n_u=len(m.u_owner), n_y=len(m.y),
            u_identity=int(m.u_identity), n_ops=len(ops), n_record=len(self.record),
            loop_solver=0 if s.loop_solver == "newton" else 1, max_iterations=s.max_iterations,
            profile=int(profile), loop_tolerance=s.loop_tolerance, start=s.start,
            stop=s.stop, step=s.step, components=comps, order=arrays[0], u_src=arrays[1], u_factor=arrays[2],
            u_offset=arrays[3], y=m.y.ctypes.data_as(_f64p), u=self.u.ctypes.data_as(_f64p),
            work=self.work.ctypes.data_as(_f64p), ops=arrays[4], loops=c_loops, record=arrays[5],
            loop_iterations=0, step_seconds=self.step_seconds.ctypes.data_as(_f64p),
            io_seconds=self.io_seconds.ctypes.data_as(_f64p),
            step_calls=self.step_calls.ctypes.data_as(ctypes.POINTER(ctypes.c_int64)),
        )
        self.plan.error.values = self.error_values.ctypes.data_as(_f64p)

    def _accesses(self, comp: Any, names: Sequence[str], setting: bool) -> Any:
        """FmuComponent's own accesses to ``names`` (one per FMI value type: function, value references,
        buffer), handed to C."""
        accesses = comp._accessors(tuple(names), setting)
        out = (_Access * max(1, len(accesses)))()
        for j, a in enumerate(accesses):
            boolean2 = a.ctype is ctypes.c_int32 and a.variables[0].type is VariableType.BOOLEAN
            pos = _ints(a.index.tolist())
            self._keep += [a, pos]
            out[j] = _Access(_FMI2_BOOLEAN if boolean2 else _KIND[a.ctype], len(a.index),
                             ctypes.cast(a.fn, ctypes.c_void_p).value, a.vrs, pos,
                             ctypes.cast(a.buffer, ctypes.c_void_p))
        self._keep.append(out)
        return out, len(accesses)

    def _component(self, i: int, comp: Any) -> _Component:
        m = self.master
        version, instance, address = comp.fmi_interface()
        sets, n_set = self._accesses(comp, m.in_names[i], True)
        gets, n_get = self._accesses(comp, m.out_names[i], False)
        bounds = m._bounds[i]
        pos, lo, hi = _ints([b[0] for b in bounds]), _doubles([b[1] for b in bounds]), _doubles([b[2] for b in bounds])
        self._keep += [pos, lo, hi]
        u_sl, y_sl = m.u_slices[i], m.y_slices[i]
        return _Component(
            fmi=version, n_inputs=u_sl.stop - u_sl.start, u_start=u_sl.start, n_outputs=y_sl.stop - y_sl.start,
            y_start=y_sl.start, n_set=n_set, n_get=n_get, n_bounds=len(bounds), identity=int(m._identity[i]),
            rate=m.rate[i], source=0, has_pending=0, instance=instance, do_step=address(f"fmi{version}DoStep"),
            set=sets, get=gets, bound_pos=pos, bound_lo=lo, bound_hi=hi,
            pending=self.pending[i].ctypes.data_as(_f64p), source_rows=None, source_ready=0, time=m.settings.start,
        )

    def _source(self, i: int) -> _Component:
        """A source: no FMI calls, its outputs copied from the rows :meth:`precompute` fills."""
        m = self.master
        y_sl = m.y_slices[i]
        return _Component(
            fmi=0, n_inputs=0, u_start=m.u_slices[i].start, n_outputs=y_sl.stop - y_sl.start, y_start=y_sl.start,
            n_set=0, n_get=0, n_bounds=0, identity=1, rate=m.rate[i], source=1, has_pending=0,
            pending=self.pending[i].ctypes.data_as(_f64p),
            source_rows=self.source_rows[i].ctypes.data_as(_f64p), source_ready=0, time=m.settings.start,
        )

    def precompute(self, n0: int) -> None:
        """Step every source over the macro steps ``n0 .. n0 + CHUNK - 1`` at which the master steps it
        (its own times and steps, :meth:`~kreislauf.master.Master._dt`), through the master's own calls
        (``_step``, then ``_outputs``), and store its outputs row by row for C. A failure (an error
        outcome or an exception) ends that source's rows: C stops at that step, and :meth:`run` raises it."""
        m, s = self.master, self.master.settings
        start, stop, h = s.start, s.stop, s.step
        end = stop - 1e-12 * max(1.0, abs(stop))
        for i, rows in self.source_rows.items():
            clock = time.perf_counter()
            t = start if n0 == 0 else min(start + n0 * h, stop)
            ready = 0
            while ready < CHUNK and t < end:
                n = n0 + ready
                t_next = min(start + (n + 1) * h, stop)
                dt = m._dt(i, n, t, t_next - t, stop)
                if dt > 0:
                    try:
                        m._step(i, t, dt)
                        rows[ready, : len(m.out_names[i])] = m._outputs(i)
                    except Exception as exc:
                        self.failures[i] = exc
                        break
                    self.source_calls[i] += 1
                ready += 1
                t = t_next
            self.comps[i].source_ready = ready
            self.source_seconds[i] += time.perf_counter() - clock

    def timing(self) -> dict[str, dict[str, float]]:
        """Per component: seconds inside doStep and inside set/get, and doStep calls (FMUs, timed in C
        under ``profile``); for a source, the seconds and steps of its precomputation (``source_s``,
        ``source_steps``)."""
        return {
            name: {"do_step_s": float(self.step_seconds[i]), "set_get_s": float(self.io_seconds[i]),
                   "do_step_calls": int(self.step_calls[i]), "source_s": float(self.source_seconds[i]),
                   "source_steps": int(self.source_calls[i])}
            for i, name in enumerate(self.master.names)
        }

    def run(self, writer: ResultWriter, show: bool) -> None:
        """Step from the master's start to its stop (the initial row already recorded), writing every
        completed step; on a failure the steps before it are written and the master's own error raised."""
        from kreislauf.master import _draw_progress

        m, s = self.master, self.master.settings
        n_rec, n_bonds = len(m.record_idx), len(m.ledger.names)
        width = 1 + len(self.record)
        rows = np.empty((CHUNK, width))
        rows_ptr = rows.ctypes.data_as(_f64p)
        n, t, iterations = 0, s.start, 0
        last_draw = 0.0
        while True:
            self.precompute(n)
            done = int(self.lib.kl_run(ctypes.byref(self.plan), n, CHUNK, rows_ptr))
            if done:
                block = rows[:done]
                times = block[:, 0]
                taken = np.diff(times, prepend=t)
                out = np.empty((done, 1 + n_rec + 3 * n_bonds))
                out[:, : 1 + n_rec] = block[:, : 1 + n_rec]
                if n_bonds:
                    sent, received = m.ledger.book_chunk(
                        block[:, 1 + n_rec : 1 + n_rec + n_bonds], block[:, 1 + n_rec + n_bonds :], m.y
                    )
                    out[:, 1 + n_rec :: 3] = sent
                    out[:, 2 + n_rec :: 3] = received
                    out[:, 3 + n_rec :: 3] = sent - received
                writer.write_rows(out)
                n += done
                t = float(times[-1])
                m.stats.steps += done
                m.stats.smallest_step = min(m.stats.smallest_step, float(taken.min()))
                m.stats.largest_step = max(m.stats.largest_step, float(taken.max()))
                m._time_reached = t
            m.stats.loop_iterations += self.plan.loop_iterations - iterations
            iterations = self.plan.loop_iterations
            if self.plan.error.code:
                self._advance_components()
                self._raise()
            if done < CHUNK:
                self._advance_components()
                break
            if show:
                now = time.perf_counter()
                if now - last_draw > 0.2:
                    last_draw = now
                    _draw_progress(t - s.start, s.stop - s.start)
        if show:
            _draw_progress(s.stop - s.start, s.stop - s.start)

    def _advance_components(self) -> None:
        """Tell every FMU the time C stepped it to (a source kept its own time)."""
        for i, comp in enumerate(self.master.components):
            if i not in self.source_rows:
                comp.advance_time(self.comps[i].time)

    def _raise(self) -> None:
        """Raise what the Python path raises for the failure C reported."""
        from kreislauf.master import (
            AlgebraicLoopError,
            CosimError,
            InputRangeError,
            StepError,
            _Discarded,
            loop_failure,
            loop_left_range,
        )

        m, e = self.master, self.plan.error
        i, t = e.component, e.time
        name = m.names[i] if i >= 0 else "?"
        if e.code == ERR_SOURCE:
            failure = self.failures[i]
            if isinstance(failure, _Discarded):
                raise failure.error from None
            raise failure
        if e.code in (ERR_RANGE, ERR_VALUE, ERR_SET):
            try:
                m._set(i, self.error_values[: e.count].tolist(), t)
            except InputRangeError as exc:
                if e.loop < 0:
                    raise
                # an iterate of a loop left an input's range (C names the loop only for RANGE/VALUE)
                raise AlgebraicLoopError(self.loops[e.loop].variables, loop_left_range(exc), t) from exc
            raise StepError(name, f"the native path stopped at an input it could not set (status {e.status})", time=t)
        if e.code == ERR_GET:
            m._outputs(i)
            raise StepError(name, f"reading outputs failed (status {e.status})", time=t)
        if e.code == ERR_STEP:
            outcome = m.components[i].step_outcome(e.status, t, e.step, bool(e.terminate), bool(e.early_return),
                                                   e.last_time)
            try:
                m._step_failed(i, outcome, t, e.step)
            except _Discarded as exc:
                raise exc.error from None
            raise StepError(name, f"step from t = {t:g} s over {e.step:g} s failed", time=t)
        if e.code == ERR_NONFINITE:
            m._check_finite(t)
            raise CosimError(f"the native path reported a non-finite output at t = {t:g} s")
        loop = self.loops[e.loop]
        kind = {ERR_LOOP_NONFINITE: "nonfinite", ERR_LOOP_SINGULAR: "singular", ERR_LOOP_DIVERGED: "diverged"}
        raise AlgebraicLoopError(loop.variables, loop_failure(kind[e.code], m.settings, e.residual), t)

