"""SSP 1.0: what kreislauf writes validates and round-trips; SSP files written by hand (as another
tool would write them) import with their unit conversions and run; fmpy's SSP runner agrees.

The XML schemas are the SSP 1.0 XSDs shipped with fmpy (fmpy/ssp/schema), an independent copy of
the standard's files. Expected values come from the SSP semantics worked out by hand (unit
conversion, then the linear transformation in the end connector's unit) and from the analytic
solution of the two-tank system.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from fmu_tank import export_tanks
from lxml import etree

from kreislauf.api import check, load
from kreislauf.ssp import parse_ssp, read_ssp, write_ssp
from kreislauf.system import Problem, SystemFileError, SystemSpec, parse_system_file

pytestmark = pytest.mark.skipif(
    shutil.which("cc") is None and shutil.which("gcc") is None, reason="needs a C compiler to export FMUs"
)

DOUBLES = Path(__file__).with_name("cosim_doubles.py")
SSD_NS = {
    "ssd": "http://ssp-standard.org/SSP1/SystemStructureDescription",
    "ssc": "http://ssp-standard.org/SSP1/SystemStructureCommon",
    "ssv": "http://ssp-standard.org/SSP1/SystemStructureParameterValues",
}


def schema_errors(xml: bytes, schema_file: str = "SystemStructureDescription.xsd") -> list[str]:
    import fmpy.ssp

    schema = etree.XMLSchema(file=str(Path(fmpy.ssp.__file__).parent / "schema" / schema_file))
    ok = schema.validate(etree.fromstring(xml))
    return [] if ok else [str(e) for e in schema.error_log]


@pytest.fixture(scope="module")
def fmus(tmp_path_factory) -> dict[int, Path]:
    return export_tanks(tmp_path_factory.mktemp("ssp-fmus"))


def comparable(spec: SystemSpec) -> SystemSpec:
    """The spec without what legitimately changes on a round trip: paths and line numbers.

    An FMU component's source is replaced by the FMU's bytes, so that the same FMU compares equal
    wherever it lies.
    """
    out = copy.deepcopy(spec)
    out.file = None
    for comp in out.components.values():
        if comp.kind == "fmu":
            path = Path(comp.source) if Path(comp.source).is_absolute() else comp.base_dir / comp.source
            comp.source = path.read_bytes()
        elif comp.kind == "python":
            module, _, factory = comp.source.rpartition(":")
            comp.source = f"{(comp.base_dir / module).resolve()}:{factory}"
        comp.base_dir = Path("/")
        comp.line = None
        comp.parameter_lines = {}
    for conn in out.connections:
        conn.line = None
    for bond in out.bonds:
        bond.line = None
    out.outputs.line = None
    return out


def toml_system(tmp_path: Path, fmus: dict[int, Path]) -> Path:
    """Two tank FMUs (FMI 2 and 3) and a Python gain from a file beside the system file."""
    shutil.copy(DOUBLES, tmp_path / "doubles.py")
    path = tmp_path / "tanks.toml"
    path.write_text(f"""
connections = [
    "B.temperature -> A.ambient_temperature",
    "B.temperature -> probe.u",
    {{ from = "A.ambient_power", to = "B.heating", factor = -1.0 }},
]
bonds = ["A.ambient -> B.heater"]

[master]
algorithm = "gauss-seidel"
step = "2min"
stop = "3h"
energy_conserving = true

[components.A]
fmu = "{fmus[2]}"
[components.A.parameters]
heat_capacity = 2e6
loss_conductance = 100.0
temperature_start = 350.0

[components.probe]
python = "doubles.py:Gain"
arguments = {{ k = 2.0, unit = "K" }}
step = "4min"

[components.B]
fmu = "{fmus[3]}"
parameters = {{ heat_capacity = 1e6, temperature_start = 290.0 }}
output_dependencies = {{ temperature = [] }}

