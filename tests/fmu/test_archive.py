"""Broken or hostile FMU archives give specific errors naming the file and entry, and nothing escapes the
extraction directory."""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path

import pytest

from kreislauf.component import ComponentError
from kreislauf.fmu import ExtractionLimits, FmuArchiveError, FmuComponent, FmuDescriptionError, safe_extract


def make_zip(path: Path, entries: dict[str, bytes], symlink: str | None = None) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in entries.items():
            z.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            z.writestr(info, "/etc/passwd")
    return path


def copy_with(source: Path, target: Path, replace: dict[str, bytes | None]) -> Path:
    """A copy of the FMU ``source`` with entries replaced (bytes) or removed (None)."""
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w") as dst:
        for info in src.infolist():
            if info.filename in replace:
                continue
            dst.writestr(info, src.read(info))
        for name, data in replace.items():
            if data is not None:
                dst.writestr(name, data)
    return target


def test_not_a_zip(tmp_path):
    bad = tmp_path / "model.fmu"
    bad.write_text("this is not an archive")
    with pytest.raises(FmuArchiveError, match="not a zip archive"):
        FmuComponent(bad)


def test_missing_file(tmp_path):
    with pytest.raises(FmuArchiveError, match="no such file"):
        FmuComponent(tmp_path / "absent.fmu")


def test_missing_model_description(tmp_path):
    fmu = make_zip(tmp_path / "m.fmu", {"binaries/linux64/m.so": b"\0"})
    with pytest.raises(FmuArchiveError, match="no modelDescription.xml"):
        FmuComponent(fmu)


@pytest.mark.parametrize(("entry", "message"), [
    ("../../escaped.txt", "leaves the archive"),
    ("resources/../../escaped.txt", "leaves the archive"),
    ("/tmp/absolute.txt", "absolute path"),
    ("C:/windows.txt", "absolute path"),
    ("resources\\..\\x.txt", "backslash"),
])
def test_path_traversal_is_refused_and_nothing_escapes(tmp_path, entry, message):
    fmu = make_zip(tmp_path / "m.fmu", {"modelDescription.xml": b"<x/>", entry: b"gotcha"})
    dest = tmp_path / "dest" / "inner"
    dest.mkdir(parents=True)
    with pytest.raises(FmuArchiveError, match=message):
        safe_extract(fmu, dest)
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "dest" / "escaped.txt").exists()


def test_symlink_entries_are_refused(tmp_path):
    fmu = make_zip(tmp_path / "m.fmu", {"modelDescription.xml": b"<x/>"}, symlink="resources/link")
    with pytest.raises(FmuArchiveError, match="link or special file"):
        safe_extract(fmu)


def test_zip_bomb_is_refused(tmp_path):
    fmu = make_zip(tmp_path / "m.fmu", {"modelDescription.xml": b"<x/>", "resources/zeros": b"\0" * (8 << 20)})
    with pytest.raises(FmuArchiveError, match="zip bomb"):
        safe_extract(fmu)
    with pytest.raises(FmuArchiveError, match="over the limit"):
        safe_extract(fmu, limits=ExtractionLimits(max_entry_size=1 << 20, max_ratio=1e9))


def test_truncated_archive(hx_fmus, tmp_path):
    data = hx_fmus[2].read_bytes()
    cut = tmp_path / "cut.fmu"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(FmuArchiveError, match="cut.fmu"):
        FmuComponent(cut)


def test_malformed_model_description(hx_fmus, tmp_path):
    broken = copy_with(hx_fmus[2], tmp_path / "broken.fmu", {"modelDescription.xml": b"<fmiModelDescription"})
    with pytest.raises(FmuDescriptionError, match="broken.fmu: invalid modelDescription.xml"):
        FmuComponent(broken)


def test_schema_invalid_model_description(hx_fmus, tmp_path):
    with zipfile.ZipFile(hx_fmus[2]) as z:
        text = z.read("modelDescription.xml").replace(b'causality="input"', b'causality="sideways"', 1)
    broken = copy_with(hx_fmus[2], tmp_path / "invalid.fmu", {"modelDescription.xml": text})
    with pytest.raises(FmuDescriptionError, match="invalid.fmu"):
        FmuComponent(broken)


def test_missing_binary_is_reported_at_setup(hx_fmus, tmp_path):
    stripped = copy_with(hx_fmus[2], tmp_path / "nobinary.fmu",
                         {"binaries/linux64/fouling_heat_exchanger.so": None})
    comp = FmuComponent(stripped)
    try:
        with pytest.raises(ComponentError, match="cannot load the FMU"):
            comp.setup(0.0, None, {})
    finally:
        comp.close()


@pytest.mark.parametrize("declaration", [
    b'<!DOCTYPE fmiModelDescription [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>',
    b'<!DOCTYPE fmiModelDescription [<!ENTITY secret SYSTEM "file:///etc/hostname">]>',
])
def test_entity_declarations_in_model_description_are_refused(hx_fmus, tmp_path, declaration):
    with zipfile.ZipFile(hx_fmus[2]) as z:
        text = z.read("modelDescription.xml")
    head, _, rest = text.partition(b"\n")
    body = rest.replace(b'description="', b'description="&b;', 1)
    hostile = copy_with(hx_fmus[2], tmp_path / "hostile.fmu",
                        {"modelDescription.xml": head + b"\n" + declaration + b"\n" + body})
    with pytest.raises(FmuDescriptionError, match=r"hostile.fmu: modelDescription.xml has a DOCTYPE"):
        FmuComponent(hostile, "hx")
