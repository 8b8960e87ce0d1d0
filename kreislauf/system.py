"""System files: components, parameters, connections, power bonds, master settings and outputs.

A system file is TOML (format in ``docs/system-files.md``). :func:`parse_system_file` turns it into
plain dataclasses (:class:`SystemSpec`) and collects *every* problem it can see without the
components; :func:`validate` then checks the spec against the components' variables and energy
ports (unknown names with close-match hints, causality, units, inputs connected twice, parameter
ranges). Each problem is a :class:`Problem` naming the file, line, component and variable.
:func:`make_component` is the one place where components are constructed from their spec.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
import importlib.util
import inspect
import math
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from kreislauf import units
from kreislauf.component import Causality, Component

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = [
    "ALGORITHMS",
    "BondSpec",
    "ComponentSpec",
    "ConnectionSpec",
    "DurationError",
    "MasterSettings",
    "OutputSpec",
    "Problem",
    "SystemFileError",
    "SystemSpec",
    "check_system_file",
    "load_system_file",
    "make_component",
    "parse_duration",
    "parse_system_file",
    "validate",
]

ALGORITHMS = ("jacobi", "gauss-seidel", "iterative")
LOOP_SOLVERS = ("newton", "fixed-point")
OVERRUN_POLICIES = ("catch_up", "skip", "abort")
NATIVE_MODES = ("auto", "on", "off")
_CHOICES = {"algorithm": ALGORITHMS, "loop_solver": LOOP_SOLVERS, "native": NATIVE_MODES, "overrun": OVERRUN_POLICIES}


class DurationError(ValueError):
    """A duration is not a number of seconds nor a number with a unit (``"60s"``, ``"15min"``)."""


class SystemFileError(ValueError):
    """A system file (or a system built in Python) has problems; ``problems`` lists every one."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = list(problems)
        text = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"{len(self.problems)} problem(s) in the system:\n{text}")


@dataclass(frozen=True)
class Problem:
    """One problem in a system description, with where it is."""

    message: str
    file: str | None = None
    line: int | None = None
    component: str | None = None
    variable: str | None = None

    def __str__(self) -> str:
        where = self.file or "<system>"
        if self.line is not None:
            where += f":{self.line}"
        subject = ", ".join(
            text
            for text in (
                f"component '{self.component}'" if self.component is not None else "",
                f"variable '{self.variable}'" if self.variable is not None else "",
            )
            if text
        )
        return f"{where}: {subject}: {self.message}" if subject else f"{where}: {self.message}"


_DURATION_UNITS = {"ms": 1e-3, "s": 1.0, "min": units.MINUTE, "h": units.HOUR, "d": units.DAY, "w": 7 * units.DAY}
_DURATION_RE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([a-z]*)\s*$")


def parse_duration(value: float | int | str, what: str = "duration") -> float:
    """Seconds in ``value``: a number (seconds) or a string with a unit: ms, s, min, h, d, w.

    ``"365d"`` -> 31536000.0, ``"15min"`` -> 900.0. Raises :class:`DurationError` (naming ``what``)
    for anything else, for negative numbers and for non-finite values.
    """
    if isinstance(value, bool):
        raise DurationError(f'{what}: {value!r} is not a duration (e.g. 60, "60s", "15min", "365d")')
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        match = _DURATION_RE.match(value)
        if not match or match.group(2) not in _DURATION_UNITS and match.group(2) != "":
            raise DurationError(
                f"{what}: '{value}' is not a duration; write a number with one of the units "
                f'{", ".join(_DURATION_UNITS)} (e.g. "60s", "15min", "365d")'
            )
        seconds = float(match.group(1)) * _DURATION_UNITS.get(match.group(2) or "s", 1.0)
    else:
        raise DurationError(f"{what}: {value!r} is not a duration")
    if not math.isfinite(seconds) or seconds < 0:
        raise DurationError(f"{what}: {value!r} must be a finite, non-negative duration")
    return seconds


@dataclass
class ComponentSpec:
    """One component: where it comes from, its parameters and (multi-rate) its own step.

    ``kind`` is ``"fmu"`` (``source`` is a path), ``"model"`` (a kreislauf model name, exported to
    an FMU on the fly), ``"python"`` (``"file.py:Factory"`` or ``"package.module:Factory"``,
    called as ``Factory(name=..., **arguments)``) or ``"device"`` (``options`` hold the device
    settings). A device whose entry keeps its ``fmu``, ``model`` or ``python`` has that component as
    its interface and fallback: ``interface_kind`` names which, ``source`` (and ``arguments``,
    ``fmi_version``) describe it as they would without the device.
    """

    name: str
    kind: str
    source: str
    parameters: dict[str, float] = field(default_factory=dict)
    step: float | None = None
    fmi_version: str = "2.0"
    arguments: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    base_dir: Path = field(default_factory=Path.cwd)
    line: int | None = None
    parameter_lines: dict[str, int | None] = field(default_factory=dict)
    output_dependencies: dict[str, list[str]] | None = None
    interface_kind: str | None = None