[outputs]
variables = ["A.temperature", "B.*", "probe.y"]
""")
    return path


def test_toml_to_ssp_and_back_is_the_same_system_and_runs_the_same(tmp_path, fmus):
    original = load(toml_system(tmp_path, fmus))
    archive = write_ssp(original.spec, tmp_path / "elsewhere" / "tanks.ssp")
    with zipfile.ZipFile(archive) as zf:
        assert sorted(zf.namelist()) == ["SystemStructure.ssd", "resources/A.fmu", "resources/B.fmu"]
        ssd = zf.read("SystemStructure.ssd")
    assert schema_errors(ssd) == []
    back = read_ssp(archive)
    assert comparable(back) == comparable(original.spec)
    # written again from what was read: the same description, byte for byte
    again = write_ssp(back, tmp_path / "elsewhere" / "again.ssp")
    with zipfile.ZipFile(again) as zf:
        assert zf.read("SystemStructure.ssd") == ssd
    # and it runs to the same numbers, bit for bit
    first = original.run(out_dir=tmp_path / "toml").read()
    second = load(archive).run(out_dir=tmp_path / "ssp").read()
    assert first.keys() == second.keys()
    for column in first:
        assert first[column].tobytes() == second[column].tobytes(), column


def test_a_bare_ssd_refers_to_the_fmus_where_they_lie(tmp_path, fmus):
    original = load(toml_system(tmp_path, fmus))
    ssd = write_ssp(original.spec, tmp_path / "sub" / "tanks.ssd")
    assert schema_errors(ssd.read_bytes()) == []
    root = etree.fromstring(ssd.read_bytes())
    sources = {c.get("name"): c.get("source") for c in root.iterfind(".//ssd:Component", SSD_NS)}
    assert (ssd.parent / sources["A"]).resolve() == fmus[2].resolve()
    assert not Path(sources["A"]).is_absolute()
    assert comparable(read_ssp(ssd)) == comparable(original.spec)


# An SSP as another tool writes it: units of its own (kW and degC on connectors of FMU variables in
# W and K, kJ/K and degC in a parameter file), a system-level binding with a prefix, a transformation
# with suppressUnitConversion, integer values, geometry, graphics, enumerations and foreign annotations.
FOREIGN_SSD = """<?xml version="1.0" encoding="UTF-8"?>
<ssd:SystemStructureDescription version="1.0" name="foreign" generationTool="SomeTool 4.2"
    xmlns:ssd="http://ssp-standard.org/SSP1/SystemStructureDescription"
    xmlns:ssc="http://ssp-standard.org/SSP1/SystemStructureCommon"
    xmlns:ssv="http://ssp-standard.org/SSP1/SystemStructureParameterValues">
  <ssd:System name="tanks" description="two tanks, A heats B">
    <ssd:ParameterBindings>
      <ssd:ParameterBinding source="resources/A.ssv" prefix="A."/>
    </ssd:ParameterBindings>
    <ssd:Elements>
      <ssd:Component name="A" type="application/x-fmu-sharedlibrary" source="resources/tank2.fmu">
        <ssd:Connectors>
          <ssd:Connector name="ambient_temperature" kind="input">
            <ssc:Real unit="K"/>
            <ssd:ConnectorGeometry x="0" y="0.5"/>
          </ssd:Connector>
          <ssd:Connector name="ambient_power" kind="output"><ssc:Real unit="kW"/></ssd:Connector>
          <ssd:Connector name="temperature" kind="output"><ssc:Real unit="degC"/></ssd:Connector>
          <ssd:Connector name="solver_max_step" kind="parameter"><ssc:Real unit="s"/></ssd:Connector>
        </ssd:Connectors>
        <ssd:ElementGeometry x1="10" y1="10" x2="30" y2="30"/>
        <ssd:Annotations>
          <ssc:Annotation type="com.example.sometool"><layer>3</layer></ssc:Annotation>
        </ssd:Annotations>
      </ssd:Component>
      <ssd:Component name="B" source="resources/tank%202.fmu" implementation="CoSimulation">
        <ssd:Connectors>
          <ssd:Connector name="heating" kind="input"><ssc:Real unit="W"/></ssd:Connector>
          <ssd:Connector name="temperature" kind="output"><ssc:Real unit="degC"/></ssd:Connector>
        </ssd:Connectors>
        <ssd:ParameterBindings>
          <ssd:ParameterBinding>
            <ssd:ParameterValues>
              <ssv:ParameterSet version="1.0" name="B-values">
                <ssv:Parameters>
                  <ssv:Parameter name="heat_capacity"><ssv:Integer value="1000000"/></ssv:Parameter>
                  <ssv:Parameter name="temperature_start"><ssv:Real value="290"/></ssv:Parameter>
                </ssv:Parameters>
              </ssv:ParameterSet>
            </ssd:ParameterValues>
          </ssd:ParameterBinding>
        </ssd:ParameterBindings>
      </ssd:Component>
    </ssd:Elements>
    <ssd:Connections>
      <ssd:Connection startElement="B" startConnector="temperature" endElement="A" endConnector="ambient_temperature"
          suppressUnitConversion="true">
        <ssc:LinearTransformation offset="273.15"/>
      </ssd:Connection>
      <ssd:Connection startElement="A" startConnector="ambient_power" endElement="B" endConnector="heating">
        <ssc:LinearTransformation factor="-1"/>
        <ssd:ConnectionGeometry pointsX="20 40" pointsY="20 20"/>
      </ssd:Connection>
    </ssd:Connections>
    <ssd:SystemGeometry x1="0" y1="0" x2="100" y2="100"/>
    <ssd:GraphicalElements>
      <ssd:Note x1="0" y1="0" x2="10" y2="10" text="A heats B"/>
    </ssd:GraphicalElements>
  </ssd:System>
  <ssd:Enumerations>
    <ssc:Enumeration name="Mode"><ssc:Item name="on" value="1"/></ssc:Enumeration>
  </ssd:Enumerations>
  <ssd:Units>
    <ssc:Unit name="K"><ssc:BaseUnit K="1"/></ssc:Unit>
    <ssc:Unit name="degC"><ssc:BaseUnit K="1" offset="273.15"/></ssc:Unit>
    <ssc:Unit name="W"><ssc:BaseUnit kg="1" m="2" s="-3"/></ssc:Unit>
    <ssc:Unit name="kW"><ssc:BaseUnit kg="1" m="2" s="-3" factor="1000"/></ssc:Unit>
    <ssc:Unit name="s"><ssc:BaseUnit s="1"/></ssc:Unit>
  </ssd:Units>
  <ssd:DefaultExperiment startTime="0" stopTime="21600"/>
  <ssd:Annotations>
    <ssc:Annotation type="com.example.sometool"><view zoom="2"/></ssc:Annotation>
  </ssd:Annotations>
