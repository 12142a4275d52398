"""YAML 1.2 core scalars in the loader, and the calendar overrides read as strictly as definitions."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

import pytest

from definitions.calendar import CalendarOverrides, load_overrides
from definitions.errors import DefinitionError
from definitions.loader import load_definition
from definitions.yaml_reader import parse_yaml, read_yaml

HERE = Path(__file__).parent


def _value(text: str) -> Any:
    data, _ = parse_yaml(f"value: {text}\n".encode(), "t.yaml")
    return data["value"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0710", 710),  # YAML 1.1 read it as octal 456
        ("007", 7),
        ("0", 0),
        ("-12", -12),
        ("+5", 5),
        ("0o17", 15),
        ("0o710", 456),  # octal, when asked for the 1.2 way
        ("0x1F", 31),
        ("0xff", 255),
    ],
)
def test_integers_are_yaml_1_2_core(text: str, expected: int) -> None:
    value = _value(text)
    assert type(value) is int and value == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.5", 1.5),
        ("-0.25", -0.25),
        (".5", 0.5),
        ("1e3", 1000.0),
        ("2.5E-1", 0.25),
        ("012.5", 12.5),
    ],
)
def test_floats_are_yaml_1_2_core(text: str, expected: float) -> None:
    value = _value(text)
    assert type(value) is float and value == expected


def test_infinity_and_nan() -> None:
    assert (
        _value(".inf") == math.inf and _value("-.Inf") == -math.inf and _value("+.INF") == math.inf
    )
    assert math.isnan(_value(".nan")) and math.isnan(_value(".NaN"))


@pytest.mark.parametrize(
    "text",
    [
        "1:30",  # YAML 1.1 sexagesimal: 90
        "1:30:00",
        "-1:30",
        "190:20:30.15",  # YAML 1.1 sexagesimal float
        "1_000",  # YAML 1.1 allowed digit separators
        "0b101",  # YAML 1.1 binary
        "0O17",  # the 1.2 prefix is lower case
        "0x",
        "0o8",
        "1.2.3",
        "yes",
        "on",
        "no",
        "off",
        ".",
    ],
)
def test_yaml_1_1_forms_stay_strings(text: str) -> None:
    assert _value(text) == text


def test_booleans_dates_and_nulls_are_unchanged() -> None:
    assert _value("true") is True and _value("FALSE") is False
    assert _value("2023-06-20") == dt.date(2023, 6, 20)
    assert _value("~") is None and _value("null") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("!!int 1:30", "t.yaml:1:8: value: '1:30' is not a whole number"),
        ("!!int 0b101", "t.yaml:1:8: value: '0b101' is not a whole number"),
        ("!!float 1:30.5", "t.yaml:1:8: value: '1:30.5' is not a number"),
    ],
)
def test_explicit_tags_refuse_yaml_1_1_forms(text: str, message: str) -> None:
    with pytest.raises(DefinitionError) as caught:
        _value(text)
    assert str(caught.value).startswith(message)


def test_explicit_tags_accept_yaml_1_2_forms() -> None:
    assert _value("!!int 0o17") == 15
    assert _value("!!int 0710") == 710
    assert _value("!!float 3") == 3.0


def test_a_directive_number_with_a_leading_zero_is_decimal(tmp_path: Path) -> None:
    text = (HERE / "valid-minimal.yaml").read_text(encoding="utf-8")
    assert "number: 100\n" in text
    path = tmp_path / "leading-zero.yaml"
    path.write_text(text.replace("number: 100\n", "number: 0710\n"), encoding="utf-8")
    assert load_definition(path).number == 710


def test_read_yaml_allows_an_empty_file_only_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing but a comment\n", encoding="utf-8")
    assert read_yaml(path, allow_empty=True) == (None, {})
    with pytest.raises(DefinitionError):
        read_yaml(path)


# --- calendar overrides -------------------------------------------------------------------


def _overrides(tmp_path: Path, text: str) -> CalendarOverrides:
    path = tmp_path / "vn.yaml"
    path.write_text(text, encoding="utf-8")
    return load_overrides(path)


def _override_problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(DefinitionError) as caught:
        _overrides(tmp_path, text)
    return [str(p).replace(str(tmp_path / "vn.yaml"), "vn.yaml") for p in caught.value.problems]


def test_overrides_read_with_the_strict_reader(tmp_path: Path) -> None:
    overrides = _overrides(
        tmp_path, "days_off: [2024-04-29, 2024-05-02]\nworking_days:\n  - 2024-05-04\n"
    )
    assert overrides.days_off == (dt.date(2024, 4, 29), dt.date(2024, 5, 2))
    assert overrides.working_days == (dt.date(2024, 5, 4),)


@pytest.mark.parametrize("text", ["", "\n\n", "# swaps for 2025: none yet\n", "{}\n"])
def test_empty_overrides_mean_none(tmp_path: Path, text: str) -> None:
    assert _overrides(tmp_path, text) == CalendarOverrides()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "days_off: [2024-03-05\n",
            [
                "vn.yaml:2:1: while parsing a flow sequence expected ',' or ']', "
                "but got '<stream end>'"
            ],
        ),
        (
            "days_off: [2024-02-30]\n",
            [
                "vn.yaml:1:12: days_off.0: '2024-02-30' is not a valid date: "
                "day is out of range for month"
            ],
        ),
        (
            "days_off: []\nday_off: [2024-03-05]\n",
            ["vn.yaml:2:1: day_off: unknown key (expected days_off or working_days)"],
        ),
        (
            "days_off:\n  - 2024-03-05\n  - soon\nworking_days: yes\n",
            [
                "vn.yaml:3:5: days_off.1: Input should be a valid date or datetime, "
                "input is too short",
                "vn.yaml:4:15: working_days: Input should be a valid tuple",
            ],
        ),
        ("- 2024-03-05\n", ["vn.yaml:1:1: expected a mapping with days_off and working_days"]),
        ("days_off: &a [2024-03-05]\nworking_days: *a\n", None),
        (
            "days_off: [2024-03-05]\ndays_off: []\n",
            ["vn.yaml:2:1: days_off: key 'days_off' appears twice"],
        ),
    ],
)
def test_a_malformed_overrides_file_names_file_line_and_column(
    tmp_path: Path, text: str, expected: list[str] | None
) -> None:
    problems = _override_problems(tmp_path, text)
    if expected is None:  # anchors: refused, with a place
        assert len(problems) == 1 and problems[0].startswith("vn.yaml:1:")
        assert "anchors and aliases" in problems[0]
    else:
        assert problems == expected


def test_overrides_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "vn.yaml"
    path.write_bytes(b"days_off: []\n# \xff\n")
    with pytest.raises(DefinitionError, match=r"vn\.yaml:2:3: not UTF-8"):
        load_overrides(path)


def test_the_packaged_overrides_still_load() -> None:
    assert isinstance(load_overrides(), CalendarOverrides)
