"""The importer's entry points: a file (text, DOCX, PDF or edXML) in, a `Draft` out."""

from __future__ import annotations

from pathlib import Path

from rapidfuzz import fuzz

from definitions.schema import Directory
from importer.agencies import AgencyMatcher, load_directory_file, matcher_of
from importer.document import ParsedDocument, read_document
from importer.draft import Draft, Provenance, build_draft
from importer.edxml import (
    Message,
    attachment_to_text,
    decode_text,
    looks_like_xml,
    parse_message,
)
from importer.errors import HostileInput, ImportFailed
from importer.normalize import fold, squash

MAX_TEXT_BYTES = 16 * 1024 * 1024
# A directive of 200 pages is some 500 000 characters; past this the text is refused unread.
MAX_TEXT_CHARS = 2_000_000


def _check_text(text: str, name: str) -> None:
    if len(text) > MAX_TEXT_CHARS:
        raise ImportFailed(
            f"{name} has {len(text):,} characters, over {MAX_TEXT_CHARS:,}; not a directive"
        )
    if not text.strip():
        raise ImportFailed(f"{name} is empty")
    sample = text[:4096]
    controls = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\n\r\t\f")
    if "\x00" in sample or controls > len(sample) // 20:
        raise ImportFailed(f"{name} looks like binary data, not text")


def _looks_like_directive(doc: ParsedDocument) -> bool:
    return bool(doc.number or doc.sections or doc.recipients)


def import_text(text: str, *, directory: Directory | None = None, name: str = "text") -> Draft:
    _check_text(text, name)
    matcher = matcher_of(directory or load_directory_file())
    doc = read_document(text, matcher)
    if not _looks_like_directive(doc):
        raise ImportFailed(
            f"{name} does not look like a directive: no number (Số: …), no recipients "
            "(Kính gửi: …) and no numbered sections"
        )
    draft = build_draft(doc, name)
    draft.matcher = doc.matcher  # the document's scope, for an envelope's names
    return draft


def import_bytes(raw: bytes, *, directory: Directory | None = None, name: str = "input") -> Draft:
    if not raw.strip():
        raise ImportFailed(f"{name} is empty")
    if looks_like_xml(raw):
        try:
            message = parse_message(raw)
        except HostileInput:
            raise
        except ImportFailed:
            # markup left over in front of a copied text ("<?xml …><w:document></xml" + text)
            text = decode_text(raw[: MAX_TEXT_BYTES], name)
            if "cong hoa xa hoi" not in fold(text[:4000]):
                raise
            return import_text(text, directory=directory, name=name)
        draft = import_text(message.body, directory=directory,
                            name=f"{name} (attachment {message.attachment_name})")
        apply_envelope(draft, message, draft.matcher or matcher_of(directory or load_directory_file()))
        return draft
    if len(raw) > MAX_TEXT_BYTES:
        raise ImportFailed(f"{name} is over {MAX_TEXT_BYTES // (1024 * 1024)} MB; not a directive")
    if raw.startswith((b"%PDF", b"PK\x03\x04", b"\x89PNG", b"\xff\xd8\xff")):
        return import_text(attachment_to_text(raw, "", name), directory=directory, name=name)
    return import_text(decode_text(raw, name), directory=directory, name=name)


def import_file(path: Path, *, directory: Directory | None = None) -> Draft:
    try:
        size = path.stat().st_size
        if size > 40 * 1024 * 1024:
            raise ImportFailed(f"{path} is over 40 MB; refused")
        raw = path.read_bytes()
    except OSError as e:
        raise ImportFailed(f"cannot read {path}: {e.strerror or e}") from e
    return import_bytes(raw, directory=directory, name=str(path))


# --- the envelope wins ---------------------------------------------------------------


def _same(a: object, b: object) -> bool:
    return squash(fold(str(a))) == squash(fold(str(b))) or fuzz.ratio(
        squash(fold(str(a))), squash(fold(str(b)))
    ) >= 85


