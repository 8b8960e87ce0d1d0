"""SSP 1.0 (System Structure and Parameterization): systems read from and written to ``.ssp``/``.ssd``.

An ``.ssp`` file is a zip archive with ``SystemStructure.ssd`` at its root and the FMUs (and any
``.ssv`` parameter files) under ``resources/``; a bare ``.ssd`` file refers to FMUs relative to
itself. What maps onto SSP 1.0:

- components -> ``ssd:Component`` (``type="application/x-fmu-sharedlibrary"``, ``source`` the FMU)
  with ``ssd:Connectors`` (kind, ``ssc:Real unit``, units defined in ``ssd:Units``); components
  that are kreislauf models are exported to FMUs first;
- parameter values -> ``ssd:ParameterBinding`` with an inline ``ssv:ParameterSet``; read: inline
  or external ``.ssv`` files, on components or on the system (hierarchical names, ``prefix``),
  ``ssv:Real unit`` converted to the FMU variable's unit;
- connections -> ``ssd:Connection`` with an optional ``ssc:LinearTransformation``. SSP converts
  between the connectors' units and then applies ``factor``/``offset`` in the end connector's unit
  (with ``suppressUnitConversion`` only the linear map); on import that whole affine map, from the
  source FMU variable's unit to the target FMU variable's unit, is folded into the connection's
  ``factor``/``offset`` so that the master, which converts between the FMU variables' units,
  hands the target exactly the value SSP defines;
- start and stop time -> ``ssd:DefaultExperiment``;
- read only: nested ``ssd:System`` elements are flattened (a component ``pump`` of system ``sub``
  becomes ``sub__pump``) and connections through system connectors are traced to the components
  at both ends, composing every connector's unit and every transformation on the way.

What SSP 1.0 has no element for (master settings, power bonds, output selection, Python and device
components and their connections, multi-rate steps, declared output dependencies, and that a
component was a kreislauf model) travels as JSON in an ``ssc:Annotation`` of type
``org.kreislauf``, so a system written by kreislauf reads back unchanged; other tools ignore it.

Reading collects every problem at once (:class:`~kreislauf.system.Problem`, naming the file,
component and variable). Elements with no meaning for a run (geometry, graphical elements, other
tools' annotations, enumerations, system outputs only observed, system inputs nothing drives) are
skipped with a *note*; content that would change the system if skipped (signal dictionaries,
parameter mappings, non-FMU components, transformations other than linear) is a problem.
"""

from __future__ import annotations

import json
import logging
import math
import os
import stat
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

from kreislauf import units
from kreislauf.system import (
    BondSpec,
    ComponentSpec,
    ConnectionSpec,
    OutputSpec,
    Problem,
    SystemFileError,
    SystemSpec,
    _parse_master,
    _Source,
    default_cache_dir,
    parse_duration,
)

__all__ = ["ANNOTATION_TYPE", "FMU_TYPE", "PARAMETER_SET_TYPE", "parse_ssp", "read_ssp", "write_ssp"]

NS = {
    "ssd": "http://ssp-standard.org/SSP1/SystemStructureDescription",
    "ssc": "http://ssp-standard.org/SSP1/SystemStructureCommon",
    "ssv": "http://ssp-standard.org/SSP1/SystemStructureParameterValues",
}
FMU_TYPE = "application/x-fmu-sharedlibrary"
PARAMETER_SET_TYPE = "application/x-ssp-parameter-set"
ANNOTATION_TYPE = "org.kreislauf"
SSD_NAME = "SystemStructure.ssd"
_KREISLAUF_NS = "urn:org.kreislauf:ssp:1"
_SSP_BASE_UNITS = ("kg", "m", "s", "A", "K", "mol", "cd", "rad")
# SSP base unit exponents (kg, m, s, A, K, mol, cd, rad) from kreislauf.models.units order (kg, m, s, K, A, mol)
_FROM_MODEL_ORDER = (0, 1, 2, 4, 3, 5)

log = logging.getLogger(__name__)

for _prefix, _uri in NS.items():
    ET.register_namespace(_prefix, _uri)
ET.register_namespace("kreislauf", _KREISLAUF_NS)


def _q(prefix: str, tag: str) -> str:
    return f"{{{NS[prefix]}}}{tag}"


def _local(tag: str) -> str:
    prefix = next((p for p, uri in NS.items() if tag.startswith(f"{{{uri}}}")), None)
    return f"{prefix}:{tag.split('}')[-1]}" if prefix else tag


def _number(value: float) -> str:
    return repr(float(value))


# ----------------------------------------------------------------------------------------- units
@dataclass(frozen=True)
class _UnitDef:
    """A unit as SSP and FMI define it: SI base exponents, value_in_base = factor * value + offset."""

    exponents: tuple[int, ...]
    factor: float = 1.0
    offset: float = 0.0


def _kreislauf_unit(name: str) -> _UnitDef | None:
    """The definition of a unit kreislauf knows (:data:`kreislauf.units.UNITS`), else None."""
    entry = units.UNITS.get(name)
    if entry is None:
        return None
    base, factor, offset = entry
    try:
        dims = units.dimension("K" if base == "deltaK" else base)
    except units.UnknownUnitError:
        return None
    exps = [0] * len(_SSP_BASE_UNITS)
    for model_index, ssp_index in enumerate(_FROM_MODEL_ORDER):
        exps[ssp_index] = dims[model_index]
    return _UnitDef(tuple(exps), factor, offset)


