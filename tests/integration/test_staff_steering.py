"""Staff steer one renewal through the console's API on the real api-server (simple auth manager),
and real runs of the following days honour each action exactly once: a skip, an edit as the SMTP
server receives it, a move that goes on its new day, a hold that ends on its day, 409 after the
send, and the contract's errors."""

from __future__ import annotations

import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from devenv.inprocess import run_day
from devenv.mailbox import FileMailbox
from devenv.postgres import drop_database, ensure_database
from renewals.delivery.messages import bodies
from renewals.delivery.unsubscribe import Answer
from renewals.reports.publish import write_outbox
from renewals.storage import answers
from renewals.storage.db import connect
from tests.console import TODAY, Console, start_console, token
from tests.daily import resources_for
from tests.world import World, contact_email

R = TODAY + timedelta(days=16)  # renewal_reminder_15 is due tomorrow
REMINDER = "renewal_reminder_15"
API = "/renewals/api"


def day(offset: int) -> date:
    return TODAY + timedelta(days=offset)


@dataclass
class Stack:
    console: Console
    resources: Any
    mailbox: FileMailbox
    warehouse_uri: str

    def api(self, method: str, path: str, body: Any = None, user: str = "admin") -> tuple[int, Any]:
        status, answer, _ = self.console.request(method, API + path, user, body)
        return status, answer

    def ledger(self, subscription_id: str, touchpoint: str = REMINDER) -> tuple | None:
        with closing(connect(self.console.ops_uri, autocommit=True)) as ops:
            return ops.execute(
                "select status, reason, due_date, subject from renewals.touchpoints"
                " where subscription_id = %s and touchpoint = %s",
                (subscription_id, touchpoint),
            ).fetchone()

    def received(self, subscription_id: str, touchpoint: str = REMINDER) -> list:
        return [
            m
            for m in self.mailbox.messages
            if m["X-Renewal-Subscription"] == subscription_id and m["X-Renewal-Touchpoint"] == touchpoint
        ]


MEMBERS = ("S-SKIP", "S-EDIT", "S-MOVE", "S-HOLD", "S-PLAIN")
# members whose facts change after the outbox's rows are written, other than by staff actions
LATER = TODAY + timedelta(days=40)  # renewal_confirmation (-30) or payment_reminder_30 on day 10
CHANGED = ("S-ANSWER", "S-ONE-RUN", "S-DRY", "S-PAID")


