"""Warehouse text that tries to be more than data, on its way to the staff systems: an account name
and a decline's reason with mentions, links, images, table breakers and line breaks reach a GitHub
issue as literal text (no ping, no link, the checklist the template's), and Salesforce and HubSpot
as plain values (HubSpot's rich-text bodies escaped) no longer than their fields."""

from __future__ import annotations

import html
import re
from datetime import date, timedelta

import pytest

from devenv.inprocess import run_day
from renewals.config import Settings
from renewals.pipeline import sync_run
from renewals.sync.mapping import load_mapping
from renewals.sync.text import one_line
from tests.conftest import moment
from tests.integration.test_sync_github import target_for as github_target
from tests.integration.test_sync_hubspot import target_for as hubspot_target
from tests.integration.test_sync_salesforce import target_for as salesforce_target
from tests.vendor_https import (  # noqa: F401
    github_fixture,
    hubspot_fixture,
    salesforce_fixture,
    test_ca_files_fixture,
    test_ca_fixture,
)

AS_OF = date(2026, 12, 1)
NAME = "Acme @org/team [click](javascript:alert(1)) <img src=x onerror=alert(1)> | a | b |\r\n- [x] done " + "z" * 300
REASON = "Budget <script>x</script>\r\n\r\n- [x] Offboarding approved @acme/board https://evil.example/x | col |"
UNSAFE = ("@org/team", "@acme/board", "](javascript:", "<img", "<script", "https://evil", "\r")


def as_read(markdown: str) -> str:
    """What a reader sees of literal Markdown text: escapes, entities and zero-width spaces gone."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", html.unescape(markdown)).replace("\u200b", "")


@pytest.fixture
def leaving(world):
    renewal = AS_OF - timedelta(days=1)  # offboarding starts the day after the renewal date
    for subscription_id in ("S-GONE", "S-9 --> @org/team"):  # an id that would end the issue's hidden marker
        world.subscription(
            subscription_id,
            renewal,
            account_name=NAME,
            declined_at=moment(renewal - timedelta(days=5)),
            decline_reason=REASON,
        )
    return world


def test_a_github_issue_shows_warehouse_text_as_text_and_keeps_its_checklist(leaving, resources, github):
    run_day(resources, AS_OF, finish=True)

    report = sync_run(resources, [github_target(github)])

    assert report.targets["github"].parked == 0 and len(github.issues) == 2
    steps = load_mapping(Settings().sync_mapping_path).github.checklist
    for issue in github.issues:
        body = issue["body"]
        hidden, shown = body.split("\n", 1)
        assert hidden.startswith("<!-- ") and hidden.count("-->") == 1, "the marker is one comment, not shown"
        for unsafe in UNSAFE:
            assert unsafe not in shown, unsafe
        assert re.search(r"(?<!\\)\|", shown) is None, "every table breaker escaped"
        boxes = [line for line in body.splitlines() if re.match(r"\s*[-*+] \[[ xX]\]", line)]
        assert [line[len("- [x] ") :] for line in boxes] == list(steps), "the template's checklist, none of theirs"
        assert one_line(REASON) in as_read(body) and one_line(NAME) in as_read(body), "the text itself is all there"
        assert len(issue["title"]) <= 256 and "\n" not in issue["title"]
    sync_run(resources, [github_target(github)])
    assert len(github.issues) == 2, "each found again by its marker"


@pytest.fixture
def hostile_accounts(world):
    world.subscription("S-RISK", AS_OF + timedelta(days=14), account_name=NAME)  # a renewal-risk CTA and its call
    world.subscription("S-BIZDEV", AS_OF + timedelta(days=180), account_name=NAME)  # an Opportunity
    return world


def test_salesforce_takes_warehouse_text_as_plain_values_within_its_field_lengths(
    hostile_accounts, resources, salesforce
):
    run_day(resources, AS_OF, finish=True)

    report = sync_run(resources, [salesforce_target(salesforce)])

    assert report.targets["salesforce"].parked == 0, "no value longer than its field"
    subjects = [task["Subject"] for task in salesforce.records["Task"]]
    assert all(len(subject) <= 255 and "\n" not in subject and "\r" not in subject for subject in subjects)
    assert f"Renewal risk: {one_line(NAME)}"[:254] + "…" in subjects, "as it is, not escaped: Salesforce shows text"
    assert any(NAME in task.get("Description", "") for task in salesforce.records["Task"])
    (opportunity,) = salesforce.records["Opportunity"]
    assert len(opportunity["Name"]) <= 120 and opportunity["Name"].startswith("Renewal ")


def test_hubspot_rich_text_bodies_escape_warehouse_text(hostile_accounts, resources, hubspot):
    run_day(resources, AS_OF, finish=True)

    report = sync_run(resources, [hubspot_target(hubspot)])

    assert report.targets["hubspot"].parked == 0
    bodies = [task["hs_task_body"] for task in hubspot.objects["tasks"].values()]
    bodies += [note["hs_note_body"] for note in hubspot.objects["notes"].values()]
    assert all("<img" not in body and "<script" not in body and "\r" not in body for body in bodies)
    assert any(html.escape(NAME.splitlines()[0]) in body for body in bodies), "the name, as text"
