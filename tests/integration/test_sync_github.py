"""The GitHub target against a local HTTPS server that answers as GitHub's REST API does: one issue
per offboarding from the checklist template, found again by its marker, closed when done."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from devenv.inprocess import run_day
from renewals.config import Settings
from renewals.pipeline import sync_run
from renewals.sync.github import GitHubTarget, marker
from renewals.sync.http import Budget, Client
from renewals.sync.mapping import load_mapping
from tests.conftest import moment
from tests.vendor_https import (  # noqa: F401
    GitHubServer,
    github_fixture,
    sync_until_the_worker_dies,
    test_ca_files_fixture,
    test_ca_fixture,
)

AS_OF = date(2026, 12, 1)
RENEWAL = AS_OF - timedelta(days=1)  # offboarding starts the day after the renewal date


def target_for(server: GitHubServer) -> GitHubTarget:
    mapping = load_mapping(Settings().sync_mapping_path).github
    return GitHubTarget.from_connection(mapping, Client(Budget(30)))


@pytest.fixture
def leaving(world):
    world.subscription("S-GONE", RENEWAL, declined_at=moment(RENEWAL - timedelta(days=5)), decline_reason="budget")
    return world


def test_an_offboarding_is_one_issue_with_its_checklist_closed_when_done(leaving, resources, github, ops):
    for n in range(3):  # other labelled issues, so the search for the marker reads more than one page
        github.add(f"Offboarding: someone else {n}", marker(f"S-OTHER-{n}", "2026-01-01"), ("renewals-offboarding",))
    run_day(resources, AS_OF, finish=True)
    ops.execute("update renewals.touchpoints set status = 'pending' where touchpoint = 'offboarding_alert'")

    report = sync_run(resources, [target_for(github)])  # started; a step is still to do

    assert report.targets["github"].parked == 0
    (issue,) = [i for i in github.issues if "S-GONE" in i["title"]]
    assert issue["state"] == "open" and issue["body"].startswith(marker("S-GONE", RENEWAL.isoformat()))
    steps = [line for line in issue["body"].splitlines() if line.startswith("- [ ] ")]
    assert len(steps) == len(load_mapping(Settings().sync_mapping_path).github.checklist)
    assert "budget" in issue["body"]

    ops.execute(
        "update renewals.touchpoints set status = 'sent', updated_at = now() where touchpoint = 'offboarding_alert'"
    )
    sync_run(resources, [target_for(github)])

    assert [i["number"] for i in github.issues if "S-GONE" in i["title"]] == [issue["number"]]
    assert issue["state"] == "closed" and "- [ ] " not in issue["body"]


def test_a_crash_after_opening_the_issue_never_opens_a_second(leaving, resources, github, databases):
    run_day(resources, AS_OF, finish=True)

    sync_until_the_worker_dies(databases["ops"], target_for(github))
    sync_run(resources, [target_for(github)])

    assert len(github.issues) == 1 and github.issues[0]["state"] == "closed"


def test_a_5xx_is_retried_after_its_retry_after_and_a_spent_rate_limit_waits_for_the_next_run(
    leaving, resources, github, ops
):
    run_day(resources, AS_OF, finish=True)
    waits: list[float] = []
    mapping = load_mapping(Settings().sync_mapping_path).github
    github.fail_next(
        403,
        {"message": "API rate limit exceeded", "documentation_url": "https://docs.github.com/rest"},
        headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1893456000"},
    )

    report = sync_run(resources, [GitHubTarget.from_connection(mapping, Client(Budget(30), sleep=waits.append))])

    assert waits == [] and "rate limit" in report.targets["github"].unavailable and github.issues == []
    github.fail_next(502, {"message": "Server Error"}, retry_after="4")
    retried = sync_run(resources, [GitHubTarget.from_connection(mapping, Client(Budget(30), sleep=waits.append))])

    assert waits == [4.0] and retried.targets["github"].still_pending == 0
    assert len(github.issues) == 1 and github.issues[0]["state"] == "closed"
