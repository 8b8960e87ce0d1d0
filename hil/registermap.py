"""Register maps: which Modbus registers of a device carry which component variable.

A register map is a TOML file (format in ``docs/hil-register-maps.md``)::

    [device]
    name = "bench_tank"
    unit_id = 1
    trigger = "step_trigger"          # optional: lock-step, writing dt here advances the device

    [points.heater_power_set]
    variable = "heater_power"         # the component variable the point carries
    table = "holding"                 # coil | discrete_input | holding | input
    address = 0                       # 0-based PDU address on the wire
    vendor_number = 40001             # the number printed in the vendor's manual (informative)
    type = "float32"                  # int16 uint16 int32 uint32 float32 float64 bool
    word_order = "big"                # big (ABCD) | little (CDAB)
    access = "rw"                     # r | rw
    min = 0.0                         # engineering units; required for writable numbers
    max = 20000.0
    unit = "W"

:func:`load_register_map` validates the file against :data:`POINT_FIELDS` / :data:`DEVICE_FIELDS`
(the schema) and :meth:`RegisterMap.bind` checks it against a component's variables. Every error is a
:class:`RegisterMapError` that names the file, the point and the allowed values.
"""

from __future__ import annotations

import difflib
import enum
import math
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kreislauf.component import Causality, Variable

from .codec import Codec, CodecError, DataType, WordOrder, raw_range

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = [
    "DEVICE_FIELDS",
    "POINT_FIELDS",
    "DeviceSettings",
    "Point",
    "RegisterMap",
    "RegisterMapError",
    "Table",
    "load_register_map",
    "register_map_from_dict",
]


class RegisterMapError(ValueError):
    """A register map is invalid; the message names the file, the point and what is allowed."""

    def __init__(self, source: str, message: str, point: str | None = None):
        self.source = source
        self.point = point
        where = f"register map '{source}'"
        if point is not None:
            where += f", point '{point}'"
        super().__init__(f"{where}: {message}")


class Table(str, enum.Enum):
    """The four Modbus data tables."""

    COIL = "coil"  # 1-bit, read/write (FC 1, 5, 15)
    DISCRETE_INPUT = "discrete_input"  # 1-bit, read-only (FC 2)
    HOLDING = "holding"  # 16-bit, read/write (FC 3, 6, 16)
    INPUT = "input"  # 16-bit, read-only (FC 4)

    @property
    def is_bit(self) -> bool:
        """True for the 1-bit tables."""
        return self in (Table.COIL, Table.DISCRETE_INPUT)

    @property
    def is_writable(self) -> bool:
        """True when Modbus has write functions for this table."""
        return self in (Table.COIL, Table.HOLDING)


# The schema: field -> (accepted Python types, description). Checked by the loader, listed in the docs.
DEVICE_FIELDS: dict[str, tuple[tuple[type, ...], str]] = {
    "name": ((str,), "device name, used in messages"),
    "unit_id": ((int,), "Modbus unit identifier 0..255 (default 1)"),
    "word_order": ((str,), "default word order of multi-register points: big | little (default big)"),
    "timeout": ((int, float), "seconds to wait for one reply, > 0 (default 0.2)"),
    "reconnect_delay_max": ((int, float), "cap of the reconnect back-off in seconds (default 1.0)"),
    "min_interval": ((int, float), "rate limit: least wall-clock seconds between exchanges (default 0)"),
    "idle_reconnect": ((int, float), "reconnect before an exchange after this many idle seconds (default 10)"),
    "max_read_registers": ((int,), "registers per read request, 1..125 (default 125)"),
    "max_write_registers": ((int,), "registers per write request, 1..123 (default 123)"),
    "trigger": ((str,), "writable point that advances the device by the value written (dt, s)"),
    "time": ((str,), "read-only point carrying the device's model time in s"),
    "heartbeat": ((dict,), "table: point (writable uint16), interval (s), timeout (s, server watchdog)"),
}

