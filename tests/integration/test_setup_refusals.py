"""A setup the run cannot work with is refused by the first task, prepare_run, at once (no retry)
with a message naming the setting or connection, before anything is sent: a signing secret too
short to sign with, and List-Unsubscribe on without a secret to sign the links."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from tests.integration.test_manual_runs import refused_run
from tests.world import customer_emails

D1 = date(2026, 12, 1)


def assert_refused(tries: dict, output: str, mailbox, message: str) -> None:
    assert tries["prepare_run"] == ("failed", 1)
    assert all(state != "success" for task, (state, _) in tries.items() if task != "prepare_run")
    assert message in output
    assert customer_emails(mailbox) == []


@pytest.mark.parametrize(
    ("conn", "message"),
    [
        ({"password": "short"}, "connection 'renewals_unsubscribe': its password is 5 bytes long"),
        (
            {"password": "x" * 40, "extra": {"previous_password": "old"}},
            "connection 'renewals_unsubscribe': its previous_password is 3 bytes long",
        ),
    ],
)
def test_a_weak_signing_secret_is_refused_naming_the_connection(
    world, airflow, mailbox, capfd, monkeypatch, conn, message
):
    world.subscription("S-HERE", D1 + timedelta(days=15))
    monkeypatch.setenv("AIRFLOW_CONN_RENEWALS_UNSUBSCRIBE", json.dumps({"conn_type": "generic", **conn}))
    tries, output = refused_run(airflow, capfd)
    assert_refused(tries, output, mailbox, message)
    assert "at least 32 random bytes" in output


def test_list_unsubscribe_without_a_secret_is_refused_not_silent(world, airflow, mailbox, capfd, monkeypatch):
    world.subscription("S-HERE", D1 + timedelta(days=15))
    monkeypatch.delenv("AIRFLOW_CONN_RENEWALS_UNSUBSCRIBE")
    tries, output = refused_run(airflow, capfd)
    assert_refused(tries, output, mailbox, "RENEWALS_LIST_UNSUBSCRIBE is on but there is no connection")
    # Turned off on purpose, the reminders go out without the headers.
    monkeypatch.setenv("RENEWALS_LIST_UNSUBSCRIBE", "false")
    assert airflow.run(D1) == "success"
    [reminder] = customer_emails(mailbox)
    assert reminder["List-Unsubscribe"] is None


def test_an_unsubscribe_link_validity_out_of_range_is_refused_not_a_crash(world, airflow, mailbox, capfd, monkeypatch):
    world.subscription("S-HERE", D1 + timedelta(days=15))
    monkeypatch.setenv("RENEWALS_UNSUBSCRIBE_DAYS", "99999999999")
    tries, output = refused_run(airflow, capfd)
    assert_refused(tries, output, mailbox, "RENEWALS_UNSUBSCRIBE_DAYS='99999999999' must be at most 3650")
