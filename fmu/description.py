"""Write ``modelDescription.xml`` (FMI 2.0 and FMI 3.0 co-simulation) and FMI 3 ``buildDescription.xml``.

Both descriptions are generated from the same :func:`kreislauf.fmu.codegen.layout`, so value
references, names, units, ranges and descriptions agree between the two FMI versions and the C code.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from xml.etree import ElementTree as ET

from kreislauf import __version__
from kreislauf.fmu.codegen import GeneratedModel, VariableLayout
from kreislauf.models.declare import Model
from kreislauf.models.units import dimension

__all__ = ["LOG_CATEGORIES", "SOURCE_FILES", "build_description", "model_description"]

LOG_CATEGORIES = {
    "logEvents": "time events, input events and state resets",
    "logSolver": "integrator steps, rejections and failures",
    "logStatusWarning": "calls that returned a warning",
    "logStatusError": "calls that returned an error, with the variable and value to blame",
}
SOURCE_FILES = ("kl_model.c", "kl_runtime.c", "kl_solver.c")
BASE_UNIT_NAMES = ("kg", "m", "s", "K", "A", "mol")


def _fmt(value: float) -> str:
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def _units(rows: Sequence[VariableLayout]) -> ET.Element:
    element = ET.Element("UnitDefinitions")
    for unit in sorted({r.unit for r in rows if r.unit and r.unit != "1"}):
        u = ET.SubElement(element, "Unit", name=unit)
        exps = dimension(unit)
        ET.SubElement(u, "BaseUnit", {n: str(e) for n, e in zip(BASE_UNIT_NAMES, exps, strict=True) if e})
    return element


def _log_categories() -> ET.Element:
    element = ET.Element("LogCategories")
    for name, text in LOG_CATEGORIES.items():
        ET.SubElement(element, "Category", name=name, description=text)
    return element


def _experiment(stop_time: float, step: float) -> ET.Element:
    return ET.Element("DefaultExperiment", startTime="0", stopTime=_fmt(stop_time), stepSize=_fmt(step))


def _range_attributes(r: VariableLayout, attrs: dict[str, str]) -> None:
    if r.vtype == "Boolean":
        return
    if r.minimum is not None and math.isfinite(r.minimum):
        attrs["min"] = _fmt(r.minimum)
    if r.maximum is not None and math.isfinite(r.maximum):
        attrs["max"] = _fmt(r.maximum)


def _start_text(r: VariableLayout, fmi3: bool) -> str:
    if r.vtype == "Boolean":
        return "true" if r.start else "false"
    if r.vtype == "Integer":
        return str(int(r.start))
    return _fmt(r.start)


def _finish(root: ET.Element) -> bytes:
    ET.indent(root, space="  ")
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8") + b"\n"


def model_description(model: Model, generated: GeneratedModel, fmi_version: int,
                      stop_time: float = 86400.0, step: float = 60.0) -> bytes:
    """The ``modelDescription.xml`` for FMI 2.0 (``fmi_version=2``) or FMI 3.0 (``fmi_version=3``)."""
    if fmi_version not in (2, 3):
        raise ValueError(f"FMI version must be 2 or 3, not {fmi_version!r}")
    rows = generated.variables
    index = {r.name: i + 1 for i, r in enumerate(rows)}  # FMI 2 indices are 1-based positions
    common = {
        "modelName": model.name,
        "description": model.description,
        "generationTool": f"kreislauf {__version__}",
        "variableNamingConvention": "flat",
    }
    deps = model.output_dependencies()
    outputs = [r for r in rows if r.causality == "output"]
    if fmi_version == 2:
        root = ET.Element("fmiModelDescription", {"fmiVersion": "2.0", "guid": generated.token, **common,
                                                  "numberOfEventIndicators": "0"})
        cs = ET.SubElement(root, "CoSimulation", {
            "modelIdentifier": generated.identifier,
            "canHandleVariableCommunicationStepSize": "true",
            "canGetAndSetFMUstate": "true",
            "canSerializeFMUstate": "true",
            "canNotUseMemoryManagementFunctions": "false",
            "canInterpolateInputs": "false",
        })
        files = ET.SubElement(cs, "SourceFiles")
        for name in SOURCE_FILES + ("kl_fmi2.c",):
            ET.SubElement(files, "File", name=name)
        root.append(_units(rows))
        root.append(_log_categories())
        root.append(_experiment(stop_time, step))
        variables = ET.SubElement(root, "ModelVariables")
        for r in rows:
            attrs = {"name": r.name, "valueReference": str(r.vr), "description": r.description,
                     "causality": r.causality, "variability": r.variability}
            if r.causality in ("output", "local"):
                attrs["initial"] = "calculated"
            sv = ET.SubElement(variables, "ScalarVariable", attrs)
            type_attrs: dict[str, str] = {}
            if r.vtype == "Real" and r.unit and r.unit != "1":
                type_attrs["unit"] = r.unit
            _range_attributes(r, type_attrs)
            if r.start is not None:
                type_attrs["start"] = _start_text(r, fmi3=False)
            ET.SubElement(sv, r.vtype, type_attrs)
        structure = ET.SubElement(root, "ModelStructure")
        outs = ET.SubElement(structure, "Outputs")
        for r in outputs:
            d = deps.get(r.name, [])
            ET.SubElement(outs, "Unknown", {
                "index": str(index[r.name]),
                "dependencies": " ".join(str(index[n]) for n in d),
                "dependenciesKind": " ".join("dependent" for _ in d),
            })
        initial = ET.SubElement(structure, "InitialUnknowns")
        for r in outputs:
            ET.SubElement(initial, "Unknown", index=str(index[r.name]))
        return _finish(root)

    root = ET.Element("fmiModelDescription", {"fmiVersion": "3.0", **common,
                                              "instantiationToken": generated.token})
    ET.SubElement(root, "CoSimulation", {
        "modelIdentifier": generated.identifier,
        "canHandleVariableCommunicationStepSize": "true",
        "canGetAndSetFMUState": "true",
        "canSerializeFMUState": "true",
        "hasEventMode": "false",
        "providesIntermediateUpdate": "false",
        "canReturnEarlyAfterIntermediateUpdate": "false",
    })
    root.append(_units(rows))
    root.append(_log_categories())
    root.append(_experiment(stop_time, step))
    variables = ET.SubElement(root, "ModelVariables")
    tag = {"Real": "Float64", "Integer": "Int32", "Boolean": "Boolean"}
    for r in rows:
        attrs = {"name": r.name, "valueReference": str(r.vr), "description": r.description,
                 "causality": r.causality, "variability": r.variability}
        if r.causality in ("output", "local"):
            attrs["initial"] = "calculated"
        if r.vtype == "Real" and r.unit and r.unit != "1":
            attrs["unit"] = r.unit
        _range_attributes(r, attrs)
        if r.start is not None:
            attrs["start"] = _start_text(r, fmi3=True)
        ET.SubElement(variables, tag[r.vtype], attrs)
    structure = ET.SubElement(root, "ModelStructure")
    vr = {r.name: r.vr for r in rows}
    for r in outputs:
        d = deps.get(r.name, [])
        ET.SubElement(structure, "Output", {
            "valueReference": str(r.vr),
            "dependencies": " ".join(str(vr[n]) for n in d),
            "dependenciesKind": " ".join("dependent" for _ in d),
        })
    for r in outputs:
        ET.SubElement(structure, "InitialUnknown", valueReference=str(r.vr))
    return _finish(root)


def build_description(generated: GeneratedModel) -> bytes:
    """The FMI 3 ``sources/buildDescription.xml`` listing the C sources of the FMU."""
    root = ET.Element("fmiBuildDescription", fmiVersion="3.0")
    config = ET.SubElement(root, "BuildConfiguration", modelIdentifier=generated.identifier)
    files = ET.SubElement(config, "SourceFileSet", language="C99")
    for name in SOURCE_FILES + ("kl_fmi3.c",):
        ET.SubElement(files, "SourceFile", name=name)
    return _finish(root)
