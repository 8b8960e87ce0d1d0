"""SSP 1.0 (System Structure and Parameterization) import and export of systems.

An ``.ssp`` file is a zip archive with ``SystemStructure.ssd`` at its root and the FMUs under
``resources/``; a bare ``.ssd`` file refers to FMUs relative to itself. What maps onto SSP:

- components -> ``ssd:Component`` (``type="application/x-fmu-sharedlibrary"``, ``source`` the FMU)
  with ``ssd:Connectors`` (kind, ``ssc:Real`` with unit) and parameter values in an inline
  ``ssv:ParameterSet`` (``ssd:ParameterBinding``; external ``.ssv`` files are read too);
- connections -> ``ssd:Connection`` with an optional ``ssc:LinearTransformation`` (factor, offset),
  applied, as in kreislauf, in addition to the unit conversion;
- start and stop time -> ``ssd:DefaultExperiment``.

What SSP 1.0 has no element for (master settings, power bonds, output selection, components that
are kreislauf models, Python objects or devices, multi-rate steps, declared output dependencies)
travels in an ``ssc:Annotation`` of type ``org.kreislauf.system`` (JSON text), so that a system
exported by kreislauf imports back unchanged; other tools ignore it. Nested systems, signal
dictionaries and parameter mappings are not supported and are reported as problems.
"""

from __future__ import annotations

import json
import os
import shutil
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Mapping
from dataclasses import asdict, fields
from pathlib import Path, PurePosixPath

from kreislauf.component import Causality, Component
from kreislauf.system import (
    BondSpec,
    ComponentSpec,
    ConnectionSpec,
    MasterSettings,
    OutputSpec,
    Problem,
    SystemFileError,
    SystemSpec,
)

__all__ = ["ANNOTATION_TYPE", "FMU_TYPE", "export_ssp", "load_ssp", "parse_ssp"]

NS = {
    "ssd": "http://ssp-standard.org/SSP1/SystemStructureDescription",
    "ssc": "http://ssp-standard.org/SSP1/SystemStructureCommon",
    "ssv": "http://ssp-standard.org/SSP1/SystemStructureParameterValues",
}
FMU_TYPE = "application/x-fmu-sharedlibrary"
ANNOTATION_TYPE = "org.kreislauf.system"
_KREISLAUF_NS = "https://kreislauf.org/ssp/1"

for _prefix, _uri in NS.items():
    ET.register_namespace(_prefix, _uri)
ET.register_namespace("kreislauf", _KREISLAUF_NS)


def _q(prefix: str, tag: str) -> str:
    return f"{{{NS[prefix]}}}{tag}"


def _number(value: float) -> str:
    return repr(float(value))


