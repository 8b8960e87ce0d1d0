"""Safe extraction of FMU archives.

An FMU is a zip file from somewhere else. Before anything is loaded, every entry is checked: no
absolute paths, drive letters, backslashes or ``..`` components, no symbolic links or special files,
and limits on the number of entries, each entry's size, the total size and the compression ratio
(against zip bombs). The archive must contain ``modelDescription.xml``.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

__all__ = ["ExtractionLimits", "FmuArchiveError", "safe_extract"]


class FmuArchiveError(ValueError):
    """The file is not a usable FMU archive; the message names the file and the offending entry."""


@dataclass(frozen=True)
class ExtractionLimits:
    """Limits applied while extracting (bytes and counts)."""

    max_entries: int = 10_000
    max_entry_size: int = 512 * 2**20
    max_total_size: int = 2 * 2**30
    max_ratio: float = 200.0  # uncompressed / compressed, for entries above 1 MiB


def _check_name(fmu: Path, name: str) -> PurePosixPath:
    if "\\" in name:
        raise FmuArchiveError(f"{fmu}: entry '{name}' contains a backslash (FMU paths use forward slashes)")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise FmuArchiveError(f"{fmu}: entry '{name}' is an absolute path")
    path = PurePosixPath(name)
    if any(part == ".." for part in path.parts):
        raise FmuArchiveError(f"{fmu}: entry '{name}' leaves the archive with '..'")
    return path


def safe_extract(fmu: Path | str, destination: Path | str | None = None,
                 limits: ExtractionLimits | None = None) -> Path:
    """Extract ``fmu`` into ``destination`` (a new temporary directory when None) after checking it.

    Returns the directory. Raises :class:`FmuArchiveError` naming the file and entry on any problem;
    a partially extracted directory that this function created is removed again.
    """
    fmu = Path(fmu)
    limits = limits or ExtractionLimits()
    if not fmu.is_file():
        raise FmuArchiveError(f"{fmu}: no such file")
    try:
        archive = zipfile.ZipFile(fmu)
    except zipfile.BadZipFile:
        raise FmuArchiveError(f"{fmu}: not a zip archive (an FMU is a zip file)") from None
    created = destination is None
    root = Path(tempfile.mkdtemp(prefix="kreislauf-fmu-")) if destination is None else Path(destination)
    try:
        with archive:
            infos = archive.infolist()
            if len(infos) > limits.max_entries:
                raise FmuArchiveError(f"{fmu}: {len(infos)} entries, more than the limit of {limits.max_entries}")
            names = {i.filename for i in infos}
            if "modelDescription.xml" not in names:
                raise FmuArchiveError(f"{fmu}: no modelDescription.xml at the top of the archive")
            total = 0
            for info in infos:
                path = _check_name(fmu, info.filename)
                file_type = stat.S_IFMT(info.external_attr >> 16)
                if file_type and file_type not in (stat.S_IFREG, stat.S_IFDIR):
                    raise FmuArchiveError(f"{fmu}: entry '{info.filename}' is a link or special file")
                if info.file_size > limits.max_entry_size:
                    raise FmuArchiveError(
                        f"{fmu}: entry '{info.filename}' is {info.file_size} bytes, over the limit of "
                        f"{limits.max_entry_size}"
                    )
                if info.file_size > 2**20 and info.file_size > limits.max_ratio * max(info.compress_size, 1):
                    raise FmuArchiveError(
                        f"{fmu}: entry '{info.filename}' expands {info.file_size / max(info.compress_size, 1):.0f}"
                        f" times, over the limit of {limits.max_ratio:.0f} (zip bomb?)"
                    )
                total += info.file_size
                if total > limits.max_total_size:
                    raise FmuArchiveError(f"{fmu}: more than {limits.max_total_size} bytes uncompressed")
                target = (root / path).resolve()
                if os.path.commonpath([target, root.resolve()]) != str(root.resolve()):
                    raise FmuArchiveError(f"{fmu}: entry '{info.filename}' resolves outside the destination")
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                written = 0
                with archive.open(info) as src, open(target, "wb") as dst:
                    while chunk := src.read(1 << 20):
                        written += len(chunk)
                        if written > info.file_size:
                            raise FmuArchiveError(
                                f"{fmu}: entry '{info.filename}' is larger than its header says"
                            )
                        dst.write(chunk)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as exc:
        if created:
            shutil.rmtree(root, ignore_errors=True)
        raise FmuArchiveError(f"{fmu}: damaged archive ({exc})") from None
    except FmuArchiveError:
        if created:
            shutil.rmtree(root, ignore_errors=True)
        raise
    return root
