"""Both seed texts flattened onto one line, as a web page or a PDF text layer gives them, read
like the originals: every header field and every section's agencies the same."""

from __future__ import annotations

from pathlib import Path

import pytest

from importer.api import import_file, import_text

SHARED = (Path(__file__).resolve().parents[2] / "../shared/directives").resolve()
pytestmark = pytest.mark.skipif(not SHARED.is_dir(), reason=f"{SHARED} is absent")


@pytest.mark.parametrize("name", ["qn-5185-ubnd-kgvx-2021.md", "qn-2810-ubnd-kgvx-2023.ocr.txt"])
def test_flattened_seed_reads_like_the_original(name: str) -> None:
    path = SHARED / name
    original = import_file(path).definition
    flat_text = " ".join(line.strip() for line in path.read_text(encoding="utf-8").splitlines()
                         if line.strip())
    assert "\n" not in flat_text
    flat = import_text(flat_text).definition
    for key in ("id", "kind", "issuer", "number", "symbol", "place", "issued_on", "subject",
                "signer", "recipients"):
        assert flat[key] == original[key], key
    assert [[a["agency"] for a in s["agencies"]] for s in flat["assignments"]] == [
        [a["agency"] for a in s["agencies"]] for s in original["assignments"]]
