"""The agency's page at 20:30 UTC: its dates are Vietnam's (already the next day there).

29/11/2023 20:30 UTC is 30/11/2023 03:30 in Asia/Ho_Chi_Minh: an acknowledgement and a report
made then show as 30/11/2023 on the page and in the refusal (409) of a second report.
"""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from tests.test_vietnam_time import other_language_words
from tests.webhook.conftest import Clock
from tests.webhook.test_form import browser, form_app, hidden, page, post, token_for

pytestmark = pytest.mark.anyio
__all__ = ["browser", "form_app"]  # the fixtures, used by name

EVENING = dt.datetime(2023, 11, 29, 20, 30, tzinfo=dt.UTC)


async def test_the_page_and_its_409_give_vietnam_date(
    browser: httpx.AsyncClient, clock: Clock
) -> None:
    clock.now = EVENING
    shown = await page(browser, token_for())
    acknowledged = await post(browser, "acknowledge", hidden(shown.text, "acknowledge"))
    assert acknowledged.status_code == 303, acknowledged.text
    after = (await browser.get(acknowledged.headers["location"])).text
    assert "Đã xác nhận tiếp nhận ngày 30/11/2023" in after
    assert "29/11/2023" not in after

    fields = hidden(after, "report")
    first = await post(browser, "report", {**fields, "text": "Báo cáo năm 2023."})
    assert first.status_code == 303, first.text
    clock.now = EVENING + dt.timedelta(hours=1)
    stale = {**fields, "form_id": fields["form_id"] + "-b", "text": "Báo cáo lần hai."}
    refused = await post(browser, "report", stale)
    assert refused.status_code == 409
    assert "30/11/2023" in refused.text and "29/11/2023" not in refused.text
    # the page's own words are Vietnamese (the refusal's reason comes from the lifecycle)
    assert other_language_words(after, "vi") == []