def _read_units(parent: ET.Element | None, prefix: str) -> dict[str, _UnitDef]:
    """``ssc:Unit`` definitions under ``parent`` (``prefix``: ``ssd`` or ``ssv`` for the Units element)."""
    out: dict[str, _UnitDef] = {}
    if parent is None:
        return out
    for unit in parent.findall(f"{prefix}:Units/ssc:Unit", NS):
        base = unit.find("ssc:BaseUnit", NS)
        attrs = base.attrib if base is not None else {}
        out[unit.get("name", "")] = _UnitDef(
            tuple(int(attrs.get(n, 0)) for n in _SSP_BASE_UNITS),
            float(attrs.get("factor", 1.0)),
            float(attrs.get("offset", 0.0)),
        )
    return out


def _fmu_unit_defs(md: Any) -> dict[str, _UnitDef]:
    out: dict[str, _UnitDef] = {}
    for unit in getattr(md, "unitDefinitions", None) or []:
        base = unit.baseUnit
        if base is None:
            continue
        out[unit.name] = _UnitDef(
            tuple(int(getattr(base, n, 0) or 0) for n in _SSP_BASE_UNITS),
            float(base.factor or 1.0),
            float(base.offset or 0.0),
        )
    return out


def _convert(a: str | None, b: str | None, *defs: Mapping[str, _UnitDef]) -> units.Conversion:
    """The affine map from unit ``a`` to unit ``b`` (identity when either is absent or they are equal).

    Definitions are looked up in ``defs`` first (the file's own ``Units``), then in kreislauf's
    table. Raises :class:`kreislauf.units.UnitError` for an undefined unit or different dimensions.
    """
    if not a or not b or a == b:
        return units.Conversion()
    found = []
    for name in (a, b):
        unit = next((d[name] for d in defs if name in d), None) or _kreislauf_unit(name)
        if unit is None:
            raise units.UnitError(f"unit '{name}' is defined neither in the file's Units nor known to kreislauf")
        found.append(unit)
    ua, ub = found
    if ua.exponents != ub.exponents:
        raise units.UnitError(f"unit '{a}' cannot be converted to '{b}': they measure different quantities")
    return units.Conversion(ua.factor / ub.factor, (ua.offset - ub.offset) / ub.factor)


# ----------------------------------------------------------------------------------------- FMUs
@dataclass
class _FmuInfo:
    """What reading and writing need of an FMU: variables' causality and unit, unit definitions."""

    causality: dict[str, str]
    unit: dict[str, str | None]
    unit_defs: dict[str, _UnitDef]


def _fmu_info(path: Path) -> _FmuInfo:
    """Variables of the FMU at ``path`` from its modelDescription.xml (read inside the zip)."""
    from fmpy import read_model_description

    md = read_model_description(str(path), validate=False)
    causality: dict[str, str] = {}
    unit: dict[str, str | None] = {}
    for sv in md.modelVariables:
        causality[sv.name] = sv.causality
        unit[sv.name] = sv.unit or (sv.declaredType.unit if sv.declaredType is not None else None) or None
    return _FmuInfo(causality, unit, _fmu_unit_defs(md))


# ----------------------------------------------------------------------------------------- reading
class _Reader:
    """One reading of an SSD: the spec being filled, its problems and notes."""

    def __init__(self, path: Path, spec: SystemSpec):
        self.path = path
        self.fname = str(path)
        self.spec = spec
        self.problems: list[Problem] = []
        self.notes: list[Problem] = []
        self.ssd_units: dict[str, _UnitDef] = {}
        self.fmus: dict[str, _FmuInfo] = {}
        self.connector_units: dict[tuple[str, str, str], str | None] = {}
        self.paths: dict[str, tuple[str, ...]] = {}
        self.edges: list[_Edge] = []

    def problem(self, message: str, component: str | None = None, variable: str | None = None) -> None:
        self.problems.append(Problem(message, self.fname, None, component, variable))

    def note(self, message: str, component: str | None = None, variable: str | None = None) -> None:
        self.notes.append(Problem(message, self.fname, None, component, variable))

    def ignore(self, element: ET.Element, where: str, component: str | None = None) -> None:
        self.note(f"{_local(element.tag)} in {where} ignored (no meaning for a kreislauf run)", component)


def _safe_member(name: str) -> bool:
    pure = PurePosixPath(name)
    return not (pure.is_absolute() or ".." in pure.parts or "\\" in name or (len(name) > 1 and name[1] == ":"))


def _extract(path: Path, target: Path, reader: _Reader) -> bytes | None:
    """Check every member of the archive, then extract it to ``target``; the SSD's bytes or None.

    The checks and limits are those of FMU extraction (:class:`kreislauf.fmu.ExtractionLimits`).
    """
    from kreislauf.fmu import ExtractionLimits

    limits = ExtractionLimits()
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            names = {i.filename for i in infos}
            bad = False
            if SSD_NAME not in names:
                reader.problem(f"the archive has no {SSD_NAME} at its root")
                bad = True
            if len(infos) > limits.max_entries:
                reader.problem(f"the archive has {len(infos)} members, more than the limit of {limits.max_entries}")
                bad = True
            total = 0
            for info in infos:
                kind = stat.S_IFMT(info.external_attr >> 16)
                total += info.file_size
                if not _safe_member(info.filename):
                    reader.problem(f"archive member '{info.filename}' would leave the extraction folder")
                    bad = True
                elif kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
                    reader.problem(f"archive member '{info.filename}' is a link or special file")
                    bad = True
                elif info.file_size > limits.max_entry_size:
                    reader.problem(
                        f"archive member '{info.filename}' is {info.file_size} bytes, over the limit of "
                        f"{limits.max_entry_size}"
                    )
                    bad = True
                elif info.file_size > 2**20 and info.file_size > limits.max_ratio * max(info.compress_size, 1):
                    reader.problem(
                        f"archive member '{info.filename}' expands more than {limits.max_ratio:.0f} times (zip bomb?)"
                    )
                    bad = True
            if total > limits.max_total_size:
                reader.problem(f"the archive expands to {total} bytes, over the limit of {limits.max_total_size}")
                bad = True
            if bad:
                return None
            archive.extractall(target)
            return archive.read(SSD_NAME)
    except (OSError, zipfile.BadZipFile) as exc:
        reader.problem(f"cannot read the SSP archive: {exc}")
        return None