@dataclass
class ConnectionSpec:
    """``source`` output -> ``target`` input: ``target = factor * convert(source) + offset``.

    The unit conversion (source unit -> target unit) is applied first, then the linear
    transformation, which is therefore written in the target's unit.
    """

    source_component: str
    source_variable: str
    target_component: str
    target_variable: str
    factor: float = 1.0
    offset: float = 0.0
    line: int | None = None

    @property
    def text(self) -> str:
        """The connection as ``"a.y -> b.u"``."""
        source = f"{self.source_component}.{self.source_variable}"
        return f"{source} -> {self.target_component}.{self.target_variable}"


@dataclass
class BondSpec:
    """A power bond: energy leaves ``sender``'s port and enters ``receiver``'s port.

    ``power_input`` names the receiver input that carries the bond's power (W); energy-conserving
    coupling drives that input. When absent it is the one input of the receiver fed from the
    sender whose unit is a power.
    """

    sender_component: str
    sender_port: str
    receiver_component: str
    receiver_port: str
    power_input: str | None = None
    line: int | None = None

    @property
    def name(self) -> str:
        """The bond as ``"a.port->b.port"`` (used as column name in results)."""
        return f"{self.sender_component}.{self.sender_port}->{self.receiver_component}.{self.receiver_port}"


@dataclass
class MasterSettings:
    """How the master steps the system. Times in seconds.

    ``algorithm``: ``jacobi``, ``gauss-seidel`` or ``iterative`` (strong coupling over each macro
    step with rollback). ``adaptive`` switches on step-size control between ``min_step`` and
    ``max_step`` with tolerances ``rtol``/``atol``. ``extrapolation`` is the order (0 or 1) of the
    input extrapolation. ``loop_solver`` solves algebraic loops (``newton`` or ``fixed-point``) to
    ``loop_tolerance`` in at most ``max_iterations``. ``energy_conserving`` hands every bond's
    receiver exactly the energy its sender emitted. ``order`` fixes the Gauss–Seidel order.
    ``realtime`` paces the macro steps against the wall clock (``realtime_factor`` simulated seconds
    per wall second; ``overrun``: ``catch_up``, ``skip`` or ``abort`` when a step ends after the next
    deadline; ``spin`` busy-waits the last seconds of each wait for precision); the run report then
    holds lateness p50/p99/max, overruns and the achieved real-time factor. ``native``: ``auto``
    steps an all-FMU fixed-step Jacobi or Gauss–Seidel system in compiled C (kreislauf.native) when
    it can, else in Python; ``on`` requires the native path (an error lists why it cannot run);
    ``off`` always steps in Python.
    """

    algorithm: str = "jacobi"
    start: float = 0.0
    stop: float = 86400.0
    step: float = 60.0
    adaptive: bool = False
    min_step: float | None = None
    max_step: float | None = None
    rtol: float = 1e-4
    atol: float = 1e-6
    extrapolation: int = 0
    loop_solver: str = "newton"
    loop_tolerance: float = 1e-10
    max_iterations: int = 50
    energy_conserving: bool = False
    order: list[str] | None = None
    row_group_size: int = 8192
    realtime: bool = False
    realtime_factor: float = 1.0
    overrun: str = "catch_up"
    spin: float = 0.0
    native: str = "auto"


@dataclass
class OutputSpec:
    """Which variables are recorded: ``"component.variable"`` patterns (``*`` wildcards)."""

    variables: list[str] = field(default_factory=lambda: ["*.*"])
    line: int | None = None


@dataclass
class SystemSpec:
    """A whole system as plain data."""

    name: str = "system"
    file: Path | None = None
    components: dict[str, ComponentSpec] = field(default_factory=dict)
    connections: list[ConnectionSpec] = field(default_factory=list)
    bonds: list[BondSpec] = field(default_factory=list)
    settings: MasterSettings = field(default_factory=MasterSettings)
    outputs: OutputSpec = field(default_factory=OutputSpec)

    @property
    def file_text(self) -> str | None:
        """The file name used in problem reports."""
        return None if self.file is None else str(self.file)


class _Source:
    """The raw text of a file, to find the line where a key or value is written."""

    def __init__(self, text: str):
        self.lines = text.splitlines()

    def line_of(self, *needles: str, after: int | None = None) -> int | None:
        for needle in needles:
            for number, line in enumerate(self.lines, start=1):
                if after is not None and number < after:
                    continue
                code = line.split("#", 1)[0] if "#" in line and '"' not in line else line
                if needle in code:
                    return number
        return None


_SYSTEM_KEYS = {"system", "master", "components", "connections", "bonds", "outputs"}
_COMPONENT_KEYS = {
    "fmu",
    "model",
    "python",
    "device",
    "parameters",
    "step",
    "fmi_version",
    "arguments",
    "output_dependencies",
}
_ENDPOINT_RE = re.compile(r"^\s*([A-Za-z_][\w\-]*)\.([^\s]+)\s*$")


def _hint(name: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=3)
    return f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""


def _split_endpoint(text: Any) -> tuple[str, str] | None:
    if not isinstance(text, str):
        return None
    match = _ENDPOINT_RE.match(text)
    return (match.group(1), match.group(2)) if match else None


