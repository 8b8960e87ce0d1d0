"""kreislauf.models: the physics, each model declared once (see :mod:`kreislauf.models.declare`).

``MODELS`` maps each model's name to the function that declares it; :func:`get_model` builds one
(cached: a declaration is immutable once finished).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from functools import cache, partial

from kreislauf.models import (
    anaerobic_digester,
    chp_unit,
    district_heating_demand,
    effluent_source,
    electric_boiler,
    heat_exchanger,
    heat_pump,
    pyrolysis_reactor,
    thermal_storage,
)
from kreislauf.models.declare import T_REF, Model, ModelDeclarationError, ModelInputError

__all__ = ["MODELS", "T_REF", "Model", "ModelDeclarationError", "ModelInputError", "UnknownModelError", "get_model"]

MODELS: dict[str, Callable[[], Model]] = {
    "fouling_heat_exchanger": heat_exchanger.build,
    "pyrolysis_reactor": pyrolysis_reactor.build,
    "anaerobic_digester": anaerobic_digester.build,
    "chp_unit": chp_unit.build,
    "electric_boiler": electric_boiler.build,
    "effluent_source": effluent_source.build,
    "thermal_storage": thermal_storage.build,
    "thermal_storage_mixed": partial(thermal_storage.build, 1),
    "heat_pump": heat_pump.build,
    "district_heating_demand": district_heating_demand.build,
}


class UnknownModelError(KeyError):
    """No model of that name; the message lists close names."""

    def __str__(self) -> str:
        return str(self.args[0])


@cache
def get_model(name: str) -> Model:
    """The finished declaration of the model called ``name``."""
    try:
        factory = MODELS[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(MODELS), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; known models: {', '.join(sorted(MODELS))}"
        raise UnknownModelError(f"no model called '{name}'{hint}") from None
    return factory()