def parse_ssp(
    path: str | os.PathLike[str],
    extract_dir: str | os.PathLike[str] | None = None,
    notes: list[Problem] | None = None,
) -> tuple[SystemSpec, list[Problem]]:
    """Read an ``.ssp`` archive or an ``.ssd`` file into a :class:`SystemSpec` and its problems.

    The archive is checked member by member (no absolute paths, ``..``, links, zip bombs) and
    extracted to ``extract_dir`` (default: ``<file>.resources`` beside the archive); the FMUs are
    used from there. Every problem is collected, none raised. Elements skipped because they do
    not matter for a run are appended to ``notes`` (when given) and logged at INFO level.
    """
    path = Path(path)
    spec = SystemSpec(file=path, name=path.stem)
    reader = _Reader(path, spec)
    base_dir = path.parent
    if path.suffix.lower() == ".ssp":
        target = Path(extract_dir) if extract_dir is not None else path.with_name(path.name + ".resources")
        text = _extract(path, target, reader)
        base_dir = target
    else:
        try:
            text = path.read_bytes()
        except OSError as exc:
            reader.problem(f"cannot read the SSD file: {exc.strerror or exc}")
            text = None
    if text is not None:
        try:
            root = ET.fromstring(text)
        except ET.ParseError as exc:
            reader.problems.append(Problem(f"{SSD_NAME} is not well-formed XML: {exc}", str(path), exc.position[0]))
        else:
            _read_root(root, reader, base_dir)
    for note in reader.notes:
        log.info("%s", note)
    if notes is not None:
        notes.extend(reader.notes)
    return spec, reader.problems


def read_ssp(
    path: str | os.PathLike[str],
    extract_dir: str | os.PathLike[str] | None = None,
    notes: list[Problem] | None = None,
) -> SystemSpec:
    """The :class:`SystemSpec` of an ``.ssp`` or ``.ssd`` file (see :func:`parse_ssp`).

    Raises :class:`~kreislauf.system.SystemFileError` listing every problem of the file at once.
    """
    spec, problems = parse_ssp(path, extract_dir, notes)
    if problems:
        raise SystemFileError(problems)
    return spec


def _read_root(root: ET.Element, reader: _Reader, base_dir: Path) -> None:
    spec = reader.spec
    if root.tag != _q("ssd", "SystemStructureDescription"):
        reader.problem(f"the root element is {_local(root.tag)}, not ssd:SystemStructureDescription")
        return
    if root.get("version") not in ("1.0", None):
        reader.note(f"SSD version {root.get('version')}: read as SSP 1.0")
    spec.name = root.get("name", spec.name)
    reader.ssd_units = _read_units(root, "ssd")
    extra: dict[str, Any] | None = None
    system = None
    for child in root:
        tag = _local(child.tag)
        if tag == "ssd:System":
            system = child
        elif tag == "ssd:DefaultExperiment":
            start = _float_attr(child, "startTime", spec.settings.start, reader)
            stop = _float_attr(child, "stopTime", spec.settings.stop, reader)
            spec.settings.start, spec.settings.stop = start, stop
        elif tag == "ssd:Annotations":
            extra = _read_annotations(child, reader, "the description")
        elif tag != "ssd:Units":
            reader.ignore(child, "the description")
    if system is None:
        reader.problem("no ssd:System element")
        return
    _read_system(system, reader, base_dir)
    _resolve_connections(reader)
    if extra is not None:
        _apply_annotation(extra, reader)


def _float_attr(element: ET.Element, name: str, default: float, reader: _Reader, component: str | None = None) -> float:
    raw = element.get(name)
    if raw is None:
        return default
    try:
        return float(raw)
    except ValueError:
        reader.problem(f"{_local(element.tag)} {name}='{raw}' is not a number", component)
        return default


def _read_annotations(element: ET.Element, reader: _Reader, where: str) -> dict[str, Any] | None:
    """The kreislauf annotation's JSON; other tools' annotations are noted and skipped."""
    found = None
    for annotation in element.findall("ssc:Annotation", NS):
        if annotation.get("type") != ANNOTATION_TYPE:
            reader.note(f"annotation of type '{annotation.get('type')}' in {where} ignored")
            continue
        payload = annotation.find(f"{{{_KREISLAUF_NS}}}system")
        try:
            found = json.loads(payload.text or "") if payload is not None else None
        except json.JSONDecodeError as exc:
            reader.problem(f"the {ANNOTATION_TYPE} annotation is not valid JSON: {exc}")
            continue
        if not isinstance(found, dict):
            reader.problem(f"the {ANNOTATION_TYPE} annotation holds no kreislauf:system object")
            found = None
    return found


def _node_key(path: tuple[str, ...]) -> str:
    return "/".join(path)


