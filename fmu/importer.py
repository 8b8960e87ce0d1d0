"""Import any FMI 2.0 or 3.0 co-simulation FMU as a :class:`kreislauf.component.Component`.

:class:`FmuComponent` extracts the archive safely (:mod:`kreislauf.fmu.archive`), reads and validates
``modelDescription.xml`` with fmpy, and drives the binary through fmpy's ``FMU2Slave`` /
``FMU3Slave``. The hot path (set inputs, doStep, get outputs) calls the FMI functions directly with
value-reference arrays resolved once, so a step costs little more than the FMU's own work.

Energy ports: FMUs exported by kreislauf carry ``resources/kreislauf-energy.json``; for other FMUs
the system file may declare ports (``energy_ports`` argument).
"""

from __future__ import annotations

import ctypes
import json
import shutil
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from fmpy import calloc, free, read_model_description
from fmpy.fmi1 import FMICallException
from fmpy.fmi2 import (
    FMU2Slave,
    fmi2CallbackAllocateMemoryTYPE,
    fmi2CallbackFreeMemoryTYPE,
    fmi2CallbackFunctions,
    fmi2CallbackLoggerTYPE,
)
from fmpy.fmi3 import FMU3Slave

from kreislauf.component import (
    Causality,
    ComponentError,
    EnergyPort,
    PortKind,
    StepOutcome,
    StepStatus,
    Variability,
    Variable,
    VariableType,
)
from kreislauf.fmu.archive import ExtractionLimits, FmuArchiveError, safe_extract

__all__ = ["FmuComponent", "FmuDescriptionError"]

_TYPES = {"Real": VariableType.REAL, "Float64": VariableType.REAL, "Float32": VariableType.REAL,
          "Integer": VariableType.INTEGER, "Int32": VariableType.INTEGER, "Int64": VariableType.INTEGER,
          "Int16": VariableType.INTEGER, "Int8": VariableType.INTEGER, "UInt8": VariableType.INTEGER,
          "UInt16": VariableType.INTEGER, "UInt32": VariableType.INTEGER, "UInt64": VariableType.INTEGER,
          "Enumeration": VariableType.INTEGER, "Boolean": VariableType.BOOLEAN}
_LOG_LIMIT = 200
_CAUSALITIES = {c.value for c in Causality}
# FMI type name -> (suffix of the get/set functions, C type of the values)
_FMI2_ACCESS = {"Real": ("Real", ctypes.c_double), "Integer": ("Integer", ctypes.c_int32),
                "Enumeration": ("Integer", ctypes.c_int32), "Boolean": ("Boolean", ctypes.c_int32)}
_FMI3_ACCESS = {"Float64": ("Float64", ctypes.c_double), "Float32": ("Float32", ctypes.c_float),
                "Int8": ("Int8", ctypes.c_int8), "UInt8": ("UInt8", ctypes.c_uint8),
                "Int16": ("Int16", ctypes.c_int16), "UInt16": ("UInt16", ctypes.c_uint16),
                "Int32": ("Int32", ctypes.c_int32), "UInt32": ("UInt32", ctypes.c_uint32),
                "Int64": ("Int64", ctypes.c_int64), "UInt64": ("UInt64", ctypes.c_uint64),
                "Enumeration": ("Int64", ctypes.c_int64), "Boolean": ("Boolean", ctypes.c_bool)}
# the values a C integer type can hold (beyond the declared min/max, nothing may wrap around)
_C_BOUNDS = {ctypes.c_int8: (-2.0**7, 2.0**7 - 1), ctypes.c_uint8: (0.0, 2.0**8 - 1),
             ctypes.c_int16: (-2.0**15, 2.0**15 - 1), ctypes.c_uint16: (0.0, 2.0**16 - 1),
             ctypes.c_int32: (-2.0**31, 2.0**31 - 1), ctypes.c_uint32: (0.0, 2.0**32 - 1),
             ctypes.c_int64: (-2.0**63, 2.0**63 - 1024), ctypes.c_uint64: (0.0, 2.0**64 - 2048)}