</ssd:SystemStructureDescription>
"""

FOREIGN_SSV = """<?xml version="1.0" encoding="UTF-8"?>
<ssv:ParameterSet version="1.0" name="A-values"
    xmlns:ssv="http://ssp-standard.org/SSP1/SystemStructureParameterValues"
    xmlns:ssc="http://ssp-standard.org/SSP1/SystemStructureCommon">
  <ssv:Parameters>
    <ssv:Parameter name="heat_capacity"><ssv:Real value="2000" unit="kJ/K"/></ssv:Parameter>
    <ssv:Parameter name="loss_conductance"><ssv:Real value="100"/></ssv:Parameter>
    <ssv:Parameter name="temperature_start"><ssv:Real value="76.85" unit="degC"/></ssv:Parameter>
  </ssv:Parameters>
  <ssv:Units>
    <ssc:Unit name="kJ/K"><ssc:BaseUnit kg="1" m="2" s="-2" K="-1" factor="1000"/></ssc:Unit>
    <ssc:Unit name="degC"><ssc:BaseUnit K="1" offset="273.15"/></ssc:Unit>
  </ssv:Units>
</ssv:ParameterSet>
"""

# The same system in kreislauf's own terms, worked out by hand from the SSP semantics above.
SAME_TOML = """
connections = [
    "B.temperature -> A.ambient_temperature",
    {{ from = "A.ambient_power", to = "B.heating", factor = -1.0 }},
]
[master]
stop = "6h"
step = "5min"
[components.A]
fmu = "{fmu}"
parameters = {{ heat_capacity = 2e6, loss_conductance = 100.0, temperature_start = 350.0 }}
[components.B]
fmu = "{fmu}"
parameters = {{ heat_capacity = 1e6, temperature_start = 290.0 }}
"""


def foreign_ssp(tmp_path: Path, fmu: Path) -> Path:
    path = tmp_path / "foreign.ssp"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("SystemStructure.ssd", FOREIGN_SSD)
        zf.writestr("resources/A.ssv", FOREIGN_SSV)
        zf.write(fmu, "resources/tank2.fmu")
        zf.write(fmu, "resources/tank 2.fmu")
    return path


def test_the_hand_written_files_follow_the_standard():
    assert schema_errors(FOREIGN_SSD.encode()) == []
    assert schema_errors(FOREIGN_SSV.encode(), "SystemStructureParameterValues.xsd") == []


def test_an_ssp_from_another_tool_imports_with_its_units_and_notes_what_it_ignores(tmp_path, fmus):
    notes: list[Problem] = []
    spec = read_ssp(foreign_ssp(tmp_path, fmus[2]), notes=notes)
    assert spec.components["A"].parameters == {
        "heat_capacity": 2000 * 1000.0,
        "loss_conductance": 100.0,
        "temperature_start": pytest.approx(350.0),
    }
    assert spec.components["B"].parameters == {"heat_capacity": 1e6, "temperature_start": 290.0}
    conns = {c.text: (c.factor, c.offset) for c in spec.connections}
    # degC connector -> suppressed conversion -> +273.15 K: the identity on the FMUs' kelvin values
    assert conns["B.temperature -> A.ambient_temperature"] == pytest.approx((1.0, 0.0), abs=1e-12)
    # W -> kW connector -> W connector -> times -1: minus the FMU's watts
    assert conns["A.ambient_power -> B.heating"] == pytest.approx((-1.0, 0.0), abs=1e-12)
    assert (spec.settings.start, spec.settings.stop) == (0.0, 21600.0)
    text = "\n".join(str(n) for n in notes)
    for ignored in (
        "ssd:ElementGeometry",
        "ssd:ConnectorGeometry",
        "ssd:ConnectionGeometry",
        "ssd:SystemGeometry",
        "ssd:GraphicalElements",
        "ssd:Enumerations",
        "com.example.sometool",
    ):
        assert ignored in text, ignored
    assert "component 'A'" in text


def test_an_ssp_from_another_tool_runs_like_the_same_toml_system(tmp_path, fmus):
    archive = foreign_ssp(tmp_path, fmus[2])
    assert check(archive) == []
    from_ssp = load(archive).run(out_dir=tmp_path / "ssp", step=300.0).read()
    toml = tmp_path / "same.toml"
    toml.write_text(SAME_TOML.format(fmu=fmus[2]))
    from_toml = load(toml).run(out_dir=tmp_path / "toml").read()
    assert len(from_ssp["time"]) == 73 and from_ssp["time"][-1] == 21600.0
    assert from_ssp.keys() == from_toml.keys()
    for column in from_toml:
        np.testing.assert_allclose(from_ssp[column], from_toml[column], rtol=1e-12, atol=1e-9, err_msg=column)


def test_an_ssp_from_another_tool_exports_to_an_equivalent_description(tmp_path, fmus):
    imported = read_ssp(foreign_ssp(tmp_path, fmus[2]))
    exported = write_ssp(imported, tmp_path / "out.ssp")
    with zipfile.ZipFile(exported) as zf:
        ssd = zf.read("SystemStructure.ssd")
        assert zf.read("resources/A.fmu") == fmus[2].read_bytes() == zf.read("resources/B.fmu")
    assert schema_errors(ssd) == []
    root = etree.fromstring(ssd)

    def params(component: str) -> dict[str, float]:
        return {
            p.get("name"): float(p[0].get("value"))
            for p in root.iterfind(f".//ssd:Component[@name='{component}']//ssv:Parameter", SSD_NS)
        }

    # the same values, now in the FMU variables' own units
    assert params("A") == {"heat_capacity": 2e6, "loss_conductance": 100.0, "temperature_start": pytest.approx(350.0)}
    assert params("B") == {"heat_capacity": 1e6, "temperature_start": 290.0}
    connections = {
        (c.get("startElement"), c.get("startConnector"), c.get("endElement"), c.get("endConnector")): [
            (float(t.get("factor", 1)), float(t.get("offset", 0)))
            for t in c.iterfind("ssc:LinearTransformation", SSD_NS)
        ]
        for c in root.iterfind(".//ssd:Connection", SSD_NS)
    }
    assert connections == {
        ("B", "temperature", "A", "ambient_temperature"): [],
        ("A", "ambient_power", "B", "heating"): [(-1.0, 0.0)],
    }
    connector_units = {
        (c.getparent().getparent().get("name"), c.get("name")): c.find("ssc:Real", SSD_NS).get("unit")
        for c in root.iterfind(".//ssd:Connector", SSD_NS)
    }
    assert connector_units[("A", "ambient_power")] == "W" and connector_units[("B", "temperature")] == "K"
    experiment = root.find("ssd:DefaultExperiment", SSD_NS)
    assert (float(experiment.get("startTime")), float(experiment.get("stopTime"))) == (0.0, 21600.0)
    assert comparable(read_ssp(exported)) == comparable(imported)


def test_fmpy_runs_an_ssp_kreislauf_wrote_like_the_masters_jacobi(tmp_path, fmus):
    """fmpy's simulate_ssp steps every FMU (Jacobi) but starts every input connector at 0 (not at the
    initial outputs), records each row's time with the values at its end, and reads no parameter
    bindings. A's loss to its 293.15 K surroundings heats B (no losses): B's temperature is
    T_B0 + h/C_B · Σ P_A(t_k); fmpy's B therefore lags by exactly the first step's heat,
    h · UA (T_amb − T_A0) / C_B, and A, which has no connected input, is the same.
    """
    from fmpy.ssp.simulation import simulate_ssp
    from fmpy.ssp.ssd import Parameter, ParameterSet

    c_a, c_b, ua, t_a0, t_b0, t_amb, h, stop = 2e6, 1e6, 100.0, 290.0, 300.0, 293.15, 60.0, 3600.0
    system = tmp_path / "jacobi.toml"
    system.write_text(f"""
