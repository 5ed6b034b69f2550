"""One-click unsubscribe (RFC 8058, RFC 2369) end to end: reminders carry List-Unsubscribe and
List-Unsubscribe-Post, the real Airflow api-server serves /renewals/unsubscribe without login,
a valid POST stops the next reminder to that address in every playbook, and tampered, forged,
expired and replayed tokens do nothing harmful."""

from __future__ import annotations

import json
import os
import re
import secrets
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from devenv import inprocess
from devenv.inprocess import deliver_all
from devenv.mailbox import FileMailbox
from devenv.postgres import drop_database, ensure_database
from renewals.delivery.unsubscribe import make_token, read_token
from renewals.storage.db import connect
from renewals.storage.migrations import migrate
from renewals.storage.runs import RunContext
from tests.console import start_console
from tests.daily import resources_for
from tests.world import World, contact_email, customer_emails

SECRET = secrets.token_hex(32).encode()  # made up per test session, never stored
AS_OF = date(2026, 12, 1)
SHARED = "shared@members.example.com"  # primary contact of a membership and of a contract


@pytest.fixture(scope="module")
def stack(pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    tmp = Path(tmp_path_factory.mktemp("unsubscribe"))
    names = {role: f"t_{role}_{secrets.token_hex(5)}" for role in ("wh", "ops")}
    databases = {"warehouse": ensure_database(pg_server, names["wh"]), "ops": ensure_database(pg_server, names["ops"])}
    conn = {"conn_type": "generic", "password": SECRET.decode()}
    try:
        with closing(connect(databases["ops"], autocommit=True)) as ops:
            migrate(ops)
        env = {"AIRFLOW_CONN_RENEWALS_UNSUBSCRIBE": json.dumps(conn)}
        with FileMailbox(tmp / "outbox") as mailbox, start_console(databases, tmp, extra_env=env) as (url, _server):
            yield {"databases": databases, "mailbox": mailbox, "url": url}
    finally:
        for name in names.values():
            drop_database(pg_server, name)


def request(method: str, url: str) -> tuple[int, str]:
    data = b"List-Unsubscribe=One-Click" if method == "POST" else None
    req = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def link_token(link: str) -> str:
    return parse_qs(urlsplit(link).query)["token"][0]


def suppressed(stack) -> list[tuple]:
    with closing(connect(stack["databases"]["ops"], autocommit=True)) as ops:
        return ops.execute("select address, scope, reason, source from renewals.suppressions").fetchall()


def run_day(stack, as_of: date, run_id: str, **settings) -> None:
    resources = resources_for(
        stack["databases"], stack["mailbox"], unsubscribe_secret=SECRET, public_url=stack["url"], **settings
    )
    run = RunContext(run_id=run_id, as_of=as_of)
    inprocess.classified(resources, run)
    deliver_all(resources, run)


def test_one_click_unsubscribe_through_the_api_server(stack) -> None:
    mailbox, url = stack["mailbox"], stack["url"]
    with closing(connect(stack["databases"]["warehouse"], autocommit=True)) as conn:
        world = World(conn)
        world.subscription("S-MEM", AS_OF + timedelta(days=15), roles=())
        world.contact("S-MEM", "primary", email=SHARED)
        world.subscription(
            "S-CON",
            AS_OF + timedelta(days=61),
            playbook="contract",
            roles=("billing",),
            owner_email="owner@example.org",
        )
        world.contact("S-CON", "primary", email=SHARED)

    run_day(stack, AS_OF, "day-1")

    [reminder] = [m for m in mailbox.messages if m["X-Renewal-Subscription"] == "S-MEM"]
    assert reminder["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    links = re.findall(r"<([^>]+)>", reminder["List-Unsubscribe"])
    assert links[0].startswith(f"{url}/renewals/unsubscribe?token=") and links[1].startswith("mailto:")
    link = links[0]
    assert "example.com" not in link and "%40" not in link  # no address in a URL

    # A GET (a person, or a link scanner) only shows the page with its button.
    status, page = request("GET", link)
    assert status == 200 and 'method="post"' in page and SHARED not in page
    assert suppressed(stack) == []

    # Tampered, forged and expired tokens change nothing.
    token = link_token(link)
    tampered = token[:30] + ("A" if token[30] != "A" else "B") + token[31:]
    forged = make_token(secrets.token_bytes(32), SHARED, "all", datetime.now(UTC) + timedelta(days=1))
    expired = make_token(SECRET, SHARED, "all", datetime.now(UTC) - timedelta(seconds=1))
    for bad, code in [(tampered, 403), (forged, 403), (token[:40], 403), ("", 403), (expired, 400)]:
        status, page = request("POST", f"{url}/renewals/unsubscribe?token={quote(bad)}")
        assert status == code, (bad, page)
        assert "Nothing was changed" in page
    assert suppressed(stack) == []

    # The mail client's one-click POST, then a replay.
    for _ in range(2):
        status, page = request("POST", link)
        assert status == 200 and "You are unsubscribed" in page
    assert suppressed(stack) == [(SHARED, "all", "unsubscribed", "unsubscribe_link")]

    # The next reminders to that address, in both playbooks, are not sent; billing still gets its copy.
    before = len(customer_emails(mailbox))
    run_day(stack, AS_OF + timedelta(days=1), "day-2")
    run_day(stack, AS_OF + timedelta(days=14), "day-3")
    later = [m for m in customer_emails(mailbox)[before:] if "members.example.com" in m["X-Envelope-To"]]
    assert [m["X-Renewal-Subscription"] for m in later] == ["S-CON"]  # (the owner has a copy of their own)
    assert later[0]["X-Envelope-To"] == contact_email("S-CON", "billing")
    with closing(connect(stack["databases"]["ops"], autocommit=True)) as ops:
        skipped = ops.execute(
            "select subscription_id, touchpoint, reason from renewals.touchpoints where status = 'skipped'"
            " and reason = 'suppressed'"
        ).fetchall()
    assert skipped == [("S-MEM", "renewal_reminder_1", "suppressed")]


def test_an_unsubscribe_acts_for_the_one_recipient_who_used_it(stack) -> None:
    """A reminder to primary and billing goes as one copy each, with its own link: the primary's
    unsubscribe leaves billing receiving."""
    mailbox = stack["mailbox"]
    with closing(connect(stack["databases"]["warehouse"], autocommit=True)) as conn:
        World(conn).subscription("S-TWO", AS_OF + timedelta(days=30))  # primary and billing
    primary, billing = contact_email("S-TWO", "primary"), contact_email("S-TWO", "billing")

    run_day(stack, AS_OF, "two-1")

    copies = [m for m in mailbox.messages if m["X-Renewal-Subscription"] == "S-TWO"]
    assert sorted(m["X-Envelope-To"] for m in copies) == sorted([billing, primary])
    assert len({m["Message-ID"] for m in copies}) == 2
    [to_primary] = [m for m in copies if m["X-Envelope-To"] == primary]
    link = re.findall(r"<([^>]+)>", to_primary["List-Unsubscribe"])[0]
    assert request("POST", link)[0] == 200
    assert [row[0] for row in suppressed(stack) if row[0] in (primary, billing)] == [primary]

    run_day(stack, AS_OF + timedelta(days=31), "two-2")  # the overdue notice, to primary and billing

    later = [
        m
        for m in mailbox.messages
        if (m["X-Renewal-Subscription"], m["X-Renewal-Touchpoint"]) == ("S-TWO", "overdue_notice_1")
    ]
    envelopes = [m["X-Envelope-To"] for m in later]
    assert billing in envelopes and not any(primary in envelope for envelope in envelopes)


@pytest.mark.parametrize("list_unsubscribe", [True, False])
def test_headers_on_reminders_only_and_absent_where_configured_off(world, databases, mailbox, list_unsubscribe):
    world.subscription("S-REMIND", AS_OF + timedelta(days=15))
    world.subscription("S-RISK", AS_OF + timedelta(days=14))  # a risk CTA: its owner is told by email
    world.subscription("S-PAID", AS_OF + timedelta(days=20), invoice_number="INV-1")
    world.update("S-PAID", paid_at=datetime(2026, 12, 1, 12, tzinfo=UTC))
    resources = resources_for(databases, mailbox, unsubscribe_secret=SECRET, list_unsubscribe=list_unsubscribe)
    run = RunContext(run_id="headers", as_of=AS_OF)
    inprocess.classified(resources, run)
    deliver_all(resources, run)

    headers = {m["X-Renewal-Touchpoint"]: m["List-Unsubscribe"] is not None for m in mailbox.messages}
    assert headers["renewal_reminder_15"] is list_unsubscribe
    assert headers["receipt"] is False  # transactional: never
    staff = [m for m in mailbox.messages if m["To"].addresses[0].domain == "example.org"]
    assert staff and all(m["List-Unsubscribe"] is None and m["List-Unsubscribe-Post"] is None for m in staff)


def test_the_dag_signs_links_with_the_airflow_connections_secret(world, airflow, mailbox):
    secret = json.loads(os.environ["AIRFLOW_CONN_RENEWALS_UNSUBSCRIBE"])["password"].encode()
    world.subscription("S-DAG", AS_OF + timedelta(days=15))

    assert airflow.run(AS_OF) == "success"

    [reminder] = mailbox.messages
    link = re.findall(r"<([^>]+)>", reminder["List-Unsubscribe"])[0]
    assert read_token(secret, link_token(link)).address == contact_email("S-DAG", "primary")
