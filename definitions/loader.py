"""Loading definitions and the agency directory, with every problem reported at once.

Each problem reads `file:line:col: path.in.yaml: message`, and names what it would accept
("did you mean …") for an unknown key or agency id.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from definitions.checks import check_directive, check_directory
from definitions.directory_format import FormatProblem, upcast_directory
from definitions.errors import DefinitionError, Problem
from definitions.schema import Directive, Directory
from definitions.yaml_reader import (
    Positions,
    YamlPath,
    key_position_of,
    position_of,
    read_yaml,
)

PACKAGE_DIR = Path(__file__).parent
DIRECTORY_DIR = PACKAGE_DIR / "agencies"
DIRECTIVES_DIR = PACKAGE_DIR / "directives"


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def _model_types(annotation: Any) -> list[type[BaseModel]]:
    """The models an annotation can hold (through Optional, unions, tuples, Annotated)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _model_types(typing.get_args(annotation)[0])
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if origin in (typing.Union, types.UnionType, tuple, list):
        found: list[type[BaseModel]] = []
        for arg in typing.get_args(annotation):
            if arg is not Ellipsis:
                found.extend(_model_types(arg))
        return found
    return []


def _allowed_keys(root: type[BaseModel], data: Any, path: YamlPath) -> set[str]:
    """Field names of the model(s) standing at `path` of `data`."""
    models: list[type[BaseModel]] = [root]
    node = data
    for part in path:
        if isinstance(part, int):
            node = node[part] if isinstance(node, list) and part < len(node) else None
            continue
        next_models: list[type[BaseModel]] = []
        for model in models:
            field = model.model_fields.get(part)
            if field is not None:
                next_models.extend(_model_types(field.annotation))
        models = next_models
        node = node.get(part) if isinstance(node, dict) else None
    return {name for model in models for name in model.model_fields}


def _data_path(data: Any, loc: tuple[int | str, ...]) -> YamlPath:
    """Pydantic's error location, less the names of union members that are not in the data."""
    path: list[str | int] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            path.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            path.append(part)
            node = node[part]
        elif isinstance(node, dict) and isinstance(part, str) and part not in node:
            # a missing or unknown key still names a place inside this mapping
            if part and part[0].islower() and "[" not in part and part.isidentifier():
                path.append(part)
            node = None
    return tuple(path)


def _describe(error: Any, root: type[BaseModel], data: Any, path: YamlPath) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        key = str(path[-1]) if path else "?"
        allowed = _allowed_keys(root, data, path[:-1])
        return f"unknown key '{key}'{did_you_mean(key, allowed)}"
    if kind == "missing":
        return "is required"
    message = str(error["msg"])
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    value = error.get("input")
    if kind in ("string_pattern_mismatch", "literal_error", "enum") and isinstance(
        value, str | int
    ):
        message = f"{message} (got {value!r})"
    return message


def problems_from_validation(
    error: ValidationError, root: type[BaseModel], data: Any, positions: Positions, file: str
) -> list[Problem]:
    problems: dict[tuple[str, str], Problem] = {}
    for item in error.errors():
        path = _data_path(data, item["loc"])
        if item["type"] == "extra_forbidden":
            line, column = key_position_of(positions, path)  # the misspelt key itself
        else:
            line, column = position_of(positions, path)
        dotted = ".".join(str(p) for p in path)
        message = _describe(item, root, data, path)
        problems.setdefault((dotted, message), Problem(file, line, column, dotted, message))
    return sorted(problems.values(), key=lambda p: (p.line, p.column))


def _validate(model: type[BaseModel], data: Any, positions: Positions, file: str) -> Any:
    if not isinstance(data, dict):
        line, column = position_of(positions, ())
        kind = "a list" if isinstance(data, list) else "a single value"
        raise DefinitionError(
            [Problem(file, line, column, "", f"expected a mapping of keys at the top, not {kind}")]
        )
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise DefinitionError(problems_from_validation(e, model, data, positions, file)) from e


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def load_directory_files(paths: Iterable[Path]) -> Directory:
    """One directory from several files, checked as a whole."""
    agencies: list[Any] = []
    groups: list[Any] = []
    places: dict[str, tuple[str, Positions, YamlPath]] = {}
    problems: list[Problem] = []
    for path in sorted(paths):
        file = _display(path)
        try:
            data, positions = read_yaml(path, display_name=file)
            if isinstance(data, dict):
                try:
                    data = upcast_directory(data)
                except FormatProblem as e:
                    line, column = position_of(positions, e.path)
                    dotted = ".".join(str(p) for p in e.path)
                    raise DefinitionError([Problem(file, line, column, dotted, e.message)]) from e
            part: Directory = _validate(Directory, data, positions, file)
        except DefinitionError as e:
            problems.extend(e.problems)
            continue
        for index, agency in enumerate(part.agencies):
            places[agency.id] = (file, positions, ("agencies", index))
        for index, group in enumerate(part.groups):
            places[group.id] = (file, positions, ("groups", index))
        agencies.extend(part.agencies)
        groups.extend(part.groups)
    if problems:
        raise DefinitionError(problems)
    directory = Directory(agencies=tuple(agencies), groups=tuple(groups))
    found = check_directory(directory)
    if found:
        located = []
        for subject, field, message in found:
            file, positions, base = places.get(subject, ("directory", {}, ()))
            parts = (int(p) if p.isdigit() else p for p in field.split(".") if p)
            where: YamlPath = (*base, *parts)
            line, column = position_of(positions, where)
            located.append(Problem(file, line, column, ".".join(map(str, where)), message))
        raise DefinitionError(located)
    return directory


@lru_cache(maxsize=4)
def _cached_directory(folder: str) -> Directory:
    return load_directory_files(Path(folder).glob("*.yaml"))


def load_directory(folder: Path | None = None) -> Directory:
    """The agency directory (every `*.yaml` of the folder; the packaged one by default)."""
    return _cached_directory(str((folder or DIRECTORY_DIR).resolve()))


def load_definition(path: Path, directory: Directory | None = None) -> Directive:
    """A directive definition, validated in full against the directory."""
    file = _display(path)
    data, positions = read_yaml(path, display_name=file)
    directive: Directive = _validate(Directive, data, positions, file)
    found = check_directive(directive, directory or load_directory())
    if found:
        problems = []
        for field_path, message in found:
            line, column = position_of(positions, field_path)
            problems.append(
                Problem(file, line, column, ".".join(str(p) for p in field_path), message)
            )
        raise DefinitionError(sorted(problems, key=lambda p: (p.line, p.column)))
    return directive


def packaged_definitions() -> list[Path]:
    return sorted(DIRECTIVES_DIR.glob("*.yaml"))
