"""The Salesforce target against a local HTTPS server that answers as Salesforce's REST API does:
CTAs and call tasks as Tasks, the BizDev outreach as an Opportunity, sent messages as completed
Tasks, each upserted by its External ID so that nothing is ever made twice."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from devenv.inprocess import run_day
from renewals.config import Settings
from renewals.pipeline import sync_run
from renewals.sync.http import Budget, Client
from renewals.sync.mapping import load_mapping
from renewals.sync.outbox import record_url
from renewals.sync.salesforce import SalesforceTarget
from renewals.sync.targets import ConnectionInfo
from tests.vendor_https import (  # noqa: F401
    SalesforceServer,
    salesforce_fixture,
    sync_until_the_worker_dies,
    test_ca_files_fixture,
    test_ca_fixture,
)
from tests.warehouses import KINDS

AS_OF = date(2026, 12, 1)


def target_for(server: SalesforceServer, **client: object) -> SalesforceTarget:
    conn = ConnectionInfo(**server.connection() | {"host": server.base_url})
    mapping = load_mapping(Settings().sync_mapping_path).salesforce
    return SalesforceTarget.from_connection(conn, mapping, Client(Budget(30), **client))


def tasks(server: SalesforceServer) -> dict[str, dict]:
    return {record["Renewal_Key__c"]: record for record in server.records.get("Task", [])}


@pytest.fixture
def risk_world(world):
    world.subscription("S-RISK", AS_OF + timedelta(days=14), account_name="Acme Labs")  # renewal risk opens today
    world.subscription("S-BIZDEV", AS_OF + timedelta(days=180))  # the 180-day BizDev outreach
    return world


def test_ctas_call_tasks_and_sent_messages_land_as_records_and_are_updated_in_place(
    risk_world, resources, salesforce, ops
):
    target = target_for(salesforce)
    run_day(resources, AS_OF, finish=True)

    report = sync_run(resources, [target])

    assert report.targets["salesforce"].delivered > 0 and report.targets["salesforce"].parked == 0
    cta_id = ops.execute("select cta_id from renewals.ctas where subscription_id = 'S-RISK'").fetchone()[0]
    records = tasks(salesforce)
    cta_task = records[cta_id]
    assert cta_task["Subject"] == "Renewal risk: Acme Labs"
    assert (cta_task["Status"], cta_task["Priority"]) == ("Not Started", "Normal")
    call = next(record for key, record in records.items() if key.startswith(f"{cta_id}/"))
    assert call["Subject"] == "Contact the member about the open renewal" and call["Status"] == "Not Started"
    messages = [record for key, record in records.items() if key.startswith("MSG-")]
    assert messages and all(record["Status"] == "Completed" for record in messages)
    subjects = {record["Subject"].split(":")[0] for record in messages}
    assert subjects == {"Email", "Email not sent"}, "what was sent and what was skipped are in the history"
    bizdev_id = ops.execute("select cta_id from renewals.ctas where type = 'bizdev_opportunity'").fetchone()[0]
    (opportunity,) = salesforce.records["Opportunity"]
    assert opportunity["Renewal_Key__c"] == bizdev_id and opportunity["StageName"] == "Prospecting"
    assert record_url(ops, cta_id)["salesforce"].endswith(f"/lightning/r/Task/{cta_task['Id']}/view")

    run_day(resources, AS_OF + timedelta(days=15), finish=True)  # the renewal date passed: escalated
    sync_run(resources, [target])

    again = tasks(salesforce)
    assert again[cta_id]["Id"] == cta_task["Id"] and again[cta_id]["Priority"] == "High"
    assert len(salesforce.records["Task"]) == len(again), "one record per key"
    assert len(salesforce.records["Opportunity"]) == 1


def test_an_external_id_matching_several_records_parks_the_event_with_the_matches(
    risk_world, resources, salesforce, ops
):
    run_day(resources, AS_OF, finish=True)
    cta_id = ops.execute("select cta_id from renewals.ctas where subscription_id = 'S-RISK'").fetchone()[0]
    first = salesforce.add("Task", Renewal_Key__c=cta_id, Subject="made by hand")
    salesforce.add("Task", Renewal_Key__c=cta_id, Subject="made by hand, again")

    report = sync_run(resources, [target_for(salesforce)])

    assert report.targets["salesforce"].parked == 1
    status, answer = ops.execute(
        "select last_status, last_answer from renewals.sync_deliveries where status = 'parked'"
    ).fetchone()
    assert status == 300 and first in answer and "Renewal_Key__c" in answer
    assert report.targets["salesforce"].delivered > 0, "the other events went on"


def test_a_crash_between_the_upsert_and_its_record_makes_no_second_record(risk_world, resources, salesforce, databases):
    run_day(resources, AS_OF, finish=True)
    target = target_for(salesforce)

    sync_until_the_worker_dies(databases["ops"], target)
    written = sum(map(len, salesforce.records.values()))
    assert written > 0  # the first batch: written, not recorded as delivered
    sync_run(resources, [target])

    keys = [record["Renewal_Key__c"] for records in salesforce.records.values() for record in records]
    assert len(keys) == len(set(keys)), "the retried upsert updated the records it made"


def test_a_batch_writes_many_records_in_one_call_and_a_refused_one_parks_alone(world, resources, salesforce, ops):
    world.add_columns("subscriptions", "salesforce_account_id")
    for n in range(3):
        world.subscription(
            f"S-RISK-{n}",
            AS_OF + timedelta(days=14),
            account_name=f"Member {n}",
            salesforce_account_id=f"00100000000004{n}AAA",
        )
    # an id that is no Account's (a contact's, pasted into the wrong column): its records are refused
    world.subscription("S-WRONG", AS_OF + timedelta(days=14), salesforce_account_id="003000000000042AAA")
    run_day(resources, AS_OF, finish=True)

    report = sync_run(resources, [target_for(salesforce)])

    calls = [request for request in salesforce.requests if "/composite/sobjects/" in request.path]
    parked = ops.execute(
        "select e.subscription_id, d.last_answer from renewals.sync_deliveries d join renewals.sync_events e "
        "using (event_id) where d.status = 'parked'"
    ).fetchall()
    assert parked and all(sub == "S-WRONG" and "MALFORMED_ID" in answer for sub, answer in parked)
    (total,) = ops.execute("select count(*) from renewals.sync_deliveries where target = 'salesforce'").fetchone()
    assert report.targets["salesforce"].delivered == total - len(parked) > len(calls)  # many records a call
    assert all(len(request.json()["records"]) <= 200 for request in calls)
    keys = [record["Renewal_Key__c"] for record in salesforce.records["Task"]]
    assert len(keys) == len(set(keys))
    assert {record["Subject"] for record in salesforce.records["Task"]} >= {
        f"Renewal risk: Member {n}" for n in range(3)
    }


def test_a_bad_mapping_is_refused_at_prepare_run_before_anything_is_written(resources, tmp_path, ops):
    from dataclasses import replace

    from renewals.pipeline import prepare
    from renewals.storage.runs import RunContext
    from renewals.sync.mapping import MappingError

    bad = tmp_path / "mapping.yaml"
    bad.write_text(Settings().sync_mapping_path.read_text().replace("{task_title}", "{task_titel}", 1))
    broken = replace(resources, settings=replace(resources.settings, sync_mapping_path=bad))

    with pytest.raises(MappingError, match=r"salesforce\.call_task\.Subject.*\{task_titel\}"):
        prepare(broken, RunContext(run_id="manual__bad", as_of=AS_OF))
    assert ops.execute("select to_regclass('renewals.runs')").fetchone()[0] is None


@pytest.mark.parametrize("warehouse_kind", KINDS)
def test_records_are_related_to_the_account_or_opportunity_the_warehouse_row_names(world, resources, salesforce, ops):
    world.add_columns("subscriptions", "salesforce_account_id", "salesforce_opportunity_id")
    ids = {"salesforce_account_id": " 001000000000042AAA ", "salesforce_opportunity_id": "006000000000007AAA"}
    world.subscription("S-RISK", AS_OF + timedelta(days=14), **ids)
    world.subscription("S-ACCOUNT", AS_OF + timedelta(days=14), salesforce_account_id="001000000000043AAA")
    world.subscription("S-BIZDEV", AS_OF + timedelta(days=180), salesforce_account_id="001000000000044AAA")
    run_day(resources, AS_OF, finish=True)

    sync_run(resources, [target_for(salesforce)])

    cycles = ops.execute(
        "select subscription_id, salesforce_account_id, salesforce_opportunity_id, hubspot_company_id"
        " from renewals.renewal_cycles order by 1"
    ).fetchall()
    assert cycles == [
        ("S-ACCOUNT", "001000000000043AAA", None, None),
        ("S-BIZDEV", "001000000000044AAA", None, None),
        ("S-RISK", "001000000000042AAA", "006000000000007AAA", None),
    ]
    by_account = {}
    for task in salesforce.records["Task"]:
        by_account.setdefault(task.get("WhatId"), []).append(task)
    # the opportunity, else the account; every Task related to one
    assert by_account.keys() == {"006000000000007AAA", "001000000000043AAA", "001000000000044AAA"}
    (opportunity,) = salesforce.records["Opportunity"]
    assert opportunity["AccountId"] == "001000000000044AAA"
