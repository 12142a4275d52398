"""Every template, both languages, both directives: no undefined value, proper Vietnamese."""

from __future__ import annotations

import datetime as dt
import unicodedata

import pytest

from definitions.calendar import TIMEZONE, default_calendar
from definitions.resolve import ResolvedDirective
from lifecycle import PerformAction, apply, decide, next_wakeup
from lifecycle import commands as cmd
from lifecycle.planner import due_actions
from notifications.compose import compose
from notifications.errors import NotApplicable
from notifications.render import KINDS, TEMPLATES_DIR, DigestPart, render_digest, vi_date
from notifications.samples import preview, sample
from tests.notifications.conftest import ANSWER_URL, D2810, D5185, issued_state, resolved

DIRECTIVES = {"2810": D2810, "5185": D5185}
CONSOLIDATOR_KINDS = {"consolidation_request", "consolidated_ack"}
ISSUER_KINDS = {"cycle_closed", "directive_closed"}


def recipients_for(r: ResolvedDirective, kind: str) -> list[str]:
    if kind in CONSOLIDATOR_KINDS:
        return [r.consolidator or ""]
    if kind in ISSUER_KINDS:
        return [r.issuer.id]
    # a lead department, a district committee, and the requested bodies of 5185
    picked = ["so-ldtbxh", "ubnd-ly-son", *[a.id for a in r.tracked if a.requested_only][:2]]
    return [a for a in picked if r.agency(a)]


@pytest.mark.parametrize("language", ["vi", "en"])
@pytest.mark.parametrize("name", sorted(DIRECTIVES))
def test_every_kind_renders_for_every_directive(name: str, language: str) -> None:
    r = resolved(DIRECTIVES[name])
    rendered = 0
    for kind in KINDS:
        for agency in recipients_for(r, kind):
            for level in (1, 2) if kind == "escalation" else (1,):
                try:
                    notice = preview(r, agency, kind, answer_url=ANSWER_URL, language=language, level=level)
                except NotApplicable:
                    assert kind == "escalation" and r.agency(agency).requested_only  # type: ignore[union-attr]
                    continue
                rendered += 1
                assert notice.language == language and notice.kind == kind
                assert notice.subject.startswith(f"[{r.definition.reference}]")
                for part in (notice.subject, notice.text, notice.html):
                    assert part == unicodedata.normalize("NFC", part)
                    assert "None" not in part and "{{" not in part and "{%" not in part
                assert notice.text.strip() and "</html>" in notice.html
                if language == "vi":
                    assert notice.text.startswith("Kính gửi: ")
                    assert "Trân trọng./." in notice.text
                else:
                    assert notice.text.startswith("To: ")
    assert rendered >= len(KINDS)


def test_templates_are_nfc_utf8() -> None:
    files = sorted(TEMPLATES_DIR.glob("**/*.*"))
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert text == unicodedata.normalize("NFC", text), path
    for kind in (*KINDS, "digest"):
        for suffix in (".txt", ".html"):
            shared = (TEMPLATES_DIR / f"{kind}{suffix}").exists()
            # one template for both languages, or (not moved yet) one per language
            assert shared or all(
                (TEMPLATES_DIR / language / f"{kind}{suffix}").exists() for language in ("vi", "en")
            ), kind


def test_vietnamese_dates_follow_decree_30() -> None:
    assert vi_date(dt.date(2023, 6, 20)) == "20/6/2023"
    assert vi_date(dt.date(2021, 10, 5)) == "05/10/2021"
    assert vi_date(dt.date(2023, 11, 30)) == "30/11/2023"
    assert vi_date(dt.date(2023, 2, 7)) == "07/02/2023"


def test_a_missing_value_raises_instead_of_rendering_a_hole() -> None:
    from notifications.errors import RenderError
    from notifications.render import render

    with pytest.raises(RenderError, match="undefined"):
        render("reminder", "vi", {"directive": {"reference": "1/X"}})


def test_html_is_escaped(r2810: ResolvedDirective) -> None:
    action, state = sample(r2810, "so-ldtbxh", "report_returned")
    work = state.cycles["2023"].works["so-ldtbxh"]
    work.returned_reason = "<script>alert(1)</script> thiếu số liệu"
    (notice,) = compose(action, state, answer_url=ANSWER_URL)
    assert "<script>" not in notice.html and "&lt;script&gt;" in notice.html
    assert "<script>alert(1)</script> thiếu số liệu" in notice.text


