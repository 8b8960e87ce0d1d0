"""Pure codecs between engineering values and Modbus registers.

A Modbus register is a 16-bit word sent big-endian (high byte first) on the wire; that byte order
is fixed by the Modbus specification. Values wider than one register span several consecutive
registers, and vendors disagree on the order of those words:

- ``big`` (ABCD, "high word first"): the most significant word sits at the lowest address;
- ``little`` (CDAB, "word-swapped"): the least significant word sits at the lowest address; for
  float64 all four words are reversed (GH EF CD AB).

Scale and offset map the raw wire number to the engineering value::

    value = raw * scale + offset          raw = (value - offset) / scale

Integer types round ``raw`` to the nearest integer, so their resolution is ``|scale|``; a raw value
outside the type's range is an error, never clamped. A ``not_available`` raw value (the vendor's
"no data" sentinel, e.g. 0x8000 for int16) decodes to NaN.

Nothing here touches the network; every function is pure and testable on its own.
"""

from __future__ import annotations

import enum
import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "Codec",
    "CodecError",
    "DataType",
    "WordOrder",
    "decode_raw",
    "encode_raw",
    "register_count",
]


class CodecError(ValueError):
    """A value cannot be represented in registers, or registers do not form a value."""


class DataType(str, enum.Enum):
    """The wire type of a point."""

    INT16 = "int16"
    UINT16 = "uint16"
    INT32 = "int32"
    UINT32 = "uint32"
    FLOAT32 = "float32"
    FLOAT64 = "float64"
    BOOL = "bool"

    @property
    def is_integer(self) -> bool:
        """True for the integer types (and bool), whose raw values are whole numbers."""
        return self not in (DataType.FLOAT32, DataType.FLOAT64)


class WordOrder(str, enum.Enum):
    """The order of the 16-bit words of a multi-register value."""

    BIG = "big"  # ABCD: most significant word first
    LITTLE = "little"  # CDAB: least significant word first


_FORMAT = {
    DataType.INT16: ">h",
    DataType.UINT16: ">H",
    DataType.INT32: ">i",
    DataType.UINT32: ">I",
    DataType.FLOAT32: ">f",
    DataType.FLOAT64: ">d",
    DataType.BOOL: ">H",
}

_INT_RANGE = {
    DataType.INT16: (-(2**15), 2**15 - 1),
    DataType.UINT16: (0, 2**16 - 1),
    DataType.INT32: (-(2**31), 2**31 - 1),
    DataType.UINT32: (0, 2**32 - 1),
    DataType.BOOL: (0, 1),
}

_FLOAT32_MAX = 3.4028234663852886e38


def register_count(data_type: DataType) -> int:
    """The number of 16-bit registers one value of ``data_type`` occupies (bool: 1)."""
    return struct.calcsize(_FORMAT[DataType(data_type)]) // 2


def raw_range(data_type: DataType) -> tuple[float, float]:
    """The smallest and largest raw number ``data_type`` can carry."""
    data_type = DataType(data_type)
    if data_type is DataType.FLOAT32:
        return (-_FLOAT32_MAX, _FLOAT32_MAX)
    if data_type is DataType.FLOAT64:
        return (-math.inf, math.inf)
    lo, hi = _INT_RANGE[data_type]
    return (float(lo), float(hi))


def encode_raw(raw: int | float, data_type: DataType, word_order: WordOrder = WordOrder.BIG) -> tuple[int, ...]:
    """The registers carrying the raw wire number ``raw``.

    Integer types need an integer ``raw`` within the type's range; bool needs 0 or 1; float32 needs
    a finite number within the float32 range (NaN is allowed for both float types).
    Raises :class:`CodecError` otherwise.
    """
    data_type = DataType(data_type)
    if data_type.is_integer:
        if isinstance(raw, float):
            if not raw.is_integer():
                raise CodecError(f"{data_type.value} needs a whole number, got {raw!r}")
            raw = int(raw)
        lo, hi = _INT_RANGE[data_type]
        if not lo <= raw <= hi:
            raise CodecError(f"{raw} does not fit {data_type.value}, allowed [{lo}, {hi}]")
    elif data_type is DataType.FLOAT32 and math.isfinite(raw) and abs(raw) > _FLOAT32_MAX:
        raise CodecError(f"{raw!r} overflows float32, allowed magnitude up to {_FLOAT32_MAX:g}")
    data = struct.pack(_FORMAT[data_type], raw)
    words = struct.unpack(f">{len(data) // 2}H", data)
    if WordOrder(word_order) is WordOrder.LITTLE:
        words = words[::-1]
    return tuple(words)


