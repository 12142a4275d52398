"""The operator's choice of who takes an ended agency's work, turned into hand-overs.

An amendment names, for an agency (or each member of a group), who takes its work from a
date: `successors` (the directory's, as of that date) or a list of agencies it chooses. Each
hand-over gets its basis: the directory's succession document when the successor is one the
directory names, otherwise the operator's decision with the amendment's reason.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from pydantic import ConfigDict, Field

from definitions.errors import DefinitionError, Problem
from definitions.resolve import standing_for
from definitions.schema import Directory, Model, ShortText, Slug


class HandoverSpec(Model):
    """`{from: so-ldtbxh, to: [so-noi-vu]}` or `{from: ubnd-cap-huyen, to: successors}`."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    from_: Slug = Field(alias="from")
    to: Literal["successors"] | tuple[Slug, ...] = "successors"
    part: ShortText | None = None


@dataclass(frozen=True)
class Handover:
    from_agency: str
    to_agency: str
    basis: str
    part: str | None


def plan_handovers(
    directory: Directory,
    specs: tuple[HandoverSpec, ...],
    on: dt.date,
    reason: str,
    *,
    where: str = "amendment",
) -> tuple[dict[str, tuple[str, ...]], list[Handover]]:
    """(agency → who takes its work, the hand-overs) for `specs` on `on`; a DefinitionError
    naming every spec that points at nobody, at an unknown agency or at one not valid then."""
    agencies = {a.id: a for a in directory.agencies}
    groups = {g.id: g.members for g in directory.groups}
    chosen: dict[str, tuple[str, ...]] = {}
    handovers: list[Handover] = []
    problems: list[Problem] = []

    def problem(index: int, message: str) -> None:
        problems.append(Problem(where, 0, 0, f"handovers.{index}", message))

    for index, spec in enumerate(specs):
        members = groups.get(spec.from_, (spec.from_,))
        for member in members:
            agency = agencies.get(member)
            if agency is None:
                problem(index, f"unknown agency '{member}'")
                continue
            successors = agency.succession.successors if agency.succession else ()
            if spec.to == "successors":
                if agency.valid_on(on):
                    problem(
                        index,
                        f"'{member}' still exists on {on:%d/%m/%Y}: it has no successors yet; "
                        "name who takes its work",
                    )
                    continue
                targets = standing_for(directory, member, on)
                if not targets:
                    problem(index, f"'{member}' has no successor in the directory on {on:%d/%m/%Y}")
                    continue
            else:
                targets = spec.to
            for target in targets:
                successor = agencies.get(target)
                if successor is None:
                    problem(index, f"successor '{target}' of '{member}' does not exist")
                    continue
                if not successor.valid_on(on):
                    problem(
                        index,
                        f"the work of '{member}' cannot pass to '{target}' on {on:%d/%m/%Y}: "
                        f"'{target}' is not valid then",
                    )
                    continue
                named = next(
                    (s for s in successors if (s if isinstance(s, str) else s.agency) == target),
                    None,
                )
                if named is not None and agency.succession is not None:
                    basis = agency.succession.basis.describe()
                    part = spec.part or (None if isinstance(named, str) else named.part)
                else:
                    basis = f"quyết định của người vận hành: {reason}"
                    part = spec.part
                handovers.append(Handover(member, target, basis, part))
            chosen[member] = tuple(targets)
    if problems:
        raise DefinitionError(problems)
    return chosen, handovers
