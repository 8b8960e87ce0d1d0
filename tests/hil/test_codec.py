"""Codecs: published bit patterns, and round trips for every type, word order, scale and offset."""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from kreislauf.hil.codec import Codec, CodecError, DataType, WordOrder, decode_raw, encode_raw, register_count

# IEEE 754 / two's complement bit patterns, written out by hand (not produced by the code under test).
KNOWN = [
    (45.5, DataType.FLOAT32, (0x4236, 0x0000)),  # 45.5 = 1.421875 * 2^5 -> 0x42360000
    (123456.0, DataType.FLOAT32, (0x47F1, 0x2000)),  # 0x47F12000
    (-2.0, DataType.FLOAT32, (0xC000, 0x0000)),
    (1.0, DataType.FLOAT64, (0x3FF0, 0x0000, 0x0000, 0x0000)),
    (-123456, DataType.INT32, (0xFFFE, 0x1DC0)),  # 2^32 - 123456 = 0xFFFE1DC0
    (3000000000, DataType.UINT32, (0xB2D0, 0x5E00)),
    (-1, DataType.INT16, (0xFFFF,)),
    (65535, DataType.UINT16, (0xFFFF,)),
    (1, DataType.BOOL, (0x0001,)),
]


@pytest.mark.parametrize(("raw", "data_type", "words"), KNOWN)
def test_known_bit_patterns_in_both_word_orders(raw, data_type, words):
    assert encode_raw(raw, data_type, WordOrder.BIG) == words
    assert encode_raw(raw, data_type, WordOrder.LITTLE) == tuple(reversed(words))
    assert decode_raw(words, data_type, WordOrder.BIG) == raw
    assert decode_raw(tuple(reversed(words)), data_type, WordOrder.LITTLE) == raw


def test_register_counts_match_the_type_widths():
    widths = {"int16": 1, "uint16": 1, "bool": 1, "int32": 2, "uint32": 2, "float32": 2, "float64": 4}
    assert {t.value: register_count(t) for t in DataType} == widths


INT_BOUNDS = {
    DataType.INT16: (-(2**15), 2**15 - 1),
    DataType.UINT16: (0, 2**16 - 1),
    DataType.INT32: (-(2**31), 2**31 - 1),
    DataType.UINT32: (0, 2**32 - 1),
    DataType.BOOL: (0, 1),
}


@st.composite
def int_cases(draw):
    data_type = draw(st.sampled_from(sorted(INT_BOUNDS, key=lambda t: t.value)))
    lo, hi = INT_BOUNDS[data_type]
    return data_type, draw(st.integers(lo, hi)), draw(st.sampled_from(list(WordOrder)))


@given(int_cases())
def test_integer_raw_round_trip_is_exact(case):
    data_type, raw, order = case
    words = encode_raw(raw, data_type, order)
    assert len(words) == register_count(data_type)
    assert all(0 <= w <= 0xFFFF for w in words)
    assert decode_raw(words, data_type, order) == raw


@given(st.floats(width=32, allow_nan=False), st.sampled_from(list(WordOrder)))
def test_float32_raw_round_trip_is_exact_for_float32_numbers(raw, order):
    assert decode_raw(encode_raw(raw, DataType.FLOAT32, order), DataType.FLOAT32, order) == raw


@given(st.floats(allow_nan=False), st.sampled_from(list(WordOrder)))
def test_float64_raw_round_trip_is_exact(raw, order):
    assert decode_raw(encode_raw(raw, DataType.FLOAT64, order), DataType.FLOAT64, order) == raw


@given(st.lists(st.integers(0, 0xFFFF), min_size=2, max_size=2))
def test_word_orders_are_mirror_images(words):
    big = decode_raw(words, DataType.UINT32, WordOrder.BIG)
    little = decode_raw(words, DataType.UINT32, WordOrder.LITTLE)
    assert big == words[0] * 65536 + words[1]
    assert little == words[1] * 65536 + words[0]


SCALES = st.sampled_from([1.0, 0.1, 0.01, 0.001, 10.0, 1000.0, -0.5])
OFFSETS = st.sampled_from([0.0, 273.15, -40.0, 1000.0])


