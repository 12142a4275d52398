"""Strict YAML reading that remembers where every value stands in the file.

YAML 1.2 core scalars: booleans are `true`/`false` only (`yes`, `no`, `on`, `off` stay
strings); integers are decimal, `0o` octal or `0x` hex (`0710` is 710, not YAML 1.1's octal
456; `1_000` stays a string); `1:30` stays a string, not YAML 1.1's sexagesimal 90. Dates
(`2023-06-20`) are still read as dates. No anchors or aliases (so no alias bombs), no
duplicate keys, bounded size and depth, UTF-8 only. Every value's path is mapped to its line
and column so that later checks can point at it.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Any, ClassVar

import yaml

from definitions.errors import DefinitionError, Problem

MAX_BYTES = 1_000_000
MAX_DEPTH = 40

YamlPath = tuple[str | int, ...]
Positions = dict[YamlPath, tuple[int, int]]
# `positions[(*path, KEY)]` is where the key of `path` is written (YAML text cannot hold a NUL).
KEY = "\x00key"


class _StrictResolver(yaml.resolver.BaseResolver):
    pass


BOOL_TAG = "tag:yaml.org,2002:bool"
INT_TAG = "tag:yaml.org,2002:int"
FLOAT_TAG = "tag:yaml.org,2002:float"

# YAML 1.2 core schema (https://yaml.org/spec/1.2.2/#1032-tag-resolution).
YAML12_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
YAML12_INT = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
YAML12_FLOAT = re.compile(
    r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)

# The safe resolvers, less YAML 1.1's booleans, integers and floats, which YAML 1.2 replaces.
for _first, _resolvers in yaml.resolver.Resolver.yaml_implicit_resolvers.items():
    for _tag, _regexp in _resolvers:
        if _tag in (BOOL_TAG, INT_TAG, FLOAT_TAG):
            continue
        _StrictResolver.add_implicit_resolver(_tag, _regexp, [_first])
_StrictResolver.add_implicit_resolver(BOOL_TAG, YAML12_BOOL, list("tTfF"))
# int before float: "10" matches both patterns and is an int.
_StrictResolver.add_implicit_resolver(INT_TAG, YAML12_INT, list("-+0123456789"))
_StrictResolver.add_implicit_resolver(FLOAT_TAG, YAML12_FLOAT, list("-+0123456789."))


def _yaml12_int(text: str) -> int:
    """A YAML 1.2 core integer; ValueError for YAML 1.1 forms (`1:30`, `0b101`, `1_000`)."""
    if not YAML12_INT.match(text):
        raise ValueError("expected decimal digits, 0o octal or 0x hex")
    if text.startswith("0o"):
        return int(text[2:], 8)
    if text.startswith("0x"):
        return int(text[2:], 16)
    return int(text, 10)


def _yaml12_float(text: str) -> float:
    """A YAML 1.2 core float; ValueError for YAML 1.1 forms (`1:30.5`, `1_000.5`)."""
    if not (YAML12_FLOAT.match(text) or YAML12_INT.match(text)):
        raise ValueError("expected a decimal number")
    lowered = text.lower()
    if lowered.endswith(".inf"):
        return float("-inf") if lowered.startswith("-") else float("inf")
    if lowered == ".nan":
        return float("nan")
    if YAML12_INT.match(text):
        return float(_yaml12_int(text))
    return float(text)


class _StrictConstructor(yaml.constructor.SafeConstructor):
    def construct_yaml12_int(self, node: yaml.ScalarNode) -> int:
        return _yaml12_int(str(self.construct_scalar(node)))

    def construct_yaml12_float(self, node: yaml.ScalarNode) -> float:
        return _yaml12_float(str(self.construct_scalar(node)))

    # SafeConstructor's table, with YAML 1.2 integers and floats (for explicit !!int and
    # !!float tags too).
    yaml_constructors: ClassVar[dict[Any, Any]] = {
        **yaml.constructor.SafeConstructor.yaml_constructors,
        INT_TAG: construct_yaml12_int,
        FLOAT_TAG: construct_yaml12_float,
    }


class _StrictLoader(
    yaml.reader.Reader,
    yaml.scanner.Scanner,
    yaml.parser.Parser,
    yaml.composer.Composer,
    _StrictConstructor,
    _StrictResolver,
):
    def __init__(self, stream: str) -> None:
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        yaml.composer.Composer.__init__(self)
        _StrictConstructor.__init__(self)
        _StrictResolver.__init__(self)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.MarkedYAMLError(
                None, None, "anchors and aliases (*name) are not allowed", event.start_mark
            )
        event = self.peek_event()
        if getattr(event, "anchor", None):
            raise yaml.MarkedYAMLError(
                None, None, "anchors and aliases (&name) are not allowed", event.start_mark
            )
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise yaml.MarkedYAMLError(
                None, None, f"nested deeper than {MAX_DEPTH} levels", event.start_mark
            )
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


# libyaml (in PyYAML's wheels) composes a file some 15 times faster than the Python loader:
# reading the agency directory at every start of the CLI is then a few tens of milliseconds.
# It is used only for a file it reads without a word to say, after a pass over its events
# finds no anchor, no alias and no nesting deeper than MAX_DEPTH; any other file is read again
# by the Python loader above, whose messages (and checks) are the ones people get.
_CParser: Any = getattr(getattr(yaml, "cyaml", None), "CParser", None)

if _CParser is not None:

    class _CStrictLoader(_CParser, _StrictConstructor, _StrictResolver):
        def __init__(self, stream: str) -> None:
            _CParser.__init__(self, stream)
            _StrictConstructor.__init__(self)
            _StrictResolver.__init__(self)


def _fast_node(text: str) -> tuple[Any, Any] | None:
    """(node, loader) composed by libyaml, or None when the Python loader must read `text`."""
    if _CParser is None:
        return None
    try:
        depth = 0
        for event in yaml.parse(text, Loader=yaml.CSafeLoader):
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                return None
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    return None
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
        loader = _CStrictLoader(text)
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.YAMLError:
        return None
    return (node, loader) if node is not None else None


def _problem(file: str, mark: Any, message: str, path: str = "") -> Problem:
    line = getattr(mark, "line", 0) + 1 if mark is not None else 1
    column = getattr(mark, "column", 0) + 1 if mark is not None else 1
    return Problem(file, line, column, path, message)


def _tag_name(tag: str) -> str:
    name = tag.rsplit(":", 1)[-1]
    return {"timestamp": "a valid date", "int": "a whole number", "float": "a number"}.get(
        name, f"a valid {name}"
    )


def _reader_problem(file: str, text: str, error: yaml.reader.ReaderError) -> Problem:
    """A character YAML does not allow (a control character, say), placed by line and column."""
    position = max(0, min(error.position, len(text)))
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1) + 1
    character = error.character if isinstance(error.character, str) else chr(error.character)
    message = f"character U+{ord(character):04X} is not allowed in YAML"
    return Problem(file, line, column, "", message)


def _scalar(node: yaml.Node, loader: _StrictLoader, path: YamlPath, file: str) -> Any:
    """A scalar's value, or a problem when its text does not fit its type (2023-02-30, !!int x)."""
    try:
        return loader.construct_object(node)
    except yaml.YAMLError:
        raise
    except (ValueError, TypeError, AttributeError, OverflowError, IndexError, KeyError) as e:
        kind = _tag_name(node.tag)
        detail = f": {e}" if isinstance(e, ValueError) else ""
        raise DefinitionError(
            [
                _problem(
                    file,
                    node.start_mark,
                    f"'{node.value}' is not {kind}{detail}",
                    ".".join(str(p) for p in path),
                )
            ]
        ) from e