def parse_system_file(path: str | os.PathLike[str]) -> tuple[SystemSpec, list[Problem]]:
    """Read a system file into a :class:`SystemSpec` and every problem visible without components.

    TOML files are read here; ``.ssp`` archives and ``.ssd`` files by :func:`kreislauf.ssp.parse_ssp`.

    The spec holds everything that could be read, so that :func:`validate` can go on checking the
    rest; the problems list is empty for a sound file.
    """
    path = Path(path)
    if path.suffix.lower() in (".ssp", ".ssd"):
        from kreislauf.ssp import parse_ssp

        return parse_ssp(path)
    spec = SystemSpec(file=path, name=path.stem)
    fname = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return spec, [Problem(f"cannot read the system file: {exc.strerror or exc}", file=fname)]
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", None)
        if line is None:
            found = re.search(r"line (\d+)", str(exc))
            line = int(found.group(1)) if found else None
        return spec, [Problem(f"not valid TOML: {exc}", file=fname, line=line)]
    return _spec_from_data(data, path.parent, _Source(text), fname, spec)


def _spec_from_data(
    data: Mapping[str, Any], base_dir: Path, source: _Source, fname: str | None, spec: SystemSpec
) -> tuple[SystemSpec, list[Problem]]:
    problems: list[Problem] = []

    def problem(
        message: str, line: int | None = None, component: str | None = None, variable: str | None = None
    ) -> None:
        problems.append(Problem(message, file=fname, line=line, component=component, variable=variable))

    for key in data:
        if key not in _SYSTEM_KEYS:
            problem(f"unknown section '{key}'{_hint(key, sorted(_SYSTEM_KEYS))}", source.line_of(f"[{key}", key))
    system = data.get("system", {})
    if isinstance(system, Mapping) and isinstance(system.get("name"), str):
        spec.name = system["name"]

    _parse_master(data.get("master", {}), spec.settings, source, problem)
    _parse_components(data.get("components", {}), base_dir, spec, source, problem)
    _parse_connections(data.get("connections", []), spec, source, problem)
    _parse_bonds(data.get("bonds", []), spec, source, problem)
    outputs = data.get("outputs", {})
    if isinstance(outputs, Mapping) and "variables" in outputs:
        patterns = outputs["variables"]
        if isinstance(patterns, list) and all(isinstance(p, str) for p in patterns):
            spec.outputs = OutputSpec(list(patterns), source.line_of("variables"))
        else:
            problem(
                '[outputs] variables must be a list of "component.variable" patterns',
                source.line_of("variables"),
            )
    return spec, problems


def _parse_master(master: Any, settings: MasterSettings, source: _Source, problem) -> None:
    if not isinstance(master, Mapping):
        problem("[master] must be a table", source.line_of("master"))
        return
    for key, value in master.items():
        line = source.line_of(f"{key} =", f"{key}=")
        if key not in MasterSettings.__dataclass_fields__:
            problem(
                f"[master] unknown setting '{key}'{_hint(key, list(MasterSettings.__dataclass_fields__))}",
                line,
            )
        elif key in ("start", "stop", "step", "min_step", "max_step"):
            try:
                setattr(settings, key, parse_duration(value, f"[master] {key}"))
            except DurationError as exc:
                problem(str(exc), line)
        elif key in _CHOICES:
            choices = _CHOICES[key]
            if value not in choices:
                problem(
                    f"[master] {key} '{value}' is not one of {', '.join(choices)}{_hint(str(value), choices)}", line
                )
            else:
                setattr(settings, key, value)
        elif key == "extrapolation":
            if value not in (0, 1) or isinstance(value, bool):
                problem(f"[master] extrapolation is the order of input extrapolation: 0 or 1, not {value!r}", line)
            else:
                settings.extrapolation = int(value)
        elif key == "spin":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                problem(f"[master] spin must be a number of seconds >= 0, not {value!r}", line)
            else:
                settings.spin = float(value)
        elif key in ("adaptive", "energy_conserving", "realtime"):
            if not isinstance(value, bool):
                problem(f"[master] {key} must be true or false, not {value!r}", line)
            else:
                setattr(settings, key, value)
        elif key in ("rtol", "atol", "loop_tolerance", "realtime_factor"):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                problem(f"[master] {key} must be a positive number, not {value!r}", line)
            else:
                setattr(settings, key, float(value))
        elif key in ("max_iterations", "row_group_size"):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                problem(f"[master] {key} must be a positive integer, not {value!r}", line)
            else:
                setattr(settings, key, value)
        elif key == "order":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                problem("[master] order must be a list of component names", line)
            else:
                settings.order = list(value)
    if settings.step <= 0:
        problem(f"[master] step must be positive, not {settings.step:g} s", source.line_of("step ="))
    if settings.realtime and settings.adaptive:
        problem("[master] realtime runs need a fixed step: set adaptive = false", source.line_of("realtime"))
    if settings.stop < settings.start:
        problem(
            f"[master] stop ({settings.stop:g} s) is before start ({settings.start:g} s)",
            source.line_of("stop ="),
        )