@dataclass
class _Access:
    """The variables of one FMI type among a list of names: the C function, value references, buffer."""

    fn: Any
    vrs: Any
    buffer: Any
    index: np.ndarray  # positions in the list of names
    variables: list[Variable]

    @property
    def ctype(self) -> Any:
        """The C type of the values."""
        return self.buffer._type_


class _Snapshot:
    """A saved FMU state: the FMU's state pointer and the component's time; freed when dropped."""

    __slots__ = ("__weakref__", "pointer", "release", "time")

    def __init__(self, pointer: Any, time: float):
        self.pointer = pointer
        self.time = time
        self.release: Any = None


class FmuDescriptionError(FmuArchiveError):
    """``modelDescription.xml`` is missing, malformed, invalid, or the FMU has no co-simulation interface."""


def _float(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, str):
        if value.lower() in ("true", "false"):
            return 1.0 if value.lower() == "true" else 0.0
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _refuse_dtd(fmu: Path, description: Path) -> None:
    """FMI model descriptions have no document type declaration; one in a file from elsewhere can only
    be an attempt at entity expansion (billion laughs) or at reading local files (external entities),
    so it is refused before any XML parser sees the file."""
    head = description.read_bytes()
    if b"<!DOCTYPE" in head or b"<!ENTITY" in head:
        raise FmuDescriptionError(f"{fmu}: modelDescription.xml has a DOCTYPE or ENTITY declaration (refused)")
    if not head.lstrip().startswith((b"<", b"\xef\xbb\xbf")):
        raise FmuDescriptionError(f"{fmu}: modelDescription.xml is not UTF-8 XML")


