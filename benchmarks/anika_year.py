"""Wall time of a year of ``examples/anika.toml`` at 60 s steps and the share of it inside the FMUs.

The same measurement as ``benchmarks/year_runs.py`` (a plain run, then a run with every component
call timed), for the ANIKA system; the target of issue 4 is 20 s per simulated year on one core.
Run: ``python benchmarks/anika_year.py`` (``--days N`` for a shorter period).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import year_runs  # noqa: E402

if __name__ == "__main__":
    sys.argv[1:1] = ["--system", str(year_runs.ROOT / "examples" / "anika.toml")]
    year_runs.main()