def _parse_components(components: Any, base_dir: Path, spec: SystemSpec, source: _Source, problem) -> None:
    if not isinstance(components, Mapping):
        problem("[components] must be a table of components", source.line_of("components"))
        return
    for name, table in components.items():
        line = source.line_of(f"[components.{name}]", f"components.{name}", f"{name} =")
        if not isinstance(table, Mapping):
            problem("a component must be a table", line, component=name)
            continue
        for key in table:
            if key not in _COMPONENT_KEYS:
                problem(
                    f"unknown key '{key}'{_hint(key, sorted(_COMPONENT_KEYS))}",
                    source.line_of(f"{key} =") or line,
                    component=name,
                )
        kinds = [k for k in ("fmu", "model", "python") if k in table]
        if len(kinds) > 1 or not kinds and "device" not in table:
            problem(
                'give exactly one of fmu = "path", model = "name", python = "file.py:Class" '
                "(a device = {...} may stand beside it as the device that replaces it) "
                f"(found {', '.join(kinds) or 'none'})",
                line,
                component=name,
            )
            continue
        kind = kinds[0] if kinds else "device"
        value = table[kind] if kinds else None
        comp = ComponentSpec(name=name, kind=kind, source="", base_dir=base_dir, line=line)
        if kinds and not isinstance(value, str):
            problem(f"{kind} must be a string", line, component=name)
            continue
        if kinds:
            comp.source = value
        if "device" in table:
            device = table["device"]
            if not isinstance(device, Mapping):
                problem("device must be a table of device settings", line, component=name)
                continue
            if kinds and "fallback" in device:
                problem(
                    f"device fallback: the entry's {kind} = '{value}' is already the device's interface and "
                    "fallback; remove the device's fallback table",
                    source.line_of("fallback", after=line) or line,
                    component=name,
                )
                continue
            comp.kind, comp.interface_kind = "device", kinds[0] if kinds else None
            comp.options = dict(device)
        if kind == "fmu":
            fmu_path = Path(value) if Path(value).is_absolute() else base_dir / value
            if not fmu_path.is_file():
                problem(
                    f"FMU file '{value}' not found (looked at {fmu_path})",
                    source.line_of(value) or line,
                    component=name,
                )
        if kind == "python":
            file_part = value.rsplit(":", 1)[0]
            if ":" not in value:
                problem(
                    f"python = '{value}' must be 'file.py:Factory' or 'module:Factory'",
                    source.line_of(value) or line,
                    component=name,
                )
            elif file_part.endswith(".py") and not (base_dir / file_part).is_file():
                problem(
                    f"Python file '{file_part}' not found (looked at {base_dir / file_part})",
                    source.line_of(value) or line,
                    component=name,
                )
        if "fmi_version" in table:
            if table["fmi_version"] not in ("2.0", "3.0"):
                problem(
                    f'fmi_version must be "2.0" or "3.0", not {table["fmi_version"]!r}',
                    source.line_of("fmi_version") or line,
                    component=name,
                )
            else:
                comp.fmi_version = table["fmi_version"]
        if "step" in table:
            try:
                comp.step = parse_duration(table["step"], f"component '{name}' step")
                if comp.step <= 0:
                    raise DurationError(f"component '{name}' step must be positive")
            except DurationError as exc:
                problem(str(exc), source.line_of(str(table["step"])) or line, component=name)
        parameters = table.get("parameters", {})
        if not isinstance(parameters, Mapping):
            problem("parameters must be a table", line, component=name)
            parameters = {}
        for pname, pvalue in parameters.items():
            if isinstance(pvalue, bool):
                pvalue = float(pvalue)
            if not isinstance(pvalue, (int, float)) or not math.isfinite(pvalue):
                problem(
                    f"parameter value {pvalue!r} is not a finite number",
                    source.line_of(f"{pname} =", after=line) or line,
                    component=name,
                    variable=pname,
                )
                continue
            comp.parameters[pname] = float(pvalue)
            comp.parameter_lines[pname] = source.line_of(f"{pname} =", f"{pname}=", after=line) or line
        if "output_dependencies" in table:
            deps = table["output_dependencies"]
            if isinstance(deps, Mapping) and all(
                isinstance(v, list) and all(isinstance(x, str) for x in v) for v in deps.values()
            ):
                comp.output_dependencies = {k: list(v) for k, v in deps.items()}
            else:
                problem(
                    "output_dependencies must be a table: output = [inputs it depends on directly]",
                    source.line_of("output_dependencies", after=line) or line,
                    component=name,
                )
        arguments = table.get("arguments", {})
        if isinstance(arguments, Mapping):
            comp.arguments = dict(arguments)
        else:
            problem("arguments must be a table", line, component=name)
        spec.components[name] = comp