POINT_FIELDS: dict[str, tuple[tuple[type, ...], str]] = {
    "variable": ((str,), "component variable carried by the point"),
    "table": ((str,), "coil | discrete_input | holding | input"),
    "address": ((int,), "0-based PDU address of the first register/bit, 0..65535"),
    "vendor_number": ((int,), "the number in the vendor's documentation (informative only)"),
    "type": ((str,), "int16 | uint16 | int32 | uint32 | float32 | float64 | bool"),
    "count": ((int,), "registers occupied; optional, must match the type"),
    "word_order": ((str,), "big | little; default from [device]"),
    "scale": ((int, float), "value = raw * scale + offset; non-zero (default 1)"),
    "offset": ((int, float), "see scale (default 0)"),
    "unit": ((str,), "unit of the engineering value (SI)"),
    "access": ((str,), "r | rw (default r); rw only in coil and holding tables"),
    "min": ((int, float), "smallest engineering value a write may carry"),
    "max": ((int, float), "largest engineering value a write may carry"),
    "not_available": ((int, float), "raw value the device sends for 'no data'"),
    "safe_value": ((int, float), "engineering value written on a fault and at close"),
    "readback": ((bool,), "read the point back after writing it and compare (rw only)"),
    "description": ((str,), "free text"),
}

HEARTBEAT_FIELDS = {"point", "interval", "timeout"}


@dataclass(frozen=True)
class Point:
    """One point of a register map: where it lives on the wire and how to read its value."""

    name: str
    table: Table
    address: int
    codec: Codec
    access: str = "r"
    variable: str | None = None
    unit: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    safe_value: float | None = None
    readback: bool = False
    vendor_number: int | None = None
    description: str = ""

    @property
    def count(self) -> int:
        """Registers (or bits) occupied."""
        return 1 if self.table.is_bit else self.codec.count

    @property
    def end(self) -> int:
        """The address one past the last register of the point."""
        return self.address + self.count

    @property
    def writable(self) -> bool:
        """True when a client may write the point."""
        return self.access == "rw"

    def in_range(self, value: float) -> bool:
        """True when ``value`` is a number within ``[min, max]`` (for bool points: exactly 0 or 1)."""
        if math.isnan(value):
            return False
        if self.codec.data_type is DataType.BOOL and value not in (0.0, 1.0):
            return False
        if self.minimum is not None and value < self.minimum:
            return False
        return self.maximum is None or value <= self.maximum

    def range_text(self) -> str:
        """The allowed write range as text, e.g. ``[0, 20000] W``."""
        lo = "-inf" if self.minimum is None else f"{self.minimum:g}"
        hi = "inf" if self.maximum is None else f"{self.maximum:g}"
        return f"[{lo}, {hi}]" + (f" {self.unit}" if self.unit else "")


@dataclass(frozen=True)
class DeviceSettings:
    """The ``[device]`` table of a register map."""

    name: str = "device"
    unit_id: int = 1
    word_order: WordOrder = WordOrder.BIG
    timeout: float = 0.2
    reconnect_delay_max: float = 1.0
    min_interval: float = 0.0
    idle_reconnect: float = 10.0
    max_read_registers: int = 125
    max_write_registers: int = 123
    trigger: str | None = None
    time: str | None = None
    heartbeat: str | None = None
    heartbeat_interval: float = 1.0
    heartbeat_timeout: float | None = None


