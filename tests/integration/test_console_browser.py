"""The renewals console in a real browser (Debian's chromium driven by Playwright): log in to
Airflow, find a member, read the timeline, open a preview, settle an unknown send and see the
verdict in the timeline. Screenshots go to .demo/screens/ for a person to look at."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from renewals.storage.db import connect
from tests.console import CHROMIUM, DRY, MEMBER, SCREENS, Console, browser_page, console_stack, log_in, shot

pytestmark = pytest.mark.skipif(
    shutil.which(CHROMIUM) is None, reason=f"{CHROMIUM} is missing (make test installs Debian's chromium)"
)


@pytest.fixture(scope="module")
def console(pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    with console_stack(pg_server, Path(tmp_path_factory.mktemp("console"))) as stack:
        yield stack


@pytest.fixture
def page(console: Console) -> Iterator:
    with browser_page(console.url) as page:
        yield page


def test_find_a_member_read_the_story_preview_and_settle_an_unknown_send(console: Console, page) -> None:
    from playwright.sync_api import expect

    log_in(page, "admin")
    expect(page.locator("h1")).to_have_text("Members")

    page.locator("#member-search").fill("acme")
    page.locator("#member-search").press("Enter")
    expect(page.locator("#results a", has_text=MEMBER)).to_be_visible()
    shot(page, "01-search")
    page.locator("#results a", has_text=MEMBER).click()

    expect(page.locator("h1")).to_have_text("Acme Widgets & Co")
    timeline = page.locator("#timeline")
    expect(timeline.locator("tr.k-ledger", has_text="renewal_confirmation")).to_contain_text("unknown")
    shot(page, "02-member")

    reminder = page.locator("details.preview[data-touchpoint='renewal_reminder_15']")
    reminder.locator("summary").click()
    expect(reminder.locator("pre")).to_contain_text("due for renewal in 15 days")
    frame = reminder.locator("iframe.preview")
    expect(frame).to_have_attribute("sandbox", "")
    expect(frame.content_frame.locator("body")).to_contain_text("Acme Widgets & Co is due for renewal in 15 days")
    reminder.scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENS / "03-preview.png"))

    page.get_by_role("link", name="Unknown sends").click()
    row = page.locator("#unknown tr", has_text=MEMBER)
    expect(row).to_contain_text("renewal_confirmation")
    shot(page, "04-unknown")
    row.get_by_role("button", name="Delivered", exact=True).click()
    expect(page.locator("#flash")).to_contain_text("marked sent (decided by admin)")
    expect(page.locator("#unknown tr", has_text=MEMBER)).to_have_count(0)
    shot(page, "05-settled")

    page.goto(f"/renewals/members/{MEMBER}")
    verdict = page.locator("#timeline tr.k-attempt", has_text="decided by admin")
    expect(verdict).to_contain_text("confirmed")
    expect(page.locator("#timeline tr.k-ledger", has_text="renewal_confirmation")).to_contain_text("sent")
    shot(page, "06-member-after-verdict")


def test_the_console_in_the_airflow_ui_and_the_dry_run_tab(console: Console, page) -> None:
    from playwright.sync_api import expect

    log_in(page, "viewer")
    page.goto("/")
    nav = page.get_by_role("link", name="Renewals").or_(page.get_by_role("button", name="Renewals"))
    expect(nav.first).to_be_visible()
    nav.first.click()
    frame = page.frame_locator("iframe").first
    expect(frame.locator("h1")).to_have_text("Members")
    shot(page, "07-airflow-nav")

    page.goto(f"/renewals/runs/{console.dry_run_id}")
    expect(page.locator("h1")).to_contain_text("dry run")
    page.locator("#previews details summary").first.click()
    expect(page.locator("#previews iframe.preview").first).to_be_visible()
    shot(page, "08-dry-run")

    # a viewer may look but not decide
    with closing(connect(console.ops_uri, autocommit=True)) as ops:
        ops.execute(
            "update renewals.touchpoints set status = 'unknown' where subscription_id = %s and status = 'sent'", (DRY,)
        )
    page.goto("/renewals/unknown")
    page.locator("#unknown button[data-verdict=delivered]").first.click()
    expect(page.locator("#flash")).to_contain_text("Not saved: settling a send needs permission to edit renewals_daily")
    shot(page, "09-viewer-refused")
    with closing(connect(console.ops_uri, autocommit=True)) as ops:
        statuses = ops.execute("select status from renewals.touchpoints where subscription_id = %s", (DRY,)).fetchall()
    assert ("unknown",) in statuses, "the refused verdict changed nothing"
