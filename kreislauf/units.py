"""Units for connections, results and plots: the table of :mod:`kreislauf.models.units`, re-exported.

``conversion(a, b)`` is the affine map between two compatible units (``degC`` -> ``K``, ``kWh`` ->
``J``); ``dimension(unit)`` the SI dimension of a unit string; ``MINUTE``, ``HOUR``, ``DAY`` and
``YEAR`` (365 d) the time constants in seconds. See :mod:`kreislauf.models.units` for the table.
"""

from __future__ import annotations

from kreislauf.models.units import *  # noqa: F403  (the one table, re-exported)
from kreislauf.models.units import __all__  # noqa: F401
