"""The HubSpot target against a local HTTPS server that answers as HubSpot's CRM v3 API does: call
tasks made once (a 409 on our unique property updates the task instead), associated with the
company and deal the warehouse row names, what the pipeline sent as notes on their timeline, and the
deal moved through its stages by gate."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from devenv.inprocess import run_day
from renewals.config import Settings
from renewals.pipeline import sync_run
from renewals.sync.http import Budget, Client
from renewals.sync.hubspot import HubSpotTarget
from renewals.sync.mapping import load_mapping
from tests.conftest import moment
from tests.vendor_https import HubSpotServer, hubspot_fixture, test_ca_files_fixture, test_ca_fixture  # noqa: F401

AS_OF = date(2026, 12, 1)


def target_for(server: HubSpotServer, **client: object) -> HubSpotTarget:
    mapping = load_mapping(Settings().sync_mapping_path).hubspot
    return HubSpotTarget.from_connection(mapping, Client(Budget(30), **client))


@pytest.fixture
def risk_world(world):
    world.add_columns("subscriptions", "hubspot_company_id")
    world.subscription("S-RISK", AS_OF + timedelta(days=14), hubspot_company_id="9001")  # renewal risk opens today
    return world


def test_call_tasks_are_made_once_associated_with_the_company(risk_world, resources, hubspot, ops):
    run_day(resources, AS_OF, finish=True)
    cta_id = ops.execute("select cta_id from renewals.ctas where subscription_id = 'S-RISK'").fetchone()[0]
    task_id = ops.execute("select task_id from renewals.cta_tasks where cta_id = %s", (cta_id,)).fetchone()[0]
    key = f"{cta_id}/{task_id}"
    made_before = hubspot.add("tasks", renewal_key=key, hs_task_subject="left by a crashed run")

    report = sync_run(resources, [target_for(hubspot)])

    assert report.targets["hubspot"].delivered > 0 and report.targets["hubspot"].parked == 0, report
    (task,) = hubspot.objects["tasks"].values()
    assert task["hs_task_subject"] == "Contact the member about the open renewal"
    assert (task["hs_task_status"], task["hs_task_priority"]) == ("NOT_STARTED", "MEDIUM")
    assert task["hs_timestamp"].endswith("T09:00:00Z")
    conflict, update = [r for r in hubspot.requests if "/tasks" in r.path]
    assert conflict.method == "POST" and update.method == "PATCH" and update.query["idProperty"] == ["renewal_key"]
    url = ops.execute("select remote_url from renewals.sync_records where record_key = %s", (key,)).fetchone()[0]
    assert url.endswith(f"/4242/record/0-27/{made_before}")


def test_a_new_task_is_associated_with_the_company_and_the_deal_moves_by_gate(world, resources, hubspot, ops):
    world.add_columns("subscriptions", "hubspot_company_id", "hubspot_deal_id")
    world.subscription("S-RISK", AS_OF + timedelta(days=14), hubspot_company_id="9001", hubspot_deal_id="7007")
    deal = hubspot.add("deals", record_id="7007", dealstage="appointmentscheduled")
    waits: list[float] = []
    target = target_for(hubspot, sleep=waits.append)
    run_day(resources, AS_OF, finish=True)
    hubspot.fail_next(
        429,
        {
            "status": "error",
            "message": "You have reached your secondly limit.",
            "errorType": "RATE_LIMIT",
            "policyName": "SECONDLY",
        },
    )

    sync_run(resources, [target])

    assert waits == [1.0]  # no Retry-After: the backoff
    (task_id,) = hubspot.objects["tasks"]
    associated = {(to, to_id) for kind, record, to, to_id in hubspot.associations if record == task_id}
    assert associated == {("companies", "9001"), ("deals", "7007")}
    assert hubspot.objects["deals"][deal]["dealstage"] == "renewal_contacted"
    sent = [note for note in hubspot.objects["notes"].values() if note["hs_note_body"].startswith("Renewal email sent")]
    assert sent, "the email the run sent is a note on the timeline"
    assert {(to, to_id) for kind, _record, to, to_id in hubspot.associations if kind == "notes"} == {
        ("companies", "9001"),
        ("deals", "7007"),
    }

    world.update("S-RISK", paid_at=moment(AS_OF + timedelta(days=1)), invoice_number="INV-9")
    run_day(resources, AS_OF + timedelta(days=2), finish=True)
    sync_run(resources, [target])

    assert hubspot.objects["deals"][deal]["dealstage"] == "closedwon"
    assert len(hubspot.objects["tasks"]) == 1


def test_without_the_optional_columns_tasks_and_notes_are_made_unassociated(world, resources, hubspot, ops):
    world.subscription("S-RISK", AS_OF + timedelta(days=14))  # a warehouse without the CRM id columns

    run_day(resources, AS_OF, finish=True)

    report = sync_run(resources, [target_for(hubspot)])

    assert report.targets["hubspot"].parked == 0
    assert hubspot.objects["tasks"] and hubspot.objects["notes"] and hubspot.associations == []


def test_a_deal_hubspot_does_not_have_is_parked_with_its_answer(world, resources, hubspot, ops):
    world.add_columns("subscriptions", "hubspot_deal_id")
    world.subscription("S-RISK", AS_OF + timedelta(days=14), hubspot_deal_id="404404")
    run_day(resources, AS_OF, finish=True)

    report = sync_run(resources, [target_for(hubspot)])

    assert report.targets["hubspot"].parked == 1
    status, answer = ops.execute(
        "select last_status, last_answer from renewals.sync_deliveries where status = 'parked'"
    ).fetchone()
    assert status == 404 and "OBJECT_NOT_FOUND" in answer
