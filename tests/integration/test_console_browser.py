"""The renewals console in a real browser (Debian's chromium driven by Playwright): log in to
Airflow, find a member, read the timeline, open a preview, settle an unknown send and see the
verdict in the timeline. Screenshots go to .demo/screens/ for a person to look at."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import pytest

from renewals.storage.db import connect
from tests.console import (
    CHROMIUM,
    DRY,
    MEMBER,
    SCREENS,
    TODAY,
    Console,
    browser_page,
    console_stack,
    log_in,
    shot,
)

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
    expect(page.locator("h1")).to_have_text("Outbox")

    page.get_by_role("link", name="Members", exact=True).click()
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
    expect(frame.locator("h1")).to_have_text("Outbox")
    shot(page, "07-airflow-nav")

    page.goto(f"/renewals/runs/{console.dry_run_id}")
    expect(page.locator("h1")).to_contain_text("dry run")
    page.locator("#previews details summary").first.click()
    # a viewer sees which messages, not their texts or recipients
    expect(page.locator("#member-data-hidden")).to_contain_text("read on the renewals_ops connection")
    expect(page.locator("#previews pre").first).to_have_text("hidden")
    expect(page.locator("#previews iframe.preview")).to_have_count(0)
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


def accessibility_violations(page) -> list[str]:
    """axe-core's WCAG 2 A/AA violations on the page as it is now (their ids and first targets)."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa"]}})
    return [f"{v['id']}: {v['nodes'][0]['target']}" for v in results.response["violations"]]


def test_steer_a_renewal_from_the_outbox_and_see_it_on_the_timeline(console: Console, page) -> None:
    from playwright.sync_api import expect

    log_in(page, "admin")
    page.goto(f"/renewals/?to={TODAY + timedelta(days=20)}")
    row = page.locator("#outbox tr", has_text="renewal_reminder_15").filter(has_text=MEMBER)
    expect(row).to_contain_text("scheduled")
    assert accessibility_violations(page) == []
    shot(page, "10-outbox")
    row.get_by_role("link").first.click()
    expect(page.locator("h1")).to_have_text("Acme Widgets & Co")

    reminder = page.locator("tr.upcoming[data-touchpoint='renewal_reminder_15']")
    reminder.locator("details.actions summary").click()
    edit = reminder.locator("form[data-action=edit]")
    edit.get_by_label("Subject").fill("A personal word about your renewal")
    edit.get_by_label("Text").fill("We spoke on Tuesday: here is the form we promised.\n\nThank you <3")
    edit.get_by_label("Why edit it").fill("promised on the phone")
    edit.get_by_role("button", name="Save the wording").click()
    expect(page.locator("#flash")).to_contain_text("Edited (by admin)")
    reminder = page.locator("tr.upcoming[data-touchpoint='renewal_reminder_15']")
    expect(reminder.locator(".badge")).to_have_text("edited")
    reminder.locator("details.preview summary").click()
    expect(reminder.locator("details.preview summary")).to_contain_text("A personal word about your renewal")
    expect(reminder.locator("details.preview pre")).to_contain_text("here is the form we promised")
    html = reminder.locator("iframe.preview").content_frame.locator("body")
    expect(html).to_contain_text("Thank you <3")
    reminder.scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENS / "11-edited-preview.png"))

    risk = page.locator("tr.upcoming[data-touchpoint='risk_cta']")
    risk.locator("details.actions summary").click()
    risk.locator("form[data-action=skip]").get_by_label("Why skip it").fill("they renew at the board meeting")
    risk.get_by_role("button", name="Skip").click()
    expect(page.locator("#flash")).to_contain_text("Skipped (by admin)")
    expect(page.locator("tr.upcoming[data-touchpoint='risk_cta'] .badge")).to_have_text("skipped")

    hold = page.locator("#hold")
    hold.get_by_label("Hold until").fill((TODAY + timedelta(days=3)).isoformat())
    hold.get_by_label("Why").fill("out of town until Wednesday")
    hold.get_by_role("button", name="Hold the member").click()
    expect(page.locator("#hold")).to_contain_text(f"On hold until {TODAY + timedelta(days=3)}")

    page.locator("#note textarea").fill("Call them on Wednesday about the PO")
    page.locator("#note").get_by_role("button", name="Add the note").click()
    expect(page.locator("#flash")).to_contain_text("Noted (by admin)")
    staff = page.locator("#timeline tr.k-staff_action")
    expect(staff).to_have_count(4)
    for text in (
        "promised on the phone",
        "they renew at the board meeting",
        "out of town until Wednesday",
        "Call them on Wednesday about the PO",
    ):
        expect(staff.filter(has_text=text)).to_contain_text("by admin")
    assert accessibility_violations(page) == []
    shot(page, "12-member-steered")

    page.get_by_role("link", name="Outbox").click()
    page.goto(f"/renewals/?to={TODAY + timedelta(days=20)}&state=edited")
    expect(page.locator("#outbox tr", has_text=MEMBER)).to_contain_text("A personal word about your renewal")
    shot(page, "13-outbox-edited")


