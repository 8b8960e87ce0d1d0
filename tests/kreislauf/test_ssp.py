"""SSP 1.0: export validates against the standard's schema, round-trips, and hand-written SSDs run.

The XML schemas are the SSP 1.0 XSDs shipped with fmpy (fmpy/ssp/schema), an independent copy of
the standard's files.
"""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest
from fmu_tank import export_tanks
from lxml import etree

from kreislauf.api import check, load
from kreislauf.ssp import export_ssp, parse_ssp

pytestmark = pytest.mark.skipif(
    shutil.which("cc") is None and shutil.which("gcc") is None, reason="needs a C compiler to export FMUs"
)

DOUBLES = Path(__file__).with_name("cosim_doubles.py")


def schema_errors(xml: bytes) -> list[str]:
    import fmpy.ssp

    schema_dir = Path(fmpy.ssp.__file__).parent / "schema"
    schema = etree.XMLSchema(file=str(schema_dir / "SystemStructureDescription.xsd"))
    ok = schema.validate(etree.fromstring(xml))
    return [] if ok else [str(e) for e in schema.error_log]


@pytest.fixture(scope="module")
def fmus(tmp_path_factory) -> dict[int, Path]:
    return export_tanks(tmp_path_factory.mktemp("ssp-fmus"))


def toml_system(tmp_path: Path, fmus: dict[int, Path]) -> Path:
    path = tmp_path / "tanks.toml"
    path.write_text(f"""
connections = [
    "B.temperature -> A.ambient_temperature",
    {{ from = "A.ambient_power", to = "B.heating", factor = -1.0 }},
    "B.temperature -> probe.u",
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

[components.B]
fmu = "{fmus[3]}"
parameters = {{ heat_capacity = 1e6, temperature_start = 290.0 }}

[components.probe]
python = "{DOUBLES}:Gain"
arguments = {{ k = 2.0, unit = "K" }}

[outputs]
variables = ["A.temperature", "B.*", "probe.y"]
""")
    return path


def test_export_is_valid_ssp_and_round_trips(tmp_path, fmus):
    original = load(toml_system(tmp_path, fmus))
    archive = export_ssp(original.spec, tmp_path / "tanks.ssp")
    with zipfile.ZipFile(archive) as zf:
        assert sorted(zf.namelist()) == ["SystemStructure.ssd", "resources/A.fmu", "resources/B.fmu"]
        ssd = zf.read("SystemStructure.ssd")
    assert schema_errors(ssd) == []
    spec, problems = parse_ssp(archive)
    assert problems == []
    back, orig = spec, original.spec
    assert list(back.components) == list(orig.components)
    for name, comp in orig.components.items():
        assert back.components[name].kind == comp.kind
        assert back.components[name].parameters == comp.parameters
    assert Path(back.components["A"].base_dir / back.components["A"].source).read_bytes() == fmus[2].read_bytes()
    assert {c.text: (c.factor, c.offset) for c in back.connections} == {
        c.text: (c.factor, c.offset) for c in orig.connections
    }
    assert [b.name for b in back.bonds] == [b.name for b in orig.bonds]
    assert back.settings == orig.settings and back.outputs.variables == orig.outputs.variables
    # and it runs to the same numbers, bit for bit
    first = original.run(out_dir=tmp_path / "toml").read()
    second = load(archive).run(out_dir=tmp_path / "ssp").read()
    assert first.keys() == second.keys()
    for column in first:
        assert first[column].tobytes() == second[column].tobytes(), column


