"""The HubSpot target against a local HTTPS server that answers as HubSpot's CRM v3 API does: call
tasks made once (batch upsert by our unique property updates a task that has our key), associated with the
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
from tests.vendor_https import (  # noqa: F401
    HubSpotServer,
    hubspot_fixture,
    sync_until_the_worker_dies,
    test_ca_files_fixture,
    test_ca_fixture,
)

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
    (upsert,) = [r for r in hubspot.requests if r.path.startswith("/crm/v3/objects/tasks")]
    assert upsert.path.endswith("/batch/upsert") and upsert.json()["inputs"][0]["idProperty"] == "renewal_key"
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


def test_a_batch_writes_many_tasks_in_one_call_and_a_refused_one_parks_alone(world, resources, hubspot, databases, ops):
    world.add_columns("subscriptions", "hubspot_company_id")
    for n in range(4):
        world.subscription(f"S-RISK-{n}", AS_OF + timedelta(days=14), hubspot_company_id=f"900{n}")
    run_day(resources, AS_OF, finish=True)
    # a call task without a due date: the mapping's hs_timestamp "{task_due_date}T09:00:00Z" is no date
    ops.execute(
        "update renewals.cta_tasks set due_date = null where cta_id = "
        "(select cta_id from renewals.ctas where subscription_id = 'S-RISK-3')"
    )
    target = target_for(hubspot)

    sync_until_the_worker_dies(databases["ops"], target)  # a batch written, its outcomes not recorded
    report = sync_run(resources, [target])

    calls = {
        kind: [len(r.json()["inputs"]) for r in hubspot.requests if r.path == f"/crm/v3/objects/{kind}/batch/upsert"]
        for kind in ("tasks", "notes")
    }
    assert calls["tasks"] == [4], "the four call tasks in one call"
    assert len(calls["notes"]) == 2 and calls["notes"][0] == calls["notes"][1] > 1, "the crashed batch, then again"
    assert report.targets["hubspot"].parked == 1
    answer = ops.execute(
        "select d.last_answer from renewals.sync_deliveries d join renewals.sync_events e using (event_id) "
        "where d.status = 'parked' and e.subscription_id = 'S-RISK-3'"
    ).fetchone()[0]
    assert "VALIDATION_ERROR" in answer and "hs_timestamp" in answer
    keys = [task["renewal_key"] for task in hubspot.objects["tasks"].values()]
    assert len(keys) == len(set(keys)) == 3
    notes = [note["renewal_key"] for note in hubspot.objects["notes"].values()]
    assert len(notes) == len(set(notes)) == calls["notes"][0], "the retry updated the notes the crashed batch made"
    tasks = {(to, to_id) for kind, _record, to, to_id in hubspot.associations if kind == "tasks"}
    assert tasks == {("companies", "9000"), ("companies", "9001"), ("companies", "9002")}