def export_ssp(
    spec: SystemSpec,
    path: str | os.PathLike[str],
    components: Mapping[str, Component] | None = None,
) -> Path:
    """Write ``spec`` as an SSP 1.0 archive (``.ssp``) with its FMUs under ``resources/``.

    ``components`` (optional, by name) supply the connectors' full lists and units; without them
    only the connected variables and the parameters are listed as connectors. Components that are
    not FMU files are kept in the kreislauf annotation only. Returns the path written.
    """
    path = Path(path)
    root = ET.Element(_q("ssd", "SystemStructureDescription"), {"version": "1.0", "name": spec.name})
    system = ET.SubElement(root, _q("ssd", "System"), {"name": spec.name})
    elements = ET.SubElement(system, _q("ssd", "Elements"))
    resources: dict[str, Path] = {}
    extra: dict[str, dict] = {}
    used: dict[str, dict[str, str]] = {name: {} for name in spec.components}
    for conn in spec.connections:
        used.setdefault(conn.source_component, {})[conn.source_variable] = "output"
        used.setdefault(conn.target_component, {})[conn.target_variable] = "input"
    for name, cspec in spec.components.items():
        extra[name] = {
            "kind": cspec.kind,
            "source": cspec.source,
            "step": cspec.step,
            "fmi_version": cspec.fmi_version,
            "arguments": cspec.arguments,
            "options": cspec.options,
            "output_dependencies": cspec.output_dependencies,
            "parameters": cspec.parameters if cspec.kind != "fmu" else {},
        }
        if cspec.kind != "fmu":
            continue
        fmu = Path(cspec.source) if Path(cspec.source).is_absolute() else cspec.base_dir / cspec.source
        member = f"resources/{name}.fmu"
        resources[member] = fmu
        element = ET.SubElement(elements, _q("ssd", "Component"), {"name": name, "type": FMU_TYPE, "source": member})
        connectors = ET.SubElement(element, _q("ssd", "Connectors"))
        comp = (components or {}).get(name)
        if comp is not None:
            listed = [
                (v.name, v.causality.value, v.unit)
                for v in comp.variables.values()
                if v.causality in (Causality.INPUT, Causality.OUTPUT, Causality.PARAMETER)
            ]
        else:
            listed = [(v, kind, None) for v, kind in used[name].items()]
            listed += [(p, "parameter", None) for p in cspec.parameters if p not in used[name]]
        for vname, kind, unit in listed:
            connector = ET.SubElement(connectors, _q("ssd", "Connector"), {"name": vname, "kind": kind})
            ET.SubElement(connector, _q("ssc", "Real"), {"unit": unit} if unit else {})
        if cspec.parameters:
            bindings = ET.SubElement(element, _q("ssd", "ParameterBindings"))
            binding = ET.SubElement(bindings, _q("ssd", "ParameterBinding"))
            values = ET.SubElement(binding, _q("ssd", "ParameterValues"))
            pset = ET.SubElement(values, _q("ssv", "ParameterSet"), {"version": "1.0", "name": name})
            params = ET.SubElement(pset, _q("ssv", "Parameters"))
            for pname, value in cspec.parameters.items():
                parameter = ET.SubElement(params, _q("ssv", "Parameter"), {"name": pname})
                ET.SubElement(parameter, _q("ssv", "Real"), {"value": _number(value)})
    in_ssd = _component_names(resources)
    connections = [c for c in spec.connections if c.source_component in in_ssd and c.target_component in in_ssd]
    if connections:
        conns = ET.SubElement(system, _q("ssd", "Connections"))
        for conn in connections:
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
    settings = spec.settings
    ET.SubElement(
        root, _q("ssd", "DefaultExperiment"), {"startTime": _number(settings.start), "stopTime": _number(settings.stop)}
    )
    annotations = ET.SubElement(root, _q("ssd", "Annotations"))
    annotation = ET.SubElement(annotations, _q("ssc", "Annotation"), {"type": ANNOTATION_TYPE})
    payload = {
        "settings": asdict(settings),
        "components": extra,
        "connections": [asdict(c) for c in spec.connections if c not in connections],
        "bonds": [asdict(b) for b in spec.bonds],
        "outputs": spec.outputs.variables,
    }
    ET.SubElement(annotation, f"{{{_KREISLAUF_NS}}}system").text = json.dumps(payload)
    ET.indent(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("SystemStructure.ssd", ET.tostring(root, encoding="utf-8", xml_declaration=True))
        for member, fmu in resources.items():
            archive.write(fmu, member)
    return path


def _component_names(resources: Mapping[str, Path]) -> set[str]:
    """Component names of the FMUs in ``resources`` (``resources/<name>.fmu``)."""
    return {PurePosixPath(member).stem for member in resources}


def _safe_member(name: str) -> bool:
    pure = PurePosixPath(name)
    return not pure.is_absolute() and ".." not in pure.parts and "\\" not in name


def parse_ssp(
    path: str | os.PathLike[str], extract_dir: str | os.PathLike[str] | None = None
) -> tuple[SystemSpec, list[Problem]]:
    """Read an ``.ssp`` archive or an ``.ssd`` file into a :class:`SystemSpec` and its problems.

    FMUs inside an archive are extracted to ``extract_dir`` (default: ``<file>.resources`` beside
    the archive); member names that would leave that folder are refused.
    """
    path = Path(path)
    fname = str(path)
    spec = SystemSpec(file=path, name=path.stem)
    problems: list[Problem] = []
    base_dir = path.parent
    try:
        if path.suffix.lower() == ".ssp":
            target = Path(extract_dir) if extract_dir is not None else path.with_name(path.name + ".resources")
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
                if "SystemStructure.ssd" not in names:
                    return spec, [Problem("the archive has no SystemStructure.ssd", fname)]
                text = archive.read("SystemStructure.ssd")
                for member in names:
                    if member == "SystemStructure.ssd" or member.endswith("/"):
                        continue
                    if not _safe_member(member):
                        problems.append(Problem(f"archive member '{member}' would leave the extraction folder", fname))
                        continue
                    out = target / member
                    out.parent.mkdir(parents=True, exist_ok=True)
                    with archive.open(member) as src, open(out, "wb") as dst:
                        shutil.copyfileobj(src, dst)
            base_dir = target
        else:
            text = path.read_bytes()
        root = ET.fromstring(text)
    except (OSError, zipfile.BadZipFile) as exc:
        return spec, [Problem(f"cannot read the SSP file: {exc}", fname)]
    except ET.ParseError as exc:
        return spec, [Problem(f"SystemStructure.ssd is not well-formed XML: {exc}", fname, exc.position[0])]
    if root.tag != _q("ssd", "SystemStructureDescription"):
        return spec, [Problem(f"the root element is {root.tag}, not ssd:SystemStructureDescription", fname)]
    spec.name = root.get("name", spec.name)
    extra = _annotation(root, problems, fname)
    system = root.find("ssd:System", NS)
    if system is None:
        return spec, problems + [Problem("no ssd:System element", fname)]
    for element in system.find("ssd:Elements", NS) or []:
        name = element.get("name", "")
        if element.tag != _q("ssd", "Component"):
            problems.append(
                Problem(
                    f"element '{name}': {element.tag.split('}')[-1]} (nested systems and other "
                    "elements) is not supported; only ssd:Component",
                    fname,
                    component=name,
                )
            )
            continue
        ctype = element.get("type", FMU_TYPE)
        if ctype != FMU_TYPE:
            problems.append(
                Problem(f"component type '{ctype}' is not supported (only {FMU_TYPE})", fname, component=name)
            )
            continue
        source = element.get("source", "")
        cspec = ComponentSpec(name, "fmu", source, base_dir=base_dir)
        fmu = base_dir / source
        if not fmu.is_file():
            problems.append(Problem(f"FMU '{source}' not found (looked at {fmu})", fname, component=name))
        for binding in element.findall("ssd:ParameterBindings/ssd:ParameterBinding", NS):
            _read_binding(binding, cspec, base_dir, problems, fname)
        spec.components[name] = cspec
    for conn in system.findall("ssd:Connections/ssd:Connection", NS):
        start, end = conn.get("startElement"), conn.get("endElement")
        if start is None or end is None:
            problems.append(Problem("connections to the system's own connectors are not supported", fname))
            continue
        linear = conn.find("ssc:LinearTransformation", NS)
        spec.connections.append(
            ConnectionSpec(
                start,
                conn.get("startConnector", ""),
                end,
                conn.get("endConnector", ""),
                float(linear.get("factor", 1.0)) if linear is not None else 1.0,
                float(linear.get("offset", 0.0)) if linear is not None else 0.0,
            )
        )
    experiment = root.find("ssd:DefaultExperiment", NS)
    if experiment is not None:
        spec.settings.start = float(experiment.get("startTime", spec.settings.start))
        spec.settings.stop = float(experiment.get("stopTime", spec.settings.stop))
    if extra:
        _apply_annotation(extra, spec, path.parent)
    return spec, problems


def _read_binding(
    binding: ET.Element, cspec: ComponentSpec, base_dir: Path, problems: list[Problem], fname: str
) -> None:
    pset = binding.find("ssd:ParameterValues/ssv:ParameterSet", NS)
    source = binding.get("source")
    if pset is None and source is not None:
        try:
            pset = ET.fromstring((base_dir / source).read_bytes())
        except (OSError, ET.ParseError) as exc:
            problems.append(Problem(f"parameter values '{source}' cannot be read: {exc}", fname, component=cspec.name))
            return
    if pset is None:
        return
    prefix = binding.get("prefix", "")
    for parameter in pset.findall("ssv:Parameters/ssv:Parameter", NS):
        pname = parameter.get("name", "")
        if prefix and pname.startswith(prefix):
            pname = pname[len(prefix) :]
        value = next(iter(parameter), None)
        if value is None or value.tag not in (_q("ssv", t) for t in ("Real", "Integer", "Boolean")):
            problems.append(
                Problem(
                    "only Real, Integer and Boolean parameter values are supported",
                    fname,
                    component=cspec.name,
                    variable=pname,
                )
            )
            continue
        raw = value.get("value", "")
        try:
            cspec.parameters[pname] = float(raw == "true") if value.tag.endswith("Boolean") else float(raw)
        except ValueError:
            problems.append(
                Problem(f"parameter value '{raw}' is not a number", fname, component=cspec.name, variable=pname)
            )


def _annotation(root: ET.Element, problems: list[Problem], fname: str) -> dict | None:
    for annotation in root.findall("ssd:Annotations/ssc:Annotation", NS):
        if annotation.get("type") != ANNOTATION_TYPE:
            continue
        element = annotation.find(f"{{{_KREISLAUF_NS}}}system")
        try:
            return json.loads(element.text or "") if element is not None else None
        except json.JSONDecodeError as exc:
            problems.append(Problem(f"the {ANNOTATION_TYPE} annotation is not valid JSON: {exc}", fname))
    return None


def _apply_annotation(extra: Mapping, spec: SystemSpec, base_dir: Path) -> None:
    """Settings, bonds, outputs and the non-FMU components (``base_dir``: their folder) of the annotation."""
    names = {f.name for f in fields(MasterSettings)}
    for key, value in extra.get("settings", {}).items():
        if key in names and key not in ("start", "stop"):
            setattr(spec.settings, key, value)
    for name, info in extra.get("components", {}).items():
        cspec = spec.components.get(name)
        if cspec is None:
            cspec = spec.components[name] = ComponentSpec(name, info["kind"], info["source"], base_dir=base_dir)
        cspec.step = info.get("step")
        cspec.fmi_version = info.get("fmi_version", cspec.fmi_version)
        cspec.arguments = dict(info.get("arguments") or {})
        cspec.options = dict(info.get("options") or {})
        cspec.output_dependencies = info.get("output_dependencies")
        cspec.parameters.update(info.get("parameters") or {})
    spec.connections += [ConnectionSpec(**c) for c in extra.get("connections", [])]
    spec.bonds = [BondSpec(**b) for b in extra.get("bonds", [])]
    spec.outputs = OutputSpec(list(extra.get("outputs", ["*.*"])))


def load_ssp(path: str | os.PathLike[str]) -> SystemSpec:
    """The spec of an SSP file; raises :class:`~kreislauf.system.SystemFileError` listing every problem."""
    spec, problems = parse_ssp(path)
    if problems:
        raise SystemFileError(problems)
    return spec
