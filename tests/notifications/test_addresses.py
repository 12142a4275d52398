"""An agency without an address is reported when its directive is validated, not when mail is due."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from definitions.errors import DefinitionError
from definitions.loader import DIRECTORY_DIR, load_definition, load_directory
from tests.notifications.conftest import D2810


def test_a_tracked_agency_without_email_fails_validation(tmp_path: Path) -> None:
    folder = tmp_path / "agencies"
    folder.mkdir()
    for path in DIRECTORY_DIR.glob("*.yaml"):
        source = yaml.safe_load(path.read_text(encoding="utf-8"))
        for agency in source["agencies"]:
            if agency["id"] == "ubnd-ly-son":
                del agency["email"]
        (folder / path.name).write_text(
            yaml.safe_dump(source, allow_unicode=True), encoding="utf-8"
        )
    directory = load_directory(folder)
    with pytest.raises(DefinitionError) as caught:
        load_definition(D2810, directory)
    assert "agency 'ubnd-ly-son' has no address in the directory" in str(caught.value)
    load_definition(D2810, load_directory())  # the packaged directory has every address