@pytest.fixture(scope="module")
def stack(pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = Path(tmp_path_factory.mktemp("steering"))
    suffix = uuid.uuid4().hex[:10]  # per test process: two runs at once never share a database
    names = {"warehouse": f"t_wh_{suffix}", "ops": f"t_ops_{suffix}"}
    databases = {role: ensure_database(pg_server, name) for role, name in names.items()}
    try:
        with closing(connect(databases["warehouse"], autocommit=True)) as conn:
            world = World(conn)
            for member in MEMBERS:
                world.subscription(member, R, account_name=f"Account {member} <&>")
            for member in CHANGED:
                world.subscription(member, LATER)
        with FileMailbox(tmp / "outbox") as mailbox:
            resources = resources_for(databases, mailbox, spreadsheet_path=(tmp / "renewals.xlsx").as_uri())
            run = run_day(resources, TODAY, run_id="scheduled__steer_today")
            # the outbox's rows, as the run's publish step writes them: the outbox reads its pages
            # from them, and recomputes the members whose facts change after them
            with closing(connect(databases["ops"], autocommit=True)) as ops:
                write_outbox(ops, resources, run)
            with start_console(databases, tmp) as (url, _server):
                console = Console(url, databases["ops"], "", "scheduled__steer_today")
                console.tokens = {user: token(url, user) for user in ("admin", "staff", "viewer")}
                yield Stack(console, resources, mailbox, databases["warehouse"])
    finally:
        for name in names.values():
            drop_database(pg_server, name)


def test_the_outbox_lists_what_goes_out_with_recipients_and_subject(stack: Stack) -> None:
    status, page = stack.api("GET", "/outbox", user="staff")
    assert status == 200, page
    mine = [i for i in page["items"] if i["touchpoint"] == REMINDER]
    assert {i["subscription_id"] for i in mine} == set(MEMBERS)
    item = mine[0]
    assert item["due_date"] == day(1).isoformat() and item["state"] == "scheduled"
    assert item["recipients"] == [contact_email(item["subscription_id"], "primary")]
    assert "renew" in item["subject"].lower() and item["preview"]["subject"] == item["subject"]
    assert page["from"] == TODAY.isoformat() and page["to"] == day(14).isoformat()
    assert all(TODAY.isoformat() <= i["due_date"] <= day(14).isoformat() for i in page["items"])
    status, one = stack.api("GET", f"/outbox?from={day(1)}&to={day(1)}&touchpoint={REMINDER}&limit=2", user="staff")
    assert status == 200 and one["total"] == len(MEMBERS) and len(one["items"]) == 2
    status, rest = stack.api("GET", f"/outbox?from={day(1)}&to={day(1)}&touchpoint={REMINDER}&limit=2&offset=4")
    assert [i["subscription_id"] for i in rest["items"]] == ["S-SKIP"]
    with closing(connect(stack.console.ops_uri, autocommit=True)) as ops:
        written = ops.execute("select count(*) from renewals.outbox_ahead where due_date <= %s", (day(14),))
        assert written.fetchone() == (page["total"],)


def test_the_outbox_page_filters_as_the_api_does_and_all_is_an_empty_field(stack: Stack) -> None:
    form = f"from={day(1)}&to={day(1)}&touchpoint={REMINDER}&state=scheduled&playbook=&owner=&offset=0&limit=2"
    status, page, _ = stack.console.request("GET", f"/renewals/?{form}", "staff")
    _, api = stack.api("GET", f"/outbox?{form}", user="staff")
    assert status == 200 and api["total"] == len(MEMBERS), page
    assert f"{len(MEMBERS)} messages and actions, 1–2 shown" in page
    assert [page.count(f"/members/{i['subscription_id']}") > 0 for i in api["items"]] == [True, True]
    status, page, _ = stack.console.request("GET", f"/renewals/?from={day(1)}&to=&state=&touchpoint=", "staff")
    assert status == 200, "the form's 'all'"
    status, refused = stack.api("GET", "/outbox?state=sent")
    assert status == 422 and refused["detail"][0]["loc"] == ["query", "state"]


def outbox_on(stack: Stack, due: date, touchpoint: str) -> set[str]:
    """Who the outbox lists for ``touchpoint`` on ``due``: read from the run's rows, and computed
    live (a range past the 45 days they cover), which must agree."""
    found = []
    for last in (due, day(50)):
        path = f"/outbox?from={due}&to={last}&touchpoint={touchpoint}&limit=500"
        status, page = stack.api("GET", path, user="staff")
        assert status == 200, page
        assert page["total"] == len(page["items"]), "the count in all is of the rows listed"
        found.append({i["subscription_id"] for i in page["items"] if i["due_date"] == due.isoformat()})
    assert found[0] == found[1], "read from the run's rows as computed live"
    return found[0]


def upcoming_on(stack: Stack, subscription_id: str, due: date) -> set[str]:
    status, member = stack.api("GET", f"/members/{subscription_id}", user="staff")
    assert status == 200, member
    return {u["touchpoint"] for u in member["upcoming"] if u["due_date"] == due.isoformat()}


def test_the_outbox_follows_an_answer_given_after_its_rows_were_written(stack: Stack) -> None:
    assert "S-ANSWER" in outbox_on(stack, day(10), "renewal_confirmation")
    with closing(connect(stack.console.ops_uri, autocommit=True)) as ops:
        intent = Answer("S-ANSWER", LATER, "intent", contact_email("S-ANSWER", "primary"), "renewal_notice", TODAY)
        answers.record(ops, intent, None, token_digest=uuid.uuid4().hex)
    assert "S-ANSWER" not in outbox_on(stack, day(10), "renewal_confirmation")
    assert "S-ANSWER" in outbox_on(stack, day(10), "payment_reminder_30")
    assert upcoming_on(stack, "S-ANSWER", day(10)) == {"payment_reminder_30"}, "as the member page"


def test_the_outbox_follows_a_one_member_run_after_its_rows_were_written(stack: Stack) -> None:
    assert "S-ONE-RUN" in outbox_on(stack, day(10), "renewal_confirmation")
    run_day(stack.resources, day(10), run_id="manual__one_member", subscription_id="S-ONE-RUN")
    assert stack.ledger("S-ONE-RUN", "renewal_confirmation")[0] == "sent"
    assert "S-ONE-RUN" not in outbox_on(stack, day(10), "renewal_confirmation")
    assert "renewal_confirmation" not in upcoming_on(stack, "S-ONE-RUN", day(10)), "as the member page"


def test_the_outbox_takes_a_members_facts_from_a_later_one_member_run(stack: Stack) -> None:
    assert "S-PAID" in outbox_on(stack, day(10), "renewal_confirmation")
    with closing(connect(stack.warehouse_uri, autocommit=True)) as warehouse:
        warehouse.execute("update warehouse.subscriptions set paid_at = now() where subscription_id = 'S-PAID'")
    run_day(stack.resources, TODAY, run_id="manual__paid", subscription_id="S-PAID")
    assert upcoming_on(stack, "S-PAID", day(10)) == set(), "paid: the member page reads the one-member run's facts"
    assert "S-PAID" not in outbox_on(stack, day(10), "renewal_confirmation")


def test_a_dry_run_previews_an_edited_message_in_staffs_words(stack: Stack) -> None:
    edit = {
        "action": "edit",
        "subject": "Our renewal, as agreed <Tuesday>",
        "text": "As agreed on the phone: nothing to do before Tuesday & thanks.",
        "reason": "promised a personal note",
    }
    assert stack.api("POST", "/members/S-DRY/touchpoints/renewal_confirmation", edit)[0] == 200
    run_day(stack.resources, day(10), run_id="manual__dry_edit", dry_run=True, subscription_id="S-DRY")
    status, run = stack.api("GET", "/runs/manual__dry_edit")
    assert status == 200, run
    (preview,) = [p for p in run["previews"] if p["touchpoint"] == "renewal_confirmation"]
    assert preview["subject"] == "Our renewal, as agreed <Tuesday>"
    assert "nothing to do before Tuesday & thanks." in preview["text_body"]
    assert "Dear Primary of S-DRY" in preview["text_body"], "inside the template's frame"
    assert "nothing to do before Tuesday &amp; thanks." in preview["html_body"]
    assert stack.received("S-DRY", "renewal_confirmation") == [], "a dry run sends nothing"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"action": "skip"}, "reason"),
        ({"action": "skip", "reason": "  "}, "reason"),
        ({"action": "move", "to": (TODAY - timedelta(days=1)).isoformat(), "reason": "later"}, "to"),
        ({"action": "move", "reason": "later"}, "to"),
        ({"action": "explode", "reason": "why not"}, "action"),
        ({"action": "edit", "reason": "wording"}, "subject"),
        ({"action": "edit", "subject": "Two\r\nBcc: x@example.com", "reason": "injection"}, "subject"),
    ],
)
def test_bad_actions_answer_422_naming_the_field(stack: Stack, body: dict, field: str) -> None:
    status, answer = stack.api("POST", f"/members/S-PLAIN/touchpoints/{REMINDER}", body)
    assert status in (400, 422), answer
    assert field in str(answer["detail"])