HAND_WRITTEN = """<?xml version="1.0" encoding="UTF-8"?>
<ssd:SystemStructureDescription version="1.0" name="hand-written"
    xmlns:ssd="http://ssp-standard.org/SSP1/SystemStructureDescription"
    xmlns:ssc="http://ssp-standard.org/SSP1/SystemStructureCommon"
    xmlns:ssv="http://ssp-standard.org/SSP1/SystemStructureParameterValues">
  <ssd:System name="tanks">
    <ssd:Elements>
      <ssd:Component name="A" type="application/x-fmu-sharedlibrary" source="fmus/tank2.fmu">
        <ssd:Connectors>
          <ssd:Connector name="ambient_temperature" kind="input"><ssc:Real unit="K"/></ssd:Connector>
          <ssd:Connector name="ambient_power" kind="output"><ssc:Real unit="W"/></ssd:Connector>
          <ssd:Connector name="temperature" kind="output"><ssc:Real unit="K"/></ssd:Connector>
        </ssd:Connectors>
        <ssd:ParameterBindings>
          <ssd:ParameterBinding>
            <ssd:ParameterValues>
              <ssv:ParameterSet version="1.0" name="A-values">
                <ssv:Parameters>
                  <ssv:Parameter name="heat_capacity"><ssv:Real value="2e6"/></ssv:Parameter>
                  <ssv:Parameter name="loss_conductance"><ssv:Real value="100"/></ssv:Parameter>
                  <ssv:Parameter name="temperature_start"><ssv:Real value="350"/></ssv:Parameter>
                </ssv:Parameters>
              </ssv:ParameterSet>
            </ssd:ParameterValues>
          </ssd:ParameterBinding>
        </ssd:ParameterBindings>
      </ssd:Component>
      <ssd:Component name="B" source="fmus/tank3.fmu">
        <ssd:Connectors>
          <ssd:Connector name="heating" kind="input"><ssc:Real unit="W"/></ssd:Connector>
          <ssd:Connector name="temperature" kind="output"><ssc:Real unit="K"/></ssd:Connector>
        </ssd:Connectors>
        <ssd:ParameterBindings>
          <ssd:ParameterBinding source="B.ssv"/>
        </ssd:ParameterBindings>
      </ssd:Component>
    </ssd:Elements>
    <ssd:Connections>
      <ssd:Connection startElement="B" startConnector="temperature" endElement="A" endConnector="ambient_temperature"/>
      <ssd:Connection startElement="A" startConnector="ambient_power" endElement="B" endConnector="heating">
        <ssc:LinearTransformation factor="-1" offset="0"/>
      </ssd:Connection>
    </ssd:Connections>
  </ssd:System>
  <ssd:DefaultExperiment startTime="0" stopTime="21600"/>
</ssd:SystemStructureDescription>
"""

HAND_WRITTEN_SSV = """<?xml version="1.0" encoding="UTF-8"?>
<ssv:ParameterSet version="1.0" name="B-values"
    xmlns:ssv="http://ssp-standard.org/SSP1/SystemStructureParameterValues">
  <ssv:Parameters>
    <ssv:Parameter name="heat_capacity"><ssv:Real value="1e6"/></ssv:Parameter>
    <ssv:Parameter name="temperature_start"><ssv:Real value="290"/></ssv:Parameter>
  </ssv:Parameters>
</ssv:ParameterSet>
"""


def test_a_hand_written_ssd_runs_like_the_same_toml_system(tmp_path, fmus):
    assert schema_errors(HAND_WRITTEN.encode()) == []
    (tmp_path / "fmus").mkdir()
    shutil.copy(fmus[2], tmp_path / "fmus" / "tank2.fmu")
    shutil.copy(fmus[3], tmp_path / "fmus" / "tank3.fmu")
    (tmp_path / "B.ssv").write_text(HAND_WRITTEN_SSV)
    ssd = tmp_path / "tanks.ssd"
    ssd.write_text(HAND_WRITTEN)
    assert check(ssd) == []
    from_ssd = load(ssd).run(out_dir=tmp_path / "ssd", step=300.0)
    toml = tmp_path / "same.toml"
    toml.write_text(f"""
connections = [
    "B.temperature -> A.ambient_temperature",
    {{ from = "A.ambient_power", to = "B.heating", factor = -1.0 }},
]
[master]
stop = "6h"
step = "5min"
[components.A]
fmu = "{fmus[2]}"
parameters = {{ heat_capacity = 2e6, loss_conductance = 100.0, temperature_start = 350.0 }}
[components.B]
fmu = "{fmus[3]}"
parameters = {{ heat_capacity = 1e6, temperature_start = 290.0 }}
""")
    from_toml = load(toml).run(out_dir=tmp_path / "toml")
    first, second = from_ssd.read(), from_toml.read()
    assert len(first["time"]) == 73 and first["time"][-1] == 21600.0
    for column in second:
        assert first[column].tobytes() == second[column].tobytes(), column


def test_unsupported_ssp_content_is_reported_not_ignored(tmp_path, fmus):
    text = HAND_WRITTEN.replace(
        "    </ssd:Elements>",
        '      <ssd:System name="nested"/>\n    </ssd:Elements>',
    ).replace('source="fmus/tank3.fmu"', 'source="fmus/missing.fmu"')
    ssd = tmp_path / "odd.ssd"
    ssd.write_text(text)
    messages = [str(p) for p in check(ssd)]
    assert any("element 'nested'" in m and "not supported" in m for m in messages)
    assert any("component 'B'" in m and "fmus/missing.fmu' not found" in m for m in messages)