def _read_system(system: ET.Element, reader: _Reader, base_dir: Path, path: tuple[str, ...] = ()) -> None:
    """One system and, recursively, the systems nested in it (``path``: the names below the root).

    Components of nested systems are flattened into the one system kreislauf runs, named by their
    path joined with ``__`` (``sub__pump`` for ``pump`` in system ``sub``); connections through
    system connectors are traced to the components at their ends by :func:`_resolve_connections`.
    """
    where = f"system '{system.get('name')}'"
    for child in system:
        tag = _local(child.tag)
        if tag == "ssd:Connectors":
            for connector in child.findall("ssd:Connector", NS):
                real = connector.find("ssc:Real", NS)
                unit = real.get("unit") if real is not None else None
                reader.connector_units[("s", _node_key(path), connector.get("name", ""))] = unit
        elif tag == "ssd:SignalDictionaries":
            reader.problem(f"signal dictionaries (in {where}) are not supported")
        elif tag == "ssd:Annotations":
            _read_annotations(child, reader, where)
        elif tag not in ("ssd:Elements", "ssd:Connections", "ssd:ParameterBindings"):
            reader.ignore(child, where)
    subsystems = set()
    for element in system.findall("ssd:Elements/*", NS):
        if element.tag == _q("ssd", "System"):
            subsystems.add(element.get("name", ""))
            _read_system(element, reader, base_dir, path + (element.get("name", ""),))
        else:
            _read_element(element, reader, base_dir, path)
    for binding in system.findall("ssd:ParameterBindings/ssd:ParameterBinding", NS):
        below = {".".join(full[len(path) :]): flat for flat, full in reader.paths.items() if full[: len(path)] == path}
        for pname, value, unit, set_units in _binding_values(binding, reader, base_dir, None):
            owner = max((rel for rel in below if pname.startswith(rel + ".")), key=len, default=None)
            if owner is None:
                reader.problem(
                    f"parameter '{pname}' bound on {where} names no component in it "
                    f"(expected 'component.variable', components: {', '.join(below)})"
                )
                continue
            cspec = reader.spec.components[below[owner]]
            _set_parameter(cspec, pname[len(owner) + 1 :], value, unit, set_units, reader)
    for conn in system.findall("ssd:Connections/ssd:Connection", NS):
        _read_connection(conn, reader, path, subsystems)


def _read_element(element: ET.Element, reader: _Reader, base_dir: Path, path: tuple[str, ...]) -> None:
    """One element of the system at ``path``: an FMU component, named by its path joined with ``__``."""
    name = "__".join(path + (element.get("name", ""),))
    tag = _local(element.tag)
    if tag != "ssd:Component":
        reader.problem(
            f"{tag} elements are not supported; only ssd:Component and ssd:System",
            component=name,
        )
        return
    ctype = element.get("type", FMU_TYPE)
    if ctype != FMU_TYPE:
        reader.problem(f"component type '{ctype}' is not supported (only {FMU_TYPE})", component=name)
        return
    if name in reader.spec.components:
        reader.problem("two elements have this name", component=name)
        return
    implementation = element.get("implementation", "any")
    if implementation == "ModelExchange":
        reader.problem(
            "implementation='ModelExchange' is not supported: kreislauf runs co-simulation FMUs", component=name
        )
    source = element.get("source", "")
    fmu = _resolve(source, base_dir)
    cspec = ComponentSpec(name, "fmu", str(fmu) if fmu is not None else source, base_dir=base_dir)
    reader.spec.components[name] = cspec
    reader.paths[name] = path + (element.get("name", ""),)
    if fmu is None:
        reader.problem(f"source '{source}' is not a relative reference or a file: URI", component=name)
    elif not fmu.is_file():
        reader.problem(f"FMU '{source}' not found (looked at {fmu})", component=name)
    else:
        try:
            reader.fmus[name] = _fmu_info(fmu)
        except Exception as exc:  # fmpy raises several types for a broken FMU (zip, lxml, its own)
            reader.problem(f"FMU '{source}' has no readable modelDescription.xml: {exc}", component=name)
    info = reader.fmus.get(name)
    for child in element:
        tag = _local(child.tag)
        if tag == "ssd:Connectors":
            for connector in child.findall("ssd:Connector", NS):
                _read_connector(connector, name, info, reader)
        elif tag == "ssd:ParameterBindings":
            for binding in child.findall("ssd:ParameterBinding", NS):
                for pname, value, unit, set_units in _binding_values(binding, reader, base_dir, name):
                    _set_parameter(cspec, pname, value, unit, set_units, reader)
        elif tag == "ssd:Annotations":
            _read_annotations(child, reader, f"component '{name}'")
        else:
            reader.ignore(child, f"component '{name}'", name)


def _resolve(source: str, base_dir: Path) -> Path | None:
    """The file an SSP ``source`` URI reference names: relative to ``base_dir``, or a ``file:`` URI.

    Percent-encoding is decoded; other schemes (``http:``...) give None.
    """
    parts = urlsplit(source)
    if parts.scheme == "file":
        return Path(unquote(parts.path))
    if parts.scheme or parts.netloc:
        return None
    return base_dir / unquote(parts.path)


def _read_connector(connector: ET.Element, component: str, info: _FmuInfo | None, reader: _Reader) -> None:
    cname = connector.get("name", "")
    if info is not None and cname not in info.causality:
        reader.problem("connector names no variable of the FMU", component, cname)
        return
    unit = None
    for child in connector:
        tag = _local(child.tag)
        if tag == "ssc:Real":
            unit = child.get("unit")
            if unit and unit not in reader.ssd_units and _kreislauf_unit(unit) is None:
                reader.problem(
                    f"unit '{unit}' is not defined in ssd:Units and not known to kreislauf", component, cname
                )
                unit = None
        elif tag in ("ssc:Integer", "ssc:Boolean"):
            pass
        elif tag in ("ssc:String", "ssc:Enumeration", "ssc:Binary"):
            reader.note(f"connector of type {tag} can only be carried as a number", component, cname)
        else:
            reader.ignore(child, f"connector '{cname}'", component)
    reader.connector_units[("c", component, cname)] = unit


