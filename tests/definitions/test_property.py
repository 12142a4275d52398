"""On any input at all, the reader and the loader raise DefinitionError or succeed: nothing else."""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from definitions.errors import DefinitionError
from definitions.loader import load_definition, load_directory
from definitions.schema import Directory
from definitions.yaml_reader import parse_yaml

BASE = (Path(__file__).parent / "valid-minimal.yaml").read_text(encoding="utf-8")
DIRECTORY: Directory = load_directory()
# CHIDAO_HYPOTHESIS_EXAMPLES=5000 for a longer hunt; the default keeps the folder fast.
FAST = settings(
    max_examples=int(os.environ.get("CHIDAO_HYPOTHESIS_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _load_text(raw: bytes) -> None:
    """parse_yaml, then the whole loader on the same bytes written to a file."""
    try:
        parse_yaml(raw, "input.yaml")
    except DefinitionError as e:
        assert e.problems
        assert all(p.line >= 1 and p.column >= 1 for p in e.problems)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "input.yaml"
        path.write_bytes(raw)
        try:
            load_definition(path, DIRECTORY)
        except DefinitionError as e:
            assert e.problems
            assert all(str(p).startswith(str(p.file)) for p in e.problems)


@FAST
@given(st.binary(max_size=400))
def test_arbitrary_bytes(raw: bytes) -> None:
    _load_text(raw)


@FAST
@given(st.text(max_size=400))
def test_arbitrary_text(text: str) -> None:
    _load_text(text.encode("utf-8", "surrogatepass"))


YAML_TOKENS = st.sampled_from(
    [
        ":", ": ", "- ", "-", "\n", "  ", "[", "]", "{", "}", ",", "&a ", "*a", "!!int ", "!!str ",
        "!!timestamp ", "!!float ", "!!binary ", "!!python/object ", "? ", "|", ">-", "#", "'", '"',
        "yes", "on", "2023-02-30", "2023-13-01", "1e400", "0x1F", "0o17", "1:30", "~", "null",
        "id", "letter", "section", "due", "each_year", "31/02", "\t", "\ufeff", "---", "...",
        "%YAML 1.1\n", "é", "đ", "\x85", "\u2028",
    ]
)  # fmt: skip


@FAST
@given(st.lists(YAML_TOKENS, max_size=40))
def test_yaml_shaped_noise(tokens: list[str]) -> None:
    _load_text("".join(tokens).encode("utf-8"))


SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.dates(min_value=dt.date(1, 1, 1), max_value=dt.date(9999, 12, 31))
    | st.sampled_from(["so-gddt", "ubnd-cap-huyen", "a", "đ", "f", "30/11", "31/02", "annual"])
)
KEYS = st.sampled_from(
    [
        "id", "kind", "issuer", "number", "symbol", "place", "issued_on", "subject", "signer",
        "recipients", "assignments", "reporting", "consolidation", "escalation", "language",
        "agency", "text", "section", "heading", "agencies", "items", "letter", "role", "to",
        "due", "on", "each_year", "recurrence", "first_cycle", "last_cycle", "by", "levels",
        "level", "after", "operator_set", "source", "position",
    ]
) | st.text(max_size=8)  # fmt: skip
STRUCTURES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=6),
    max_leaves=25,
)


@FAST
@given(st.dictionaries(KEYS, STRUCTURES, max_size=10) | STRUCTURES)
def test_arbitrary_structures_dumped_as_yaml(data: Any) -> None:
    _load_text(yaml.safe_dump(data, allow_unicode=True).encode("utf-8"))


MUTATIONS = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=len(BASE)),
        st.integers(0, 12),
        YAML_TOKENS | SCALARS.map(str),
    ),
    min_size=1,
    max_size=3,
)


@FAST
@given(MUTATIONS)
def test_the_valid_definition_mutated(mutations: list[tuple[int, int, str]]) -> None:
    text = BASE
    for at, cut, insert in mutations:
        at = min(at, len(text))
        text = text[:at] + insert + text[at + cut :]
    _load_text(text.encode("utf-8"))


def test_the_unmutated_base_loads() -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "base.yaml"
        path.write_text(BASE, encoding="utf-8")
        assert load_definition(path, DIRECTORY).id == "test-minimal"
