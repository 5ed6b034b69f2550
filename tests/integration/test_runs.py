"""Runs as operators use them: a gap between runs, a manual single-subscription run, a dry run,
an as-of override, bad input; through Airflow (dag.test and the CLI) on real parts."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

from renewals.config import PROJECT_ROOT
from tests.conftest import moment
from tests.daily import contract_connections
from tests.world import customer_emails, first_copies

D1 = date(2026, 12, 1)
D2 = date(2026, 12, 11)  # ten days later, no run in between


def sent(mailbox) -> list[tuple[str, str]]:
    """Each send once: the first copy of each message (the one with the touchpoint's own Message-ID)."""
    return sorted(
        (m["X-Renewal-Subscription"], m["X-Renewal-Touchpoint"]) for m in first_copies(customer_emails(mailbox))
    )


def ledger(ops, subscription_id: str) -> dict[str, tuple[str, str | None]]:
    rows = ops.execute(
        "select touchpoint, status, reason from renewals.touchpoints where subscription_id = %s", (subscription_id,)
    )
    return {touchpoint: (status, reason) for touchpoint, status, reason in rows}


def test_a_gap_between_runs_catches_up_the_latest_and_records_the_rest(world, airflow, mailbox, ops):
    world.subscription("S-B", date(2026, 12, 23))  # reminder_15 falls due in the gap (Dec 8)
    world.subscription("S-C", date(2026, 12, 11))  # reminder_1 (Dec 10) is overtaken by reminder_0 (Dec 11)
    world.subscription("S-D", date(2026, 11, 20))  # overdue_notice_15 falls due in the gap (Dec 5)

    assert airflow.run(D1) == "success"
    assert sent(mailbox) == [("S-C", "renewal_reminder_15")]  # 5 days late: caught up
    assert ledger(ops, "S-B")["renewal_confirmation"] == ("skipped", "stale")  # 8 days late
    assert ledger(ops, "S-B")["renewal_notice"] == ("skipped", "superseded")
    assert ledger(ops, "S-D")["overdue_notice_1"] == ("skipped", "stale")

    assert airflow.run(D2) == "success"
    assert sent(mailbox) == [
        ("S-B", "renewal_reminder_15"),
        ("S-C", "renewal_reminder_0"),
        ("S-C", "renewal_reminder_15"),
        ("S-D", "overdue_notice_15"),
    ]
    assert ledger(ops, "S-C")["renewal_reminder_1"] == ("skipped", "superseded")
    decisions = dict(
        ops.execute(
            "select subscription_id, reason from renewals.decisions where as_of = %s and action = 'send'", (D2,)
        ).fetchall()
    )
    assert decisions == {"S-B": "catch_up", "S-C": None, "S-D": "catch_up"}


def test_a_manual_run_for_one_subscription_touches_only_it(world, airflow, mailbox, ops):
    world.subscription("S-ONE", D1 + timedelta(days=15))
    world.subscription("S-OTHER", D1 + timedelta(days=15))

    assert airflow.run(D1, subscription_id="S-ONE") == "success"
    assert sent(mailbox) == [("S-ONE", "renewal_reminder_15")]
    assert ledger(ops, "S-OTHER") == {}

    assert airflow.run(D1) == "success"  # the scheduled run later that day
    assert sent(mailbox) == [("S-ONE", "renewal_reminder_15"), ("S-OTHER", "renewal_reminder_15")]


def test_a_dry_run_renders_and_records_a_preview_but_sends_nothing(world, airflow, mailbox, ops):
    world.subscription("S-DRY", D1 + timedelta(days=15))

    assert airflow.run(D1, dry_run=True) == "success"
    assert mailbox.messages == []
    status, subject, message_id = ops.execute(
        "select status, subject, message_id from renewals.touchpoints where subscription_id = 'S-DRY'"
    ).fetchone()
    assert status == "dry_run" and "Account S-DRY" in subject and message_id.startswith("<")
    assert ops.execute("select bool_and(dry_run) from renewals.decisions").fetchone()[0] is True

    assert airflow.run(D1) == "success"  # the real run sends what the preview showed
    assert [m["Message-ID"] for m in customer_emails(mailbox)] == [message_id]
    assert ledger(ops, "S-DRY")["renewal_reminder_15"] == ("sent", None)


def test_the_as_of_param_overrides_the_run_date(world, airflow, mailbox):
    world.subscription("S-ASOF", D1 + timedelta(days=1))
    assert airflow.run(D2, as_of=D1.isoformat()) == "success"
    assert sent(mailbox) == [("S-ASOF", "renewal_reminder_1")]


def test_bad_rows_are_quarantined_with_reasons_and_the_run_goes_on(world, airflow, mailbox, ops):
    due = D1 + timedelta(days=15)
    world.subscription("S-GOOD", due)
    world.subscription("S-MESSY", due, playbook=" Membership ", tier="PREMIER ", member_type=" tc", roles=())
    world.contact("S-MESSY", "Primary", email="  Primary.Messy@Members.Example.COM ")
    world.subscription("S-PLAYBOOK", due, playbook="enterprise")
    world.subscription("S-NODATE", None)
    world.subscription("S-TZ", due, timezone="Mars/Olympus")
    world.subscription("S-NEG", due, amount=-5)
    world.subscription("S-OWNER", due, owner_email="not-an-email")
    world.subscription("S-TIER", due, tier="platinum")
    world.subscription("S-TYPE", due, member_type=None)
    world.subscription("S-FUTURE", due, paid_at=moment(date(2031, 1, 1)))
    world.subscription("S-ANCIENT", date(2019, 1, 1))
    world.contact("S-GOOD", "committee", contact_id="C-BAD-EMAIL", email="committee at example.com")
    world.contact("S-GHOST", "primary")

    assert airflow.run(D1) == "success"

    assert sent(mailbox) == [("S-GOOD", "renewal_reminder_15"), ("S-MESSY", "renewal_reminder_15")]
    messy = next(m for m in customer_emails(mailbox) if m["X-Renewal-Subscription"] == "S-MESSY")
    assert [a.addr_spec for a in messy["To"].addresses] == ["primary.messy@members.example.com"]
    reasons = {
        record_id: set(codes)
        for record_id, codes in ops.execute("select record_id, reasons from renewals.quarantine").fetchall()
    }
    assert reasons == {
        "S-PLAYBOOK": {"unknown_playbook"},
        "S-NODATE": {"missing_renewal_date"},
        "S-TZ": {"invalid_timezone"},
        "S-NEG": {"negative_amount"},
        "S-OWNER": {"invalid_owner_email"},
        "S-TIER": {"unknown_tier"},
        "S-TYPE": {"missing_member_type"},
        "S-FUTURE": {"gate_in_future"},
        "S-ANCIENT": {"renewal_date_out_of_range"},
        "C-BAD-EMAIL": {"invalid_email"},
        "C-S-GHOST-primary": {"unknown_subscription"},
    }
    counts = ops.execute(
        """select subscriptions_in, subscriptions_processed, subscriptions_quarantined,
                  contacts_in, contacts_processed, contacts_quarantined from renewals.runs"""
    ).fetchone()
    assert counts == (11, 2, 9, 23, 21, 2)
    raw = ops.execute("select raw from renewals.quarantine where record_id = 'S-TZ'").fetchone()[0]
    assert raw["timezone"] == "Mars/Olympus" and raw["subscription_id"] == "S-TZ"


def test_the_airflow_cli_runs_the_dag_with_conf(world, databases, mailbox):
    world.subscription("S-CLI", D1 + timedelta(days=15))
    world.subscription("S-NOT-ME", D1 + timedelta(days=15))
    env = {**os.environ, **contract_connections(databases, mailbox.port)}
    airflow = str(Path(sys.executable).with_name("airflow"))
    result = subprocess.run(
        [airflow, "dags", "test", "renewals_daily", D1.isoformat(), "--conf", '{"subscription_id": "S-CLI"}'],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert sent(mailbox) == [("S-CLI", "renewal_reminder_15")]


def make_unknown(ops, subscription_id: str) -> None:
    """What a worker killed between the SMTP hand-off and the record leaves behind."""
    ops.execute(
        "update renewals.touchpoints set status = 'unknown', attempts = 1 where subscription_id = %s"
        " and status = 'sent'",
        (subscription_id,),
    )


def test_an_unknown_send_is_never_repeated_until_an_operator_releases_it(world, airflow, mailbox, ops):
    world.subscription("S-LOST", D1 + timedelta(days=15))
    airflow.run(D1)
    make_unknown(ops, "S-LOST")

    assert airflow.run(D1) == "success"
    assert len(customer_emails(mailbox)) == 1, "an unknown send is not repeated silently"
    summary = ops.execute("select count(*) from renewals.touchpoints where status = 'unknown'").fetchone()[0]
    assert summary == 1

    assert airflow.run(D1, release_unknown=["S-LOST/renewal_reminder_15"]) == "success"
    assert sent(mailbox) == [("S-LOST", "renewal_reminder_15")] * 2  # the lost one, sent again
    assert ledger(ops, "S-LOST")["renewal_reminder_15"] == ("sent", None)
    outcomes = [o for (o,) in ops.execute("select outcome from renewals.delivery_attempts order by attempt_id")]
    assert outcomes == ["sent", "released", "sent"]


def test_an_operator_can_confirm_an_unknown_send_as_delivered(world, airflow, mailbox, ops):
    world.subscription("S-KEPT", D1 + timedelta(days=15))
    airflow.run(D1)
    make_unknown(ops, "S-KEPT")

    assert airflow.run(D1, confirm_unknown=["S-KEPT/renewal_reminder_15"]) == "success"
    assert len(customer_emails(mailbox)) == 1
    assert ledger(ops, "S-KEPT")["renewal_reminder_15"] == ("sent", None)