def _parse_connections(connections: Any, spec: SystemSpec, source: _Source, problem) -> None:
    if not isinstance(connections, list):
        problem("connections must be a list", source.line_of("connections"))
        return
    for entry in connections:
        factor, offset = 1.0, 0.0
        if isinstance(entry, str):
            line = source.line_of(entry)
            parts = entry.split("->")
            if len(parts) != 2:
                problem(f"connection '{entry}' must read \"component.output -> component.input\"", line)
                continue
            src, dst = _split_endpoint(parts[0]), _split_endpoint(parts[1])
            text = entry
        elif isinstance(entry, Mapping):
            text = f"{entry.get('from')} -> {entry.get('to')}"
            line = source.line_of(f'"{entry.get("from")}"', str(entry.get("from")))
            src, dst = _split_endpoint(entry.get("from")), _split_endpoint(entry.get("to"))
            for key in entry:
                if key not in ("from", "to", "factor", "offset"):
                    problem(f"connection '{text}': unknown key '{key}' (allowed: from, to, factor, offset)", line)
            try:
                factor = _finite(entry.get("factor", 1.0), "factor")
                offset = _finite(entry.get("offset", 0.0), "offset")
            except ValueError as exc:
                problem(f"connection '{text}': {exc}", line)
                continue
        else:
            problem(
                f'connection {entry!r} must be a string "a.y -> b.u" or a table {{from, to, factor, offset}}',
                None,
            )
            continue
        if src is None or dst is None:
            problem(f"connection '{text}' must read \"component.output -> component.input\"", line)
            continue
        spec.connections.append(ConnectionSpec(src[0], src[1], dst[0], dst[1], factor, offset, line))