def _binding_values(
    binding: ET.Element, reader: _Reader, base_dir: Path, component: str | None
) -> list[tuple[str, float, str | None, dict[str, _UnitDef]]]:
    """(name with the binding's prefix, value, unit, the set's unit definitions) of every parameter."""
    btype = binding.get("type", PARAMETER_SET_TYPE)
    if btype != PARAMETER_SET_TYPE:
        reader.problem(f"parameter binding of type '{btype}' is not supported (only {PARAMETER_SET_TYPE})", component)
        return []
    if binding.find("ssd:ParameterMapping", NS) is not None:
        reader.problem("parameter mappings are not supported", component)
        return []
    pset = binding.find("ssd:ParameterValues/ssv:ParameterSet", NS)
    source = binding.get("source")
    where = "inline parameter set"
    if pset is None and source is not None:
        where = f"parameter file '{source}'"
        file = _resolve(source, base_dir)
        try:
            if file is None:
                raise OSError("not a relative reference or a file: URI")
            pset = ET.fromstring(file.read_bytes())
        except (OSError, ET.ParseError) as exc:
            reader.problem(f"parameter values '{source}' cannot be read: {exc}", component)
            return []
        if pset.tag != _q("ssv", "ParameterSet"):
            reader.problem(f"{where} holds {_local(pset.tag)}, not ssv:ParameterSet", component)
            return []
    if pset is None:
        return []
    set_units = _read_units(pset, "ssv")
    prefix = binding.get("prefix", "")
    out: list[tuple[str, float, str | None, dict[str, _UnitDef]]] = []
    for parameter in pset.findall("ssv:Parameters/ssv:Parameter", NS):
        pname = prefix + parameter.get("name", "")
        value = next((c for c in parameter if c.tag.startswith(f"{{{NS['ssv']}}}")), None)
        tag = _local(value.tag) if value is not None else "nothing"
        raw = value.get("value", "") if value is not None else ""
        if tag in ("ssv:Real", "ssv:Integer"):
            try:
                number = float(raw)
            except ValueError:
                reader.problem(f"{where}: value '{raw}' is not a number", component, pname)
                continue
        elif tag == "ssv:Boolean" and raw in ("true", "false", "1", "0"):
            number = 1.0 if raw in ("true", "1") else 0.0
        else:
            reader.problem(
                f"{where}: a {tag} value cannot be set; only Real, Integer and Boolean values can", component, pname
            )
            continue
        out.append((pname, number, value.get("unit") if tag == "ssv:Real" else None, set_units))
    return out


def _set_parameter(
    cspec: ComponentSpec,
    variable: str,
    value: float,
    unit: str | None,
    set_units: Mapping[str, _UnitDef],
    reader: _Reader,
) -> None:
    """Set a bound parameter, converted from its unit in the parameter set to the FMU variable's."""
    info = reader.fmus.get(cspec.name)
    if info is not None:
        if variable not in info.causality:
            reader.problem("parameter binding names no variable of the FMU", cspec.name, variable)
            return
        try:
            conv = _convert(unit, info.unit.get(variable), set_units, reader.ssd_units, info.unit_defs)
        except units.UnitError as exc:
            reader.problem(f"parameter value: {exc}", cspec.name, variable)
            return
        value = conv.factor * value + conv.offset
    cspec.parameters[variable] = value


@dataclass
class _Edge:
    """One ``ssd:Connection`` between two connector nodes: ``("c", component, connector)`` or
    ``("s", system path, connector)``, with its linear transformation."""

    start: tuple[str, str, str]
    end: tuple[str, str, str]
    factor: float
    offset: float
    suppress: bool

    @property
    def text(self) -> str:
        """The connection as written, ``start.connector -> end.connector``."""
        return f"{_node_text(self.start)} -> {_node_text(self.end)}"


def _node_text(node: tuple[str, str, str]) -> str:
    kind, owner, connector = node
    return f"{owner}.{connector}" if kind == "c" else f"<system '{owner or '/'}'>.{connector}"


def _read_connection(conn: ET.Element, reader: _Reader, path: tuple[str, ...], subsystems: set[str]) -> None:
    """Record one connection of the system at ``path`` as an edge between connector nodes."""

    def node(element: str | None, connector: str) -> tuple[str, str, str]:
        if element is None:
            return ("s", _node_key(path), connector)
        if element in subsystems:
            return ("s", _node_key(path + (element,)), connector)
        return ("c", "__".join(path + (element,)), connector)

    start = node(conn.get("startElement"), conn.get("startConnector", ""))
    end = node(conn.get("endElement"), conn.get("endConnector", ""))
    text = f"{_node_text(start)} -> {_node_text(end)}"
    for child in conn:
        tag = _local(child.tag)
        if tag not in ("ssc:LinearTransformation", "ssd:ConnectionGeometry", "ssd:Annotations"):
            reader.problem(f"connection {text}: {tag} is not supported", end[1], end[2])
            return
        if tag != "ssc:LinearTransformation":
            reader.ignore(child, f"connection {text}", end[1])
    infos = reader.fmus
    if (
        start[0] == end[0] == "c"
        and infos.get(start[1]) is not None
        and infos.get(end[1]) is not None
        and infos[start[1]].causality.get(start[2]) == "input"
        and infos[end[1]].causality.get(end[2]) == "output"
    ):
        reader.note(f"connection {text} runs from an input to an output; read reversed")
        start, end = end, start
    linear = conn.find("ssc:LinearTransformation", NS)
    factor = _float_attr(linear, "factor", 1.0, reader, end[1]) if linear is not None else 1.0
    offset = _float_attr(linear, "offset", 0.0, reader, end[1]) if linear is not None else 0.0
    suppress = conn.get("suppressUnitConversion", "false") in ("true", "1")
    reader.edges.append(_Edge(start, end, factor, offset, suppress))


