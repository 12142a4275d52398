"""The checks a definition must pass beyond its types, each naming the ids at fault.

Directory checks return `(subject id, field, message)`; directive checks return
`(path in the YAML, message)`, so the loader can point at the place in the file.
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Iterable

from definitions.resolve import ResolutionError, expand, resolve_cycles
from definitions.schema import ITEM_LETTERS, Agency, Directive, Directory, Group

YamlPath = tuple[str | int, ...]


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def escalation_loops(directory: Directory) -> list[list[str]]:
    """Every cycle of the `answers_to` chain, each once, as the ids in order."""
    answers_to = {a.id: a.answers_to for a in directory.agencies}
    seen_loops: set[frozenset[str]] = set()
    loops = []
    for start in answers_to:
        chain = [start]
        current = answers_to.get(start)
        while current is not None and current in answers_to:
            if current in chain:
                loop = chain[chain.index(current) :]
                if frozenset(loop) not in seen_loops:
                    seen_loops.add(frozenset(loop))
                    loops.append([*loop, current])
                break
            chain.append(current)
            current = answers_to.get(current)
    return loops


def check_directory(directory: Directory) -> list[tuple[str, str, str]]:
    found: list[tuple[str, str, str]] = []
    agency_ids = [a.id for a in directory.agencies]
    group_ids = [g.id for g in directory.groups]
    counts = Counter(agency_ids + group_ids)
    for dup in sorted(k for k, n in counts.items() if n > 1):
        found.append((dup, "id", f"id '{dup}' is used more than once"))
    known = set(agency_ids)
    for agency in directory.agencies:
        if agency.answers_to is not None and agency.answers_to not in known:
            found.append(
                (
                    agency.id,
                    "answers_to",
                    f"'{agency.id}' answers to unknown agency '{agency.answers_to}'"
                    + _suggest(agency.answers_to, known),
                )
            )
    for group in directory.groups:
        for index, member in enumerate(group.members):
            if member not in known:
                hint = " (groups cannot contain groups)" if member in group_ids else ""
                found.append(
                    (
                        group.id,
                        f"members.{index}",
                        f"group '{group.id}' has unknown member '{member}'{hint}"
                        + _suggest(member, known),
                    )
                )
    for loop in escalation_loops(directory):
        found.append((loop[0], "answers_to", "escalation chain loops: " + " → ".join(loop)))
    found.extend(_check_validity(directory))
    return found


def _day(day: object) -> str:
    return f"{day:%d/%m/%Y}" if day is not None else "always"


def _check_validity(directory: Directory) -> Iterable[tuple[str, str, str]]:
    """Dates that run backwards, and successions that point nowhere or leave a gap."""
    agencies = {a.id: a for a in directory.agencies}
    groups = {g.id for g in directory.groups}
    entries: list[Agency | Group] = [*directory.agencies, *directory.groups]
    for entry in entries:
        if (
            entry.valid_from is not None
            and entry.valid_until is not None
            and entry.valid_until <= entry.valid_from
        ):
            yield (
                entry.id,
                "valid_until",
                f"'{entry.id}' ends on {_day(entry.valid_until)}, not after it starts "
                f"({_day(entry.valid_from)})",
            )
    for agency in directory.agencies:
        succession = agency.succession
        if succession is None:
            continue
        if agency.valid_until is None:
            yield (
                agency.id,
                "succession",
                f"'{agency.id}' has successors but no end date (valid_until)",
            )
            continue
        for index, successor_id in enumerate(succession.successor_ids):
            field = f"succession.successors.{index}"
            successor = agencies.get(successor_id)
            if successor is None:
                hint = " (a group cannot succeed an agency)" if successor_id in groups else ""
                yield (
                    agency.id,
                    field,
                    f"successor '{successor_id}' of '{agency.id}' does not exist{hint}"
                    + _suggest(successor_id, agencies),
                )
            elif successor.id == agency.id:
                yield agency.id, field, f"'{agency.id}' cannot succeed itself"
            elif successor.valid_from is not None and successor.valid_from > agency.valid_until:
                yield (
                    agency.id,
                    field,
                    f"successor '{successor.id}' starts on {_day(successor.valid_from)}, after "
                    f"'{agency.id}' ended on {_day(agency.valid_until)}: its work would have "
                    "nobody in between",
                )
            elif successor.valid_until is not None and successor.valid_until <= agency.valid_until:
                yield (
                    agency.id,
                    field,
                    f"successor '{successor.id}' itself ends on {_day(successor.valid_until)}, "
                    f"no later than '{agency.id}' ({_day(agency.valid_until)}): work cannot "
                    "pass to an agency that has ended",
                )


def _check_refs(directive: Directive, directory: Directory) -> Iterable[tuple[YamlPath, str]]:
    agencies = {a.id for a in directory.agencies}
    groups = {g.id for g in directory.groups}
    known = agencies | groups

    def unknown(
        ref: str, path: YamlPath, *, groups_allowed: bool = True
    ) -> Iterable[tuple[YamlPath, str]]:
        if ref in agencies or (groups_allowed and ref in groups):
            return
        if ref in groups:
            yield path, f"'{ref}' is a group; a single agency is needed here"
        else:
            yield (
                path,
                f"unknown agency '{ref}'" + _suggest(ref, known if groups_allowed else agencies),
            )

    yield from unknown(directive.issuer, ("issuer",), groups_allowed=False)
    for i, recipient in enumerate(directive.recipients):
        yield from unknown(recipient.agency, ("recipients", i, "agency"))
    for i, assignment in enumerate(directive.assignments):
        for j, assigned in enumerate(assignment.agencies):
            yield from unknown(assigned.agency, ("assignments", i, "agencies", j, "agency"))
        for j, item in enumerate(assignment.items):
            for k, ref in enumerate(item.coordinate_with):
                yield from unknown(ref, ("assignments", i, "items", j, "coordinate_with", k))
    reporting = directive.reporting
    yield from unknown(reporting.to, ("reporting", "to"), groups_allowed=False)
    if reporting.reporters != "all_tracked":
        for i, ref in enumerate(reporting.reporters):
            yield from unknown(ref, ("reporting", "reporters", i))
    if directive.consolidation:
        yield from unknown(
            directive.consolidation.by, ("consolidation", "by"), groups_allowed=False
        )
        yield from unknown(
            directive.consolidation.to, ("consolidation", "to"), groups_allowed=False
        )
    for i, level in enumerate(directive.escalation.levels):
        if level.to not in ("agency", "answers_to"):
            yield from unknown(level.to, ("escalation", "levels", i, "to"), groups_allowed=False)


def _check_structure(directive: Directive) -> Iterable[tuple[YamlPath, str]]:
    sections = [a.section for a in directive.assignments]
    for i, assignment in enumerate(directive.assignments):
        if assignment.section in sections[:i]:
            yield (
                ("assignments", i, "section"),
                f"section {assignment.section} appears more than once",
            )
        elif i and assignment.section <= sections[i - 1]:
            yield (
                ("assignments", i, "section"),
                f"section {assignment.section} comes after section {sections[i - 1]}",
            )
        letters = [item.letter for item in assignment.items]
        for j, letter in enumerate(letters):
            path: YamlPath = ("assignments", i, "items", j, "letter")
            if letter not in ITEM_LETTERS:
                hint = " (Vietnamese lettering has no f, j, w)" if letter in ("f", "j", "w") else ""
                yield path, f"'{letter}' is not an item letter{hint}"
            elif letter in letters[:j]:
                yield path, f"item {assignment.section}{letter}) appears more than once"
            elif j and letters[j - 1] in ITEM_LETTERS:
                expected = ITEM_LETTERS[ITEM_LETTERS.index(letters[j - 1]) + 1]
                if letter != expected:
                    yield (
                        path,
                        f"item {assignment.section}{letter}) follows {letters[j - 1]}); "
                        f"expected {expected}) (Vietnamese order: a b c d đ e g h …)",
                    )
            elif j == 0 and letter != "a":
                yield path, f"section {assignment.section} starts its items at {letter}), not a)"


def _check_assigned_recipients(
    directive: Directive, directory: Directory
) -> Iterable[tuple[YamlPath, str]]:
    assigned = {
        member
        for assignment in directive.assignments
        for agency in assignment.agencies
        for member in expand(directory, agency.agency)
    }
    for i, recipient in enumerate(directive.recipients):
        members = set(expand(directory, recipient.agency))
        if not members & assigned:
            yield (
                ("recipients", i, "agency"),
                f"recipient '{recipient.agency}' ({recipient.text}) has nothing assigned",
            )


def _check_dates(directive: Directive) -> Iterable[tuple[YamlPath, str]]:
    reporting = directive.reporting
    if reporting.last_cycle is not None and reporting.last_cycle < reporting.first_cycle:
        yield (
            ("reporting", "last_cycle"),
            f"recurrence ends ({reporting.last_cycle}) before it starts ({reporting.first_cycle})",
        )
        return
    if reporting.recurrence == "once" and reporting.last_cycle not in (None, reporting.first_cycle):
        yield ("reporting", "last_cycle"), "a report due once has no later cycle"
    if reporting.first_cycle < directive.issued_on.year:
        yield (
            ("reporting", "first_cycle"),
            f"first cycle {reporting.first_cycle} is before the year of issue "
            f"{directive.issued_on.year}",
        )
        return
    try:
        cycles = resolve_cycles(directive)
    except ResolutionError as e:
        yield ("reporting", "due"), str(e)
        return
    if not cycles:
        yield ("reporting", "first_cycle"), "no reporting cycle falls after the date of issue"
        return
    first = cycles[0]
    if first.report_due_stated < directive.issued_on:
        yield (
            ("reporting", "due"),
            f"due {first.report_due_stated:%d/%m/%Y} is before the date of issue "
            f"{directive.issued_on:%d/%m/%Y}",
        )
    for cycle in cycles:
        if (
            cycle.consolidation_due_stated
            and cycle.consolidation_due_stated < cycle.report_due_stated
        ):
            yield (
                ("consolidation", "due"),
                f"consolidation due {cycle.consolidation_due_stated:%d/%m/%Y} comes before the "
                f"reports it consolidates (due {cycle.report_due_stated:%d/%m/%Y}, "
                f"cycle {cycle.id})",
            )
            break


def _check_addresses(directive: Directive, directory: Directory) -> Iterable[tuple[YamlPath, str]]:
    agencies = {a.id: a for a in directory.agencies}
    for i, assignment in enumerate(directive.assignments):
        for j, assigned in enumerate(assignment.agencies):
            for member in expand(directory, assigned.agency):
                agency = agencies.get(member)
                if agency is not None and not agency.email:
                    yield (
                        ("assignments", i, "agencies", j, "agency"),
                        f"agency '{member}' has no address in the directory; "
                        "it could not be notified",
                    )
    for path, ref in (
        (("reporting", "to"), directive.reporting.to),
        (("consolidation", "by"), directive.consolidation.by if directive.consolidation else None),
    ):
        agency = agencies.get(ref) if ref else None
        if agency is not None and not agency.email:
            yield path, f"agency '{ref}' has no address in the directory; it could not be notified"


def _check_escalation(directive: Directive, directory: Directory) -> Iterable[tuple[YamlPath, str]]:
    answers_to = {a.id: a.answers_to for a in directory.agencies}
    uses_answers_to = any(level.to == "answers_to" for level in directive.escalation.levels)
    tracked = {
        member
        for assignment in directive.assignments
        for agency in assignment.agencies
        if agency.role != "requested"
        for member in expand(directory, agency.agency)
    }
    loops = escalation_loops(directory)
    for loop in loops:
        if set(loop) & tracked:
            yield ("escalation", "levels"), "escalation chain loops: " + " → ".join(loop)
    if uses_answers_to:
        for member in sorted(tracked):
            if member in answers_to and answers_to[member] is None:
                yield (
                    ("escalation", "levels"),
                    f"'{member}' answers to nobody in the directory, so an escalation "
                    "'to: answers_to' has nowhere to go",
                )


def check_directive(directive: Directive, directory: Directory) -> list[tuple[YamlPath, str]]:
    found = list(_check_refs(directive, directory))
    found.extend(_check_structure(directive))
    if not found:
        found.extend(_check_assigned_recipients(directive, directory))
        found.extend(_check_addresses(directive, directory))
        found.extend(_check_escalation(directive, directory))
    found.extend(_check_dates(directive))
    return found
