"""The unit strings a model may declare, with their SI dimension.

Units follow the FMI / Modelica notation: factors joined by ``.``, one optional ``/`` and integer
exponents written after the symbol (``m2.K/W``, ``J/(kg.K)``, ``kg/s``, ``1/s``). Models declare SI
units only (the code works in SI); display units such as ``degC`` or ``kWh`` belong to the master.
The table and the parser live in :mod:`kreislauf.units`, the one unit table of kreislauf.
"""

from __future__ import annotations

from kreislauf.units import BASE_UNITS, DAY, HOUR, MINUTE, YEAR, UnknownUnitError, dimension

__all__ = ["BASE_UNITS", "DAY", "HOUR", "MINUTE", "YEAR", "UnknownUnitError", "dimension"]