@dataclass(frozen=True)
class RegisterMap:
    """A validated register map: device settings and points by name (see module docstring)."""

    source: str
    device: DeviceSettings
    points: Mapping[str, Point]
    by_table: Mapping[Table, tuple[Point, ...]] = field(default_factory=dict)

    def point(self, name: str) -> Point:
        """The point called ``name``; :class:`RegisterMapError` with close names otherwise."""
        try:
            return self.points[name]
        except KeyError:
            raise RegisterMapError(self.source, f"no such point{_hint(name, self.points)}", name) from None

    def points_for(self, variable: str) -> tuple[Point, ...]:
        """The points that carry ``variable``."""
        return tuple(p for p in self.points.values() if p.variable == variable)

    def bind(self, variables: Mapping[str, Variable], component: str) -> None:
        """Check the map against a component's variables; raises the first of :meth:`binding_problems`,
        with all of them in its ``problems`` attribute (so a caller can list every one)."""
        problems = self.binding_problems(variables, component)
        if problems:
            error = problems[0]
            error.problems = problems
            raise error

    def binding_problems(self, variables: Mapping[str, Variable], component: str) -> list[RegisterMapError]:
        """Every mismatch between the map and a component's variables, each naming its point.

        Every ``variable`` must exist, a point's ``unit`` (when both are given) must be the variable's
        (scale and offset convert the wire value into it), and a writable point must carry an input or
        a parameter.
        """
        writable_causalities = (Causality.INPUT, Causality.PARAMETER)
        problems = []
        for point in self.points.values():
            if point.variable is None:
                continue
            variable = variables.get(point.variable)
            if variable is None:
                problems.append(
                    RegisterMapError(
                        self.source,
                        f"variable '{point.variable}' is not a variable of component '{component}'"
                        f"{_hint(point.variable, variables)}",
                        point.name,
                    )
                )
                continue
            if point.unit is not None and variable.unit is not None and point.unit != variable.unit:
                problems.append(
                    RegisterMapError(
                        self.source,
                        f"unit '{point.unit}' differs from the unit '{variable.unit}' of '{point.variable}' in "
                        f"component '{component}'; scale and offset convert the wire value to the variable's unit",
                        point.name,
                    )
                )
            if point.writable and variable.causality not in writable_causalities:
                problems.append(
                    RegisterMapError(
                        self.source,
                        f"access 'rw' needs an input or parameter, but '{point.variable}' of component "
                        f"'{component}' is an {variable.causality.value}; use access = \"r\"",
                        point.name,
                    )
                )
        return problems


def _hint(name: str, names: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(names), n=3)
    return f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""


def _check_fields(source: str, table: Mapping[str, Any], schema: Mapping, point: str | None, what: str) -> None:
    for key, value in table.items():
        if key not in schema:
            raise RegisterMapError(
                source, f"unknown field '{key}' in {what}; allowed: {', '.join(sorted(schema))}", point
            )
        types = schema[key][0]
        if isinstance(value, bool) and bool not in types:
            raise RegisterMapError(source, f"field '{key}' must be {schema[key][1]}, got {value!r}", point)
        if not isinstance(value, types):
            raise RegisterMapError(source, f"field '{key}' must be {schema[key][1]}, got {value!r}", point)


def _choice(source: str, enum_type: type[enum.Enum], value: str, key: str, point: str | None) -> Any:
    try:
        return enum_type(value)
    except ValueError:
        allowed = " | ".join(m.value for m in enum_type)
        raise RegisterMapError(source, f"{key} '{value}' is not one of {allowed}", point) from None


def _positive(source: str, key: str, value: float, point: str | None = None) -> float:
    if not (math.isfinite(value) and value > 0):
        raise RegisterMapError(source, f"{key} must be a finite number > 0, got {value!r}", point)
    return float(value)


def _device(source: str, data: Mapping[str, Any]) -> DeviceSettings:
    _check_fields(source, data, DEVICE_FIELDS, None, "[device]")
    unit_id = data.get("unit_id", 1)
    if not 0 <= unit_id <= 255:
        raise RegisterMapError(source, f"[device] unit_id {unit_id} is outside [0, 255]")
    max_read = data.get("max_read_registers", 125)
    if not 1 <= max_read <= 125:
        raise RegisterMapError(source, f"[device] max_read_registers {max_read} is outside [1, 125]")
    max_write = data.get("max_write_registers", 123)
    if not 1 <= max_write <= 123:
        raise RegisterMapError(source, f"[device] max_write_registers {max_write} is outside [1, 123]")
    min_interval = float(data.get("min_interval", 0.0))
    if not (math.isfinite(min_interval) and min_interval >= 0):
        raise RegisterMapError(source, f"[device] min_interval must be >= 0 s, got {min_interval!r}")
    heartbeat = data.get("heartbeat", {})
    unknown = set(heartbeat) - HEARTBEAT_FIELDS
    if unknown:
        raise RegisterMapError(
            source,
            f"unknown field(s) {sorted(unknown)} in [device.heartbeat]; allowed: point, interval, timeout",
        )
    if heartbeat and "point" not in heartbeat:
        raise RegisterMapError(source, "[device.heartbeat] needs 'point'")
    hb_timeout = heartbeat.get("timeout")
    return DeviceSettings(
        name=data.get("name", "device"),
        unit_id=unit_id,
        word_order=_choice(source, WordOrder, data.get("word_order", "big"), "[device] word_order", None),
        timeout=_positive(source, "[device] timeout", data.get("timeout", 0.2)),
        reconnect_delay_max=_positive(source, "[device] reconnect_delay_max", data.get("reconnect_delay_max", 1.0)),
        min_interval=min_interval,
        idle_reconnect=_positive(source, "[device] idle_reconnect", data.get("idle_reconnect", 10.0)),
        max_read_registers=max_read,
        max_write_registers=max_write,
        trigger=data.get("trigger"),
        time=data.get("time"),
        heartbeat=heartbeat.get("point"),
        heartbeat_interval=_positive(source, "[device.heartbeat] interval", heartbeat.get("interval", 1.0)),
        heartbeat_timeout=None if hb_timeout is None else _positive(source, "[device.heartbeat] timeout", hb_timeout),
    )


