"""Register maps: the documented format loads, and each kind of mistake is an error naming the point."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import pytest
from hil_tank_double import tank_variables

from kreislauf.hil.codec import DataType, WordOrder
from kreislauf.hil.registermap import RegisterMapError, Table, load_register_map, register_map_from_dict

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
BASE = tomllib.loads((HERE / "tank_map.toml").read_text())


def variant(change) -> dict:
    data = copy.deepcopy(BASE)
    change(data)
    return data


def test_tank_map_loads_with_the_documented_fields(tank_map):
    point = tank_map.point("external_heat_set")
    assert (point.table, point.address, point.count) == (Table.HOLDING, 2, 2)
    assert point.codec.data_type is DataType.INT32 and point.codec.word_order is WordOrder.LITTLE
    assert (point.minimum, point.maximum, point.writable) == (-50000.0, 50000.0, True)
    assert tank_map.point("heater_power_set").vendor_number == 40001
    assert tank_map.device.trigger == "step_trigger"
    tank_map.bind(tank_variables(), "tank")


def test_bench_example_map_is_valid():
    bench = load_register_map(REPO / "examples" / "bench" / "heat_pump_map.toml")
    assert any(p.writable for p in bench.points.values())
    assert all(p.minimum is not None and p.maximum is not None for p in bench.points.values() if p.writable)


def expect_error(data, *fragments: str, point: str | None = None):
    with pytest.raises(RegisterMapError) as info:
        register_map_from_dict(data, source="bench.toml")
    message = str(info.value)
    assert "bench.toml" in message
    if point is not None:
        assert info.value.point == point and f"point '{point}'" in message
    for fragment in fragments:
        assert fragment in message, message


def test_overlapping_points_name_both_points():
    data = variant(lambda d: d["points"]["external_heat_set"].update(address=1))
    expect_error(data, "overlaps point 'heater_power_set'", point="external_heat_set")


def test_wrong_register_count_for_the_type_names_the_point():
    data = variant(lambda d: d["points"]["tank_temperature"].update(count=1))
    expect_error(data, "count 1 is wrong for type float32", "occupies 2", point="tank_temperature")


def test_unknown_variable_names_the_point_and_suggests_a_name(tank_map):
    data = variant(lambda d: d["points"]["tank_temperature"].update(variable="tank_temprature"))
    rmap = register_map_from_dict(data, source="bench.toml")
    with pytest.raises(RegisterMapError) as info:
        rmap.bind(tank_variables(), "tank")
    assert info.value.point == "tank_temperature"
    assert "'tank_temprature' is not a variable of component 'tank'" in str(info.value)
    assert "did you mean 'tank_temperature'" in str(info.value)


def test_writable_point_on_an_output_is_rejected():
    data = variant(
        lambda d: d["points"]["heater_power_set"].update(variable="tank_temperature", unit="K", min=0.0, max=400.0)
    )
    rmap = register_map_from_dict(data, source="bench.toml")
    with pytest.raises(RegisterMapError, match="needs an input or parameter"):
        rmap.bind(tank_variables(), "tank")


def test_writable_point_without_min_and_max_is_rejected():
    data = variant(lambda d: d["points"]["heater_power_set"].pop("max"))
    expect_error(data, "needs both min and max", point="heater_power_set")


def test_writable_point_in_a_read_only_table_is_rejected():
    data = variant(lambda d: d["points"]["tank_temperature"].update(access="rw", min=0.0, max=400.0))
    expect_error(data, "table 'input' is read-only", point="tank_temperature")


def test_unknown_field_lists_the_allowed_fields():
    data = variant(lambda d: d["points"]["heat_loss"].update(scal=10.0))
    expect_error(data, "unknown field 'scal'", "allowed:", "scale", point="heat_loss")


def test_bit_table_needs_bool():
    data = variant(lambda d: d["points"]["pump_on_set"].update(type="uint16"))
    expect_error(data, "type must be bool", point="pump_on_set")


def test_range_beyond_what_the_type_can_carry_is_rejected():
    # int16 with 0.1 K steps from 273.15 K reaches 273.15 + 3276.7 K; 5000 K cannot be sent
    data = variant(lambda d: d["points"]["ambient_temperature_set"].update(max=5000.0))
    expect_error(data, "max 5000", "can carry", point="ambient_temperature_set")


def test_safe_value_outside_min_max_is_rejected():
    data = variant(lambda d: d["points"]["heater_power_set"].update(safe_value=-1.0))
    expect_error(data, "safe_value -1 is outside [0, 20000]", point="heater_power_set")


def test_two_points_writing_one_variable_is_rejected():
    def change(d):
        d["points"]["second"] = dict(d["points"]["heater_power_set"], address=30)

    expect_error(variant(change), "already written by point 'heater_power_set'", point="second")


def test_address_beyond_the_table_is_rejected():
    data = variant(lambda d: d["points"]["model_time"].update(address=65533))
    expect_error(data, "address 65533 is outside [0, 65532]", point="model_time")


def test_trigger_must_name_an_existing_point():
    data = variant(lambda d: d["device"].update(trigger="step_triger"))
    expect_error(data, "trigger names no point", "did you mean 'step_trigger'")


def test_point_without_variable_is_rejected_unless_it_has_a_role():
    data = variant(lambda d: d["points"]["heat_loss"].pop("variable"))
    expect_error(data, "field 'variable' is required", point="heat_loss")


def test_unreadable_file_and_bad_toml_name_the_file(tmp_path):
    with pytest.raises(RegisterMapError, match="cannot read"):
        load_register_map(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[device\nname = 1\n")
    with pytest.raises(RegisterMapError, match=r"bad\.toml.*not valid TOML"):
        load_register_map(bad)


def test_the_format_page_documents_every_field():
    from kreislauf.hil.registermap import DEVICE_FIELDS, POINT_FIELDS

    page = (REPO / "docs" / "hil-register-maps.md").read_text()
    for name in [*DEVICE_FIELDS, *POINT_FIELDS]:
        assert f"`{name}`" in page, name


def test_a_unit_other_than_the_variables_is_rejected():
    data = variant(lambda d: d["points"]["heat_loss"].update(unit="kW"))
    rmap = register_map_from_dict(data, source="bench.toml")
    with pytest.raises(RegisterMapError) as info:
        rmap.bind(tank_variables(), "tank")
    assert info.value.point == "heat_loss" and "unit 'kW' differs from the unit 'W'" in str(info.value)


def model_variables(model_name: str) -> dict:
    """The variables a model's FMU will have, from its declaration (no FMU built)."""
    from kreislauf.component import Causality, Variable
    from kreislauf.models import get_model

    causality = {
        "input": Causality.INPUT,
        "output": Causality.OUTPUT,
        "state": Causality.OUTPUT,
        "parameter": Causality.PARAMETER,
    }
    model = get_model(model_name)
    return {
        d.name: Variable(d.name, causality[d.kind], unit=d.unit or None)
        for d in model.variables.values()
        if d.kind in causality
    }