def _finite(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number, not {value!r}")
    return float(value)


def _parse_bonds(bonds: Any, spec: SystemSpec, source: _Source, problem) -> None:
    if not isinstance(bonds, list):
        problem("bonds must be a list", source.line_of("bonds"))
        return
    for entry in bonds:
        power_input = None
        if isinstance(entry, str):
            line = source.line_of(entry)
            parts = entry.split("->")
            ends = [_split_endpoint(p) for p in parts] if len(parts) == 2 else [None, None]
            text = entry
        elif isinstance(entry, Mapping):
            text = f"{entry.get('sender')} -> {entry.get('receiver')}"
            line = source.line_of(str(entry.get("sender")))
            ends = [_split_endpoint(entry.get("sender")), _split_endpoint(entry.get("receiver"))]
            power_input = entry.get("power_input")
            for key in entry:
                if key not in ("sender", "receiver", "power_input"):
                    problem(f"bond '{text}': unknown key '{key}' (allowed: sender, receiver, power_input)", line)
        else:
            problem(f'bond {entry!r} must be "a.port -> b.port" or a table {{sender, receiver}}', None)
            continue
        if ends[0] is None or ends[1] is None:
            problem(f"bond '{text}' must read \"sender.port -> receiver.port\"", line)
            continue
        spec.bonds.append(BondSpec(ends[0][0], ends[0][1], ends[1][0], ends[1][1], power_input, line))


def validate(spec: SystemSpec, components: Mapping[str, Component]) -> list[Problem]:
    """Every problem of ``spec`` against the components' variables and ports (empty when sound).

    Checks: names of components, variables and ports (with close-match hints), causality
    (a connection runs from an output to an input), unit compatibility, inputs connected twice,
    parameters (exist, are parameters, lie in range), bond power inputs, output patterns,
    the Gauss–Seidel order and multi-rate steps (whole multiples of the macro step). A device
    standing in for a component must carry every energy port (power and counter) and the stored
    energy of that component, bonded or not, since the system energy balance needs them all.
    """
    fname = spec.file_text
    problems: list[Problem] = []

    def problem(
        message: str, line: int | None = None, component: str | None = None, variable: str | None = None
    ) -> None:
        problems.append(Problem(message, file=fname, line=line, component=component, variable=variable))

    def lookup(cname: str, vname: str, line: int | None, role: str):
        comp = components.get(cname)
        if comp is None:
            problem(f"{role}: no component called '{cname}'{_hint(cname, list(components))}", line, cname)
            return None
        var = comp.variables.get(vname)
        if var is None:
            problem(
                f"{role}: {_unserved(comp, vname)}"
                if _unserved(comp, vname)
                else f"{role}: no variable called '{vname}'{_hint(vname, list(comp.variables))}",
                line,
                cname,
                vname,
            )
        return var

    targets: dict[tuple[str, str], ConnectionSpec] = {}
    for conn in spec.connections:
        role = f"connection '{conn.text}'"
        src = lookup(conn.source_component, conn.source_variable, conn.line, role)
        dst = lookup(conn.target_component, conn.target_variable, conn.line, role)
        if src is not None and src.causality not in (Causality.OUTPUT, Causality.LOCAL):
            problem(
                f"{role}: the source is {src.causality.value}, not an output",
                conn.line,
                conn.source_component,
                conn.source_variable,
            )
        causality_ok = True
        if src is not None and src.causality not in (Causality.OUTPUT, Causality.LOCAL):
            causality_ok = False
        if dst is not None and dst.causality is not Causality.INPUT:
            causality_ok = False
            what = (
                "output-to-output connection: the target is an output, not an input"
                if dst.causality is Causality.OUTPUT
                else f"the target is a {dst.causality.value}, not an input"
            )
            problem(f"{role}: {what}", conn.line, conn.target_component, conn.target_variable)
        key = (conn.target_component, conn.target_variable)
        if key in targets:
            problem(
                f"{role}: input connected twice (also from '{targets[key].text}')",
                conn.line,
                conn.target_component,
                conn.target_variable,
            )
        targets[key] = conn
        if src is not None and dst is not None and causality_ok:
            try:
                units.conversion(src.unit, dst.unit)
            except units.UnitError as exc:
                problem(f"{role}: unit mismatch: {exc}", conn.line, conn.target_component, conn.target_variable)

    for cname, cspec in spec.components.items():
        comp = components.get(cname)
        if comp is None:
            continue
        for pname, value in cspec.parameters.items():
            pline = cspec.parameter_lines.get(pname, cspec.line)
            var = comp.variables.get(pname) or _interface_variables(comp).get(pname)
            if var is None:
                problem(
                    f"no parameter called '{pname}'{_hint(pname, list(comp.variables))}",
                    pline,
                    cname,
                    pname,
                )
            elif var.causality not in (Causality.PARAMETER, Causality.INPUT):
                problem(f"'{pname}' is {var.causality.value}, not a parameter", pline, cname, pname)
            elif not var.in_range(value):
                problem(
                    f"parameter value {value:g} outside the allowed range {var.range_text()}",
                    pline,
                    cname,
                    pname,
                )
        for out, deps in (cspec.output_dependencies or {}).items():
            for vname, want in [(out, Causality.OUTPUT)] + [(d, Causality.INPUT) for d in deps]:
                var = comp.variables.get(vname)
                if var is None or var.causality is not want:
                    names = [n for n, v in comp.variables.items() if v.causality is want]
                    problem(
                        f"output_dependencies: '{vname}' is not an {want.value}{_hint(vname, names)}",
                        cspec.line,
                        cname,
                        vname,
                    )
        if cspec.step is not None and spec.settings.step > 0:
            ratio = cspec.step / spec.settings.step
            if ratio < 1 or abs(ratio - round(ratio)) > 1e-9 * ratio:
                problem(
                    f"step {cspec.step:g} s must be a whole multiple of the macro step {spec.settings.step:g} s",
                    cspec.line,
                    cname,
                )

    for bond in spec.bonds:
        role = f"bond '{bond.name}'"
        for cname, port in (
            (bond.sender_component, bond.sender_port),
            (bond.receiver_component, bond.receiver_port),
        ):
            comp = components.get(cname)
            if comp is None:
                problem(f"{role}: no component called '{cname}'{_hint(cname, list(components))}", bond.line, cname)
            elif port in _unserved_ports(comp):
                message, missing = _unserved_port(comp, port)
                problem(f"{role}: {message}", bond.line, cname, missing)
            elif port not in getattr(comp, "energy_ports", {}):
                ports = list(getattr(comp, "energy_ports", {}))
                problem(
                    f"{role}: no energy port called '{port}'{_hint(port, ports)} (ports: {', '.join(ports) or 'none'})",
                    bond.line,
                    cname,
                    port,
                )
        if bond.power_input is not None and bond.receiver_component in components:
            var = components[bond.receiver_component].variables.get(bond.power_input)
            if var is None or var.causality is not Causality.INPUT:
                problem(
                    f"{role}: power_input '{bond.power_input}' is not an input of the receiver",
                    bond.line,
                    bond.receiver_component,
                    bond.power_input,
                )

    bonded = {(b.sender_component, b.sender_port) for b in spec.bonds}
    bonded |= {(b.receiver_component, b.receiver_port) for b in spec.bonds}
    for cname, comp in components.items():
        line = spec.components[cname].line if cname in spec.components else None
        for port in _unserved_ports(comp):
            if (cname, port) not in bonded:  # a bonded one is reported with its bond
                message, missing = _unserved_port(comp, port)
                problem(
                    f"{message}; the port is on the system boundary and the system energy balance would "
                    "miss the energy through it",
                    line,
                    cname,
                    missing,
                )
        stored = getattr(comp, "unserved_stored_energy", None)
        if stored:
            problem(
                f"the {_stood_in_for(comp)}'s stored energy '{stored}' is not on the device: no point of the "
                f"register map '{comp.register_map.source}' carries it, and the system energy balance would miss "
                f'its change (add a point with variable = "{stored}")',
                line,
                cname,
                stored,
            )

    for pattern in spec.outputs.variables:
        endpoint = None if any(c in pattern for c in "*?[") else _split_endpoint(pattern)
        unserved = _unserved(components[endpoint[0]], endpoint[1]) if endpoint and endpoint[0] in components else None
        if unserved:
            problem(f"[outputs] '{pattern}': {unserved}", spec.outputs.line, endpoint[0], endpoint[1])
        elif not _select_outputs([pattern], components):
            problem(f"[outputs] pattern '{pattern}' matches no variable", spec.outputs.line)

    if spec.settings.order is not None:
        for cname in spec.settings.order:
            if cname not in components:
                problem(
                    f"[master] order: no component called '{cname}'{_hint(cname, list(components))}",
                    None,
                    cname,
                )
        missing = [c for c in components if c not in spec.settings.order]
        if missing:
            problem(f"[master] order leaves out {', '.join(missing)}")
    return problems


def _interface_variables(comp: Component) -> Mapping[str, Any]:
    """The variables of the component a device stands in for (empty for anything else)."""
    interface = getattr(comp, "interface", None)
    return interface.variables if interface is not None else {}


def _unserved_ports(comp: Component) -> Mapping[str, Any]:
    """The energy ports of the component a device stands in for that its map does not carry (empty
    for anything else)."""
    return getattr(comp, "unserved_ports", None) or {}


def _stood_in_for(comp: Component) -> str:
    """What a device takes its energy ports from: its interface, else its fallback."""
    return "interface" if getattr(comp, "interface", None) is not None else "fallback"


def _unserved_port(comp: Component, port: str) -> tuple[str, str]:
    """Why the device ``comp`` lacks the energy port ``port``, and the first variable missing for it."""
    claimed = _unserved_ports(comp)[port]
    missing = [v for v in (claimed.power, claimed.energy) if v not in comp.served]
    return (
        f"the {_stood_in_for(comp)}'s energy port '{port}' needs its power '{claimed.power}' and energy counter "
        f"'{claimed.energy}' on the device, but no point of the register map '{comp.register_map.source}' carries "
        f'{" or ".join(repr(v) for v in missing)} (add a point with variable = "{missing[0]}")',
        missing[0],
    )


def _unserved(comp: Component, vname: str) -> str | None:
    """Why ``vname`` is missing from a device: a variable of its interface that its map does not carry."""
    if vname not in _interface_variables(comp) or vname in getattr(comp, "served", ()):
        return None
    return (
        f"'{vname}' is a variable of the device's interface, but no point of the register map "
        f"'{comp.register_map.source}' carries it (add a point with variable = \"{vname}\")"
    )


def _select_outputs(patterns: Sequence[str], components: Mapping[str, Component]) -> list[tuple[str, str]]:
    """``(component, variable)`` pairs of outputs matching any pattern, in declaration order."""
    selected: list[tuple[str, str]] = []
    for cname, comp in components.items():
        for vname, var in comp.variables.items():
            if var.causality is not Causality.OUTPUT:
                continue
            full = f"{cname}.{vname}"
            if any(fnmatch.fnmatchcase(full, p) for p in patterns):
                selected.append((cname, vname))
    return selected


def default_cache_dir() -> Path:
    """Where FMUs exported from model names are kept: ``$XDG_CACHE_HOME/kreislauf/fmus``."""
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(root) / "kreislauf" / "fmus"


def make_component(spec: ComponentSpec, cache_dir: Path | None = None) -> Component:
    """Construct the component described by ``spec``: the one factory for every kind.

    ``fmu``: :class:`kreislauf.fmu.FmuComponent`; ``model``: exported with
    :func:`kreislauf.fmu.build_fmu` into ``cache_dir`` and then imported; ``python``: the factory
    named ``"file.py:Name"`` (relative to the system file) or ``"module:Name"`` called with
    ``name=`` and the ``arguments`` table; ``device``: :func:`kreislauf.hil.device_from_options`
    with the ``device`` table (a ``fallback = {fmu = ...}`` table is built here first). Raises
    :class:`SystemFileError` when it cannot.
    """
    where = Problem("", component=spec.name, line=spec.line)
    if spec.kind == "fmu":
        from kreislauf.fmu import FmuComponent

        path = Path(spec.source) if Path(spec.source).is_absolute() else spec.base_dir / spec.source
        return FmuComponent(path, name=spec.name)
    if spec.kind == "model":
        from kreislauf.fmu import FmuComponent, build_fmu

        out_dir = cache_dir or default_cache_dir()
        out_dir.mkdir(parents=True, exist_ok=True)
        path = build_fmu(spec.source, out_dir, fmi_version=int(float(spec.fmi_version)))
        return FmuComponent(path, name=spec.name)
    if spec.kind == "python":
        module_part, _, attr = spec.source.rpartition(":")
        if module_part.endswith(".py"):
            file = spec.base_dir / module_part
            module_name = f"kreislauf_user_{abs(hash(str(file.resolve())))}"
            module = sys.modules.get(module_name)
            if module is None:
                loader_spec = importlib.util.spec_from_file_location(module_name, file)
                if loader_spec is None or loader_spec.loader is None:
                    raise SystemFileError([_with(where, f"cannot load Python file {file}")])
                module = importlib.util.module_from_spec(loader_spec)
                sys.modules[module_name] = module
                loader_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_part)
        factory = getattr(module, attr, None)
        if factory is None:
            raise SystemFileError([_with(where, f"'{module_part}' has no '{attr}'")])
        arguments = dict(spec.arguments)
        try:
            accepts_base_dir = "base_dir" in inspect.signature(factory).parameters
        except (TypeError, ValueError):
            accepts_base_dir = False
        if accepts_base_dir and "base_dir" not in arguments:
            arguments["base_dir"] = spec.base_dir  # relative data files resolve against the system file
        return factory(name=spec.name, **arguments)
    if spec.kind == "device" and spec.interface_kind is not None:
        return _device_with_interface(spec, cache_dir)
    if spec.kind == "device":
        from kreislauf.hil import device_from_options

        options = dict(spec.options)
        fallback = None
        if isinstance(options.get("fallback"), Mapping):
            fallback_table = dict(options.pop("fallback"))
            kinds = [k for k in ("fmu", "model", "python") if k in fallback_table]
            if len(kinds) != 1:
                raise SystemFileError(
                    [_with(where, "device fallback must be a table with one of fmu, model or python")]
                )
            fallback = make_component(
                ComponentSpec(
                    spec.name,
                    kinds[0],
                    str(fallback_table[kinds[0]]),
                    arguments=dict(fallback_table.get("arguments", {})),
                    base_dir=spec.base_dir,
                    line=spec.line,
                ),
                cache_dir,
            )
        return device_from_options(spec.name, options, spec.base_dir, fallback=fallback)
    raise SystemFileError([_with(where, f"components of kind '{spec.kind}' cannot be built")])


