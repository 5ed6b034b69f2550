"""The standalone public app (renewals.public_app under uvicorn, as the docker-compose ``public``
service runs it): the links of a received reminder work against it as against the api-server,
it serves nothing but those pages, and its database role (renewals_public) can do no more than
record an unsubscribe or an answer."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import closing
from datetime import date, timedelta
from urllib.parse import urlencode

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from devenv import inprocess
from renewals.config import PROJECT_ROOT
from renewals.storage.db import connect
from renewals.storage.migrations import migrate
from tests.console import free_port
from tests.daily import resources_for
from tests.world import contact_email

SECRET = secrets.token_hex(32).encode()
AS_OF = date(2026, 12, 1)
PUBLIC_URL = "https://members.example.org"  # what the links say; the test swaps in the app's address


@pytest.fixture
def public_role(databases, ops) -> Iterator[str]:
    """A login role in renewals_public (the role migration 0016 makes), and its DSN."""
    migrate(ops)
    name = f"t_public_{secrets.token_hex(4)}"
    ops.execute(f"create role {name} login in role renewals_public")
    try:
        yield make_conninfo(**{**conninfo_to_dict(databases["ops"]), "user": name, "password": ""})
    finally:
        ops.execute(f"drop role {name}")


@pytest.fixture
def public_app(public_role) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "RENEWALS_PUBLIC_SECRET": SECRET.decode(),
        "RENEWALS_PUBLIC_DSN": public_role,
        "PYTHONPATH": str(PROJECT_ROOT / "plugins"),
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "renewals.public_app:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while request("GET", f"{url}/renewals/unsubscribe")[0] != 403:
            assert server.poll() is None and time.monotonic() < deadline, server.stderr.read().decode()
            time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


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
    except OSError:
        return 0, ""


def test_the_links_of_a_reminder_work_against_the_public_app(world, databases, mailbox, ops, public_app):
    world.subscription("S-PUB", AS_OF + timedelta(days=30))
    resources = resources_for(databases, mailbox, unsubscribe_secret=SECRET, public_url=PUBLIC_URL)
    inprocess.run_day(resources, AS_OF, "pub-1")
    billing = contact_email("S-PUB", "billing")
    [copy] = [m for m in mailbox.messages if m["X-Envelope-To"] == billing]
    text = copy.get_body(("plain",)).get_content()
    decline = re.search(r"https://\S+/renewals/answer/decline\?token=\S+", text).group(0)
    unsubscribe = re.findall(r"<([^>]+)>", copy["List-Unsubscribe"])[0]

    status, page = request("GET", decline.replace(PUBLIC_URL, public_app))
    assert status == 200 and "<form" in page
    status, page = request("POST", decline.replace(PUBLIC_URL, public_app), {"reason": "Merged with another member"})
    assert status == 200 and "your answer is recorded" in page
    assert request("POST", unsubscribe.replace(PUBLIC_URL, public_app))[0] == 200
    assert ops.execute("select answer, reason, recipient from renewals.member_answers").fetchall() == [
        ("decline", "Merged with another member", billing)
    ]
    assert ops.execute("select address, reason from renewals.suppressions").fetchall() == [(billing, "unsubscribed")]
    assert ops.execute("select kind from renewals.slack_outbox").fetchall() == [("member_answer",)]

    # Nothing else is served: no console, no API, no API docs.
    for path in ("/renewals/", "/renewals/api/unknown", "/renewals/members/S-PUB", "/docs", "/openapi.json", "/"):
        assert request("GET", public_app + path)[0] == 404, path


@pytest.mark.parametrize(
    "statement",
    [
        "select * from renewals.touchpoints",
        "select address from renewals.suppressions union all select email from renewals.deactivations",
        "update renewals.member_answers set answer = 'intent'",
        "delete from renewals.suppressions",
        "select text from renewals.slack_outbox",
        "select * from renewals.renewal_cycles",
    ],
)
def test_the_public_role_can_do_no_more_than_its_pages_need(databases, public_role, statement):
    with closing(connect(public_role, autocommit=True)) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(statement)
