"""Export a model as a standalone co-simulation FMU (FMI 2.0 or 3.0).

The FMU holds ``modelDescription.xml``, a Linux shared library compiled by the system C compiler
from the generated model code plus the generic runtime in ``runtime/``, the C sources themselves
(``sources/``, with ``buildDescription.xml`` for FMI 3) so any importer can rebuild it for another
platform, and ``resources/kreislauf-energy.json`` describing the energy ports for the master's
ledger. The library needs only libc and libm at run time: no Python.

Python API: :func:`export_fmu` (always builds) and :func:`build_fmu` (reuses a cached build when the
model, the runtime and the kreislauf version are unchanged). Command line:
``kreislauf fmu build MODEL --fmi 2|3|both -o DIR``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import zipfile
from importlib import resources
from pathlib import Path

import fmpy

from kreislauf import __version__
from kreislauf.fmu.codegen import generate
from kreislauf.fmu.description import build_description, model_description
from kreislauf.models import Model, get_model

__all__ = [
    "BuildError",
    "CompilerNotFoundError",
    "PLATFORM_DIR",
    "build_fmu",
    "energy_metadata",
    "export_fmu",
    "fmu_path",
    "runtime_dir",
]

PLATFORM_DIR = {2: "linux64", 3: "x86_64-linux"}
RUNTIME_FILES = ("kl_model.h", "kl_runtime.h", "kl_runtime.c", "kl_solver.h", "kl_solver.c")
LAYER_FILE = {2: "kl_fmi2.c", 3: "kl_fmi3.c"}
CFLAGS = ["-std=c99", "-O2", "-fPIC", "-shared", "-fvisibility=hidden",
          "-Wall", "-Wextra", "-Wpedantic", "-Werror"]


class BuildError(RuntimeError):
    """The C compiler failed on the generated sources; the message holds the compiler's output."""


class CompilerNotFoundError(BuildError):
    """No C compiler was found (``$CC``, ``cc`` or ``gcc``)."""


def runtime_dir() -> Path:
    """The directory of the generic C runtime shipped with kreislauf."""
    return Path(str(resources.files("kreislauf.fmu") / "runtime"))


def fmi_headers_dir() -> Path:
    """The directory of the official FMI 2 and FMI 3 headers (shipped with fmpy)."""
    return Path(fmpy.__file__).parent / "c-code"


def find_compiler() -> str:
    """The C compiler to use: ``$CC``, else ``cc``, else ``gcc``."""
    for candidate in (os.environ.get("CC"), "cc", "gcc"):
        if candidate and shutil.which(candidate):
            return candidate
    raise CompilerNotFoundError(
        "no C compiler found: install gcc (Debian/Ubuntu: apt-get install gcc) or set $CC"
    )


def fmu_path(out_dir: Path | str, model_name: str, fmi_version: int) -> Path:
    """Where an exported FMU lives: ``DIR/<fmi version>/<model>.fmu`` (``2.0`` or ``3.0``)."""
    return Path(out_dir) / f"{fmi_version}.0" / f"{model_name}.fmu"


def energy_metadata(model: Model) -> dict:
    """The energy-port description stored in the FMU for the master's ledger."""
    ports = []
    for p in model.ports.values():
        cp = p.specific_heat
        if isinstance(cp, str):
            cp = float(model.variables[cp].start)
        ports.append({
            "name": p.name, "kind": p.kind, "power": f"{p.name}_power", "energy": f"{p.name}_energy",
            "mass_flow": p.mass_flow, "temperature": p.temperature, "specific_heat": cp,
            "description": p.description,
        })
    return {"format": 1, "model": model.name, "stored_energy": "stored_energy",
            "reference_temperature": 273.15, "ports": ports,
            "output_dependencies": model.output_dependencies()}