def interface_spec(spec: ComponentSpec) -> ComponentSpec:
    """The component a device entry stands in for (its ``model``/``fmu``/``python``), as its own spec."""
    return replace(spec, kind=spec.interface_kind, interface_kind=None, options={})


def _device_with_interface(spec: ComponentSpec, cache_dir: Path | None) -> Component:
    """The device of an entry that keeps its ``model``/``fmu``/``python``: that component is the
    device's interface and fallback. Every point of the map that does not fit the interface is a
    :class:`Problem` naming the component and the point."""
    from kreislauf.hil import RegisterMapError, device_from_options

    interface = make_component(interface_spec(spec), cache_dir)
    try:
        return device_from_options(spec.name, dict(spec.options), spec.base_dir, interface=interface)
    except RegisterMapError as exc:
        interface.close()
        found = getattr(exc, "problems", None) or [exc]  # a map that does not fit: every misfit point
        where = f"the interface ({spec.interface_kind} '{spec.source}')"
        raise SystemFileError(
            [Problem(f"device map does not fit {where}: {p}", None, spec.line, spec.name) for p in found]
        ) from None
    except BaseException:
        interface.close()
        raise


def _with(problem: Problem, message: str) -> Problem:
    return Problem(message, problem.file, problem.line, problem.component, problem.variable)