def _convert(
    node: yaml.Node, loader: _StrictLoader, path: YamlPath, positions: Positions, file: str
) -> Any:
    positions[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise DefinitionError(
                    [_problem(file, key_node.start_mark, "keys must be plain words")]
                )
            key = str(_scalar(key_node, loader, path, file))
            if key in result:
                dotted = ".".join(str(p) for p in (*path, key))
                raise DefinitionError(
                    [_problem(file, key_node.start_mark, f"key '{key}' appears twice", dotted)]
                )
            positions[(*path, key, KEY)] = (
                key_node.start_mark.line + 1,
                key_node.start_mark.column + 1,
            )
            result[key] = _convert(value_node, loader, (*path, key), positions, file)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _convert(child, loader, (*path, index), positions, file)
            for index, child in enumerate(node.value)
        ]
    value = _scalar(node, loader, path, file)
    if isinstance(value, str):
        value = unicodedata.normalize("NFC", value)
    return value


def read_yaml(
    path: Path, *, display_name: str | None = None, allow_empty: bool = False
) -> tuple[Any, Positions]:
    """The file's data and the line/column of every value, or a DefinitionError saying why not.

    With `allow_empty`, a file with no YAML document (blank, or comments only) reads as None.
    """
    file = display_name or str(path)
    try:
        size = path.stat().st_size
    except OSError as e:
        raise DefinitionError(
            [Problem(file, 1, 1, "", f"cannot read the file: {e.strerror}")]
        ) from e
    if size > MAX_BYTES:
        raise DefinitionError(
            [Problem(file, 1, 1, "", f"file is {size} bytes, over the limit of {MAX_BYTES}")]
        )
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DefinitionError(
            [Problem(file, 1, 1, "", f"cannot read the file: {e.strerror}")]
        ) from e
    return parse_yaml(raw, file, allow_empty=allow_empty)