def test_escalations_name_whom_and_how_late(r2810: ResolvedDirective) -> None:
    level1 = preview(r2810, "ubnd-ba-to", "escalation", answer_url=ANSWER_URL, level=1)
    assert level1.recipient == "ubnd-ba-to" and "quá hạn 1 ngày làm việc" in level1.text
    level2 = preview(r2810, "ubnd-ba-to", "escalation", answer_url=ANSWER_URL, level=2)
    assert level2.recipient == "ubnd-tinh"
    assert level2.text.startswith("Kính gửi: Ủy ban nhân dân tỉnh Quảng Ngãi")
    # 30/11/2023 was a Thursday: Fri 1, Mon 4 … Thu 7 December are five working days
    assert "Ủy ban nhân dân huyện Ba Tơ chưa gửi báo cáo, đã quá hạn 5 ngày làm việc" in level2.text
    assert "Trả lời qua hệ thống chidao" not in level2.text  # ubnd-tinh is not tracked


def test_every_action_of_a_simulated_year_composes(r2810: ResolvedDirective, r5185: ResolvedDirective) -> None:
    """Drive the real planner through a cycle with late, silent, returned and extended agencies."""
    calendar = default_calendar()
    for r in (r2810, r5185):
        state = issued_state(r)
        first = r.cycles[0]
        reporters = [a.id for a in r.tracked if a.reports]
        script = {
            reporters[1]: ("extend", first.report_due - dt.timedelta(days=5)),
            reporters[2]: ("return", first.report_due - dt.timedelta(days=2)),
            reporters[3]: ("late", first.report_due + dt.timedelta(days=10)),
        }
        for silent in reporters[4:6]:
            script[silent] = ("silent", first.report_due)
        composed: set[str] = set()
        now = state.last_event_at
        assert now is not None
        end = dt.datetime.combine(first.consolidation_due or first.report_due, dt.time(), tzinfo=TIMEZONE) + dt.timedelta(days=40)
        done_script: set[str] = set()
        while now is not None and now <= end:
            for agency, (what, day) in script.items():
                when = dt.datetime.combine(day, dt.time(10), tzinfo=TIMEZONE)
                if agency in done_script or when > now or what == "silent":
                    continue
                done_script.add(agency)
                if state.cycles[first.id].works[agency].status not in ("assigned", "returned"):
                    continue  # already reported in the consolidation round below
                commands: list[cmd.Command] = []
                if what == "extend":
                    commands = [
                        cmd.RequestExtension(actor=agency, agency=agency, cycle=first.id, reason="Chờ số liệu",
                                             proposed_due=first.report_due + dt.timedelta(days=7)),
                        cmd.GrantExtension(actor="operator", agency=agency, cycle=first.id),
                    ]
                elif what == "return":
                    commands = [
                        cmd.SubmitReport(actor=agency, agency=agency, cycle=first.id, text="Báo cáo"),
                        cmd.ReturnReport(actor="operator", agency=agency, cycle=first.id, reason="Thiếu số liệu"),
                    ]
                else:
                    commands = [cmd.SubmitReport(actor=agency, agency=agency, cycle=first.id, text="Báo cáo")]
                for command in commands:
                    for event in decide(state, command, when):
                        apply(state, event)
            for action in due_actions(state, now, calendar):
                for language in ("vi", "en"):
                    for notice in compose(action, state, answer_url=ANSWER_URL, language=language):  # type: ignore[arg-type]
                        assert notice.key == action.key and notice.email
                        composed.add(notice.kind)
                for event in decide(state, PerformAction(actor="system", action=action), now):
                    apply(state, event)
            if state.cycles[first.id].status == "consolidation_requested" and r.consolidator:
                for command in [
                    cmd.SubmitReport(actor=a, agency=a, cycle=first.id, text="Báo cáo")
                    for a in reporters if state.cycles[first.id].works[a].status in ("assigned", "returned")
                    and script.get(a, ("",))[0] != "silent"
                ]:
                    for event in decide(state, command, now):
                        apply(state, event)
                if now.date() >= (first.consolidation_due or now.date()):
                    for event in decide(state, cmd.SubmitConsolidatedReport(
                            actor=r.consolidator, cycle=first.id, text="Tổng hợp"), now):
                        apply(state, event)
            now = next_wakeup(state, now, calendar)
        assert {"issue_notice", "reminder", "escalation", "consolidation_request", "extension_granted",
                "report_returned", "consolidated_ack", "cycle_closed"} <= composed, (r.definition.id, composed)


def test_digest_renders_in_both_languages() -> None:
    parts = [DigestPart("[2810/UBND-KGVX] Một", "Kính gửi: X\n\nNội dung một\n\n--\nchân thư", "<!--chidao:body--><p>Một</p><!--/chidao:body-->"),
             DigestPart("[5185/UBND-KGVX] Hai", "Nội dung hai", "<p>Hai</p>")]
    for language in ("vi", "en"):
        out = render_digest(language, dt.date(2023, 6, 20), parts)
        assert out.subject.startswith("[2810/UBND-KGVX · 5185/UBND-KGVX] 2 ")
        assert "chân thư" not in out.text and "<p>Một</p>" in out.html