connections = ["A.ambient_power -> B.heating"]
[master]
algorithm = "jacobi"
step = {h}
stop = {stop}
[components.A]
fmu = "{fmus[2]}"
parameters = {{ heat_capacity = {c_a}, loss_conductance = {ua}, temperature_start = {t_a0} }}
[components.B]
fmu = "{fmus[2]}"
parameters = {{ heat_capacity = {c_b}, loss_conductance = 0.0, temperature_start = {t_b0} }}
""")
    spec = load(system).spec
    archive = write_ssp(spec, tmp_path / "jacobi.ssp")
    master = load(archive).run(out_dir=tmp_path / "master").read()
    values = ParameterSet(name="values")
    for cname, comp in spec.components.items():
        for pname, value in comp.parameters.items():
            values.parameters.append(Parameter(name=f"{cname}.{pname}", type="Real", value=str(value)))
    theirs = simulate_ssp(str(archive), stop_time=stop, step_size=h, parameter_set=values)
    n = len(theirs)
    assert n == round(stop / h)
    np.testing.assert_allclose(theirs["A.temperature"], master["A.temperature"][1 : n + 1], rtol=0, atol=1e-9)
    first_step_heat = h * ua * (t_amb - t_a0) / c_b
    assert first_step_heat == pytest.approx(0.0189)
    np.testing.assert_allclose(
        theirs["B.temperature"], master["B.temperature"][1 : n + 1] - first_step_heat, rtol=0, atol=1e-9
    )
    # and both follow the analytic A, T_amb + (T_A0 − T_amb) exp(−UA t / C_A)
    t = master["time"]
    exact = t_amb + (t_a0 - t_amb) * np.exp(-ua * t / c_a)
    np.testing.assert_allclose(master["A.temperature"], exact, rtol=0, atol=1e-6)
    # and B, held input per step, is T_B0 + h/C_B · Σ_k UA (T_amb − T_A(t_k))
    heat = np.concatenate([[0.0], np.cumsum(ua * (t_amb - exact[:-1]))])
    np.testing.assert_allclose(master["B.temperature"], t_b0 + h / c_b * heat, rtol=0, atol=1e-8)


BROKEN_SSD = """<?xml version="1.0" encoding="UTF-8"?>
<ssd:SystemStructureDescription version="1.0" name="broken"
    xmlns:ssd="http://ssp-standard.org/SSP1/SystemStructureDescription"
    xmlns:ssc="http://ssp-standard.org/SSP1/SystemStructureCommon"
    xmlns:ssv="http://ssp-standard.org/SSP1/SystemStructureParameterValues">
  <ssd:System name="broken">
    <ssd:Connectors><ssd:Connector name="outside" kind="input"/></ssd:Connectors>
    <ssd:Elements>
      <ssd:Component name="A" source="tank2.fmu">
        <ssd:Connectors>
          <ssd:Connector name="ambient_power" kind="output"><ssc:Real unit="furlong"/></ssd:Connector>
          <ssd:Connector name="no_such_variable" kind="output"/>
        </ssd:Connectors>
        <ssd:ParameterBindings>
          <ssd:ParameterBinding>
            <ssd:ParameterValues>
              <ssv:ParameterSet version="1.0" name="A-values">
                <ssv:Parameters>
                  <ssv:Parameter name="heat_capacity"><ssv:String value="big"/></ssv:Parameter>
                  <ssv:Parameter name="loss_conductance"><ssv:Real value="a lot"/></ssv:Parameter>
                  <ssv:Parameter name="volume"><ssv:Real value="3"/></ssv:Parameter>
                </ssv:Parameters>
              </ssv:ParameterSet>
            </ssd:ParameterValues>
          </ssd:ParameterBinding>
        </ssd:ParameterBindings>
      </ssd:Component>
      <ssd:Component name="B" source="missing.fmu"/>
      <ssd:Component name="C" type="application/x-ssp-definition" source="sub.ssd"/>
      <ssd:Component name="D" source="https://example.com/tank.fmu" implementation="ModelExchange"/>
      <ssd:SignalDictionaryReference name="signals" dictionary="bus"/>
    </ssd:Elements>
    <ssd:Connections>
      <ssd:Connection startConnector="outside" endElement="A" endConnector="heating"/>
      <ssd:Connection startElement="A" startConnector="temperature" endConnector="outside"/>
      <ssd:Connection startElement="A" startConnector="ambient_power" endConnector="outside"/>
    </ssd:Connections>
    <ssd:ParameterBindings>
      <ssd:ParameterBinding source="nowhere.ssv"/>
    </ssd:ParameterBindings>
  </ssd:System>