@pytest.mark.parametrize(
    ("map_file", "model_name"),
    [("heat_exchanger_map.toml", "fouling_heat_exchanger"), ("heat_pump_map.toml", "heat_pump")],
)
def test_bench_example_maps_fit_their_models(map_file, model_name):
    from kreislauf.models import MODELS

    if model_name not in MODELS:
        pytest.skip(f"model '{model_name}' is not registered in kreislauf.models yet")
    load_register_map(REPO / "examples" / "bench" / map_file).bind(model_variables(model_name), model_name)


def test_binding_problems_lists_every_point_that_does_not_fit_the_component():
    def break_three(data):
        data["points"]["heat_loss"]["unit"] = "kW"  # the tank's heat loss is in W
        data["points"]["heater_energy"]["variable"] = "heater_enrgy"
        data["points"]["heater_power_set"]["variable"] = "heat_loss"  # an output cannot be written

    register_map = register_map_from_dict(variant(break_three), source="bench.toml")
    problems = register_map.binding_problems(tank_variables(), "tank")
    assert sorted(p.point for p in problems) == ["heat_loss", "heater_energy", "heater_power_set"]
    messages = {p.point: str(p) for p in problems}
    assert "unit 'kW' differs from the unit 'W'" in messages["heat_loss"]
    assert "did you mean 'heater_energy'" in messages["heater_energy"]
    assert "access 'rw' needs an input or parameter" in messages["heater_power_set"]
    assert all("bench.toml" in m and "component 'tank'" in m for m in messages.values())
    with pytest.raises(RegisterMapError) as info:
        register_map.bind(tank_variables(), "tank")
    assert info.value.point == problems[0].point