class FmuComponent:
    """A co-simulation FMU (FMI 2.0 or 3.0, ours or anyone's) behind the Component protocol.

    ``path`` is the ``.fmu`` file; ``name`` the instance name in the system (default: the model
    name). ``tolerance`` is handed to the FMU's integrator when given. The archive is extracted into
    a private temporary directory that :meth:`close` removes (or, failing that, garbage collection).

    Besides the Component protocol, :meth:`input_setter` and :meth:`output_getter` resolve a fixed
    list of names once and return functions over arrays: the fast path for a master. Snapshots from
    :meth:`save_state` are freed in the FMU when the last reference to them is dropped.
    """

    def __init__(self, path: Path | str, name: str | None = None, *, tolerance: float | None = None,
                 energy_ports: Mapping[str, EnergyPort] | None = None,
                 limits: ExtractionLimits | None = None):
        self.path = Path(path)
        self.tolerance = tolerance
        self._unzipdir = safe_extract(self.path, limits=limits)
        self._remove_files = weakref.finalize(self, shutil.rmtree, self._unzipdir, ignore_errors=True)
        try:
            _refuse_dtd(self.path, self._unzipdir / "modelDescription.xml")
            try:
                md = read_model_description(str(self._unzipdir), validate=True)
            except Exception as exc:  # fmpy raises several types (lxml, ValidationError, Exception)
                raise FmuDescriptionError(f"{self.path}: invalid modelDescription.xml: {exc}") from None
            if md.coSimulation is None:
                raise FmuDescriptionError(f"{self.path}: the FMU has no co-simulation interface")
            if md.fmiVersion not in ("2.0", "3.0"):
                raise FmuDescriptionError(f"{self.path}: FMI {md.fmiVersion} is not supported (2.0 and 3.0 are)")
            self.model_description = md
            self.fmi_version = int(md.fmiVersion[0])
            self.name = name or md.modelName
            self.variables = self._variables(md)
            self._vr = {v.name: v.value_reference for v in self.variables.values()}
            self._fmi_type = {sv.name: sv.type for sv in md.modelVariables if sv.name in self.variables}
            self.can_rollback = bool(md.coSimulation.canGetAndSetFMUstate)
            self.output_dependencies = self._dependencies(md)
            self.energy_ports, self.stored_energy = self._energy(energy_ports)
        except Exception:
            self._remove_files()
            raise
        self.log: list[tuple[int, str, str]] = []
        self._fmu: Any = None
        self._time = 0.0
        self._setters: dict[tuple[str, ...], Callable[[np.ndarray], None]] = {}
        self._getters: dict[tuple[str, ...], Callable[[], np.ndarray]] = {}
        self._snapshots: weakref.WeakSet[_Snapshot] = weakref.WeakSet()
        self._live_snapshots = 0

    # ------------------------------------------------------------------ description
    def _variables(self, md: Any) -> dict[str, Variable]:
        out: dict[str, Variable] = {}
        for sv in md.modelVariables:
            vtype = _TYPES.get(sv.type)
            if vtype is None or sv.causality not in _CAUSALITIES or getattr(sv, "dimensions", None):
                # strings, binaries, clocks, FMI 3 arrays and structural parameters (set only in
                # configuration mode): not exchanged through the seam, which carries scalar floats
                continue
            unit = sv.unit if sv.unit else (sv.declaredType.unit if sv.declaredType is not None else None)
            lo = _float(sv.min if sv.min is not None else getattr(sv.declaredType, "min", None))
            hi = _float(sv.max if sv.max is not None else getattr(sv.declaredType, "max", None))
            out[sv.name] = Variable(
                name=sv.name,
                causality=Causality(sv.causality),
                type=vtype,
                variability=Variability(sv.variability),
                unit=unit,
                start=_float(sv.start),
                minimum=lo,
                maximum=hi,
                description=sv.description or "",
                value_reference=int(sv.valueReference),
            )
        return out

    @staticmethod
    def _dependencies(md: Any) -> dict[str, list[str]]:
        deps: dict[str, list[str]] = {}
        inputs = {sv.name for sv in md.modelVariables if sv.causality == "input"}
        for unknown in md.outputs:
            if unknown.dependencies is None:
                deps[unknown.variable.name] = sorted(inputs)
            else:
                deps[unknown.variable.name] = [d.name for d in unknown.dependencies if d.name in inputs]
        return deps

    def _energy(self, given: Mapping[str, EnergyPort] | None) -> tuple[dict[str, EnergyPort], str | None]:
        if given is not None:
            return dict(given), None
        meta = self._unzipdir / "resources" / "kreislauf-energy.json"
        if not meta.is_file():
            return {}, None
        try:
            data = json.loads(meta.read_text())
            ports = {
                p["name"]: EnergyPort(
                    name=p["name"], kind=PortKind(p["kind"]), power=p["power"], energy=p["energy"],
                    mass_flow=p.get("mass_flow"), temperature=p.get("temperature"),
                    specific_heat=p.get("specific_heat"), description=p.get("description", ""),
                )
                for p in data["ports"]
            }
        except (ValueError, KeyError, TypeError) as exc:
            raise FmuDescriptionError(f"{self.path}: resources/kreislauf-energy.json is malformed: {exc}") from None
        for port in ports.values():
            for var in (port.power, port.energy):
                if var not in self.variables:
                    raise FmuDescriptionError(f"{self.path}: energy port '{port.name}' names unknown variable '{var}'")
        return ports, data.get("stored_energy")

    # ------------------------------------------------------------------ life cycle
    def _logger2(self, env: Any, instance: bytes, status: int, category: bytes, message: bytes) -> None:
        self._record(status, category, message)

    def _logger3(self, env: Any, status: int, category: bytes, message: bytes) -> None:
        self._record(status, category, message)

    def _record(self, status: int, category: bytes | None, message: bytes | None) -> None:
        text = message.decode("utf-8", "replace") if message else ""
        self.log.append((int(status), category.decode("utf-8", "replace") if category else "", text))
        if len(self.log) > _LOG_LIMIT:
            del self.log[: len(self.log) - _LOG_LIMIT]

    def last_error(self) -> str:
        """The most recent warning or error message the FMU logged ('' when none)."""
        for status, _category, text in reversed(self.log):
            if status >= 1:
                return text
        return ""

    def setup(self, start: float, stop: float | None, parameters: Mapping[str, float]) -> None:
        """Instantiate, apply ``parameters`` (by name) and initialise at time ``start``."""
        md = self.model_description
        kwargs = dict(guid=md.guid, unzipDirectory=str(self._unzipdir),
                      modelIdentifier=md.coSimulation.modelIdentifier, instanceName=self.name)
        for pname, value in parameters.items():
            var = self.variables.get(pname)
            if var is None or var.causality not in (Causality.PARAMETER, Causality.INPUT):
                raise ComponentError(self.name, "not a parameter or input of this FMU", variable=pname)
            if not var.in_range(float(value)):
                raise ComponentError(self.name, f"value {value!r} is outside {var.range_text()}", variable=pname)
        try:
            if self.fmi_version == 2:
                self._fmu = FMU2Slave(**kwargs)
                self._callbacks = fmi2CallbackFunctions()
                self._callbacks.logger = fmi2CallbackLoggerTYPE(self._logger2)
                self._callbacks.allocateMemory = fmi2CallbackAllocateMemoryTYPE(calloc)
                self._callbacks.freeMemory = fmi2CallbackFreeMemoryTYPE(free)
                from fmpy.logging import addLoggerProxy

                addLoggerProxy(ctypes.byref(self._callbacks))
                self._fmu.instantiate(callbacks=self._callbacks, loggingOn=False)
                self._bind_functions()
                self._fmu.setupExperiment(tolerance=self.tolerance, startTime=start, stopTime=stop)
                self._set(parameters)
                self._fmu.enterInitializationMode()
                self._fmu.exitInitializationMode()
            else:
                self._fmu = FMU3Slave(**kwargs)
                self._fmu.instantiate(loggingOn=False, logMessage=self._logger3)
                self._bind_functions()
                self._set(parameters)
                self._fmu.enterInitializationMode(tolerance=self.tolerance, startTime=start, stopTime=stop)
                self._fmu.exitInitializationMode()
        except FMICallException as exc:
            raise ComponentError(self.name, f"initialisation failed: {self.last_error() or exc}") from None
        except Exception as exc:
            if isinstance(exc, ComponentError):
                raise
            raise ComponentError(self.name, f"cannot load the FMU {self.path}: {exc}") from None
        self._time = start

    def _bind_functions(self) -> None:
        dll = self._fmu.dll
        comp = self._fmu.component
        self._c = comp
        if self.fmi_version == 2:
            self._do_step = dll["fmi2DoStep"]
            self._do_step.argtypes = [ctypes.c_void_p, ctypes.c_double, ctypes.c_double, ctypes.c_int]
            self._do_step.restype = ctypes.c_int
        else:
            self._do_step = dll["fmi3DoStep"]
            self._do_step.argtypes = [ctypes.c_void_p, ctypes.c_double, ctypes.c_double, ctypes.c_bool,
                                      ctypes.POINTER(ctypes.c_bool), ctypes.POINTER(ctypes.c_bool),
                                      ctypes.POINTER(ctypes.c_bool), ctypes.POINTER(ctypes.c_double)]
            self._do_step.restype = ctypes.c_int
            self._flags = [ctypes.c_bool() for _ in range(3)]
            self._last = ctypes.c_double()
            self._step_refs = (*(ctypes.byref(x) for x in self._flags), ctypes.byref(self._last))

    def _accessors(self, names: tuple[str, ...], setting: bool) -> list[_Access]:
        """One :class:`_Access` per FMI value type among ``names``, with private ctypes function objects
        whose argtypes and restype are set here (not borrowed from fmpy's wrappers)."""
        groups: dict[str, list[int]] = {}
        for i, n in enumerate(names):
            var = self.variables.get(n)
            if var is None:
                raise ComponentError(self.name, "no such variable", variable=n)
            if setting and var.causality not in (Causality.PARAMETER, Causality.INPUT):
                raise ComponentError(self.name, f"cannot set a variable of causality {var.causality.value}",
                                     variable=n)
            groups.setdefault(self._fmi_type[n], []).append(i)
        dll = self._fmu.dll
        out = []
        for fmi_type, idx in groups.items():
            suffix, ctype = (_FMI2_ACCESS if self.fmi_version == 2 else _FMI3_ACCESS)[fmi_type]
            fn = dll[f"fmi{self.fmi_version}{'Set' if setting else 'Get'}{suffix}"]
            args = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint32), ctypes.c_size_t, ctypes.POINTER(ctype)]
            fn.argtypes = args + ([ctypes.c_size_t] if self.fmi_version == 3 else [])
            fn.restype = ctypes.c_int
            variables = [self.variables[names[i]] for i in idx]
            out.append(_Access(fn, (ctypes.c_uint32 * len(idx))(*(v.value_reference for v in variables)),
                               (ctype * len(idx))(), np.array(idx, dtype=np.intp), variables))
        return out

    def input_setter(self, names: Sequence[str]) -> Callable[[np.ndarray], None]:
        """A function that sets the variables ``names`` (inputs, or parameters before :meth:`setup`'s
        initialisation) from an array of values in the same order, with value references resolved once.

        This is the fast path for a master that sets the same inputs every step. Each call checks
        the values against the declared ranges (NaN included) and, for Integer and Boolean variables,
        that they are whole numbers (0 or 1 for Boolean), raising :class:`ComponentError` naming the
        variable and the allowed range; a value the FMU rejects raises too.
        """
        if self._fmu is None:
            raise ComponentError(self.name, "input_setter() is available after setup()")
        key = tuple(names)
        access = self._accessors(key, setting=True)
        n = len(key)
        lo, hi = np.full(n, -np.inf), np.full(n, np.inf)
        for a in access:
            bounds = (0.0, 1.0) if a.variables[0].type is VariableType.BOOLEAN else _C_BOUNDS.get(a.ctype)
            for i, var in zip(a.index, a.variables, strict=True):
                lo[i] = max(x for x in (var.minimum, bounds and bounds[0], -np.inf) if x is not None)
                hi[i] = min(x for x in (var.maximum, bounds and bounds[1], np.inf) if x is not None)
        plan = [(a, a.ctype not in (ctypes.c_double, ctypes.c_float), a.index.tolist(), len(a.index)) for a in access]
        identity = len(plan) == 1 and not plan[0][1]  # all Real, in the order of the buffer
        bounds = list(zip(lo.tolist(), hi.tolist(), strict=True))
        comp, version = self._c, self.fmi_version

        def set_values(values: np.ndarray) -> None:
            if self._fmu is None:
                raise ComponentError(self.name, "the FMU is closed")
            vals = values.tolist() if isinstance(values, np.ndarray) else [float(x) for x in values]
            if len(vals) != n or (vals and isinstance(vals[0], list)):
                raise ComponentError(self.name, f"expected {n} input values, got {np.shape(values)}")
            for x, (low, high) in zip(vals, bounds, strict=True):
                if not low <= x <= high:  # NaN fails too
                    self._raise_bad_value(key, vals, lo, hi)
            for a, integral, index, m in plan:
                if identity:
                    a.buffer[:] = vals
                elif integral:
                    chosen = [vals[i] for i in index]
                    if any(x != int(x) for x in chosen):
                        self._raise_bad_value(key, vals, lo, hi)
                    a.buffer[:] = [int(x) for x in chosen]
                else:
                    a.buffer[:] = [vals[i] for i in index]
                status = a.fn(comp, a.vrs, m, a.buffer, m) if version == 3 else a.fn(comp, a.vrs, m, a.buffer)
                if status > 1:
                    bad = next((k for k in key if k in {v.name for v in a.variables}), None)
                    raise ComponentError(self.name, f"rejected input: {self.last_error() or f'status {status}'}",
                                         variable=bad, time=self._time)

        return set_values

    def _raise_bad_value(self, key: tuple[str, ...], values: list[float], lo: np.ndarray, hi: np.ndarray) -> None:
        for i, (name, value) in enumerate(zip(key, values, strict=True)):
            var = self.variables[name]
            unit = f" {var.unit}" if var.unit else ""
            if not lo[i] <= value <= hi[i]:
                raise ComponentError(self.name, f"value {value!r} is outside [{lo[i]:g}, {hi[i]:g}]{unit}",
                                     variable=name, time=self._time)
            if var.type is not VariableType.REAL and value != round(value):
                raise ComponentError(self.name, f"value {value!r} is not a whole number ({var.type.value} variable)",
                                     variable=name, time=self._time)

    def _set(self, values: Mapping[str, float]) -> None:
        key = tuple(values)
        setter = self._setters.get(key)
        if setter is None:
            setter = self._setters[key] = self.input_setter(key)
        setter(np.fromiter(values.values(), dtype=float, count=len(key)))

    def set_inputs(self, values: Mapping[str, float]) -> None:
        """Set inputs by name (values in the FMU's units). Out-of-range values, NaN and fractional
        Integer/Boolean values raise :class:`ComponentError`; nothing is clamped or rounded."""
        self._set(values)

    def do_step(self, t: float, dt: float) -> StepOutcome:
        """Advance from ``t`` to ``t + dt``; errors and discards come back as the outcome.

        ``noSetFMUStatePriorToCurrentPoint`` is true only while no snapshot from :meth:`save_state`
        is alive, so an FMU may drop its history only when no rollback can follow.
        """
        if self._fmu is None:
            raise ComponentError(self.name, "do_step() needs setup() first (or the FMU is closed)", time=t)
        no_rollback = self._live_snapshots == 0
        if self.fmi_version == 2:
            return self.step_outcome(self._do_step(self._c, t, dt, int(no_rollback)), t, dt)
        f = self._flags
        status = self._do_step(self._c, t, dt, no_rollback, *self._step_refs)
        return self.step_outcome(status, t, dt, f[1].value, f[2].value, self._last.value)

    def step_outcome(self, status: int, t: float, dt: float, terminate: bool = False,
                     early_return: bool = False, last_successful_time: float | None = None) -> StepOutcome:
        """The outcome of a doStep from ``t`` over ``dt`` that returned ``status`` (FMI 3: with its
        ``terminateSimulation``, ``earlyReturn`` and ``lastSuccessfulTime``), with the FMU's logged
        message; an OK step moves the component's time to ``t + dt``. :meth:`do_step` uses it, and so
        does a master that calls doStep from C (:meth:`fmi_interface`)."""
        if self.fmi_version == 2:
            reached = self._fmu.getRealStatus(2) if status == 2 else t + dt
        else:
            late = status == 2 or (status <= 1 and early_return)
            reached = last_successful_time if late and last_successful_time is not None else t + dt
            if status <= 1 and terminate:
                return StepOutcome(StepStatus.ERROR, reached,
                                   self.last_error() or "the FMU asked to terminate the simulation")
            if status <= 1 and early_return and reached < t + dt:
                return StepOutcome(StepStatus.DISCARD, reached, "the FMU returned early")
        if status <= 1:
            self._time = t + dt
            return StepOutcome(StepStatus.OK, t + dt)
        if status == 2:
            return StepOutcome(StepStatus.DISCARD, reached, self.last_error())
        return StepOutcome(StepStatus.ERROR, t, self.last_error() or f"doStep returned status {status}")

    def fmi_interface(self) -> tuple[int, int, Callable[[str], int]]:
        """For a master that calls the FMU's C functions itself (kreislauf's native stepping path):
        the FMI version (2 or 3), the instance (``fmi2Component`` / ``fmi3Instance``) as an address,
        and a function giving the address of an FMI function by name (``"fmi2DoStep"``). Valid from
        :meth:`setup` to :meth:`close`; such a master reports the time it reached with
        :meth:`advance_time` and turns a failed doStep into an outcome with :meth:`step_outcome`."""
        if self._fmu is None:
            raise ComponentError(self.name, "fmi_interface() is available after setup()")
        dll = self._fmu.dll

        def address(function: str) -> int:
            return int(ctypes.cast(dll[function], ctypes.c_void_p).value)

        return self.fmi_version, int(self._c), address

    def advance_time(self, t: float) -> None:
        """Record that the FMU was stepped to ``t`` outside :meth:`do_step` (see :meth:`fmi_interface`)."""
        self._time = t

    def output_getter(self, names: Sequence[str]) -> Callable[[], np.ndarray]:
        """A function returning the current values of ``names`` as a new float array (booleans as
        0.0/1.0), with value references resolved once: the fast path of :meth:`get_outputs`."""
        if self._fmu is None:
            raise ComponentError(self.name, "output_getter() is available after setup()")
        key = tuple(names)
        access = self._accessors(key, setting=False)
        comp, version, n = self._c, self.fmi_version, len(key)
        views = [np.ctypeslib.as_array(a.buffer) if a.ctype is ctypes.c_double else None for a in access]
        plan = [(a, view, len(a.index)) for a, view in zip(access, views, strict=True)]
        identity = len(plan) == 1 and views[0] is not None  # all Float64, in the order of the buffer

        def get_values() -> np.ndarray:
            if self._fmu is None:
                raise ComponentError(self.name, "the FMU is closed")
            result = None if identity else np.empty(n)
            for a, view, m in plan:
                status = a.fn(comp, a.vrs, m, a.buffer, m) if version == 3 else a.fn(comp, a.vrs, m, a.buffer)
                if status > 1:
                    raise ComponentError(self.name, f"reading outputs failed: {self.last_error() or status}",
                                         variable=a.variables[0].name, time=self._time)
                if identity:
                    return view.copy()
                result[a.index] = view if view is not None else list(a.buffer)
            return result

        return get_values

    def get_outputs(self, names: Sequence[str]) -> np.ndarray:
        """Current values of the named variables as a float array (booleans as 0.0/1.0)."""
        key = tuple(names)
        getter = self._getters.get(key)
        if getter is None:
            getter = self._getters[key] = self.output_getter(key)
        return getter()

    def save_state(self) -> Any:
        """A snapshot of the FMU (FMI get FMU state), freed in the FMU when the snapshot is dropped."""
        if not self.can_rollback:
            raise ComponentError(self.name, "this FMU cannot save its state (canGetAndSetFMUstate is false)")
        if self._fmu is None:
            raise ComponentError(self.name, "save_state() needs setup() first (or the FMU is closed)")
        pointer = self._fmu.getFMUState() if self.fmi_version == 3 else self._fmu.getFMUstate()
        snapshot = _Snapshot(pointer, self._time)
        snapshot.release = weakref.finalize(snapshot, self._free_state, pointer)
        self._snapshots.add(snapshot)
        self._live_snapshots += 1
        return snapshot

    def _free_state(self, pointer: Any) -> None:
        self._live_snapshots -= 1
        if self._fmu is not None:
            (self._fmu.freeFMUState if self.fmi_version == 3 else self._fmu.freeFMUstate)(pointer)

    def restore_state(self, state: Any) -> None:
        """Return to a snapshot from :meth:`save_state` (of this component)."""
        if self._fmu is None:
            raise ComponentError(self.name, "restore_state() needs setup() first (or the FMU is closed)")
        if not isinstance(state, _Snapshot) or state not in self._snapshots:
            raise ComponentError(self.name, "restore_state() takes a snapshot from this component's save_state()")
        (self._fmu.setFMUState if self.fmi_version == 3 else self._fmu.setFMUstate)(state.pointer)
        self._time = state.time

    def close(self) -> None:
        """Free the snapshots, terminate and free the instance and delete the extracted files.
        Safe to call more than once."""
        if self._fmu is not None:
            for snapshot in list(self._snapshots):
                snapshot.release()
            try:
                self._fmu.terminate()
            except FMICallException:
                pass  # an instance in the error state cannot terminate; it is freed all the same
            try:
                self._fmu.freeInstance()
            finally:
                self._fmu = None
                self._setters.clear()
                self._getters.clear()
        self._remove_files()

    def __enter__(self) -> FmuComponent:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<FmuComponent {self.name} FMI {self.fmi_version}.0 {self.path}>"