</ssd:SystemStructureDescription>
"""


def test_every_problem_of_an_ssd_is_reported_at_once_with_file_component_and_variable(tmp_path, fmus):
    shutil.copy(fmus[2], tmp_path / "tank2.fmu")
    ssd = tmp_path / "broken.ssd"
    ssd.write_text(BROKEN_SSD)
    with pytest.raises(SystemFileError) as info:
        read_ssp(ssd)
    problems = info.value.problems
    assert all(p.file == str(ssd) for p in problems)
    found: dict[tuple[str | None, str | None], str] = {}
    for p in problems:
        found[(p.component, p.variable)] = found.get((p.component, p.variable), "") + p.message + "\n"
    messages = "\n".join(str(p) for p in problems)
    assert "furlong" in found[("A", "ambient_power")]
    assert "no variable" in found[("A", "no_such_variable")]
    assert "String" in found[("A", "heat_capacity")]
    assert "'a lot' is not a number" in found[("A", "loss_conductance")]
    assert "no variable" in found[("A", "volume")]
    assert "missing.fmu' not found" in found[("B", None)]
    assert "application/x-ssp-definition" in found[("C", None)]
    assert "ModelExchange" in found[("D", None)]
    assert "https://example.com/tank.fmu' is not a relative reference" in messages
    assert "SignalDictionaryReference elements are not supported" in found[("signals", None)]
    assert "<system '/'>.outside is fed by 2 connections" in found[("A", "heating")]
    assert "nowhere.ssv" in messages
    assert len(problems) == 12


def test_an_archive_that_would_write_outside_its_folder_is_refused_whole(tmp_path, fmus):
    path = tmp_path / "evil.ssp"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("SystemStructure.ssd", FOREIGN_SSD)
        zf.writestr("../escaped.txt", "outside")
        zf.write(fmus[2], "resources/tank2.fmu")
    spec, problems = parse_ssp(path, extract_dir=tmp_path / "x" / "out")
    assert [str(p) for p in problems] == [f"{path}: archive member '../escaped.txt' would leave the extraction folder"]
    assert not (tmp_path / "x" / "escaped.txt").exists() and not (tmp_path / "x" / "out").exists()
    assert spec.components == {}
    bomb = tmp_path / "bomb.ssp"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("SystemStructure.ssd", FOREIGN_SSD)
        zf.writestr("resources/zeros.bin", bytes(4 * 2**20))
    spec, problems = parse_ssp(bomb, extract_dir=tmp_path / "bomb")
    assert len(problems) == 1 and "'resources/zeros.bin' expands more than 200 times" in str(problems[0])
    assert not (tmp_path / "bomb").exists()
    no_ssd = tmp_path / "empty.ssp"
    with zipfile.ZipFile(no_ssd, "w") as zf:
        zf.writestr("resources/readme.txt", "nothing")
    assert "no SystemStructure.ssd" in str(parse_ssp(no_ssd)[1][0])


def test_writing_reports_every_component_that_cannot_become_an_fmu(tmp_path, fmus):
    toml = tmp_path / "bad.toml"
    toml.write_text(f"""
