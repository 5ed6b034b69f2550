"""One-click answers end to end, through the real Airflow api-server: a reminder asking a decision
carries each recipient's two links; GET shows a form and changes nothing; POST records the answer
without login; a tampered or expired link changes nothing; a replay is harmless; a later answer
replaces an earlier one; an intent counts as intent confirmed (payment reminders instead of renewal
reminders), a decline as declined (no more reminders, offboarding with its reason on the day after
the renewal date), and a payment in the warehouse still wins."""

from __future__ import annotations

import json
import re
import secrets
import shutil
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest

from devenv import inprocess
from devenv.inprocess import deliver_all
from devenv.mailbox import FileMailbox
from devenv.postgres import drop_database, ensure_database
from renewals.config import Settings
from renewals.console import queries
from renewals.delivery.render import Renderer
from renewals.delivery.unsubscribe import Answer, make_answer_token
from renewals.playbooks import load_playbooks
from renewals.storage.db import connect
from renewals.storage.migrations import migrate
from renewals.storage.runs import RunContext
from tests.console import CHROMIUM, browser_page, shot, start_console
from tests.daily import resources_for
from tests.world import World, contact_email

SECRET = secrets.token_hex(32).encode()
AS_OF = date(2026, 12, 1)
RENEWAL = AS_OF + timedelta(days=30)  # the run of AS_OF sends renewal_confirmation (-30)


