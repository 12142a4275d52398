"""The name a resolved definition is stored and referred to by: the SHA-256 of its canonical JSON.

Canonical JSON is `json.dumps` with sorted keys, no spaces and UTF-8 text (the ledger's hash
chain uses the same form). The issuance and amendment events carry this hash instead of the
definition, so the chain covers the definition stored under it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from definitions.resolve import ResolvedDirective


def document_sha256(document: Any) -> str:
    """The SHA-256 (hex) of a JSON document in canonical form."""
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def definition_sha256(resolved: ResolvedDirective) -> str:
    """The hash of a resolved definition: of its JSON form (`model_dump(mode="json")`)."""
    return document_sha256(resolved.model_dump(mode="json"))