def load_system_file(path: str | os.PathLike[str]) -> SystemSpec:
    """The spec of a system file; raises :class:`SystemFileError` listing every file-level problem."""
    spec, problems = parse_system_file(path)
    if problems:
        raise SystemFileError(problems)
    return spec


def check_system_file(path: str | os.PathLike[str], cache_dir: Path | None = None) -> list[Problem]:
    """Every problem in a system file: the file itself, then against the components it builds.

    Components are built (and closed again, never set up) to learn their variables; a component that
    cannot be built is one more problem and its connections are not checked further. A sound file is
    finally handed to the master, which reports algebraic loops it refuses and settings that do not
    fit together.
    """
    spec, problems = parse_system_file(path)
    components: dict[str, Component] = {}
    try:
        for name, cspec in spec.components.items():
            if "fmu" in (cspec.kind, cspec.interface_kind) and not (
                Path(cspec.source).is_absolute() or (cspec.base_dir / cspec.source).is_file()
            ):
                continue
            try:
                components[name] = make_component(cspec, cache_dir)
            except SystemFileError as exc:
                problems.extend(
                    _with(p, p.message)
                    if p.file
                    else Problem(p.message, spec.file_text, p.line, p.component, p.variable)
                    for p in exc.problems
                )
            except Exception as exc:  # noqa: BLE001 - any failure to build is reported, not raised
                problems.append(
                    Problem(
                        f"cannot build the component: {type(exc).__name__}: {exc}",
                        spec.file_text,
                        cspec.line,
                        name,
                    )
                )
        built = dict(components)
        unbuilt = set(spec.components) - set(built)
        trimmed = SystemSpec(
            spec.name,
            spec.file,
            spec.components,
            [c for c in spec.connections if c.source_component not in unbuilt and c.target_component not in unbuilt],
            [b for b in spec.bonds if b.sender_component not in unbuilt and b.receiver_component not in unbuilt],
            spec.settings,
            OutputSpec(
                [p for p in spec.outputs.variables if (_split_endpoint(p) or ("",))[0] not in unbuilt],
                spec.outputs.line,
            ),
        )
        found = validate(trimmed, built)
        problems.extend(found)
        if not found and not unbuilt:
            problems.extend(_master_problems(spec, built))
    finally:
        for comp in components.values():
            comp.close()
    return problems


def _master_problems(spec: SystemSpec, components: Mapping[str, Component]) -> list[Problem]:
    """Problems only the master sees: settings that do not fit together, algebraic loops it refuses."""
    from kreislauf.master import AlgebraicLoopError, Master

    try:
        Master(spec, components)
    except SystemFileError as exc:
        return exc.problems
    except AlgebraicLoopError as exc:
        return [Problem(str(exc), spec.file_text)]
    return []
