"""The one error base of the importer layer: anything it cannot read ends as an `ImportFailed`."""

from __future__ import annotations


class ImportFailed(Exception):
    """An input the importer cannot turn into a draft; the message is one line for the user."""


class NeedsOcr(ImportFailed):
    """The input is a scanned image (or a PDF without a text layer): it must go through OCR first."""


class HostileInput(ImportFailed):
    """XML the importer refuses to expand (DTDs, entities) or content over its size limits."""