def decode_raw(registers: Sequence[int], data_type: DataType, word_order: WordOrder = WordOrder.BIG) -> int | float:
    """The raw wire number carried by ``registers`` (inverse of :func:`encode_raw`).

    Bool decodes any non-zero register as 1. Raises :class:`CodecError` when the number of
    registers does not match the type or a register is outside 0..65535.
    """
    data_type = DataType(data_type)
    count = register_count(data_type)
    if len(registers) != count:
        raise CodecError(f"{data_type.value} spans {count} register(s), got {len(registers)}")
    for word in registers:
        if not 0 <= word <= 0xFFFF:
            raise CodecError(f"register value {word} is outside 0..65535")
    words = list(registers)
    if WordOrder(word_order) is WordOrder.LITTLE:
        words.reverse()
    (raw,) = struct.unpack(_FORMAT[data_type], struct.pack(f">{count}H", *words))
    if data_type is DataType.BOOL:
        return 1 if raw else 0
    return raw


@dataclass(frozen=True)
class Codec:
    """Value <-> registers for one point: type, word order, ``value = raw * scale + offset``.

    ``not_available`` is the raw sentinel a device sends for "no data"; it decodes to NaN and is
    never produced by :meth:`encode`.
    """

    data_type: DataType = DataType.FLOAT32
    word_order: WordOrder = WordOrder.BIG
    scale: float = 1.0
    offset: float = 0.0
    not_available: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_type", DataType(self.data_type))
        object.__setattr__(self, "word_order", WordOrder(self.word_order))
        if not math.isfinite(self.scale) or self.scale == 0.0:
            raise CodecError(f"scale must be a finite non-zero number, got {self.scale!r}")
        if not math.isfinite(self.offset):
            raise CodecError(f"offset must be finite, got {self.offset!r}")
        # resolved once: decoding sits on the per-step path of a device
        count = register_count(self.data_type)
        object.__setattr__(self, "_count", count)
        object.__setattr__(self, "_value_struct", struct.Struct(_FORMAT[self.data_type]))
        object.__setattr__(self, "_words_struct", struct.Struct(f">{count}H"))
        object.__setattr__(self, "_little", self.word_order is WordOrder.LITTLE)
        object.__setattr__(self, "_bool", self.data_type is DataType.BOOL)

    @property
    def count(self) -> int:
        """Registers per value."""
        return self._count

    def raw(self, registers: Sequence[int]) -> int | float:
        """The raw wire number in ``registers`` (as :func:`decode_raw`, resolved once per codec)."""
        if len(registers) != self._count:
            raise CodecError(f"{self.data_type.value} spans {self._count} register(s), got {len(registers)}")
        words = registers[::-1] if self._little else registers
        try:
            (raw,) = self._value_struct.unpack(self._words_struct.pack(*words))
        except struct.error:
            raise CodecError(f"a register value of {list(registers)} is outside 0..65535") from None
        if self._bool:
            return 1 if raw else 0
        return raw

    @property
    def resolution(self) -> float:
        """The largest error of an encode/decode round trip within range (0 for float64 raw)."""
        if self.data_type.is_integer:
            return abs(self.scale) / 2.0
        return 0.0

    def value_range(self) -> tuple[float, float]:
        """The engineering values the codec can carry, as ``(low, high)``."""
        lo, hi = raw_range(self.data_type)
        a, b = lo * self.scale + self.offset, hi * self.scale + self.offset
        return (min(a, b), max(a, b))

    def to_raw(self, value: float) -> int | float:
        """The raw wire number for ``value`` (rounded to the nearest integer for integer types)."""
        if math.isnan(value):
            if self.data_type.is_integer:
                raise CodecError(f"NaN cannot be sent as {self.data_type.value}")
            return value
        raw = (value - self.offset) / self.scale
        if self.data_type.is_integer:
            if not math.isfinite(raw):
                raise CodecError(f"{value!r} cannot be sent as {self.data_type.value}")
            return int(round(raw))
        return raw

    def encode(self, value: float) -> tuple[int, ...]:
        """The registers for the engineering ``value``; :class:`CodecError` when out of range."""
        raw = self.to_raw(value)
        if self.not_available is not None and raw == self.not_available:
            raise CodecError(f"{value!r} encodes to the not-available value {self.not_available:g}")
        return encode_raw(raw, self.data_type, self.word_order)

    def is_not_available(self, registers: Sequence[int]) -> bool:
        """True when ``registers`` carry the device's not-available sentinel."""
        if self.not_available is None:
            return False
        return self.raw(registers) == self.not_available

    def decode(self, registers: Sequence[int]) -> float:
        """The engineering value in ``registers``; NaN for the not-available sentinel."""
        raw = self.raw(registers)
        if self.not_available is not None and raw == self.not_available:
            return math.nan
        return raw * self.scale + self.offset