def _resolve_connections(reader: _Reader) -> None:
    """Turn the edges into component-to-component connections, tracing through system connectors."""
    into: dict[tuple[str, str, str], list[_Edge]] = {}
    for edge in reader.edges:
        into.setdefault(edge.end, []).append(edge)
    used: set[int] = set()
    for edge in reader.edges:
        if edge.end[0] != "c":
            continue
        chain = [edge]
        while chain[0].start[0] == "s":
            feeding = into.get(chain[0].start, [])
            if len(feeding) != 1 or any(f is e for f in feeding for e in chain):
                break
            chain.insert(0, feeding[0])
        first = chain[0].start
        if first[0] == "s":
            feeding = into.get(first, [])
            if len(feeding) > 1:
                reader.problem(f"{_node_text(first)} is fed by {len(feeding)} connections", edge.end[1], edge.end[2])
            elif feeding:
                reader.problem(f"connections through {_node_text(first)} form a cycle", edge.end[1], edge.end[2])
            else:
                reader.note(
                    f"{_node_text(first)} feeds {_node_text(edge.end)} but nothing drives it in the system: "
                    "the input keeps its start value",
                    edge.end[1],
                    edge.end[2],
                )
            continue
        used.update(id(e) for e in chain)
        try:
            factor, offset = _fold(reader, chain)
        except units.UnitError as exc:
            reader.problem(f"connection {' => '.join(e.text for e in chain)}: {exc}", edge.end[1], edge.end[2])
            continue
        reader.spec.connections.append(ConnectionSpec(first[1], first[2], edge.end[1], edge.end[2], factor, offset))
    for edge in reader.edges:
        if id(edge) not in used and edge.end[0] == "s":
            reader.note(f"connection {edge.text} leads to a system connector only (its source is recorded anyway)")


def _fold(reader: _Reader, chain: list[_Edge]) -> tuple[float, float]:
    """``factor``/``offset`` for the master that reproduce SSP's map along ``chain``.

    SSP: x (source FMU unit) -> source connector unit, then per connection: (unless suppressed)
    the end connector's unit -> ``factor * . + offset``; finally the target FMU unit. A system
    connector without a unit passes the value on in the unit it arrives in. The master applies
    ``F * M(x) + O`` with ``M`` the conversion between the FMU variables' units, so
    ``F = D.factor / M.factor`` and ``O = D.offset - F * M.offset`` for the composed map ``D``.
    """
    first, last = chain[0].start, chain[-1].end
    src, dst = reader.fmus.get(first[1]), reader.fmus.get(last[1])
    fmu_a = src.unit.get(first[2]) if src else None
    fmu_b = dst.unit.get(last[2]) if dst else None
    conn_a = reader.connector_units.get(first) or fmu_a
    conn_b = reader.connector_units.get(last) or fmu_b
    if len(chain) == 1 and conn_a == fmu_a and conn_b == fmu_b and not chain[0].suppress:
        return chain[0].factor, chain[0].offset
    defs = [reader.ssd_units] + [info.unit_defs for info in (src, dst) if info is not None]
    composed = _convert(fmu_a, conn_a, *defs)
    unit = conn_a
    for edge in chain:
        target = conn_b if edge is chain[-1] else (reader.connector_units.get(edge.end) or unit)
        if not edge.suppress:
            step = _convert(unit, target, *defs)
            composed = composed.then(step.factor, step.offset)
        composed = composed.then(edge.factor, edge.offset)
        unit = target
    step = _convert(conn_b, fmu_b, *defs)
    composed = composed.then(step.factor, step.offset)
    master = units.conversion(fmu_a, fmu_b)
    folded = composed.factor / master.factor
    return folded, composed.offset - folded * master.offset


def _apply_annotation(extra: Mapping[str, Any], reader: _Reader) -> None:
    """Settings, bonds, outputs, the annotation-only components and connections, and the order.

    The annotation may have been edited by hand: every entry is checked like its TOML counterpart
    and a bad one is a problem naming the annotation, never a crash.
    """
    spec = reader.spec
    where = f"the {ANNOTATION_TYPE} annotation"

    def problem(
        message: str, line: int | None = None, component: str | None = None, variable: str | None = None
    ) -> None:
        reader.problem(f"{where}: {message}", component, variable)

    settings = {k: v for k, v in (extra.get("settings") or {}).items() if v is not None and k not in ("start", "stop")}
    _parse_master(settings, spec.settings, _Source(""), problem)
    for name, info in (extra.get("components") or {}).items():
        try:
            _apply_component(name, dict(info), reader)
        except (TypeError, ValueError) as exc:
            problem(f"component entry is malformed: {exc}", component=name)
    order = [n for n in extra.get("order") or [] if n in spec.components]
    spec.components = {n: spec.components[n] for n in order + [n for n in spec.components if n not in order]}
    try:
        for item in sorted(extra.get("connections") or [], key=lambda c: c.get("index", 0)):
            data = {k: v for k, v in item.items() if k != "index"}
            conn = ConnectionSpec(**data)
            if not all(isinstance(x, (int, float)) and math.isfinite(x) for x in (conn.factor, conn.offset)):
                raise ValueError(f"{conn.text}: factor and offset must be finite numbers")
            spec.connections.insert(item.get("index", len(spec.connections)), conn)
        spec.bonds = [BondSpec(**b) for b in extra.get("bonds") or []]
        spec.outputs = OutputSpec([str(v) for v in extra.get("outputs") or ["*.*"]])
    except (TypeError, ValueError, AttributeError) as exc:
        problem(f"connections, bonds or outputs are malformed: {exc}")


