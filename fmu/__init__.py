"""kreislauf.fmu: standalone FMU export (FMI 2.0 and 3.0 co-simulation) and FMU import.

- :func:`export_fmu` / :func:`build_fmu` turn a model of :mod:`kreislauf.models` into an FMU: C code
  generated from the model's equations over a generic C runtime (``runtime/``), compiled by the
  system C compiler, needing only libc and libm at run time.
- :class:`FmuComponent` loads any co-simulation FMU (ours or a third party's) as a Component.
- :func:`safe_extract` checks and extracts FMU archives.
"""

from kreislauf.fmu.archive import ExtractionLimits, FmuArchiveError, safe_extract
from kreislauf.fmu.build import BuildError, CompilerNotFoundError, build_fmu, export_fmu, fmu_path
from kreislauf.fmu.importer import FmuComponent, FmuDescriptionError

__all__ = [
    "BuildError",
    "CompilerNotFoundError",
    "ExtractionLimits",
    "FmuArchiveError",
    "FmuComponent",
    "FmuDescriptionError",
    "build_fmu",
    "export_fmu",
    "fmu_path",
    "safe_extract",
]