def apply_envelope(draft: Draft, message: Message, matcher: AgencyMatcher) -> None:
    env, out, prov = message.envelope, draft.definition, draft.provenance

    def take(path: str, value: object, parent: dict[str, object] | None = None) -> None:
        if value in (None, ""):
            return
        target = out if parent is None else parent
        key = path.rsplit(".", 1)[-1]
        before = target.get(key)
        before_prov = prov.get(path)
        if before in (None, "TODO") or before_prov is None or before_prov.confidence == 0.0:
            note = "the text has none"
        elif before == value:
            note = "the text agrees"
        elif _same(before, value):
            note = f'the text says "{before}", the same when accents are ignored'
        else:
            note = f'the text says "{before}": they disagree, the envelope wins'
            draft.warnings.append(f"{path}: edXML envelope says {value!r}, the text {before!r}")
        target[key] = value
        prov[path] = Provenance(None, "edxml", 0.95, note)
        draft.todo_notes.pop(path, None)
        draft.todos[:] = [t for t in draft.todos if not t.startswith(f"{path}:")]
        draft.warnings[:] = [w for w in draft.warnings if not w.startswith(f"TODO {path}:")]

    take("number", env.code_number)
    take("symbol", env.code_notation.upper() if env.code_notation else None)
    take("place", env.place)
    take("issued_on", env.promulgation_date)
    take("kind", env.type_name)
    take("subject", env.subject)
    signer = out.get("signer")
    if isinstance(signer, dict):
        competence = env.competence
        if competence:
            competence = competence.split(".", 1)[-1].strip() if "." in competence else competence
        take("signer.on_behalf_of", competence, signer)
        take("signer.position", env.position, signer)
        if env.full_name:
            take("signer.name", env.full_name, signer)
        elif signer.get("name") is None:
            draft.todo_notes["signer.name"] = (
                "neither the text nor the edXML envelope (SignerInfo/FullName is empty) gives "
                "the signer's name; fill it in from the signed original, or leave null"
            )
    if env.from_organ:
        m = matcher.best(env.from_organ)
        if m is not None and not m.is_group:
            take("issuer", m.id)
    _envelope_recipients(draft, env.to_organs, matcher)
    if env.to_places:
        places = [p for p in env.to_places if squash(fold(p)) != "nhu tren"]
        text_places = out.get("distribution") or []
        same = len(places) == len(text_places) and all(
            _same(a, b) for a, b in zip(places, text_places, strict=True)
        )
        out["distribution"] = places
        for i in range(len(places)):
            prov[f"distribution.{i}"] = Provenance(
                None, "edxml", 0.95, "the text agrees" if same else "ToPlaces of the envelope"
            )
        if not same:
            draft.warnings.append(f"distribution: envelope {places}, text {text_places}")
    if env.due_date:
        reporting = out.get("reporting")
        due = reporting.get("due") if isinstance(reporting, dict) else None
        if isinstance(due, dict) and "each_year" in due:
            day, month = (int(p) for p in due["each_year"].split("/"))
            agrees = (day, month) == (env.due_date.day, env.due_date.month)
        elif isinstance(due, dict) and "on" in due:
            agrees = due["on"] == env.due_date
        else:
            agrees = False
        note = f"edXML DueDate {env.due_date.isoformat()}"
        if agrees:
            old = prov.get("reporting.due")
            prov["reporting.due"] = Provenance(
                old.line if old else None, "text", max(old.confidence if old else 0, 0.95),
                f"{note} agrees with the text",
            )
        elif isinstance(reporting, dict) and reporting.get("due") == "TODO":
            reporting["due"] = {"on": env.due_date}
            prov["reporting.due"] = Provenance(None, "edxml", 0.8, f"{note}; the text has no deadline")
            draft.todo_notes.pop("reporting.due", None)
        else:
            draft.warnings.append(f"reporting.due: {note} differs from the text's deadline")


def _envelope_recipients(draft: Draft, organs: list[str], matcher: AgencyMatcher) -> None:
    if not organs:
        return
    recipients = draft.definition.get("recipients")
    text_ids = [r["agency"] for r in recipients] if isinstance(recipients, list) else []
    new: list[dict[str, str]] = []
    for organ in organs:
        m = matcher.best(organ)
        if m is None:
            draft.warnings.append(f'edXML recipient "{organ}" is not in the agency directory')
            continue
        existing = next((r for r in recipients or [] if r["agency"] == m.id), None)
        new.append({"agency": m.id, "text": existing["text"] if existing else m.text})
    ids = [r["agency"] for r in new]
    if set(ids) == set(text_ids):
        for i, rid in enumerate(text_ids):
            old = draft.provenance.get(f"recipients.{i}.agency")
            draft.provenance[f"recipients.{i}.agency"] = Provenance(
                old.line if old else None, "edxml", 0.95,
                f"edXML To organs agree with the text ({old.note if old else rid})",
            )
        return
    draft.warnings.append(
        f"recipients: envelope names {sorted(ids)}, the text {sorted(text_ids)}; the envelope wins"
    )
    draft.definition["recipients"] = new
    for i, r in enumerate(new):
        draft.provenance[f"recipients.{i}.agency"] = Provenance(None, "edxml", 0.9, r["text"])
