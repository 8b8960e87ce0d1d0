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
from collections.abc import Mapping, Sequence
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


class FmuComponent:
    """A co-simulation FMU (FMI 2.0 or 3.0, ours or anyone's) behind the Component protocol.

    ``path`` is the ``.fmu`` file; ``name`` the instance name in the system (default: the model
    name). ``tolerance`` is handed to the FMU's integrator when given. The archive is extracted into
    a private temporary directory that :meth:`close` removes.
    """

    def __init__(self, path: Path | str, name: str | None = None, *, tolerance: float | None = None,
                 energy_ports: Mapping[str, EnergyPort] | None = None,
                 limits: ExtractionLimits | None = None):
        self.path = Path(path)
        self.tolerance = tolerance
        self._unzipdir = safe_extract(self.path, limits=limits)
        try:
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
            self._type = {v.name: v.type for v in self.variables.values()}
            self.can_rollback = bool(md.coSimulation.canGetAndSetFMUstate)
            self.output_dependencies = self._dependencies(md)
            self.energy_ports, self.stored_energy = self._energy(energy_ports)
        except Exception:
            shutil.rmtree(self._unzipdir, ignore_errors=True)
            raise
        self.log: list[tuple[int, str, str]] = []
        self._fmu: Any = None
        self._time = 0.0
        self._input_cache: dict[tuple[str, ...], Any] = {}
        self._output_cache: dict[tuple[str, ...], Any] = {}

    # ------------------------------------------------------------------ description
    def _variables(self, md: Any) -> dict[str, Variable]:
        out: dict[str, Variable] = {}
        for sv in md.modelVariables:
            vtype = _TYPES.get(sv.type)
            if vtype is None:
                continue  # strings, binaries, clocks: not exchanged through the seam
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
                self._fmu.setupExperiment(tolerance=self.tolerance, startTime=start, stopTime=stop)
                self._set(parameters)
                self._fmu.enterInitializationMode()
                self._fmu.exitInitializationMode()
            else:
                self._fmu = FMU3Slave(**kwargs)
                self._fmu.instantiate(loggingOn=False, logMessage=self._logger3)
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
        self._bind_functions()

    def _bind_functions(self) -> None:
        dll = self._fmu.dll
        comp = self._fmu.component
        self._c = comp
        if self.fmi_version == 2:
            self._do_step = dll.fmi2DoStep
            self._do_step.argtypes = [ctypes.c_void_p, ctypes.c_double, ctypes.c_double, ctypes.c_int]
            self._do_step.restype = ctypes.c_int
        else:
            self._do_step = dll.fmi3DoStep
            self._do_step.argtypes = [ctypes.c_void_p, ctypes.c_double, ctypes.c_double, ctypes.c_bool,
                                      ctypes.POINTER(ctypes.c_bool), ctypes.POINTER(ctypes.c_bool),
                                      ctypes.POINTER(ctypes.c_bool), ctypes.POINTER(ctypes.c_double)]
            self._do_step.restype = ctypes.c_int
            self._flags = [ctypes.c_bool() for _ in range(3)]
            self._last = ctypes.c_double()

    def _set(self, values: Mapping[str, float]) -> None:
        groups: dict[VariableType, tuple[list[int], list[float]]] = {}
        for vname, value in values.items():
            var = self.variables.get(vname)
            if var is None:
                raise ComponentError(self.name, "no such variable", variable=vname)
            vrs, vals = groups.setdefault(var.type, ([], []))
            vrs.append(var.value_reference)
            vals.append(float(value))
        f = self._fmu
        for vtype, (vrs, vals) in groups.items():
            if vtype is VariableType.REAL:
                (f.setReal if self.fmi_version == 2 else f.setFloat64)(vrs, vals)
            elif vtype is VariableType.INTEGER:
                (f.setInteger if self.fmi_version == 2 else f.setInt32)(vrs, [int(round(v)) for v in vals])
            else:
                f.setBoolean(vrs, [bool(v >= 0.5) for v in vals])

    def set_inputs(self, values: Mapping[str, float]) -> None:
        """Set inputs by name (values in the FMU's units)."""
        try:
            self._set(values)
        except FMICallException:
            bad = next((n for n, v in values.items() if n in self.variables
                        and not self.variables[n].in_range(float(v))), None)
            raise ComponentError(self.name, f"rejected input: {self.last_error()}", variable=bad,
                                 time=self._time) from None

    def do_step(self, t: float, dt: float) -> StepOutcome:
        """Advance from ``t`` to ``t + dt``; errors and discards come back as the outcome."""
        if self.fmi_version == 2:
            status = self._do_step(self._c, t, dt, 1)
            reached = t + dt
            if status == 2:
                reached = self._fmu.getRealStatus(2)
        else:
            f = self._flags
            status = self._do_step(self._c, t, dt, True, ctypes.byref(f[0]), ctypes.byref(f[1]),
                                   ctypes.byref(f[2]), ctypes.byref(self._last))
            reached = self._last.value if status == 2 else t + dt
        if status <= 1:
            self._time = t + dt
            return StepOutcome(StepStatus.OK, t + dt)
        if status == 2:
            return StepOutcome(StepStatus.DISCARD, reached, self.last_error())
        return StepOutcome(StepStatus.ERROR, t, self.last_error() or f"doStep returned status {status}")

    def get_outputs(self, names: Sequence[str]) -> np.ndarray:
        """Current values of the named variables as a float array (booleans as 0.0/1.0)."""
        key = tuple(names)
        plan = self._output_cache.get(key)
        if plan is None:
            plan = self._output_plan(key)
            self._output_cache[key] = plan
        result = np.empty(len(key))
        for fn, vrs, n, buf, index in plan:
            fn(self._c, vrs, n, buf, n) if self.fmi_version == 3 else fn(self._c, vrs, n, buf)
            result[index] = np.ctypeslib.as_array(buf) if buf._type_ is ctypes.c_double else list(buf)
        return result

    def _output_plan(self, names: tuple[str, ...]) -> list[Any]:
        by_type: dict[VariableType, list[int]] = {}
        for i, n in enumerate(names):
            if n not in self.variables:
                raise ComponentError(self.name, "no such variable", variable=n)
            by_type.setdefault(self.variables[n].type, []).append(i)
        plan = []
        dll = self._fmu.dll
        v2 = self.fmi_version == 2
        for vtype, idx in by_type.items():
            n = len(idx)
            vrs = (ctypes.c_uint32 * n)(*(self.variables[names[i]].value_reference for i in idx))
            if vtype is VariableType.REAL:
                fn, buf = (dll.fmi2GetReal if v2 else dll.fmi3GetFloat64), (ctypes.c_double * n)()
            elif vtype is VariableType.INTEGER:
                fn, buf = (dll.fmi2GetInteger if v2 else dll.fmi3GetInt32), (ctypes.c_int32 * n)()
            else:
                fn, buf = (dll.fmi2GetBoolean if v2 else dll.fmi3GetBoolean), \
                    ((ctypes.c_int32 if v2 else ctypes.c_bool) * n)()
            fn.restype = ctypes.c_int
            plan.append((fn, vrs, n, buf, np.array(idx)))
        return plan

    def save_state(self) -> Any:
        """A snapshot of the FMU (FMI get FMU state)."""
        if not self.can_rollback:
            raise ComponentError(self.name, "this FMU cannot save its state (canGetAndSetFMUstate is false)")
        return (self._fmu.getFMUState() if self.fmi_version == 3 else self._fmu.getFMUstate(), self._time)

    def restore_state(self, state: Any) -> None:
        """Return to a snapshot from :meth:`save_state`."""
        fmu_state, self._time = state
        (self._fmu.setFMUState if self.fmi_version == 3 else self._fmu.setFMUstate)(fmu_state)

    def close(self) -> None:
        """Terminate and free the instance and delete the extracted files."""
        if self._fmu is not None:
            try:
                self._fmu.terminate()
            except FMICallException:
                pass
            try:
                self._fmu.freeInstance()
            finally:
                self._fmu = None
        shutil.rmtree(self._unzipdir, ignore_errors=True)

    def __repr__(self) -> str:
        return f"<FmuComponent {self.name} FMI {self.fmi_version}.0 {self.path}>"