@pytest.fixture(scope="module")
def stack(pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    tmp = Path(tmp_path_factory.mktemp("answers"))
    names = {role: f"t_{role}_{secrets.token_hex(5)}" for role in ("wh", "ops")}
    databases = {"warehouse": ensure_database(pg_server, names["wh"]), "ops": ensure_database(pg_server, names["ops"])}
    env = {"AIRFLOW_CONN_RENEWALS_UNSUBSCRIBE": json.dumps({"conn_type": "generic", "password": SECRET.decode()})}
    try:
        with closing(connect(databases["ops"], autocommit=True)) as ops:
            migrate(ops)
        with FileMailbox(tmp / "outbox") as mailbox, start_console(databases, tmp, extra_env=env) as (url, _server):
            yield {"databases": databases, "mailbox": mailbox, "url": url}
    finally:
        for name in names.values():
            drop_database(pg_server, name)


def request(method: str, url: str, form: dict[str, str] | None = None) -> tuple[int, str]:
    data = urlencode(form or {}).encode() if method == "POST" else None
    req = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def answer_links(message: EmailMessage) -> dict[str, str]:
    """The answer links of a received message's text part."""
    text = message.get_body(("plain",)).get_content()
    return dict(
        re.findall(r"(https?://\S+/renewals/answer/(intent|decline)\?token=\S+)", text)[i][::-1] for i in (0, 1)
    )


def run_day(stack, as_of: date, run_id: str) -> None:
    resources = resources_for(stack["databases"], stack["mailbox"], unsubscribe_secret=SECRET, public_url=stack["url"])
    run = RunContext(run_id=run_id, as_of=as_of)
    inprocess.classified(resources, run)
    deliver_all(resources, run)


def sent(stack, subscription_id: str) -> dict[str, str]:
    with closing(connect(stack["databases"]["ops"], autocommit=True)) as ops:
        rows = ops.execute(
            "select touchpoint, status from renewals.touchpoints where subscription_id = %s", (subscription_id,)
        ).fetchall()
    return dict(rows)


def answers(stack, subscription_id: str) -> list[tuple]:
    with closing(connect(stack["databases"]["ops"], autocommit=True)) as ops:
        return ops.execute(
            "select answer, reason, recipient from renewals.member_answers where subscription_id = %s"
            " order by answer_id",
            (subscription_id,),
        ).fetchall()


def warehouse(stack) -> World:
    return World(connect(stack["databases"]["warehouse"], autocommit=True))


def next_reminder(stack, subscription_id: str, today: date) -> tuple[str, date]:
    """The first customer email ahead on the member's console page."""
    settings = Settings.from_env()
    with closing(connect(stack["databases"]["ops"], autocommit=True)) as ops:
        page = queries.member(
            ops,
            subscription_id,
            load_playbooks(settings.playbook_dir),
            settings,
            Renderer(settings.template_dir),
            today,
        )
    return next((u["touchpoint"], u["due_date"]) for u in page["upcoming"] if u["channel"] == "email")


def first_reminder(stack, subscription_id: str, recipient: str) -> EmailMessage:
    return next(
        m
        for m in stack["mailbox"].messages
        if m["X-Renewal-Subscription"] == subscription_id and m["X-Envelope-To"] == recipient
    )


def test_an_intent_by_link_turns_renewal_reminders_into_payment_reminders(stack) -> None:
    warehouse(stack).subscription("S-YES", RENEWAL)
    run_day(stack, AS_OF, "yes-1")
    primary, billing = contact_email("S-YES", "primary"), contact_email("S-YES", "billing")
    links = answer_links(first_reminder(stack, "S-YES", billing))
    assert links["intent"].startswith(f"{stack['url']}/renewals/answer/intent?token=")
    assert "example.com" not in links["intent"] and "%40" not in links["intent"]
    assert links != answer_links(first_reminder(stack, "S-YES", primary))  # each recipient's own

    # GET only shows the form (a mail scanner changes nothing).
    status, page = request("GET", links["intent"])
    assert status == 200 and "<form" in page and "Yes, we intend to renew" in page
    assert answers(stack, "S-YES") == []

    # Tampered, forged, expired, or the other answer's word in the URL: 4xx, nothing recorded.
    token = links["intent"].split("token=", 1)[1]
    forged = Answer("S-YES", RENEWAL, "intent", billing, "renewal_confirmation", AS_OF)
    expired = make_answer_token(SECRET, forged, datetime.now(UTC) - timedelta(seconds=1))
    other_secret = make_answer_token(b"x" * 32, forged, datetime.now(UTC) + timedelta(days=1))
    for bad in (
        links["intent"][:-6] + ("AAAAAA" if not links["intent"].endswith("AAAAAA") else "BBBBBB"),
        f"{stack['url']}/renewals/answer/intent?token={quote(other_secret)}",
        f"{stack['url']}/renewals/answer/intent?token={quote(expired)}",
        f"{stack['url']}/renewals/answer/decline?token={token}",
    ):
        status, page = request("POST", bad)
        assert 400 <= status < 500 and "Nothing was changed" in page, bad
    assert answers(stack, "S-YES") == []

    # POST records without login; a replay records nothing more.
    for _ in range(2):
        status, page = request("POST", links["intent"])
        assert status == 200 and "your answer is recorded" in page
    assert answers(stack, "S-YES") == [("intent", None, billing)]
    # the member's page puts the payment reminder next at once, before any run counted the answer
    assert next_reminder(stack, "S-YES", AS_OF + timedelta(days=1)) == ("payment_reminder_15", RENEWAL - timedelta(15))

    run_day(stack, RENEWAL - timedelta(days=15), "yes-2")
    touchpoints = sent(stack, "S-YES")
    assert touchpoints["payment_reminder_15"] == "sent" and "renewal_reminder_15" not in touchpoints
    assert touchpoints["invoice_task"] == "sent"  # AR's invoice task


def test_a_decline_by_link_stops_reminders_and_offboards_with_its_reason(stack) -> None:
    warehouse(stack).subscription("S-NO", RENEWAL)
    run_day(stack, AS_OF, "no-1")
    primary = contact_email("S-NO", "primary")
    links = answer_links(first_reminder(stack, "S-NO", primary))
    status, page = request("GET", links["decline"])
    assert status == 200 and "<form" in page and 'name="reason"' in page
    # An intent first, then a decline by the same recipient: the later answer counts, both are kept.
    assert request("POST", links["intent"])[0] == 200
    status, page = request("POST", links["decline"], {"reason": "Budget cut <b>2027</b>"})
    assert status == 200 and "will not renew" in page
    assert answers(stack, "S-NO") == [("intent", None, primary), ("decline", "Budget cut <b>2027</b>", primary)]

    for offset in (15, 1, 0, -1):
        run_day(stack, RENEWAL - timedelta(days=offset), f"no-{offset}")
    touchpoints = sent(stack, "S-NO")
    reminders = [t for t in touchpoints if t.startswith(("renewal_reminder", "payment_reminder", "overdue_notice"))]
    assert reminders == [] and touchpoints["offboarding_thanks"] == "sent"
    with closing(connect(stack["databases"]["ops"], autocommit=True)) as ops:
        bundle = ops.execute(
            "select decline_reason from renewals.offboardings where subscription_id = 'S-NO'"
        ).fetchone()
        posts = ops.execute("select text from renewals.slack_outbox where kind = 'member_answer'").fetchall()
    assert bundle == ("Budget cut <b>2027</b>",)
    assert any("S-NO will not renew" in text for (text,) in posts)


def test_a_payment_in_the_warehouse_wins_over_a_decline(stack) -> None:
    world = warehouse(stack)
    world.subscription("S-PAID", RENEWAL, invoice_number="INV-9")
    run_day(stack, AS_OF, "paid-1")
    links = answer_links(first_reminder(stack, "S-PAID", contact_email("S-PAID", "primary")))
    assert request("POST", links["decline"])[0] == 200
    world.update("S-PAID", paid_at=datetime(2026, 12, 2, 12, tzinfo=UTC))

    run_day(stack, AS_OF + timedelta(days=2), "paid-2")
    run_day(stack, RENEWAL + timedelta(days=1), "paid-3")
    touchpoints = sent(stack, "S-PAID")
    assert touchpoints["receipt"] == "sent" and "offboarding_thanks" not in touchpoints


@pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason=f"{CHROMIUM} is missing (make test installs chromium)")
def test_a_member_answers_from_the_email_in_a_real_browser(stack) -> None:
    """Open the decline link of a received email in chromium, give a reason, confirm, read the page."""
    from playwright.sync_api import expect

    from tests.integration.test_console_browser import accessibility_violations

    warehouse(stack).subscription("S-BROWSER", RENEWAL, account_name="Zoë & Co <Widgets>")
    run_day(stack, AS_OF, "browser-1")
    received = first_reminder(stack, "S-BROWSER", contact_email("S-BROWSER", "primary"))
    html = received.get_body(("html",)).get_content()
    decline = re.search(r'href="([^"]+/renewals/answer/decline\?token=[^"]+)"', html).group(1).replace("&amp;", "&")

    with browser_page(stack["url"]) as page:
        page.set_viewport_size({"width": 320, "height": 640})  # a small phone: where an ISO date broke apart
        page.goto(decline)
        expect(page.get_by_role("heading", name="Confirm that you will not renew")).to_be_visible()
        assert accessibility_violations(page) == []
        shot(page, "20-answer-decline")
        term = page.get_by_text("31 December 2026")  # the term's date in words, on one line
        expect(term).to_be_visible()
        line = term.evaluate("e => parseFloat(getComputedStyle(e).lineHeight)")
        assert term.bounding_box()["height"] < 1.5 * line
        page.get_by_label("Reason (optional)").fill("We are merging with another member")
        page.get_by_role("button", name="We will not renew").click()
        expect(page.get_by_role("heading", name="Thank you, your answer is recorded")).to_be_visible()
        assert accessibility_violations(page) == []
        shot(page, "21-answer-recorded")
    assert answers(stack, "S-BROWSER") == [
        ("decline", "We are merging with another member", contact_email("S-BROWSER", "primary"))
    ]