def parse_yaml(raw: bytes, file: str, *, allow_empty: bool = False) -> tuple[Any, Positions]:
    if len(raw) > MAX_BYTES:
        raise DefinitionError(
            [Problem(file, 1, 1, "", f"file is {len(raw)} bytes, over the limit of {MAX_BYTES}")]
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        column = e.start - (raw.rfind(b"\n", 0, e.start) + 1) + 1
        raise DefinitionError(
            [Problem(file, line, column, "", f"not UTF-8 text (byte 0x{raw[e.start]:02x})")]
        ) from e
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.strip():
        if allow_empty:
            return None, {}
        raise DefinitionError([Problem(file, 1, 1, "", "the file is empty")])
    fast = _fast_node(text)
    if fast is not None:
        node, loader = fast
        try:
            positions: Positions = {}
            return _convert(node, loader, (), positions, file), positions
        except yaml.YAMLError:
            pass  # said by the Python loader below, in its words
    try:
        loader = _StrictLoader(text)
    except yaml.reader.ReaderError as e:
        raise DefinitionError([_reader_problem(file, text, e)]) from e
    try:
        node = loader.get_single_node()
        if node is None:
            if allow_empty:
                return None, {}
            raise DefinitionError([Problem(file, 1, 1, "", "the file holds no YAML document")])
        positions = {}
        data = _convert(node, loader, (), positions, file)
    except yaml.MarkedYAMLError as e:
        message = " ".join(filter(None, [e.context, e.problem])) or "not valid YAML"
        raise DefinitionError([_problem(file, e.problem_mark or e.context_mark, message)]) from e
    except yaml.reader.ReaderError as e:
        raise DefinitionError([_reader_problem(file, text, e)]) from e
    except yaml.YAMLError as e:
        raise DefinitionError([Problem(file, 1, 1, "", f"not valid YAML: {e}")]) from e
    except RecursionError as e:
        raise DefinitionError([Problem(file, 1, 1, "", "nested too deeply")]) from e
    finally:
        loader.dispose()
    return data, positions


def key_position_of(positions: Positions, path: YamlPath) -> tuple[int, int]:
    """Where the key of `path` is written, or the place of its value if it has no key."""
    return positions.get((*path, KEY)) or position_of(positions, path)


def position_of(positions: Positions, path: YamlPath) -> tuple[int, int]:
    """The place of `path`, or of its nearest ancestor that the file has."""
    for end in range(len(path), -1, -1):
        if path[:end] in positions:
            return positions[path[:end]]
    return (1, 1)
