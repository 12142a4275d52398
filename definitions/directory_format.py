"""Versions of the directory file format, and one upcaster per step to the current one.

Version 1 (no `format_version` key) knew agencies and groups without dates. Version 2 adds
their validity (`valid_from`, `valid_until`), what created or ended them (`established_by`,
`ended_by`) and who succeeds them (`succession`). A file is read at its own version and
brought up step by step; a key its version does not know is refused, with its place.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from definitions.schema import DIRECTORY_FORMAT_VERSION

Data = dict[str, Any]

V2_KEYS = frozenset(
    {"valid_from", "valid_until", "established_by", "ended_by", "succession", "reorganised_by"}
)


class FormatProblem(ValueError):
    """A directory file whose version does not fit its content: `path` says where."""

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


def _v1_to_v2(data: Data) -> Data:
    for section in ("agencies", "groups"):
        entries = data.get(section)
        if not isinstance(entries, list):
            continue
        for index, entry in enumerate(entries):
            if isinstance(entry, dict):
                for key in sorted(V2_KEYS & set(entry)):
                    raise FormatProblem(
                        (section, index, key),
                        f"'{key}' needs 'format_version: 2' at the top of the file "
                        "(version 1 has no validity or succession)",
                    )
    return {**data, "format_version": 2}


UPCASTERS: dict[int, Callable[[Data], Data]] = {1: _v1_to_v2}


def upcast_directory(data: Data) -> Data:
    """The file's data at the current format version."""
    version = data.get("format_version", 1)
    if not isinstance(version, int) or isinstance(version, bool):
        raise FormatProblem(("format_version",), f"format_version must be a number, not {version!r}")
    if version > DIRECTORY_FORMAT_VERSION or version < 1:
        raise FormatProblem(
            ("format_version",),
            f"format_version {version} is not known (this chidao reads 1 to "
            f"{DIRECTORY_FORMAT_VERSION})",
        )
    while version < DIRECTORY_FORMAT_VERSION:
        data = UPCASTERS[version](data)
        version += 1
    return data