@given(
    st.sampled_from([DataType.INT16, DataType.UINT16, DataType.INT32, DataType.UINT32]),
    st.sampled_from(list(WordOrder)),
    SCALES,
    OFFSETS,
    st.floats(0.0, 1.0),
)
def test_scaled_integer_round_trip_is_within_half_a_step(data_type, order, scale, offset, fraction):
    codec = Codec(data_type, order, scale, offset)
    lo, hi = codec.value_range()
    value = lo + fraction * (hi - lo)
    raw = (value - offset) / scale
    assume(INT_BOUNDS[data_type][0] <= round(raw) <= INT_BOUNDS[data_type][1])
    decoded = codec.decode(codec.encode(value))
    # half a step of |scale|, plus the round-off of value -> raw -> value in double precision
    assert abs(decoded - value) <= abs(scale) / 2 * (1 + 1e-9) + 1e-12 * max(abs(value), abs(offset), 1.0)


@given(st.sampled_from(list(WordOrder)), SCALES, OFFSETS, st.floats(-1e6, 1e6))
def test_scaled_float32_round_trip_is_within_float32_precision(order, scale, offset, value):
    codec = Codec(DataType.FLOAT32, order, scale, offset)
    decoded = codec.decode(codec.encode(value))
    raw = (value - offset) / scale
    # float32 keeps 24 significant bits: relative error of the raw number <= 2^-24
    assert abs(decoded - value) <= abs(raw * scale) * 2.0**-24 + 1e-9 * max(abs(value), abs(offset), 1.0)


@given(st.sampled_from(list(WordOrder)), SCALES, OFFSETS, st.floats(-1e12, 1e12))
def test_scaled_float64_round_trip_is_within_double_round_off(order, scale, offset, value):
    codec = Codec(DataType.FLOAT64, order, scale, offset)
    decoded = codec.decode(codec.encode(value))
    assert math.isclose(decoded, value, rel_tol=1e-12, abs_tol=1e-9 * max(abs(offset), 1.0))


def test_scale_and_offset_follow_value_equals_raw_times_scale_plus_offset():
    # 0.1 K steps from 273.15 K: 20.5 degC = 293.65 K -> raw 205 = 0x00CD
    codec = Codec(DataType.INT16, scale=0.1, offset=273.15)
    assert codec.encode(293.65) == (0x00CD,)
    assert codec.decode((0xFFF6,)) == pytest.approx(273.15 - 1.0)  # raw -10


@pytest.mark.parametrize(
    ("data_type", "value"),
    [
        (DataType.INT16, 40000.0),
        (DataType.UINT16, -1.0),
        (DataType.INT32, 2.0**31),
        (DataType.UINT32, 2.0**32),
        (DataType.FLOAT32, 1e39),
        (DataType.BOOL, 2.0),
        (DataType.INT16, math.nan),
        (DataType.INT32, math.inf),
    ],
)
def test_values_that_do_not_fit_are_errors_not_clamped(data_type, value):
    with pytest.raises(CodecError):
        Codec(data_type).encode(value)


def test_not_available_sentinel_decodes_to_nan_and_is_never_encoded():
    codec = Codec(DataType.INT16, scale=10.0, not_available=-32768)
    assert math.isnan(codec.decode((0x8000,)))
    assert codec.is_not_available((0x8000,))
    assert codec.decode((0x8001,)) == -327670.0
    with pytest.raises(CodecError, match="not-available"):
        codec.encode(-327680.0)


def test_wrong_register_count_is_an_error():
    with pytest.raises(CodecError, match="2 register"):
        decode_raw([1], DataType.FLOAT32)
    with pytest.raises(CodecError, match="outside 0..65535"):
        decode_raw([70000], DataType.UINT16)


def test_zero_scale_is_rejected():
    with pytest.raises(CodecError, match="scale"):
        Codec(DataType.INT16, scale=0.0)


@given(
    st.sampled_from(list(DataType)),
    st.sampled_from(list(WordOrder)),
    st.lists(st.integers(0, 0xFFFF), min_size=5, max_size=5),
)
def test_codec_raw_agrees_with_decode_raw(data_type, order, words):
    codec = Codec(data_type, order)
    chunk = words[: register_count(data_type)]
    a, b = codec.raw(chunk), decode_raw(chunk, data_type, order)
    assert a == b or (math.isnan(a) and math.isnan(b))
    with pytest.raises(CodecError):
        codec.raw([*chunk[:-1], 0x10000])
    with pytest.raises(CodecError):
        codec.raw(words[: register_count(data_type) + 1])
