"""The national test texts: header fields recovered, none invented, wrong ones always marked.

For each text of `fixtures/national/` and each header field (number, symbol, date, subject,
issuer, recipients, signer), the draft's value is compared with the hand-checked expectation:

- recovered: right and not marked for review (every provenance of the field is "sure");
- wrong: a value where the text gives none (invented), or a value that differs: it must be
  marked for review, and an unmarked wrong value fails the test on its own;
- marked: right but marked; at most 20 % of the right values may be, so marking all fails.
  (A part of the signer the text does not give, such as a name the scan cut off, must be a TODO;
  that TODO is the right value, not a mark on the parts that are given.)

`test_figures` prints the three figures and holds them: ≥ 95 % recovered, 0 invented or
unmarked wrong, ≤ 20 % of the right values marked.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from importer.agencies import load_directory_file
from importer.api import import_file
from importer.draft import SURE, TODO, Draft
from importer.normalize import fold, squash

NATIONAL = Path(__file__).resolve().parent / "fixtures" / "national"
TEXTS = sorted(NATIONAL.glob("*.txt"))
FIELDS = ("number", "symbol", "issued_on", "subject", "issuer", "recipients", "signer")
DIRECTORY = load_directory_file()


def _expect(path: Path) -> dict[str, Any]:
    return dict(yaml.safe_load(path.with_suffix(".expect.yaml").read_text(encoding="utf-8")))


def _loose(text: str) -> str:
    return squash(fold(text))


def _paths(draft: Draft, name: str) -> list[str]:
    return [p for p in draft.provenance if p == name or p.startswith(f"{name}.")]


def _marked(draft: Draft, name: str, want: Any = None) -> bool:
    paths = [p for p in _paths(draft, name) if not p.endswith(".text")]
    if isinstance(want, dict):  # a part the text does not give (a name cut off) is a TODO, not a mark
        paths = [p for p in paths if want.get(p.split(".", 1)[-1]) is not None]
    return any(draft.provenance[p].confidence < SURE for p in paths) or name in draft.todo_notes


def _value(draft: Draft, name: str) -> Any:
    """The draft's value of a field, None where it is a TODO."""
    d = draft.definition
    if name == "recipients":
        got = d.get("recipients")
        return None if got == TODO else [r["agency"] for r in got]
    if name == "signer":
        signer = d.get("signer") or {}
        values = {k: (None if signer.get(k) in (TODO, None) else signer.get(k))
                  for k in ("on_behalf_of", "position", "name")}
        return None if not any(values.values()) else values
    value = d.get(name)
    return None if value == TODO else value


def _right(name: str, got: Any, want: Any) -> bool:
    if name == "subject":
        return _loose(str(got)) == _loose(str(want))
    if name == "symbol":  # the format stores symbols upper-case (CT-TTg is CT-TTG)
        return str(got).upper() == str(want).upper()
    if name == "issued_on" and isinstance(want, str):
        want = dt.date.fromisoformat(want)
    return bool(got == want)


@dataclass
class Tally:
    right: int = 0
    recovered: int = 0
    marked_right: int = 0
    wrong_marked: list[str] = field(default_factory=list)
    wrong_unmarked: list[str] = field(default_factory=list)
    invented: list[str] = field(default_factory=list)
    absent_right: int = 0  # fields the text does not give, left a TODO
    given: int = 0


def _count(tally: Tally, path: Path) -> None:
    want_all = _expect(path)
    draft = import_file(path, directory=DIRECTORY)
    review = set(want_all.get("review") or ())
    for name in FIELDS:
        want, got = want_all[name], _value(draft, name)
        where = f"{path.name}:{name}"
        if want is None:
            if got is None:
                tally.absent_right += 1
            else:
                tally.invented.append(f"{where} = {got!r}")
            continue
        tally.given += 1
        marked = _marked(draft, name, want)
        if got is None:
            tally.wrong_marked.append(f"{where}: TODO")  # a TODO is marked
        elif not _right(name, got, want):
            (tally.wrong_marked if marked else tally.wrong_unmarked).append(
                f"{where}: {got!r} != {want!r}")
        else:
            tally.right += 1
            if marked:
                tally.marked_right += 1
            else:
                tally.recovered += 1
            if name in review:
                assert marked, f"{where} must be marked for review"


@pytest.fixture(scope="module")
def tally() -> Tally:
    t = Tally()
    for path in TEXTS:
        _count(t, path)
    return t


def test_the_set_covers_every_kind() -> None:
    assert len(TEXTS) >= 15
    kinds = {k for p in TEXTS for k in _expect(p)["kinds"]}
    for kind in ("flattened", "two-column-merged", "decomposed-diacritics", "lost-diacritics",
                 "ocr-swaps", "glued-words", "page-numbers", "markup-leftovers", "roman-numerals",
                 "articles", "nested-numbering", "dash-items", "plan-attached", "symbol-with-year",
                 "misprinted-symbol", "recipients-as-people", "no-kinh-gui", "news-report"):
        assert kind in kinds, kind


def test_figures(tally: Tally) -> None:
    recovered = tally.recovered / tally.given
    marked = tally.marked_right / max(tally.right, 1)
    print(f"\nnational texts: {len(TEXTS)}, header values the texts give: {tally.given}")
    print(f"recovered (right, not marked): {tally.recovered}/{tally.given} = {recovered:.1%}")
    print(f"invented: {len(tally.invented)}; wrong and unmarked: {len(tally.wrong_unmarked)}; "
          f"wrong but marked: {len(tally.wrong_marked)}")
    print(f"right values marked for review: {tally.marked_right}/{tally.right} = {marked:.1%}")
    for line in [*tally.invented, *tally.wrong_unmarked, *tally.wrong_marked]:
        print("  ", line)
    assert not tally.invented, tally.invented
    assert not tally.wrong_unmarked, tally.wrong_unmarked
    assert recovered >= 0.95
    assert marked <= 0.20


@pytest.mark.parametrize("path", TEXTS, ids=[p.stem for p in TEXTS])
def test_each_text_imports(path: Path) -> None:
    draft = import_file(path, directory=DIRECTORY)
    draft.to_yaml()
    assert yaml.safe_load(draft.to_yaml()) == draft.definition