[components.A]
fmu = "{fmus[2]}"
[components.gone]
fmu = "gone.fmu"
[components.made_up]
model = "no_such_model"
""")
    spec, _ = parse_system_file(toml)
    with pytest.raises(SystemFileError) as info:
        write_ssp(spec, tmp_path / "bad.ssp")
    assert {p.component for p in info.value.problems} == {"gone", "made_up"}
    assert not (tmp_path / "bad.ssp").exists()
    with pytest.raises(SystemFileError, match="'.ssp'"):
        write_ssp(spec, tmp_path / "bad.zip")


@pytest.mark.slow
def test_a_model_component_is_exported_into_the_archive_and_reads_back_as_the_model(tmp_path):
    toml = tmp_path / "hx.toml"
    toml.write_text("""
[master]
stop = "1h"
step = "10min"
[components.hx]
model = "fouling_heat_exchanger"
parameters = { area = 120.0 }
""")
    original = load(toml, cache_dir=tmp_path / "cache")
    archive = write_ssp(original.spec, tmp_path / "hx.ssp", cache_dir=tmp_path / "cache")
    with zipfile.ZipFile(archive) as zf:
        assert zf.read("resources/hx.fmu") == (tmp_path / "cache" / "2.0" / "fouling_heat_exchanger.fmu").read_bytes()
        assert schema_errors(zf.read("SystemStructure.ssd")) == []
    back = read_ssp(archive)
    assert back.components["hx"].kind == "model" and back.components["hx"].source == "fouling_heat_exchanger"
    assert comparable(back) == comparable(original.spec)


def test_the_command_line_checks_and_runs_an_ssp(tmp_path, fmus):
    archive = foreign_ssp(tmp_path, fmus[2])
    checked = subprocess.run(
        [sys.executable, "-m", "kreislauf", "check", str(archive)], capture_output=True, text=True, timeout=120
    )
    assert checked.returncode == 0, checked.stderr
    out = tmp_path / "results"
    ran = subprocess.run(
        [sys.executable, "-m", "kreislauf", "run", str(archive), "--step", "5min", "-o", str(out), "--no-progress"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "ok" and summary["time_reached_s"] == 21600.0
    broken = tmp_path / "broken.ssd"
    broken.write_text(BROKEN_SSD)
    refused = subprocess.run(
        [sys.executable, "-m", "kreislauf", "check", str(broken)], capture_output=True, text=True, timeout=120
    )
    assert refused.returncode == 1
    assert "missing.fmu" in refused.stdout + refused.stderr


def ssp_command(argv: list[str]) -> int:
    """``kreislauf ssp ...`` through the module's own parser (the group registers like every other)."""
    import argparse

    from kreislauf.commands import ssp as ssp_commands

    parser = argparse.ArgumentParser(prog="kreislauf")
    ssp_commands.register(parser.add_subparsers())
    args = parser.parse_args(argv)
    return args.handler(args)