def test_errors_of_the_contract(stack: Stack) -> None:
    skip = {"action": "skip", "reason": "talking to them"}
    assert stack.api("POST", f"/members/S-NOBODY/touchpoints/{REMINDER}", skip)[0] == 404
    assert stack.api("POST", "/members/S-PLAIN/touchpoints/sales_call_day_1", skip)[0] == 404
    assert stack.api("POST", f"/members/S-PLAIN/touchpoints/{REMINDER}", skip, user="viewer")[0] == 403
    assert stack.api("POST", "/members/S-PLAIN/hold", {"until": None, "reason": "x"}, user="viewer")[0] == 403
    assert stack.console.request("POST", f"{API}/members/S-PLAIN/hold", None, {"reason": "x"})[0] == 401
    status, answer = stack.api("POST", "/members/S-PLAIN/hold", {"until": TODAY.isoformat(), "reason": "x"})
    assert status == 422 and "until" in str(answer["detail"])
    assert stack.api("POST", "/members/S-PLAIN/hold", {"until": None})[0] == 422
    assert stack.api("DELETE", "/members/S-PLAIN/hold")[0] == 404, "no hold to lift"
    assert stack.ledger("S-PLAIN") is None, "nothing was changed"


def test_a_cross_site_form_cannot_act_with_the_login_cookie(stack: Stack) -> None:
    """What a page of another site can send without CORS: a form post (text/plain or urlencoded)
    with the browser's cookie. The API reads only JSON bodies: refused, nothing changed."""
    url = f"{stack.console.url}{API}/members/S-PLAIN/hold"
    for content_type, body in (
        ("text/plain", '{"until": null, "reason": "csrf"}'),
        ("application/x-www-form-urlencoded", "until=&reason=csrf"),
    ):
        request = urllib.request.Request(
            url,
            data=body.encode(),
            method="POST",
            headers={"Content-Type": content_type, "Cookie": f"_token={stack.console.tokens['admin']}"},
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=30)
        assert refused.value.code == 422
    status, member = stack.api("GET", "/members/S-PLAIN")
    assert member["facts"]["hold"] is None


