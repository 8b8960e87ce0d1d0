"""Units: SI dimensions of unit strings, the affine conversion between compatible units, time constants.

This is the one unit table of kreislauf. It lives in :mod:`kreislauf.models` (the bottom layer, which
imports nothing of the rest) so that models can check their declarations against it; the master uses
it through :mod:`kreislauf.units`, which re-exports it.

Units follow the FMI/Modelica notation (``"kg/s"``, ``"m2.K/W"``, ``"degC"``). Each known unit is a
``factor`` and an ``offset`` onto a base SI unit of the same dimension::

    value_in_base = value * factor + offset

so converting ``value`` from unit ``a`` to unit ``b`` (same base) is
``value * (f_a / f_b) + (o_a - o_b) / f_b``. Temperatures carry an offset (``degC``, ``degF``);
every other unit is a pure scale. ``None`` and ``""`` mean "unknown" and are compatible with
anything, with no conversion.

The SI dimension of a unit string (:func:`dimension`): models declare SI units only and are checked
with it; SSP import uses it to compare a unit with a file's own definitions.
The time constants :data:`MINUTE`, :data:`HOUR`, :data:`DAY` and :data:`YEAR` (365 d) are the ones
every model and the master use.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

__all__ = [
    "BASE_UNITS",
    "DAY",
    "HOUR",
    "MINUTE",
    "UNITS",
    "YEAR",
    "Conversion",
    "UnitError",
    "UnknownUnitError",
    "base_unit",
    "conversion",
    "dimension",
    "is_known",
]

MINUTE = 60.0  # s
HOUR = 3600.0  # s
DAY = 86400.0  # s
YEAR = 365 * DAY  # s: a year of 365 days, the period of every seasonal profile


class UnitError(ValueError):
    """A unit is unknown, or two units measure different quantities."""


class UnknownUnitError(UnitError):
    """A unit string that is not a product of SI symbols, or cannot be parsed."""


@dataclass(frozen=True)
class Conversion:
    """An affine map ``y = factor * x + offset`` from one unit to another."""

    factor: float = 1.0
    offset: float = 0.0

    @property
    def identity(self) -> bool:
        """True when the conversion changes nothing."""
        return self.factor == 1.0 and self.offset == 0.0

    def then(self, factor: float, offset: float) -> Conversion:
        """This conversion followed by ``y = factor * x + offset``."""
        return Conversion(self.factor * factor, self.offset * factor + offset)



# unit -> (base unit, factor, offset); the base units are SI
UNITS: dict[str, tuple[str, float, float]] = {
    "1": ("1", 1.0, 0.0),
    "%": ("1", 0.01, 0.0),
    # temperature
    "K": ("K", 1.0, 0.0),
    "degC": ("K", 1.0, 273.15),
    "degF": ("K", 5.0 / 9.0, 273.15 - 32.0 * 5.0 / 9.0),
    # temperature difference (FMI tools write it as K; kept as its own name for clarity)
    "deltaK": ("deltaK", 1.0, 0.0),
    # power
    "W": ("W", 1.0, 0.0),
    "kW": ("W", 1e3, 0.0),
    "MW": ("W", 1e6, 0.0),
    "GW": ("W", 1e9, 0.0),
    # energy
    "J": ("J", 1.0, 0.0),
    "kJ": ("J", 1e3, 0.0),
    "MJ": ("J", 1e6, 0.0),
    "GJ": ("J", 1e9, 0.0),
    "Wh": ("J", HOUR, 0.0),
    "kWh": ("J", 1e3 * HOUR, 0.0),
    "MWh": ("J", 1e6 * HOUR, 0.0),
    "GWh": ("J", 1e9 * HOUR, 0.0),
    # mass, mass flow
    "kg": ("kg", 1.0, 0.0),
    "g": ("kg", 1e-3, 0.0),
    "t": ("kg", 1e3, 0.0),
    "kg/s": ("kg/s", 1.0, 0.0),
    "kg/h": ("kg/s", 1.0 / HOUR, 0.0),
    "t/h": ("kg/s", 1e3 / HOUR, 0.0),
    "t/d": ("kg/s", 1e3 / DAY, 0.0),
    # volume, volume flow
    "m3": ("m3", 1.0, 0.0),
    "l": ("m3", 1e-3, 0.0),
    "m3/s": ("m3/s", 1.0, 0.0),
    "m3/h": ("m3/s", 1.0 / HOUR, 0.0),
    "m3/d": ("m3/s", 1.0 / DAY, 0.0),
    "l/s": ("m3/s", 1e-3, 0.0),
    "l/min": ("m3/s", 1e-3 / MINUTE, 0.0),
    # pressure
    "Pa": ("Pa", 1.0, 0.0),
    "hPa": ("Pa", 1e2, 0.0),
    "kPa": ("Pa", 1e3, 0.0),
    "MPa": ("Pa", 1e6, 0.0),
    "bar": ("Pa", 1e5, 0.0),
    "mbar": ("Pa", 1e2, 0.0),
    # time
    "s": ("s", 1.0, 0.0),
    "min": ("s", MINUTE, 0.0),
    "h": ("s", HOUR, 0.0),
    "d": ("s", DAY, 0.0),
    # geometry
    "m": ("m", 1.0, 0.0),
    "mm": ("m", 1e-3, 0.0),
    "km": ("m", 1e3, 0.0),
    "m2": ("m2", 1.0, 0.0),
    # heat transfer and material properties
    "m2.K/W": ("m2.K/W", 1.0, 0.0),
    "W/K": ("W/K", 1.0, 0.0),
    "kW/K": ("W/K", 1e3, 0.0),
    "W/(m2.K)": ("W/(m2.K)", 1.0, 0.0),
    "W/(m.K)": ("W/(m.K)", 1.0, 0.0),
    "J/K": ("J/K", 1.0, 0.0),
    "kJ/K": ("J/K", 1e3, 0.0),
    "MJ/K": ("J/K", 1e6, 0.0),
    "J/(kg.K)": ("J/(kg.K)", 1.0, 0.0),
    "kJ/(kg.K)": ("J/(kg.K)", 1e3, 0.0),
    "J/kg": ("J/kg", 1.0, 0.0),
    "kJ/kg": ("J/kg", 1e3, 0.0),
    "MJ/kg": ("J/kg", 1e6, 0.0),
    "kg/m3": ("kg/m3", 1.0, 0.0),
    "W/m2": ("W/m2", 1.0, 0.0),
    "m/s": ("m/s", 1.0, 0.0),
    "1/s": ("1/s", 1.0, 0.0),
}


def is_known(unit: str | None) -> bool:
    """True when ``unit`` is in :data:`UNITS` (``None``/``""`` count as known: "unknown unit")."""
    return not unit or unit in UNITS


def _lookup(unit: str) -> tuple[str, float, float]:
    try:
        return UNITS[unit]
    except KeyError:
        same_letters = [u for u in UNITS if u.lower() == unit.lower()]
        close = same_letters + [u for u in difflib.get_close_matches(unit, list(UNITS), n=3) if u not in same_letters]
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise UnitError(f"unknown unit '{unit}'{hint}") from None


def base_unit(unit: str | None) -> str | None:
    """The SI base unit that ``unit`` measures (``"kWh"`` -> ``"J"``); ``None`` when unknown."""
    if not unit:
        return None
    return _lookup(unit)[0]


def conversion(from_unit: str | None, to_unit: str | None) -> Conversion:
    """The affine map from values in ``from_unit`` to values in ``to_unit``.

    Raises :class:`UnitError` when a unit is unknown or the two measure different quantities
    (the message names both units and their base units). ``None`` on either side gives the identity.
    """
    if not from_unit or not to_unit or from_unit == to_unit:
        if from_unit:
            _lookup(from_unit)
        if to_unit:
            _lookup(to_unit)
        return Conversion()
    base_a, f_a, o_a = _lookup(from_unit)
    base_b, f_b, o_b = _lookup(to_unit)
    if base_a != base_b:
        raise UnitError(
            f"unit '{from_unit}' ({base_a}) cannot be converted to '{to_unit}' ({base_b}): "
            "they measure different quantities"
        )
    return Conversion(f_a / f_b, (o_a - o_b) / f_b)


# --------------------------------------------------------------------------------- SI dimensions
# Exponents of (kg, m, s, K, A, mol) for each base or derived SI unit symbol.
BASE_UNITS: dict[str, tuple[int, int, int, int, int, int]] = {
    "1": (0, 0, 0, 0, 0, 0),
    "kg": (1, 0, 0, 0, 0, 0),
    "m": (0, 1, 0, 0, 0, 0),
    "s": (0, 0, 1, 0, 0, 0),
    "K": (0, 0, 0, 1, 0, 0),
    "A": (0, 0, 0, 0, 1, 0),
    "mol": (0, 0, 0, 0, 0, 1),
    "N": (1, 1, -2, 0, 0, 0),
    "Pa": (1, -1, -2, 0, 0, 0),
    "J": (1, 2, -2, 0, 0, 0),
    "W": (1, 2, -3, 0, 0, 0),
    "V": (1, 2, -3, 0, -1, 0),
}

_FACTOR = re.compile(r"^([A-Za-z]+)(-?\d+)?$")


def _parse_product(text: str, unit: str) -> list[int]:
    exps = [0] * 6
    if text in ("", "1"):
        return exps
    for factor in text.split("."):
        match = _FACTOR.match(factor)
        if not match or match.group(1) not in BASE_UNITS:
            raise UnknownUnitError(
                f"unit '{unit}': '{factor}' is not an SI unit symbol (known: {', '.join(sorted(BASE_UNITS))})"
            )
        power = int(match.group(2) or 1)
        for i, e in enumerate(BASE_UNITS[match.group(1)]):
            exps[i] += power * e
    return exps


def dimension(unit: str) -> tuple[int, ...]:
    """The SI dimension of ``unit`` as exponents of (kg, m, s, K, A, mol).

    Units follow the FMI / Modelica notation: SI symbols joined by ``.``, one optional ``/`` and
    integer exponents after the symbol (``m2.K/W``, ``J/(kg.K)``). Raises :class:`UnknownUnitError`
    for anything that is not a product of SI symbols, e.g. ``dimension("m2.K/W") == (-1, 0, 3, 1, 0, 0)``.
    """
    text = unit.strip()
    if text.count("/") > 1:
        raise UnknownUnitError(f"unit '{unit}': more than one '/'")
    num, _, den = text.partition("/")
    den = den.strip()
    if den.startswith("(") and den.endswith(")"):
        den = den[1:-1]
    top = _parse_product(num.strip(), unit)
    bottom = _parse_product(den, unit)
    return tuple(a - b for a, b in zip(top, bottom, strict=True))
