"""The unit strings a model may declare, with their SI dimension.

Units follow the FMI / Modelica notation: factors joined by ``.``, one optional ``/`` and integer
exponents written after the symbol (``m2.K/W``, ``J/(kg.K)``, ``kg/s``, ``1/s``). Models declare SI
units only (the code works in SI); display units such as ``degC`` or ``kWh`` belong to the master.
"""

from __future__ import annotations

import re

__all__ = ["UnknownUnitError", "dimension", "BASE_UNITS"]

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


class UnknownUnitError(ValueError):
    """A unit string that is not SI or cannot be parsed."""


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

    Raises :class:`UnknownUnitError` for anything that is not a product of SI symbols, e.g.
    ``dimension("m2.K/W") == (-1, 0, 3, 1, 0, 0)``.
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