def _apply_component(name: str, info: dict[str, Any], reader: _Reader) -> None:
    spec = reader.spec
    cspec = spec.components.get(name)
    kind = info.get("kind", "fmu")
    if cspec is None:
        if kind in ("fmu", "model"):
            reader.note(f"the {ANNOTATION_TYPE} annotation lists a component the SSD no longer has", name)
            return
        if kind not in ("python", "device"):
            raise ValueError(f"kind '{kind}' is not one of fmu, model, python, device")
        base_dir = spec.file.parent if spec.file else Path.cwd()
        cspec = spec.components[name] = ComponentSpec(name, kind, str(info.get("source", "")), base_dir=base_dir)
        cspec.parameters.update({str(k): float(v) for k, v in (info.get("parameters") or {}).items()})
    elif kind == "model":
        cspec.kind, cspec.source = "model", str(info.get("source", cspec.source))
    step = info.get("step")
    cspec.step = None if step is None else parse_duration(step, f"component '{name}' step")
    cspec.fmi_version = str(info.get("fmi_version", cspec.fmi_version))
    cspec.arguments = dict(info.get("arguments") or {})
    cspec.options = dict(info.get("options") or {})
    deps = info.get("output_dependencies")
    cspec.output_dependencies = None if deps is None else {str(k): [str(i) for i in v] for k, v in deps.items()}


