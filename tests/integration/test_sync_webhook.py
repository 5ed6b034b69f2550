"""The webhook target's contract: the day's changes as signed JSON POSTs, each event once in effect.

The receiver is a local HTTPS server (TLS from the test CA) that keeps the first request of each
delivery id, as the contract asks receivers to.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from contextlib import closing
from datetime import date, timedelta

import pytest

from devenv.inprocess import run_day
from renewals.pipeline import finish_run, sync_run
from renewals.storage.db import connect
from renewals.sync.http import Budget, Client
from renewals.sync.outbox import sync
from renewals.sync.webhook import WebhookTarget
from tests.vendor_https import (  # noqa: F401
    WebhookReceiver,
    test_ca_files_fixture,
    test_ca_fixture,
    use_connection,
    webhook_receiver_fixture,
)

AS_OF = date(2026, 12, 1)
pytestmark = pytest.mark.usefixtures("webhook_connection")  # every target here is on it
SECRET = "example-signing-key"
ENDPOINT = "/hooks/renewals"


@pytest.fixture
def webhook_connection(webhook_receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = {
        "conn_type": "http",
        "host": "127.0.0.1",
        "schema": "https",
        "port": webhook_receiver.port,
        "password": SECRET,
        "extra": {"endpoint": ENDPOINT},
    }
    use_connection(monkeypatch, "renewals_webhook", conn)


def verified_events(receiver: WebhookReceiver) -> list[dict]:
    """Every request the receiver got, checked against the contract; their bodies."""
    bodies = []
    for request in receiver.requests:
        assert request.method == "POST" and request.path == ENDPOINT
        expected = "sha256=" + hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
        assert request.headers["X-Renewals-Signature"] == expected
        body = json.loads(request.body)
        assert request.headers["X-Renewals-Event"] == body["kind"]
        assert request.headers["X-Renewals-Delivery"] == body["delivery"]
        bodies.append(body)
    return bodies


@pytest.fixture
def risk_world(world):
    world.subscription("S-RISK", AS_OF + timedelta(days=14))  # the renewal-risk CTA opens today
    world.subscription("S-QUIET", AS_OF + timedelta(days=300))
    return world


def test_the_days_changes_reach_the_webhook_signed_and_a_rerun_sends_none_again(
    risk_world, airflow, webhook_receiver, ops
):  # the connection: the AIRFLOW_CONN_RENEWALS_WEBHOOK variable of webhook_connection
    assert airflow.run(AS_OF) == "success"

    bodies = verified_events(webhook_receiver)
    kinds = {body["kind"] for body in bodies}
    assert {"cta.opened", "task.due", "message.sent"} <= kinds
    opened = next(body for body in bodies if body["kind"] == "cta.opened")
    assert opened["subscription_id"] == "S-RISK"
    assert opened["data"]["cta"]["type"] == "renewal_risk" and opened["data"]["cta"]["stage"] == "at_risk"
    assert {body["subscription_id"] for body in bodies if body["kind"] != "renewal.gate"} == {"S-RISK"}
    assert len({body["event"] for body in bodies}) == len(bodies), "each event once"

    assert airflow.run(AS_OF) == "success"  # the day again

    assert len(webhook_receiver.requests) == len(bodies)


def test_a_5xx_is_retried_with_the_same_delivery_id_after_the_retry_after_it_names(
    risk_world, resources, webhook_receiver, ops
):
    run_day(resources, AS_OF, finish=True)
    webhook_receiver.fail_next(503, {"error": "maintenance"}, retry_after="7")
    webhook_receiver.fail_next(500, {"error": "oops"})
    waits: list[float] = []
    target = WebhookTarget.from_connection(Client(Budget(60), sleep=waits.append))

    report = sync_run(resources, [target])

    assert report.targets["webhook"].delivered == report.queued > 0
    assert waits == [7.0, 2.0]  # Retry-After honoured, then the backoff
    first, second, third = webhook_receiver.requests[:3]
    assert (
        first.headers["X-Renewals-Delivery"]
        == second.headers["X-Renewals-Delivery"]
        == third.headers["X-Renewals-Delivery"]
    )
    assert first.body == third.body
    assert len(webhook_receiver.accepted) == report.queued


def test_a_webhook_down_past_the_budget_leaves_the_events_for_the_next_run(
    risk_world, resources, webhook_receiver, ops
):
    run_day(resources, AS_OF, finish=True)
    webhook_receiver.fail_next(429, {"error": "slow down"}, retry_after="120")
    never_waits = Client(Budget(30), sleep=lambda seconds: None)
    target = WebhookTarget.from_connection(never_waits)

    report = sync_run(resources, [target])

    assert report.targets["webhook"].delivered == 0 and "429" in report.targets["webhook"].unavailable
    assert report.targets["webhook"].still_pending == report.queued
    run_day(resources, AS_OF + timedelta(days=1), finish=True)
    retried = sync_run(resources, [target])
    assert retried.targets["webhook"].delivered >= report.queued
    assert retried.targets["webhook"].still_pending == 0
    delivery_ids = {request.headers["X-Renewals-Delivery"] for request in webhook_receiver.requests}
    assert len(delivery_ids) == len(webhook_receiver.accepted) == len(webhook_receiver.requests) - 1


def test_a_4xx_parks_the_event_with_the_answer_and_the_rest_go_on(risk_world, resources, webhook_receiver, ops):
    run_day(resources, AS_OF, finish=True)
    webhook_receiver.fail_next(422, {"error": "unknown kind"})
    target = WebhookTarget.from_connection(Client(Budget(30)))

    report = sync_run(resources, [target])

    assert report.targets["webhook"].parked == 1
    assert report.targets["webhook"].delivered == report.queued - 1
    status, answer = ops.execute(
        "select last_status, last_answer from renewals.sync_deliveries where status = 'parked'"
    ).fetchone()
    assert status == 422 and "unknown kind" in answer


def test_a_crash_after_the_post_sends_the_same_delivery_again_and_no_new_one(
    risk_world, resources, webhook_receiver, databases, ops
):
    run_day(resources, AS_OF, finish=True)
    target = WebhookTarget.from_connection(Client(Budget(30)))

    class WorkerDied(BaseException):
        pass

    def die(point: str) -> None:
        raise WorkerDied(point)

    with closing(connect(databases["ops"], autocommit=True)) as conn, pytest.raises(WorkerDied):
        sync(conn, [target], checkpoint=die)  # the first event was POSTed, not recorded
    report = sync_run(resources, [target])

    events = ops.execute("select count(*) from renewals.sync_events").fetchone()[0]
    assert report.queued == 0 and report.targets["webhook"].delivered == events > 0
    posted = [request.headers["X-Renewals-Delivery"] for request in webhook_receiver.requests]
    assert posted[0] == posted[1], "the crashed delivery went again with its id"
    assert len(set(posted)) == len(posted) - 1 == len(webhook_receiver.accepted)
    assert ops.execute("select count(*) from renewals.sync_deliveries where status <> 'delivered'").fetchone()[0] == 0


def test_a_dry_run_syncs_nothing(risk_world, resources, webhook_receiver):
    run = run_day(resources, AS_OF, dry_run=True)
    finish_run(resources, run)
    target = WebhookTarget.from_connection(Client(Budget(30)))

    assert sync_run(resources, [target], dry_run=run.dry_run) is None
    assert webhook_receiver.requests == []


def test_what_staff_do_in_the_console_is_an_event_too(risk_world, resources, webhook_receiver, ops):
    from renewals.console.steering import hold

    run_day(resources, AS_OF, finish=True)
    hold(ops, "S-RISK", AS_OF + timedelta(days=3), "out of office <b>until</b> Thursday", "ana")
    target = WebhookTarget.from_connection(Client(Budget(30)))

    sync_run(resources, [target])

    (action,) = [body for body in verified_events(webhook_receiver) if body["kind"] == "staff.action"]
    assert action["subscription_id"] == "S-RISK"
    assert action["data"]["staff_action"]["action"] == "hold" and action["data"]["staff_action"]["actor"] == "ana"
    assert action["data"]["staff_action"]["reason"] == "out of office <b>until</b> Thursday"
