"""Every invalid definition gives its expected problems, each `file:line:col: path: message`.

Each fixture under `invalid/` states what it must produce in its header:
`# expect: LINE:COL: PATH: MESSAGE` (one line per problem, in file order) and, when it needs
its own agency directory, `# directory: NAME` (a folder under `directories/`).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from definitions.errors import DefinitionError, Problem
from definitions.loader import load_definition, load_directory
from definitions.schema import Directive, Directory
from definitions.yaml_reader import MAX_BYTES, parse_yaml

HERE = Path(__file__).parent
INVALID = sorted((HERE / "invalid").glob("*.yaml"))
DIRECTORIES = HERE / "directories"


def _header(path: Path) -> tuple[list[str], str | None]:
    expected: list[str] = []
    directory: str | None = None
    for raw in path.read_bytes().splitlines():
        if not raw.startswith(b"#"):
            break
        line = raw.decode("utf-8")
        if line.startswith("# expect: "):
            expected.append(line[len("# expect: ") :])
        elif line.startswith("# directory: "):
            directory = line[len("# directory: ") :].strip()
    return expected, directory


def _directory(name: str | None) -> Directory | None:
    if name is None:
        return None  # the packaged directory of Quảng Ngãi
    if name == "loop":
        # load_directory refuses a looping directory (tested below); a directory built without
        # its checks shows that a definition is refused on its own account too.
        data, _ = parse_yaml((DIRECTORIES / "loop" / "agencies.yaml").read_bytes(), "loop")
        return Directory.model_validate(data)
    return load_directory(DIRECTORIES / name)


def _problems(path: Path, directory: Directory | None = None) -> list[Problem]:
    with pytest.raises(DefinitionError) as caught:
        load_definition(path, directory)
    return caught.value.problems


def _without_file(problem: Problem) -> str:
    text = str(problem)
    prefix = f"{problem.file}:"
    assert text.startswith(prefix)
    return text[len(prefix) :]


def test_there_are_enough_invalid_fixtures() -> None:
    assert len(INVALID) >= 25


def test_the_fixtures_base_is_valid() -> None:
    directive = load_definition(HERE / "valid-minimal.yaml")
    assert directive.id == "test-minimal"


@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_invalid_definition_gives_its_expected_problems(path: Path) -> None:
    expected, directory_name = _header(path)
    assert expected, f"{path.name} states no '# expect:' line"
    problems = _problems(path, _directory(directory_name))
    for problem in problems:
        assert Path(problem.file).name == path.name
        assert re.fullmatch(r".+:\d+:\d+: (\S+: )?.+", str(problem), re.DOTALL)
    assert [_without_file(p) for p in problems] == expected


def test_unknown_key_and_agency_suggest_the_right_word() -> None:
    (key,) = [p for p in _problems(HERE / "invalid" / "unknown-key.yaml") if "unknown" in p.message]
    assert (key.line, key.column) == (15, 1)
    assert key.message.endswith("did you mean 'recipients'?")
    (agency,) = _problems(HERE / "invalid" / "unknown-agency.yaml")
    assert agency.path == "reporting.to"
    assert "did you mean 'so-gddt'?" in agency.message


def test_several_problems_are_reported_together() -> None:
    typed = _problems(HERE / "invalid" / "several-problems.yaml")
    assert {p.path for p in typed} >= {"number", "recipents", "language"}
    checked = _problems(HERE / "invalid" / "several-checks.yaml")
    assert {p.path for p in checked} == {
        "reporting.to",
        "assignments.0.items.1.letter",
        "reporting.last_cycle",
    }
    assert [p.line for p in checked] == sorted(p.line for p in checked)


def test_the_cli_prints_every_problem_and_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    from chidao.cli import main

    path = HERE / "invalid" / "several-checks.yaml"
    assert main(["validate", str(path)]) == 1
    err = capsys.readouterr().err
    expected, _ = _header(path)
    for line in expected:
        assert f"several-checks.yaml:{line}" in err
    assert "1/1 định nghĩa không hợp lệ" in err
    assert "Traceback" not in err


# --- files that cannot be fixtures with a header ---------------------------------------


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_bytes(b"")
    (problem,) = _problems(path)
    assert (problem.line, problem.column, problem.message) == (1, 1, "the file is empty")


def test_whitespace_only_file_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "blank.yaml"
    path.write_bytes(b"  \n\n\t\n")
    assert _problems(path)[0].message == "the file is empty"


def test_comments_only_file_holds_no_document(tmp_path: Path) -> None:
    path = tmp_path / "comments.yaml"
    path.write_text("# nothing but a comment\n", encoding="utf-8")
    assert _problems(path)[0].message == "the file holds no YAML document"


def test_file_over_the_size_limit(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(b"# " + b"x" * MAX_BYTES + b"\n")
    (problem,) = _problems(path)
    assert f"over the limit of {MAX_BYTES}" in problem.message
    assert (problem.line, problem.column) == (1, 1)


def test_not_utf8_points_at_the_byte(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("id: x\nsubject: Quảng\n".encode().replace("ả".encode(), b"\xe1"))
    (problem,) = _problems(path)
    assert (problem.line, problem.column) == (2, 12)
    assert problem.message == "not UTF-8 text (byte 0xe1)"


def test_control_character_is_refused_with_its_place(tmp_path: Path) -> None:
    path = tmp_path / "nul.yaml"
    path.write_bytes(b"id: x\nsubject: a\x00b\n")
    (problem,) = _problems(path)
    assert (problem.line, problem.column) == (2, 11)
    assert "U+0000" in problem.message


def test_a_bare_scalar_is_not_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "scalar.yaml"
    path.write_text("just words\n", encoding="utf-8")
    assert _problems(path)[0].message == "expected a mapping of keys at the top, not a single value"


def test_deep_nesting_is_refused_without_recursion(tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("a: " + "[" * 5000 + "]" * 5000 + "\n", encoding="utf-8")
    assert "nested deeper than" in _problems(path)[0].message


def test_missing_file_is_a_problem_not_a_traceback(tmp_path: Path) -> None:
    (problem,) = _problems(tmp_path / "nowhere.yaml")
    assert problem.message.startswith("cannot read the file")


# --- the directory ---------------------------------------------------------------------


def test_load_directory_reports_an_escalation_loop() -> None:
    with pytest.raises(DefinitionError) as caught:
        load_directory(DIRECTORIES / "loop")
    (problem,) = caught.value.problems
    assert problem.message == "escalation chain loops: so-a → so-b → so-c → so-a"
    assert Path(problem.file).name == "agencies.yaml"
    # so-a's answers_to, on line 4 of the fixture, column of its value
    assert (problem.line, problem.column, problem.path) == (4, 60, "agencies.1.answers_to")


def test_directory_unknown_member_and_answers_to_are_located(tmp_path: Path) -> None:
    (tmp_path / "agencies.yaml").write_text(
        "agencies:\n"
        "  - {id: so-a, name: Sở A, kind: department, answers_to: ubnd-tnh}\n"
        "  - {id: ubnd-tinh, name: UBND tỉnh, kind: issuer}\n"
        "groups:\n"
        "  - id: nhom\n"
        "    name: Nhóm\n"
        "    members: [so-a, so-b]\n",
        encoding="utf-8",
    )
    with pytest.raises(DefinitionError) as caught:
        load_directory(tmp_path)
    found = {(p.line, p.column, p.path, p.message) for p in caught.value.problems}
    assert found == {
        (
            2,
            58,
            "agencies.0.answers_to",
            "'so-a' answers to unknown agency 'ubnd-tnh'; did you mean 'ubnd-tinh'?",
        ),
        (
            7,
            21,
            "groups.0.members.1",
            "group 'nhom' has unknown member 'so-b'; did you mean 'so-a'?",
        ),
    }


def test_no_address_directory_loads_but_the_definition_is_refused() -> None:
    directory = load_directory(DIRECTORIES / "no-address")
    assert {a.id: a.email for a in directory.agencies}["so-b"] is None
    (problem,) = _problems(HERE / "invalid" / "no-address.yaml", directory)
    assert "'so-b' has no address" in problem.message


# --- strings that YAML 1.1 would have turned into something else ------------------------


def _minimal_with(tmp_path: Path, old: str, new: str) -> Path:
    text = (HERE / "valid-minimal.yaml").read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "variant.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def test_on_yes_no_stay_strings(tmp_path: Path) -> None:
    path = _minimal_with(tmp_path, "text: Sở Giáo dục và Đào tạo}", "text: on}")
    directive: Directive = load_definition(path)
    assert directive.recipients[0].text == "on"
    data, _ = parse_yaml(b"a: yes\nb: no\nc: on\nd: off\ne: true\n", "f")
    assert data == {"a": "yes", "b": "no", "c": "on", "d": "off", "e": True}


def test_strings_are_nfc_normalised_on_reading(tmp_path: Path) -> None:
    import unicodedata

    decomposed = unicodedata.normalize("NFD", "Quảng Ngãi")
    assert decomposed != "Quảng Ngãi"
    path = _minimal_with(tmp_path, "place: Quảng Ngãi", f"place: {decomposed}")
    assert load_definition(path).place == "Quảng Ngãi"