# ----------------------------------------------------------------------------------------- writing
def write_ssp(spec: SystemSpec, path: str | os.PathLike[str], cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Write ``spec`` as an SSP 1.0 archive (``.ssp``) or a bare description (``.ssd``); the path written.

    ``.ssp``: the FMUs go into the archive as ``resources/<component>.fmu``; ``.ssd``: the
    components' ``source`` is the FMU path relative to the ``.ssd`` file. Components that are
    kreislauf models are exported to FMUs first (:func:`kreislauf.fmu.build_fmu`, cached in
    ``cache_dir``). Python and device components have no SSP form: they, their connections,
    bonds, outputs and master settings travel in the ``org.kreislauf`` annotation. Raises
    :class:`~kreislauf.system.SystemFileError` listing every component that cannot be written.
    """
    path = Path(path)
    archive = path.suffix.lower() == ".ssp"
    where = str(path)
    if path.suffix.lower() not in (".ssp", ".ssd"):
        raise SystemFileError([Problem("an SSP file is written as '.ssp' (archive) or '.ssd' (description)", where)])
    problems: list[Problem] = []
    fmus: dict[str, Path] = {}
    infos: dict[str, _FmuInfo] = {}
    for name, cspec in spec.components.items():
        try:
            if cspec.kind == "fmu":
                fmu = Path(cspec.source) if Path(cspec.source).is_absolute() else cspec.base_dir / cspec.source
            elif cspec.kind == "model":
                from kreislauf.fmu import build_fmu

                out = Path(cache_dir) if cache_dir is not None else default_cache_dir()
                out.mkdir(parents=True, exist_ok=True)
                fmu = build_fmu(cspec.source, out, fmi_version=int(float(cspec.fmi_version)))
            else:
                continue
            infos[name] = _fmu_info(fmu)
            fmus[name] = fmu
        except Exception as exc:  # a missing or broken FMU, an unknown model, a failed build
            problems.append(Problem(f"cannot be written as an FMU component: {exc}", where, component=name))
    if problems:
        raise SystemFileError(problems)
    sources = {name: f"resources/{name}.fmu" if archive else _relative(fmu, path.parent) for name, fmu in fmus.items()}
    text = _ssd_bytes(spec, infos, sources, path.parent)
    path.parent.mkdir(parents=True, exist_ok=True)
    if archive:
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(SSD_NAME, text)
            for name, fmu in fmus.items():
                zf.write(fmu, sources[name])
    else:
        path.write_bytes(text)
    return path


def _relative(target: Path, folder: Path) -> str:
    """``target`` as a POSIX path relative to ``folder`` (absolute when no relative path exists)."""
    try:
        return Path(os.path.relpath(target.resolve(), folder.resolve())).as_posix()
    except ValueError:  # another drive
        return target.resolve().as_posix()


def _ssd_bytes(spec: SystemSpec, infos: Mapping[str, _FmuInfo], sources: Mapping[str, str], out_dir: Path) -> bytes:
    root = ET.Element(_q("ssd", "SystemStructureDescription"), {"version": "1.0", "name": spec.name})
    system = ET.SubElement(root, _q("ssd", "System"), {"name": spec.name})
    in_ssd = {i for i, c in enumerate(spec.connections) if c.source_component in infos and c.target_component in infos}
    connected_inputs = {(c.target_component, c.target_variable) for i, c in enumerate(spec.connections) if i in in_ssd}
    used_units: dict[str, _UnitDef] = {}
    elements = ET.SubElement(system, _q("ssd", "Elements")) if infos else system
    for name, info in infos.items():
        cspec = spec.components[name]
        element = ET.SubElement(
            elements, _q("ssd", "Component"), {"name": name, "type": FMU_TYPE, "source": sources[name]}
        )
        listed = [
            (v, kind)
            for v, kind in info.causality.items()
            if kind == "output"
            or (kind == "input" and (name, v) in connected_inputs)
            or (kind == "parameter" and v in cspec.parameters)
        ]
        if listed:
            connectors = ET.SubElement(element, _q("ssd", "Connectors"))
        for vname, kind in listed:
            connector = ET.SubElement(connectors, _q("ssd", "Connector"), {"name": vname, "kind": kind})
            unit = info.unit.get(vname)
            definition = (info.unit_defs.get(unit) or _kreislauf_unit(unit)) if unit else None
            if definition is not None:
                used_units[unit] = definition
            ET.SubElement(connector, _q("ssc", "Real"), {"unit": unit} if definition is not None else {})
        if cspec.parameters:
            bindings = ET.SubElement(element, _q("ssd", "ParameterBindings"))
            binding = ET.SubElement(bindings, _q("ssd", "ParameterBinding"))
            values = ET.SubElement(binding, _q("ssd", "ParameterValues"))
            pset = ET.SubElement(values, _q("ssv", "ParameterSet"), {"version": "1.0", "name": name})
            params = ET.SubElement(pset, _q("ssv", "Parameters"))
            for pname, value in cspec.parameters.items():
                parameter = ET.SubElement(params, _q("ssv", "Parameter"), {"name": pname})
                ET.SubElement(parameter, _q("ssv", "Real"), {"value": _number(value)})
    if in_ssd:
        conns = ET.SubElement(system, _q("ssd", "Connections"))
        for conn in (c for i, c in enumerate(spec.connections) if i in in_ssd):
            element = ET.SubElement(
                conns,
                _q("ssd", "Connection"),
                {
                    "startElement": conn.source_component,
                    "startConnector": conn.source_variable,
                    "endElement": conn.target_component,
                    "endConnector": conn.target_variable,
                },
            )
            if conn.factor != 1.0 or conn.offset != 0.0:
                ET.SubElement(
                    element,
                    _q("ssc", "LinearTransformation"),
                    {"factor": _number(conn.factor), "offset": _number(conn.offset)},
                )
    if used_units:
        units_element = ET.SubElement(root, _q("ssd", "Units"))
        for uname in sorted(used_units):
            definition = used_units[uname]
            unit = ET.SubElement(units_element, _q("ssc", "Unit"), {"name": uname})
            attrs = {n: str(e) for n, e in zip(_SSP_BASE_UNITS, definition.exponents, strict=True) if e}
            if definition.factor != 1.0:
                attrs["factor"] = _number(definition.factor)
            if definition.offset != 0.0:
                attrs["offset"] = _number(definition.offset)
            ET.SubElement(unit, _q("ssc", "BaseUnit"), attrs)
    ET.SubElement(
        root,
        _q("ssd", "DefaultExperiment"),
        {"startTime": _number(spec.settings.start), "stopTime": _number(spec.settings.stop)},
    )
    annotations = ET.SubElement(root, _q("ssd", "Annotations"))
    annotation = ET.SubElement(annotations, _q("ssc", "Annotation"), {"type": ANNOTATION_TYPE})
    payload = {
        "settings": {k: v for k, v in asdict(spec.settings).items() if k not in ("start", "stop")},
        "order": list(spec.components),
        "components": {name: _component_extra(c, name in infos, out_dir) for name, c in spec.components.items()},
        "connections": [{**_connection_data(c), "index": i} for i, c in enumerate(spec.connections) if i not in in_ssd],
        "bonds": [{k: v for k, v in asdict(b).items() if k != "line"} for b in spec.bonds],
        "outputs": spec.outputs.variables,
    }
    ET.SubElement(annotation, f"{{{_KREISLAUF_NS}}}system").text = json.dumps(payload, sort_keys=True)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _component_extra(cspec: ComponentSpec, in_ssd: bool, out_dir: Path) -> dict[str, Any]:
    """What the annotation keeps of a component; files it names are made relative to ``out_dir``."""
    extra: dict[str, Any] = {"kind": cspec.kind, "fmi_version": cspec.fmi_version}
    if cspec.kind == "model":
        extra["source"] = cspec.source
    elif cspec.kind == "python":
        module, _, factory = cspec.source.rpartition(":")
        extra["source"] = (
            f"{_rebase(module, cspec.base_dir, out_dir)}:{factory}" if module.endswith(".py") else (cspec.source)
        )
    if not in_ssd:
        extra["parameters"] = cspec.parameters
    for key in ("step", "arguments", "options", "output_dependencies"):
        value = getattr(cspec, key)
        if value:
            extra[key] = value
    if cspec.kind == "device" and isinstance(cspec.options.get("map"), str):
        extra["options"] = {**cspec.options, "map": _rebase(cspec.options["map"], cspec.base_dir, out_dir)}
    return extra


def _rebase(file: str, base_dir: Path, out_dir: Path) -> str:
    """``file`` (relative to ``base_dir``) relative to ``out_dir``; absolute paths stay as they are."""
    return file if Path(file).is_absolute() else _relative(base_dir / file, out_dir)


def _connection_data(conn: ConnectionSpec) -> dict[str, Any]:
    return {k: v for k, v in asdict(conn).items() if k != "line"}