def _compile(sources: list[Path], include_dirs: list[Path], output: Path) -> None:
    compiler = find_compiler()
    cmd = [compiler, *CFLAGS, *(f"-I{d}" for d in include_dirs), *(str(s) for s in sources), "-o", str(output), "-lm"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BuildError(f"compiling {output.name} failed ({' '.join(cmd)}):\n{proc.stderr.strip()}")


def export_fmu(model: Model | str, out_dir: Path | str, fmi_version: int = 2, *,
               stop_time: float = 86400.0, step: float = 60.0) -> Path:
    """Generate, compile and package ``model`` as an FMI ``fmi_version`` co-simulation FMU.

    Returns the path of the FMU (see :func:`fmu_path`). ``stop_time`` and ``step`` (s) go into the
    DefaultExperiment. Raises :class:`CompilerNotFoundError` or :class:`BuildError`.
    """
    if fmi_version not in (2, 3):
        raise ValueError(f"FMI version must be 2 or 3, not {fmi_version!r}")
    if isinstance(model, str):
        model = get_model(model)
    generated = generate(model)
    target = fmu_path(out_dir, model.name, fmi_version)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="kreislauf-build-") as tmp:
        src = Path(tmp) / "sources"
        src.mkdir()
        for name in RUNTIME_FILES + (LAYER_FILE[fmi_version],):
            shutil.copy(runtime_dir() / name, src / name)
        for name, text in generated.files.items():
            (src / name).write_text(text)
        library = Path(tmp) / f"{generated.identifier}.so"
        c_files = sorted(p for p in src.iterdir() if p.suffix == ".c")
        _compile(c_files, [src, fmi_headers_dir()], library)
        description = model_description(model, generated, fmi_version, stop_time=stop_time, step=step)
        partial = target.with_suffix(".fmu.part")
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as z:
            z.writestr("modelDescription.xml", description)
            z.write(library, f"binaries/{PLATFORM_DIR[fmi_version]}/{generated.identifier}.so")
            for path in sorted(src.iterdir()):
                z.write(path, f"sources/{path.name}")
            if fmi_version == 3:
                z.writestr("sources/buildDescription.xml", build_description(generated))
            z.writestr("resources/kreislauf-energy.json", json.dumps(energy_metadata(model), indent=2))
            z.writestr(f"documentation/{'_main.html' if fmi_version == 2 else 'index.html'}",
                       _documentation(model))
        partial.replace(target)
    return target


def _documentation(model: Model) -> str:
    import html
    import inspect

    from kreislauf import models as models_pkg

    factory = models_pkg.MODELS.get(model.name)
    text = inspect.getdoc(inspect.getmodule(factory)) if factory else model.description
    refs = "".join(f"<li>{html.escape(r)}</li>" for r in model.references)
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(model.name)}</title></head>"
            f"<body><h1>{html.escape(model.name)}</h1><p>{html.escape(model.description)}</p>"
            f"<pre>{html.escape(text or '')}</pre><h2>References</h2><ul>{refs}</ul></body></html>")


def _build_key(model: Model, fmi_version: int) -> str:
    h = hashlib.sha256()
    h.update(f"{__version__}|{fmi_version}|{model.name}".encode())
    for d in model.variables.values():
        h.update(f"|{d.name}:{d.kind}:{d.vtype}:{d.unit}:{d.start}:{d.minimum}:{d.maximum}:{d.expr}".encode())
    for name, expr in model.derivatives.items():
        h.update(f"|der({name})={expr}".encode())
    for r in model.resets:
        h.update(f"|reset {r}".encode())
    for name in RUNTIME_FILES + (LAYER_FILE[fmi_version],):
        h.update((runtime_dir() / name).read_bytes())
    # the generator itself: a fix to the C or XML it writes must not be hidden by a cached build
    for module in ("codegen.py", "description.py", "build.py"):
        h.update((Path(__file__).parent / module).read_bytes())
    return h.hexdigest()


def build_fmu(model_name: str, out_dir: Path | str, fmi_version: int = 2) -> Path:
    """Like :func:`export_fmu`, but reuse ``DIR/<version>/<model>.fmu`` when it was built from the same
    model declaration, runtime, code generator and kreislauf version (recorded in a ``.key`` file
    beside it)."""
    model = get_model(model_name)
    target = fmu_path(out_dir, model_name, fmi_version)
    key_file = target.with_suffix(".key")
    key = _build_key(model, fmi_version)
    if target.exists() and key_file.exists() and key_file.read_text() == key:
        return target
    path = export_fmu(model, out_dir, fmi_version)
    key_file.write_text(key)
    return path
