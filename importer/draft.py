"""From the intermediate reading to a draft definition with provenance, and its YAML and JSON.

The draft has the keys of `definitions.schema.Directive`. Each value says where it came from:
in YAML as an end-of-line comment (`# line 4, sure`), in JSON as a `provenance` map keyed by
dotted path. What the text does not give is a `TODO` string (or null for a field that may stay
empty) with a `# TODO:` comment: a TODO string fails validation on purpose until a person fills it.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from importer.agencies import guess_kind
from importer.model import AgencyRef, Found, ParsedDocument
from importer.normalize import fold

TODO = "TODO"
SURE = 0.9

# The ladder the hand-written definitions use; the operator owns it, so the draft only proposes it.
DEFAULT_ESCALATION: dict[str, Any] = {
    "source": "operator",
    "reminders": [
        {"before": 10, "unit": "working_days"},
        {"before": 3, "unit": "working_days"},
        {"before": 0, "unit": "days"},
    ],
    "levels": [
        {"level": 1, "after": 1, "unit": "working_days", "to": "agency"},
        {"level": 2, "after": 5, "unit": "working_days", "to": "answers_to", "every": 5, "times": 2},
    ],
}


@dataclass
class Provenance:
    line: int | None
    source: str  # "text" | "edxml" | "operator"
    confidence: float
    note: str = ""


@dataclass
class Draft:
    definition: dict[str, Any]
    provenance: dict[str, Provenance] = field(default_factory=dict)
    todos: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    proposed_agencies: list[dict[str, Any]] = field(default_factory=list)
    todo_notes: dict[str, str] = field(default_factory=dict)
    input_name: str = ""
    matcher: Any = field(default=None, repr=False, compare=False)  # the scope names were read in

    def to_json(self) -> dict[str, Any]:
        return {
            "definition": _jsonable(self.definition),
            "provenance": {k: asdict(v) for k, v in self.provenance.items()},
            "todos": list(self.todos),
            "warnings": list(self.warnings),
            "proposed_agencies": list(self.proposed_agencies),
        }

    def to_json_text(self) -> str:
        return json.dumps(self.to_json(), ensure_ascii=False, indent=2)

    def to_yaml(self) -> str:
        return _YamlWriter(self).write()


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


class _Builder:
    def __init__(self, doc: ParsedDocument) -> None:
        self.doc = doc
        self.draft = Draft(definition={})
        self.proposed: dict[str, dict[str, Any]] = {}

    def put(self, path: str, found: Found | None, *, todo: str, nullable: bool = False) -> Any:
        if found is None or found.value in (None, ""):
            self.todo(path, todo)
            return None if nullable else TODO
        self.draft.provenance[path] = Provenance(found.line, "text", found.confidence, found.note)
        return found.value

    def todo(self, path: str, message: str) -> None:
        self.draft.todos.append(f"{path}: {message}")
        self.draft.todo_notes[path] = message
        self.draft.provenance[path] = Provenance(None, "text", 0.0, f"TODO: {message}")

    def agency(self, path: str, ref: AgencyRef) -> str:
        self.draft.provenance[path] = Provenance(ref.line, "text", ref.confidence, ref.note)
        if ref.new:
            self.propose(ref)
        return ref.id

    def propose(self, ref: AgencyRef) -> None:
        if ref.id in self.proposed:
            return
        entry = {
            "id": ref.id, "name": ref.text, "kind": guess_kind(ref.text),
            "answers_to": self.doc.issuer.id if self.doc.issuer and self.doc.issuer.id != ref.id else None,
            "place": ref.place,
            "line": ref.line, "flagged": "not in the directory; check the name, id and kind",
        }
        self.proposed[ref.id] = entry
        self.draft.warnings.append(
            f'line {ref.line}: "{ref.text}" is not in the agency directory; '
            f"proposed as a new entry '{ref.id}'" + (f" of {ref.place}" if ref.place else "")
        )

    def build(self) -> Draft:
        d, doc, out = self.draft, self.doc, self.draft.definition
        out["id"] = self._id()
        out["kind"] = self.put("kind", doc.kind, todo="the text does not say what kind of document it is")
        if doc.issuer:
            out["issuer"] = self.agency("issuer", doc.issuer)
        else:
            out["issuer"] = TODO
            self.todo("issuer", "the issuer is not recognised; set its directory id")
        out["number"] = self.put("number", doc.number, todo="no document number (Số: …) found")
        out["symbol"] = self.put("symbol", doc.symbol, todo="no document symbol found")
        out["place"] = self.put("place", doc.place, todo="no place of issue found")
        out["issued_on"] = self.put("issued_on", doc.issued_on, todo=next(
            (n.split(": ", 1)[1] for n in doc.notes if "date of issue" in n), "no date of issue found"))
        out["subject"] = self.put("subject", doc.subject, todo="no subject (V/v …) found")
        signer: dict[str, Any] = {}
        if doc.signer_on_behalf_of:
            signer["on_behalf_of"] = self.put("signer.on_behalf_of", doc.signer_on_behalf_of, todo="")
        else:
            signer["on_behalf_of"] = None
        signer["position"] = self.put(
            "signer.position", doc.signer_position, todo="the signer's position is not in the text"
        )
        signer["name"] = self.put(
            "signer.name", doc.signer_name, nullable=True,
            todo="the text does not show the signer's name (lost in the scan?); fill it in "
            "from the signed original, or leave null",
        )
        out["signer"] = signer
        out["legal_basis"] = []
        for i, cited in enumerate(doc.cited):
            d.provenance[f"legal_basis.{i}"] = Provenance(cited.line, "text", cited.confidence, cited.note)
            out["legal_basis"].append(dict(cited.value))
        out["recipients"] = []
        for i, ref in enumerate(doc.recipients):
            out["recipients"].append({"agency": self.agency(f"recipients.{i}.agency", ref), "text": ref.text})
        if not doc.recipients:
            out["recipients"] = TODO
            self.todo("recipients", "no recipients (Kính gửi: …) found")
        if doc.preamble:
            out["preamble"] = self.put("preamble", doc.preamble, todo="")
        out["assignments"] = self._assignments()
        if doc.closing:
            out["closing"] = self.put("closing", doc.closing, todo="")
        out["reporting"], out["consolidation"] = self._reporting()
        out["escalation"] = json.loads(json.dumps(DEFAULT_ESCALATION))
        d.provenance["escalation"] = Provenance(
            None, "operator", 0.0,
            "default ladder of the hand-written definitions; the operator must review it",
        )
        out["language"] = "vi"
        out["distribution"] = []
        for i, found in enumerate(doc.distribution):
            out["distribution"].append(self.put(f"distribution.{i}", found, todo=""))
        for line in doc.stray_lines:
            d.warnings.append(f"line {line}: ignored as a stray line (page number or file path)")
        d.warnings.extend(doc.notes)
        if doc.issuer is not None and doc.issuer.new:
            d.warnings.append(
                "the issuer is not in the agency directory (another province or ministry?): "
                f"its agencies were read as bodies of {doc.scope or 'the whole country'}, proposed "
                "as new entries, never matched to this directory's"
            )
        d.warnings[:0] = [f"TODO {t}" for t in d.todos]
        d.proposed_agencies = list(self.proposed.values())
        return d

    def _id(self) -> str:
        doc = self.doc
        if not (doc.number and doc.symbol and doc.issued_on):
            self.todo("id", "the id needs the number, symbol and year; set it by hand")
            return TODO
        prefix = ""
        if doc.place:
            words = re.findall(r"\w+", fold(str(doc.place.value)))
            prefix = "".join(w[0] for w in words if w not in ("tp", "thanh", "pho")) or ""
        symbol = re.sub(r"[^a-z0-9]+", "-", fold(str(doc.symbol.value))).strip("-")
        parts = [p for p in (prefix, str(doc.number.value), symbol, str(doc.issued_on.value.year)) if p]
        conf = min(doc.number.confidence, doc.issued_on.confidence)
        self.draft.provenance["id"] = Provenance(
            doc.number.line, "text", conf, "made from place, number, symbol and year"
        )
        return "-".join(parts)

    def _assignments(self) -> Any:
        doc, d = self.doc, self.draft
        if not doc.sections:
            self.todo("assignments", "no numbered sections (1., 2., …) found")
            return TODO
        result = []
        for i, s in enumerate(doc.sections):
            base = f"assignments.{i}"
            d.provenance[f"{base}.section"] = Provenance(s.line, "text", 0.95)
            d.provenance[f"{base}.heading"] = Provenance(s.line, "text", s.heading_confidence, s.heading_note)
            entry: dict[str, Any] = {"section": s.number, "heading": s.heading}
            agencies: list[dict[str, Any]] = []
            for j, ref in enumerate(s.agencies):
                agencies.append({"agency": self.agency(f"{base}.agencies.{j}.agency", ref), "role": s.role})
                if s.role == "requested":
                    d.provenance[f"{base}.agencies.{j}.role"] = Provenance(
                        s.line, "text", 0.9, '"Đề nghị": a request, not an order'
                    )
            if not agencies:
                agencies = [{"agency": TODO, "role": "lead"}]
                self.todo(f"{base}.agencies", f"could not tell whom section {s.number} is given to")
            entry["agencies"] = agencies
            if s.text:
                entry["text"] = s.text
                d.provenance[f"{base}.text"] = Provenance(s.line, "text", 0.8 if doc.damaged else 0.9,
                                                          "OCR text" if doc.damaged else "")
            items = []
            for j, it in enumerate(s.items):
                ipath = f"{base}.items.{j}"
                d.provenance[f"{ipath}.letter"] = Provenance(it.line, "text", it.confidence, it.note)
                item: dict[str, Any] = {"letter": it.letter, "text": it.text}
                if it.coordinate_with:
                    item["coordinate_with"] = [
                        self.agency(f"{ipath}.coordinate_with.{k}", ref)
                        for k, ref in enumerate(it.coordinate_with)
                    ]
                items.append(item)
            if items:
                entry["items"] = items
            result.append(entry)
        return result

    def _reporting(self) -> tuple[Any, Any]:
        doc, d = self.doc, self.draft
        reports = [x for x in doc.duties if x.kind == "report"]
        consolidations = [x for x in doc.duties if x.kind == "consolidation"]
        if len(reports) > 1:
            lines = ", ".join(str(r.line) for r in reports[1:])
            d.warnings.append(
                f"further reporting duties at line(s) {lines} are not in the draft; review them"
            )
        if not reports:
            message = "the text states no reporting date; an operator must set one"
            reporting: dict[str, Any] = {
                "source": "operator", "reporters": "all_tracked", "to": TODO, "due": TODO,
                "recurrence": TODO, "first_cycle": TODO,
            }
            self.todo("reporting", message)
            for key in ("to", "due", "recurrence", "first_cycle"):
                d.provenance[f"reporting.{key}"] = Provenance(None, "operator", 0.0, f"TODO: {message}")
            consolidation_msg = (
                "the text names no consolidation; set who gathers the reports and by when, "
                "or leave null"
            )
            self.todo("consolidation", consolidation_msg)
            return reporting, None
        r = reports[0]
        reporting = {"source": "document", "reporters": "all_tracked"}
        d.provenance["reporting"] = Provenance(r.line, "text", r.confidence, "")
        if r.reporters:
            reporting["reporters"] = [
                self.agency(f"reporting.reporters.{i}", ref) for i, ref in enumerate(r.reporters)
            ]
            d.provenance["reporting.reporters"] = Provenance(
                r.line, "text", 0.8, "the agencies of the section that states the duty, fewer "
                "than the recipients"
            )
        else:
            d.provenance["reporting.reporters"] = Provenance(
                r.line, "text", 0.7, "every tracked agency assumed; check who the sentence addresses"
            )
        if r.to is not None:
            reporting["to"] = self.agency("reporting.to", r.to)
        else:
            reporting["to"] = TODO
            self.todo("reporting.to", "the text does not say to whom the reports go")
        if r.due is not None:
            reporting["due"] = r.due
            d.provenance["reporting.due"] = Provenance(r.line, "text", r.confidence, r.due_note)
        else:
            reporting["due"] = TODO
            self.todo("reporting.due", r.due_note or "the deadline could not be read")
        reporting["recurrence"] = r.recurrence
        d.provenance["reporting.recurrence"] = Provenance(
            r.line, "text", 0.85 if r.recurrence_stated else 0.7,
            "" if r.recurrence_stated else "no recurrence stated: once",
        )
        reporting["first_cycle"] = r.year if r.year is not None else TODO
        if r.year is None:
            self.todo("reporting.first_cycle", "no year for the first reporting cycle")
        else:
            d.provenance["reporting.first_cycle"] = Provenance(r.line, "text", 0.85, "year of the first deadline")
        if r.recurrence != "once":
            reporting["last_cycle"] = TODO
            self.todo(
                "reporting.last_cycle",
                f"the text says the reporting recurs ({r.recurrence}) but names no last cycle; "
                "an operator must choose one",
            )
        reporting["text"] = r.sentence
        d.provenance["reporting.text"] = Provenance(r.line, "text", 0.9, "")
        consolidation: dict[str, Any] | None = None
        if consolidations:
            c = consolidations[0]
            consolidation = {"source": "document"}
            d.provenance["consolidation"] = Provenance(c.line, "text", c.confidence, c.sentence)
            for key, ref in (("by", c.by), ("to", c.to)):
                if ref is not None:
                    consolidation[key] = self.agency(f"consolidation.{key}", ref)
                else:
                    consolidation[key] = TODO
                    self.todo(f"consolidation.{key}", f"the consolidation's '{key}' is not clear")
            if c.due is not None and "days_after_issue" not in c.due:
                consolidation["due"] = c.due
                d.provenance["consolidation.due"] = Provenance(c.line, "text", c.confidence, c.due_note)
            else:
                consolidation["due"] = TODO
                self.todo("consolidation.due", c.due_note or "the consolidation deadline could not be read")
        else:
            self.todo("consolidation", "the text names no consolidation; set one or leave null")
        return reporting, consolidation


def build_draft(doc: ParsedDocument, input_name: str = "") -> Draft:
    draft = _Builder(doc).build()
    draft.input_name = input_name
    return draft


# --- YAML with comments -------------------------------------------------------------

_PLAIN = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value)
    if text == TODO or (_PLAIN.match(text) and text not in ("null", "true", "false", "yes", "no", "on", "off")):
        return text
    # JSON strings are valid YAML double-quoted scalars
    return json.dumps(text, ensure_ascii=False)


class _YamlWriter:
    def __init__(self, draft: Draft) -> None:
        self.draft = draft
        self.out: list[str] = []

    def comment(self, path: str) -> str:
        if path in self.draft.todo_notes:
            return f"  # TODO: {self.draft.todo_notes[path]}"
        prov = self.draft.provenance.get(path)
        if prov is None:
            return ""
        if prov.source == "operator":
            return f"  # {prov.note}" if prov.note else ""
        where = "from edXML envelope" if prov.source == "edxml" else (
            f"line {prov.line}" if prov.line else "text"
        )
        sure = "sure" if prov.confidence >= SURE else f"unsure ({prov.confidence:.2f})"
        note = f" ({_one_line(prov.note)})" if prov.note else ""
        return f"  # {where}, {sure}{note}"

    def write(self) -> str:
        name = self.draft.input_name or "the input"
        self.out.append(f"# Draft definition made by `chidao import` from {name}.")
        self.out.append("# Each value says where it came from. Review every 'unsure' value; fill every")
        self.out.append("# TODO (they fail validation until filled), then run `chidao validate`.")
        self._mapping(self.draft.definition, "", 0)
        if self.draft.proposed_agencies:
            self.out.append("")
            self.out.append("# Proposed new entries for the agency directory (not in it yet; flagged):")
            for entry in self.draft.proposed_agencies:
                fields = {k: v for k, v in entry.items() if k in ("id", "name", "kind", "answers_to", "place")}
                flow = ", ".join(f"{k}: {_scalar(v)}" for k, v in fields.items() if v is not None)
                self.out.append(f"#   - {{{flow}}}  # line {entry['line']}, {entry['flagged']}")
        return "\n".join(self.out) + "\n"

    def _mapping(self, mapping: dict[str, Any], prefix: str, indent: int, first_dash: bool = False) -> None:
        for n, (key, value) in enumerate(mapping.items()):
            path = f"{prefix}.{key}" if prefix else key
            lead = " " * indent
            if first_dash and n == 0:
                lead = " " * (indent - 2) + "- "
            self._entry(lead, f"{_scalar(key)}:", value, path, indent)

    def _entry(self, lead: str, label: str, value: Any, path: str, indent: int) -> None:
        comment = self.comment(path)
        if isinstance(value, dict) and value:
            self.out.append(f"{lead}{label}{comment}")
            self._mapping(value, path, indent + 2)
        elif isinstance(value, list) and value:
            self.out.append(f"{lead}{label}{comment}")
            for i, item in enumerate(value):
                ipath = f"{path}.{i}"
                if isinstance(item, dict) and item:
                    head = self.comment(ipath)
                    if head:
                        self.out.append(f"{' ' * (indent + 2)}# {path}[{i}]:{head[3:]}")
                    self._mapping(item, ipath, indent + 4, first_dash=True)
                else:
                    self.out.append(f"{' ' * (indent + 2)}- {self._flat(item)}{self.comment(ipath)}")
        else:
            self.out.append(f"{lead}{label} {self._flat(value)}{comment}")

    def _flat(self, value: Any) -> str:
        if isinstance(value, dict):
            return "{}" if not value else json.dumps(_jsonable(value), ensure_ascii=False)
        if isinstance(value, list):
            return "[]" if not value else json.dumps(_jsonable(value), ensure_ascii=False)
        return _scalar(value)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())