def test_each_action_is_honoured_by_the_next_runs_once(stack: Stack) -> None:
    ok = [
        stack.api("POST", f"/members/S-SKIP/touchpoints/{REMINDER}", {"action": "skip", "reason": "in a call"}),
        stack.api(
            "POST",
            f"/members/S-EDIT/touchpoints/{REMINDER}",
            {
                "action": "edit",
                "subject": "Your renewal, as we discussed <today>",
                "text": "As promised on the phone: the renewal form is attached.\n\nSee you <soon> & thanks.",
                "reason": "promised a personal note",
            },
        ),
        stack.api(
            "POST",
            f"/members/S-MOVE/touchpoints/{REMINDER}",
            {"action": "move", "to": day(3).isoformat(), "reason": "back on Wednesday"},
        ),
        stack.api("POST", "/members/S-HOLD/hold", {"until": day(3).isoformat(), "reason": "out of town"}),
    ]
    assert [status for status, _ in ok] == [200] * 4, ok
    states = {i["subscription_id"]: i for i in stack.api("GET", f"/outbox?touchpoint={REMINDER}")[1]["items"]}
    expected = {"S-SKIP": "skipped", "S-EDIT": "edited", "S-MOVE": "moved", "S-HOLD": "held", "S-PLAIN": "scheduled"}
    assert {sid: i["state"] for sid, i in states.items()} == expected
    assert states["S-MOVE"]["due_date"] == day(3).isoformat()
    for state, members in (("held", {"S-HOLD"}), ("skipped", {"S-SKIP"}), ("scheduled", {"S-PLAIN"})):
        page = stack.api("GET", f"/outbox?touchpoint={REMINDER}&state={state}")[1]
        assert {i["subscription_id"] for i in page["items"]} == members, state
    assert states["S-EDIT"]["subject"] == "Your renewal, as we discussed <today>"
    assert "As promised on the phone" in states["S-EDIT"]["preview"]["text"]

    run_day(stack.resources, day(1))
    assert [len(stack.received(m)) for m in MEMBERS] == [0, 1, 0, 0, 1]
    assert stack.ledger("S-SKIP")[:2] == ("skipped", "skipped_by_staff")
    assert stack.ledger("S-HOLD")[:2] == ("held", "held_by_staff")
    assert stack.ledger("S-MOVE") is None
    (edited,) = stack.received("S-EDIT")
    text, html = bodies(edited)
    assert edited["Subject"] == "Your renewal, as we discussed <today>"
    assert "As promised on the phone: the renewal form is attached." in text and "See you <soon> & thanks." in text
    assert "Dear Primary of S-EDIT" in text, "inside the template's frame"
    assert "See you &lt;soon&gt; &amp; thanks." in html and "<table" in html
    assert stack.ledger("S-EDIT")[3] == "Your renewal, as we discussed <today>", "the ledger records what was sent"
    with closing(connect(stack.console.ops_uri, autocommit=True)) as ops:
        (reason,) = ops.execute(
            "select reason from renewals.decisions where subscription_id = 'S-HOLD' and touchpoint = %s and as_of = %s",
            (REMINDER, day(1)),
        ).fetchone()
    assert reason == f"held by staff until {day(3).isoformat()}"

    status, answer = stack.api("POST", f"/members/S-EDIT/touchpoints/{REMINDER}", {"action": "skip", "reason": "x"})
    assert status == 409, answer

    run_day(stack.resources, day(2))
    assert [len(stack.received(m)) for m in MEMBERS] == [0, 1, 0, 0, 1], "held and moved: nothing yet"
    run_day(stack.resources, day(3))
    assert [len(stack.received(m)) for m in MEMBERS] == [0, 1, 1, 1, 1], "the move's day, the hold's end"
    assert stack.ledger("S-MOVE")[:3] == ("sent", None, day(3))
    run_day(stack.resources, day(4))
    assert [len(stack.received(m)) for m in MEMBERS] == [0, 1, 1, 1, 1], "once"


def test_each_action_is_on_the_members_timeline_with_who_and_why(stack: Stack) -> None:
    status, member = stack.api("GET", "/members/S-PLAIN", user="viewer")
    assert status == 200
    assert stack.api("POST", "/members/S-PLAIN/notes", {"text": "Client out of town until Wednesday"})[0] == 200
    move = {"action": "move", "to": day(12).isoformat(), "reason": "after the board meeting"}
    assert stack.api("POST", "/members/S-PLAIN/touchpoints/renewal_reminder_1", move)[0] == 200
    status, member = stack.api("GET", "/members/S-PLAIN", user="viewer")
    staff = [e for e in member["timeline"] if e["kind"] == "staff_action"]
    assert [(e["detail"]["action"], e["detail"]["by"], e["detail"]["reason"]) for e in staff] == [
        ("move", "admin", "after the board meeting"),
        ("note", "admin", "Client out of town until Wednesday"),
    ]
    (reminder,) = [u for u in member["upcoming"] if u["touchpoint"] == "renewal_reminder_1"]
    assert (reminder["state"], reminder["due_date"]) == ("moved", day(12).isoformat())
    assert stack.api("POST", "/members/S-PLAIN/touchpoints/renewal_reminder_1", {"action": "restore"})[0] == 200
    (reminder,) = [
        u for u in stack.api("GET", "/members/S-PLAIN")[1]["upcoming"] if u["touchpoint"] == "renewal_reminder_1"
    ]
    assert (reminder["state"], reminder["due_date"]) == ("scheduled", (R - timedelta(days=1)).isoformat())