def test_ssp_export_and_show_commands(tmp_path, fmus, capsys):
    from kreislauf.cli import CommandError

    out = tmp_path / "out" / "tanks.ssp"
    assert ssp_command(["ssp", "export", str(toml_system(tmp_path, fmus)), str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert comparable(read_ssp(out)) == comparable(load(tmp_path / "tanks.toml").spec)
    assert ssp_command(["ssp", "show", str(foreign_ssp(tmp_path, fmus[2]))]) == 0
    shown = capsys.readouterr().out
    assert "A.ambient_power -> B.heating  (x -1.0 + 0.0)" in shown
    assert "heat_capacity = 2000000.0" in shown and "note: " in shown and "ssd:GraphicalElements" in shown
    broken = tmp_path / "broken.ssd"
    broken.write_text(BROKEN_SSD)
    with pytest.raises(CommandError, match="missing.fmu"):
        ssp_command(["ssp", "show", str(broken)])
    with pytest.raises(CommandError, match="'.ssp'"):
        ssp_command(["ssp", "export", str(tmp_path / "tanks.toml"), str(tmp_path / "tanks.zip")])


def test_a_hand_edited_kreislauf_annotation_gives_problems_not_a_crash(tmp_path, fmus):
    archive = write_ssp(load(toml_system(tmp_path, fmus)).spec, tmp_path / "tanks.ssp")
    with zipfile.ZipFile(archive) as zf:
        root = etree.fromstring(zf.read("SystemStructure.ssd"))
    payload = root.find(".//{urn:org.kreislauf:ssp:1}system")
    data = json.loads(payload.text)
    data["settings"]["algorithm"] = "magic"
    data["settings"]["rtol"] = -1.0
    data["components"]["probe"]["step"] = "soon"
    data["connections"][0]["gain"] = 3.0
    payload.text = json.dumps(data)
    edited = tmp_path / "edited.ssd"
    edited.write_bytes(etree.tostring(root))
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(tmp_path, members=["resources/A.fmu", "resources/B.fmu"])
    with pytest.raises(SystemFileError) as info:
        read_ssp(edited)
    messages = "\n".join(str(p) for p in info.value.problems)
    assert all("org.kreislauf annotation" in str(p) for p in info.value.problems)
    assert "algorithm 'magic'" in messages and "rtol must be a positive number" in messages
    assert "component 'probe'" in messages and "'soon'" in messages
    assert "gain" in messages


# Tank B inside a subsystem whose connectors carry their own units (kW in, degC out), its
# parameters bound on the subsystem, and an observation-only output connector on the root system.
NESTED_SSD = """<?xml version="1.0" encoding="UTF-8"?>
<ssd:SystemStructureDescription version="1.0" name="nested"
    xmlns:ssd="http://ssp-standard.org/SSP1/SystemStructureDescription"
    xmlns:ssc="http://ssp-standard.org/SSP1/SystemStructureCommon"
    xmlns:ssv="http://ssp-standard.org/SSP1/SystemStructureParameterValues">
  <ssd:System name="root">
    <ssd:Connectors>
      <ssd:Connector name="observed" kind="output"><ssc:Real unit="K"/></ssd:Connector>
    </ssd:Connectors>
    <ssd:ParameterBindings>
      <ssd:ParameterBinding>
        <ssd:ParameterValues>
          <ssv:ParameterSet version="1.0" name="root-values">
            <ssv:Parameters>
              <ssv:Parameter name="A.heat_capacity"><ssv:Real value="2e6"/></ssv:Parameter>
              <ssv:Parameter name="A.loss_conductance"><ssv:Real value="100"/></ssv:Parameter>
              <ssv:Parameter name="A.temperature_start"><ssv:Real value="350"/></ssv:Parameter>
            </ssv:Parameters>
          </ssv:ParameterSet>
        </ssd:ParameterValues>
      </ssd:ParameterBinding>
    </ssd:ParameterBindings>
    <ssd:Elements>
      <ssd:Component name="A" source="resources/tank2.fmu"/>
      <ssd:System name="sub">
        <ssd:Connectors>
          <ssd:Connector name="heat_in" kind="input"><ssc:Real unit="kW"/></ssd:Connector>
          <ssd:Connector name="temperature_out" kind="output"><ssc:Real unit="degC"/></ssd:Connector>
        </ssd:Connectors>
        <ssd:ParameterBindings>
          <ssd:ParameterBinding>
            <ssd:ParameterValues>
              <ssv:ParameterSet version="1.0" name="sub-values">
                <ssv:Parameters>
                  <ssv:Parameter name="B.heat_capacity"><ssv:Real value="1e6"/></ssv:Parameter>
                  <ssv:Parameter name="B.temperature_start"><ssv:Real value="290"/></ssv:Parameter>
                </ssv:Parameters>
              </ssv:ParameterSet>
            </ssd:ParameterValues>
          </ssd:ParameterBinding>
        </ssd:ParameterBindings>
        <ssd:Elements>
          <ssd:Component name="B" source="resources/tank2.fmu">
            <ssd:Connectors>
              <ssd:Connector name="heating" kind="input"><ssc:Real unit="W"/></ssd:Connector>
              <ssd:Connector name="temperature" kind="output"><ssc:Real unit="K"/></ssd:Connector>
            </ssd:Connectors>
          </ssd:Component>
        </ssd:Elements>
        <ssd:Connections>
          <ssd:Connection startConnector="heat_in" endElement="B" endConnector="heating"/>
          <ssd:Connection startElement="B" startConnector="temperature" endConnector="temperature_out"/>
        </ssd:Connections>
      </ssd:System>
    </ssd:Elements>
    <ssd:Connections>
      <ssd:Connection startElement="A" startConnector="ambient_power" endElement="sub" endConnector="heat_in">
        <ssc:LinearTransformation factor="-1"/>
      </ssd:Connection>
      <ssd:Connection startElement="sub" startConnector="temperature_out" endElement="A"
          endConnector="ambient_temperature"/>
      <ssd:Connection startElement="A" startConnector="temperature" endConnector="observed"/>
    </ssd:Connections>
  </ssd:System>
  <ssd:Units>
    <ssc:Unit name="K"><ssc:BaseUnit K="1"/></ssc:Unit>
    <ssc:Unit name="degC"><ssc:BaseUnit K="1" offset="273.15"/></ssc:Unit>
    <ssc:Unit name="W"><ssc:BaseUnit kg="1" m="2" s="-3"/></ssc:Unit>
    <ssc:Unit name="kW"><ssc:BaseUnit kg="1" m="2" s="-3" factor="1000"/></ssc:Unit>
  </ssd:Units>
  <ssd:DefaultExperiment startTime="0" stopTime="21600"/>
</ssd:SystemStructureDescription>
"""


def test_a_nested_system_is_flattened_through_its_connectors_and_runs_like_the_flat_one(tmp_path, fmus):
    """W -> (x -1) -> kW connector -> W: minus the watts; K -> degC connector -> K: the kelvins."""
    assert schema_errors(NESTED_SSD.encode()) == []
    archive = tmp_path / "nested.ssp"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("SystemStructure.ssd", NESTED_SSD)
        zf.write(fmus[2], "resources/tank2.fmu")
    notes: list[Problem] = []
    spec = read_ssp(archive, notes=notes)
    assert list(spec.components) == ["A", "sub__B"]
    assert spec.components["sub__B"].parameters == {"heat_capacity": 1e6, "temperature_start": 290.0}
    assert {c.text: (c.factor, c.offset) for c in spec.connections} == {
        "A.ambient_power -> sub__B.heating": (-1.0, 0.0),
        "sub__B.temperature -> A.ambient_temperature": (1.0, 0.0),
    }
    assert any("observed" in str(n) and "system connector only" in str(n) for n in notes)
    from_ssp = load(archive).run(out_dir=tmp_path / "ssp", step=300.0).read()
    toml = tmp_path / "same.toml"
    toml.write_text(SAME_TOML.format(fmu=fmus[2]))
    from_toml = load(toml).run(out_dir=tmp_path / "toml").read()
    for column in from_toml:
        np.testing.assert_array_equal(from_ssp[column.replace("B.", "sub__B.")], from_toml[column], err_msg=column)