def _point(source: str, name: str, data: Mapping[str, Any], device: DeviceSettings) -> Point:
    if not isinstance(data, Mapping):
        raise RegisterMapError(source, "must be a table of fields", name)
    _check_fields(source, data, POINT_FIELDS, name, "the point")
    for required in ("table", "address"):
        if required not in data:
            raise RegisterMapError(source, f"field '{required}' is required", name)
    table = _choice(source, Table, data["table"], "table", name)
    data_type = _choice(source, DataType, data.get("type", "bool" if table.is_bit else "float32"), "type", name)
    if table.is_bit and data_type is not DataType.BOOL:
        raise RegisterMapError(source, f"table '{table.value}' holds single bits: type must be bool", name)
    word_order = _choice(source, WordOrder, data.get("word_order", device.word_order.value), "word_order", name)
    try:
        codec = Codec(
            data_type=data_type,
            word_order=word_order,
            scale=float(data.get("scale", 1.0)),
            offset=float(data.get("offset", 0.0)),
            not_available=data.get("not_available"),
        )
    except CodecError as exc:
        raise RegisterMapError(source, str(exc), name) from None
    count = 1 if table.is_bit else codec.count
    if "count" in data and data["count"] != count:
        raise RegisterMapError(
            source,
            f"count {data['count']} is wrong for type {data_type.value} in table '{table.value}': it occupies {count}",
            name,
        )
    address = data["address"]
    if not 0 <= address <= 65536 - count:
        raise RegisterMapError(
            source, f"address {address} is outside [0, {65536 - count}] for a {count}-register point", name
        )
    access = data.get("access", "r")
    if access not in ("r", "rw"):
        raise RegisterMapError(source, f"access '{access}' is not one of r | rw", name)
    if access == "rw" and not table.is_writable:
        raise RegisterMapError(source, f"table '{table.value}' is read-only on the wire: access must be r", name)
    if data_type is DataType.BOOL and (codec.scale != 1.0 or codec.offset != 0.0):
        raise RegisterMapError(source, "bool points take no scale or offset", name)
    minimum, maximum = data.get("min"), data.get("max")
    if data_type is DataType.BOOL:
        minimum = 0.0 if minimum is None else minimum
        maximum = 1.0 if maximum is None else maximum
    if access == "rw" and (minimum is None or maximum is None):
        raise RegisterMapError(source, "a writable point needs both min and max (the write allow-list)", name)
    lo, hi = codec.value_range()
    for key, value in (("min", minimum), ("max", maximum)):
        if value is not None and not (math.isfinite(value) and lo <= value <= hi):
            raise RegisterMapError(
                source,
                f"{key} {value!r} is outside what {data_type.value} with scale {codec.scale:g} and "
                f"offset {codec.offset:g} can carry, [{lo:g}, {hi:g}]",
                name,
            )
    if minimum is not None and maximum is not None and minimum > maximum:
        raise RegisterMapError(source, f"min {minimum:g} is greater than max {maximum:g}", name)
    if codec.not_available is not None:
        raw_lo, raw_hi = raw_range(data_type)
        if not raw_lo <= codec.not_available <= raw_hi:
            raise RegisterMapError(
                source,
                f"not_available {codec.not_available!r} is outside the raw range of "
                f"{data_type.value}, [{raw_lo:g}, {raw_hi:g}]",
                name,
            )
    safe_value = data.get("safe_value")
    if safe_value is not None:
        if access != "rw":
            raise RegisterMapError(source, 'safe_value needs access = "rw"', name)
        if not (minimum <= safe_value <= maximum):
            raise RegisterMapError(source, f"safe_value {safe_value:g} is outside [{minimum:g}, {maximum:g}]", name)
        try:
            codec.encode(safe_value)
        except CodecError as exc:
            raise RegisterMapError(source, f"safe_value: {exc}", name) from None
    readback = data.get("readback", False)
    if readback and access != "rw":
        raise RegisterMapError(source, 'readback needs access = "rw"', name)
    return Point(
        name=name,
        table=table,
        address=address,
        codec=codec,
        access=access,
        variable=data.get("variable"),
        unit=data.get("unit"),
        minimum=None if minimum is None else float(minimum),
        maximum=None if maximum is None else float(maximum),
        safe_value=None if safe_value is None else float(safe_value),
        readback=readback,
        vendor_number=data.get("vendor_number"),
        description=data.get("description", ""),
    )