def test_a_first_day_in_the_console(console: Console, page) -> None:
    """What a new operator tripped over: a contact's name found, labels instead of codes (the
    tier on one line), a bad row counted once however many runs found it, a refused run that
    says why, a dry run with nothing due that says where to look next."""
    from playwright.sync_api import expect
    from psycopg import sql

    from renewals.storage.runs import RunContext, record_refusal, register_run

    with closing(connect(console.ops_uri, autocommit=True)) as ops:
        staged = RunContext(console.real_run_id, TODAY).work.identifiers()["subscriptions"]
        ops.execute(
            sql.SQL("update {} set tier = 'high_contributing_individual' where subscription_id = %s").format(staged),
            (DRY,),
        )
        ops.execute(
            "insert into renewals.quarantine (run_id, as_of, source_table, record_id, subscription_id, reasons, raw)"
            " select 'scheduled__yesterday', as_of - 1, source_table, record_id, subscription_id, reasons, raw"
            " from renewals.quarantine where record_id = 'S-BAD'"
        )
        register_run(ops, RunContext("manual__refused", TODAY, subscription_id="S-999999"))
        record_refusal(ops, "manual__refused", "subscription_id='S-999999': no such subscription in the warehouse")
        register_run(ops, RunContext("manual__nothing_due", TODAY, dry_run=True, subscription_id=MEMBER))
        ops.execute("update renewals.runs set classified_at = now(), finished_at = now() where dry_run")

    log_in(page, "admin", "/renewals/members")
    page.locator("#member-search").fill(f"primary of {DRY.lower()}")
    page.locator("#member-search").press("Enter")
    row = page.locator("#results tr", has_text=DRY)
    expect(row).to_contain_text("contact name")
    expect(row).to_contain_text("No response yet")
    assert accessibility_violations(page) == []
    shot(page, "30-search-contact-name")
    page.locator("#member-search").fill("s-console-d")  # the start of an id, any case
    page.locator("#member-search").press("Enter")
    expect(page.locator("#results tr", has_text=DRY)).to_contain_text("subscription id")

    page.goto(f"/renewals/members/{DRY}")
    tier = page.locator("#facts div", has_text="Tier").locator("dd")
    expect(tier).to_have_text("High Contributing Individual")
    words = tier.evaluate("dd => dd.innerText.split(/\\s+/)")
    lines = tier.evaluate(
        "dd => { const r = document.createRange(); r.selectNodeContents(dd);"
        " return new Set([...r.getClientRects()].map(x => Math.round(x.top))).size; }"
    )
    assert lines <= len(words), "wrapped between words only"
    expect(page.locator("#facts")).not_to_contain_text("_")
    assert accessibility_violations(page) == []
    shot(page, "31-member-labels")

    page.goto("/renewals/quarantine")
    bad = page.locator("#rows tr", has_text="S-BAD")
    expect(bad).to_have_count(1)
    expect(bad).to_contain_text("found by 2 runs")
    expect(page.locator("#reasons tr", has_text="unknown_playbook").locator("td").nth(2)).to_have_text("1")
    assert accessibility_violations(page) == []
    shot(page, "32-quarantine-once")

    page.goto("/renewals/runs/manual__refused")
    expect(page.locator("#refusal")).to_contain_text(
        "Refused: subscription_id='S-999999': no such subscription in the warehouse"
    )
    expect(page.locator("#summary")).to_have_count(0)
    assert accessibility_violations(page) == []
    shot(page, "33-refused-run")

    page.goto("/renewals/runs/manual__nothing_due")
    expect(page.locator("#nothing-due")).to_contain_text("this dry run would have sent nothing")
    assert accessibility_violations(page) == []
    shot(page, "34-dry-run-nothing-due")
    page.locator("#nothing-due a", has_text=f"What comes next for {MEMBER}").click()
    expect(page.locator("#upcoming")).to_contain_text("Renewal risk → At risk (medium priority)")
