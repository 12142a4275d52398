"""Every string of the definitions and the directory is NFC, and Vietnamese keeps its diacritics."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from definitions.loader import load_definition, load_directory
from definitions.yaml_reader import parse_yaml

ROOT = Path(__file__).resolve().parents[2] / "definitions"
FILES = [*sorted((ROOT / "directives").glob("*.yaml")), *sorted((ROOT / "agencies").glob("*.yaml"))]


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_the_file_is_nfc_as_written(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert unicodedata.is_normalized("NFC", text)
    data, _ = parse_yaml(path.read_bytes(), path.name)
    strings = list(_strings(data))
    assert strings
    assert all(unicodedata.is_normalized("NFC", s) for s in strings)


def test_loaded_models_hold_nfc_strings() -> None:
    directory = load_directory()
    dumped = [directory.model_dump(mode="json")]
    for path in sorted((ROOT / "directives").glob("*.yaml")):
        dumped.append(load_definition(path, directory).model_dump(mode="json"))
    strings = [s for d in dumped for s in _strings(d)]
    assert len(strings) > 200
    assert all(unicodedata.is_normalized("NFC", s) for s in strings)


def test_vietnamese_names_keep_their_diacritics() -> None:
    names = {a.id: a.name for a in load_directory().agencies}
    assert names["so-gddt"] == "Sở Giáo dục và Đào tạo"
    assert names["ubnd-tinh"] == "Ủy ban nhân dân tỉnh Quảng Ngãi"
    assert names["ubnd-mo-duc"] == "Ủy ban nhân dân huyện Mộ Đức"
    assert names["ubnd-ba-to"] == "Ủy ban nhân dân huyện Ba Tơ"
    abbreviations = {a.id: a.abbreviations for a in load_directory().agencies}
    assert "Sở GD&ĐT" in abbreviations["so-gddt"]
    directive = load_definition(ROOT / "directives" / "qn-2810-ubnd-kgvx-2023.yaml")
    assert directive.place == "Quảng Ngãi"
    assert directive.subject.startswith("V/v tăng cường công tác khuyến học, khuyến tài")
    assert directive.signer.on_behalf_of == "CHỦ TỊCH"
    assert directive.assignments[0].items[0].text.startswith("Tăng cường công tác tuyên truyền")


def test_every_directory_name_has_vietnamese_letters() -> None:
    # ASCII-only names would mean diacritics were lost somewhere (as they were in the OCR text)
    for agency in load_directory().agencies:
        assert not agency.name.isascii(), agency.id