def _check_roles(source: str, device: DeviceSettings, points: Mapping[str, Point]) -> None:
    roles = {device.trigger: "trigger", device.heartbeat: "heartbeat", device.time: "time"}
    for role, name in (("trigger", device.trigger), ("heartbeat", device.heartbeat), ("time", device.time)):
        if name is None:
            continue
        if name not in points:
            raise RegisterMapError(source, f"[device] {role} names no point{_hint(name, points)}", name)
        point = points[name]
        if point.variable is not None:
            raise RegisterMapError(source, f"the {role} point must not carry a variable", name)
        wanted = "r" if role == "time" else "rw"
        if point.access != wanted:
            raise RegisterMapError(source, f'the {role} point needs access = "{wanted}"', name)
        if role == "heartbeat" and point.codec.data_type is not DataType.UINT16:
            raise RegisterMapError(source, "the heartbeat point must be a uint16 counter", name)
        if role == "trigger" and point.table is not Table.HOLDING:
            raise RegisterMapError(source, "the trigger point must be a holding register", name)
    written: dict[str, str] = {}
    for point in points.values():
        if point.variable is None and point.name not in roles:
            raise RegisterMapError(
                source,
                "field 'variable' is required (only the trigger, heartbeat and time points have none)",
                point.name,
            )
        if point.writable and point.variable is not None:
            if point.variable in written:
                raise RegisterMapError(
                    source,
                    f"variable '{point.variable}' is already written by point '{written[point.variable]}'",
                    point.name,
                )
            written[point.variable] = point.name


def _check_overlaps(source: str, points: Iterable[Point]) -> dict[Table, tuple[Point, ...]]:
    by_table: dict[Table, list[Point]] = {t: [] for t in Table}
    for point in points:
        by_table[point.table].append(point)
    result = {}
    for table, members in by_table.items():
        members.sort(key=lambda p: p.address)
        for before, after in zip(members, members[1:], strict=False):
            if after.address < before.end:
                raise RegisterMapError(
                    source,
                    f"{table.value} {after.address}..{after.end - 1} overlaps point '{before.name}' "
                    f"({before.address}..{before.end - 1})",
                    after.name,
                )
        result[table] = tuple(members)
    return result


def register_map_from_dict(data: Mapping[str, Any], source: str = "<dict>") -> RegisterMap:
    """Validate a parsed register map (the TOML document as a dict) and build a :class:`RegisterMap`."""
    unknown = set(data) - {"device", "points"}
    if unknown:
        raise RegisterMapError(source, f"unknown top-level table(s) {sorted(unknown)}; allowed: device, points")
    device_data = data.get("device", {})
    if not isinstance(device_data, Mapping):
        raise RegisterMapError(source, "[device] must be a table")
    device = _device(source, device_data)
    point_data = data.get("points")
    if not isinstance(point_data, Mapping) or not point_data:
        raise RegisterMapError(source, "needs at least one [points.NAME] table")
    points = {name: _point(source, name, fields, device) for name, fields in point_data.items()}
    _check_roles(source, device, points)
    by_table = _check_overlaps(source, points.values())
    return RegisterMap(source=source, device=device, points=points, by_table=by_table)


def load_register_map(path: str | Path) -> RegisterMap:
    """Read and validate the register map in the TOML file ``path``."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise RegisterMapError(str(path), f"cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise RegisterMapError(str(path), f"not valid TOML: {exc}") from None
    return register_map_from_dict(data, source=str(path))
