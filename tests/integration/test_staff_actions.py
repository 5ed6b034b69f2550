"""Every staff-facing action of the membership process, on real PostgreSQL and SMTP: CTAs and
their whole life, the gates' paths (intent, payment, decline), reruns that repeat nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from devenv.inprocess import run_day
from tests.conftest import moment
from tests.world import contact_email

R = date(2027, 3, 15)  # the renewal date of the subscription under test


def day(offset: int) -> date:
    return R + timedelta(days=offset)


def touchpoints_sent(mailbox, since: int = 0) -> list[tuple[str, str]]:
    return [
        (m["X-Renewal-Touchpoint"], ", ".join(a.addr_spec for a in m["To"].addresses)) for m in mailbox.messages[since:]
    ]


def ctas(ops) -> dict[str, tuple]:
    rows = ops.execute(
        "select type, stage, priority, owner_team, owner_email, status, outcome from renewals.ctas order by type"
    ).fetchall()
    return {row[0]: row[1:] for row in rows}


def counts(ops) -> tuple[int, ...]:
    return ops.execute(
        """select (select count(*) from renewals.ctas), (select count(*) from renewals.cta_events),
                  (select count(*) from renewals.cta_tasks), (select count(*) from renewals.health_scores),
                  (select count(*) from renewals.touchpoints where status = 'sent'),
                  (select count(*) from renewals.deactivations)"""
    ).fetchone()


def test_a_risk_cta_lives_one_life_from_medium_to_termination_to_renewed(world, resources, mailbox, ops):
    world.subscription("S-RISK", R, tier="standard")

    run_day(resources, day(-14))
    assert ctas(ops) == {
        "renewal_risk": ("at_risk", "medium", "membership_staff", "membership@example.org", "open", None)
    }
    assert ("risk_cta", "membership@example.org") in touchpoints_sent(mailbox), "the owner is told"

    run_day(resources, day(1))
    assert ctas(ops)["renewal_risk"] == ("overdue", "high", "membership_staff", "membership@example.org", "open", None)

    run_day(resources, day(60))
    assert ctas(ops)["renewal_risk"][:2] == ("termination_decision", "high")

    before = counts(ops)
    sent_before = len(mailbox.messages)
    run_day(resources, day(60), run_id="rerun")
    assert counts(ops) == before and len(mailbox.messages) == sent_before, "a rerun repeats nothing"

    world.update("S-RISK", paid_at=moment(day(61)), invoice_number="INV-9")
    run_day(resources, day(61))
    assert ctas(ops)["renewal_risk"][4:] == ("closed", "renewed")

    assert ops.execute("select count(*) from renewals.ctas where type = 'renewal_risk'").fetchone()[0] == 1
    timeline = ops.execute(
        """select e.touchpoint, e.kind, e.from_value, e.to_value from renewals.cta_events e
           join renewals.ctas c using (cta_id) where c.type = 'renewal_risk' order by e.event_id"""
    ).fetchall()
    assert timeline[0] == ("risk_cta", "opened", None, "at_risk")
    assert ("risk_cta_overdue", "priority", "medium", "high") in timeline
    assert ("risk_cta_overdue", "stage", "at_risk", "overdue") in timeline
    assert ("risk_cta_termination", "stage", "overdue", "termination_decision") in timeline
    assert timeline[-1] == ("renewed_close_ctas", "status", "open", "closed")
    health = ops.execute("select score, label from renewals.health_scores order by at, health_id").fetchall()
    assert health == [(60, "at_risk"), (30, "churn_notified"), (10, "terminating"), (100, "renewed")]
    posts = ops.execute("select kind, text from renewals.slack_outbox order by post_id").fetchall()
    assert [kind for kind, _ in posts] == ["cta", "cta", "cta", "payment_received"], "staff hear on Slack too"
    assert "priority medium → high" in posts[1][1]
    notices = [m for m in mailbox.messages if m["X-Renewal-Touchpoint"].startswith("risk_cta")]
    assert [m["X-Renewal-Touchpoint"] for m in notices] == ["risk_cta", "risk_cta_overdue", "risk_cta_termination"]
    assert "priority medium → high" in notices[1].get_body(("plain",)).get_content()


def test_bizdev_opportunity_and_tier_routed_check_in_calls(world, resources, ops):
    world.subscription("S-SPONSOR", day(0), tier="cosai_sponsor")
    world.subscription("S-PREMIER", day(0), tier="premier")
    world.subscription("S-HCI", day(0), tier="high_contributing_individual")
    world.subscription("S-STANDARD", day(0), tier="standard")

    run_day(resources, day(-180))
    owners = ops.execute("select subscription_id, owner_team from renewals.ctas where type = 'bizdev_opportunity'")
    assert dict(owners.fetchall()) == dict.fromkeys(["S-SPONSOR", "S-PREMIER", "S-HCI", "S-STANDARD"], "bizdev")

    run_day(resources, day(-90))
    calls = dict(ops.execute("select subscription_id, owner_team from renewals.ctas where type = 'checkin_call'"))
    assert calls == {"S-SPONSOR": "tc_op", "S-PREMIER": "bizdev", "S-HCI": "membership_staff"}
    task_owners = ops.execute(
        """select c.subscription_id, t.assignee_email from renewals.cta_tasks t join renewals.ctas c using (cta_id)
           where c.type = 'checkin_call' order by 1, 2"""
    ).fetchall()
    assert ("S-PREMIER", "tc-op@example.org") in task_owners and ("S-HCI", "tc-op@example.org") in task_owners
    review = ops.execute(
        "select subscription_id from renewals.touchpoints where touchpoint = 'renewal_review' and status = 'sent'"
    ).fetchall()
    assert sorted(sid for (sid,) in review) == ["S-HCI", "S-PREMIER", "S-SPONSOR", "S-STANDARD"]


def test_intent_then_payment_moves_the_invoice_task_and_sends_a_pdf_receipt(world, resources, mailbox, ops):
    world.subscription("S-PAYER", R, amount=1250, currency="EUR", term_months=12)
    world.update("S-PAYER", intent_confirmed_at=moment(day(-20)))

    run_day(resources, day(-20))
    assert ctas(ops)["invoice_posting"][:5] == ("to_post", "medium", "accounts_receivable", "ar@example.org", "open")
    run_day(resources, day(-15))
    assert touchpoints_sent(mailbox)[-1][0] == "payment_reminder_15"

    world.update("S-PAYER", paid_at=moment(day(-10)), invoice_number="INV-1001")
    before = len(mailbox.messages)
    run_day(resources, day(-10))

    receipts = [m for m in mailbox.messages[before:] if m["X-Renewal-Touchpoint"] == "receipt"]
    assert len(receipts) == 1
    receipt = receipts[0]
    assert sorted(a.addr_spec for a in receipt["To"].addresses) == sorted(
        contact_email("S-PAYER", role) for role in ("primary", "billing")
    )
    (attachment,) = list(receipt.iter_attachments())
    pdf = attachment.get_content()
    assert attachment.get_filename() == "receipt-INV-1001.pdf" and pdf.startswith(b"%PDF-")
    assert b"INV-1001" in pdf and b"1,250.00 EUR" in pdf and b"15 March 2027" in pdf and b"14 March 2028" in pdf
    assert ctas(ops)["invoice_posting"][4:] == ("closed", "paid")

    run_day(resources, day(-1))  # paid: no more payment reminders
    assert [t for t, _ in touchpoints_sent(mailbox, before)] == ["receipt"]


def test_a_decline_runs_the_whole_offboarding_bundle_once(world, resources, mailbox, ops):
    world.subscription("S-OP", R, member_type="OP", roles=("primary", "billing", "committee"))
    world.subscription("S-TC", R, member_type="TC")
    run_day(resources, day(-14))  # both get a risk CTA
    for sid in ("S-OP", "S-TC"):
        world.update(sid, declined_at=moment(day(-5)), decline_reason="budget")

    run_day(resources, day(0))
    assert ops.execute("select count(*) from renewals.offboardings").fetchone()[0] == 0, "not before the day after"

    before = len(mailbox.messages)
    run_day(resources, day(1))
    sent = touchpoints_sent(mailbox, before)
    assert ("offboarding_thanks", contact_email("S-OP", "primary")) in sent
    assert ("offboarding_group_notice", "offboarding-op@example.org") in sent
    assert ("offboarding_group_notice", "offboarding-tc@example.org") in sent
    alerts = [to for touchpoint, to in sent if touchpoint == "offboarding_alert"]
    assert alerts == ["tc-op@example.org, tc-chairs@example.org"] * 2
    handoffs = dict(
        ops.execute("select subscription_id, owner_team from renewals.ctas where type = 'offboarding_handoff'")
    )
    assert handoffs == {"S-OP": "tc_op"}, "the TC/OP hand-off is for OP members only"
    assert ctas_by(ops, "S-OP") == {
        "offboarding_handoff": ("open", None),
        "reactivation_opportunity": ("open", None),
        "renewal_risk": ("closed", "churned"),
    }
    deactivated = ops.execute("select subscription_id, role from renewals.deactivations order by 1, 2").fetchall()
    assert deactivated == [
        ("S-OP", "billing"),
        ("S-OP", "committee"),
        ("S-OP", "primary"),
        ("S-TC", "billing"),
        ("S-TC", "primary"),
    ]
    posts = dict(ops.execute("select text, kind from renewals.slack_outbox where kind = 'deactivation'").fetchall())
    assert len(posts) == 2 and any("S-OP" in text and "3 contact(s)" in text for text in posts)
    checklist = ops.execute(
        "select step, done from renewals.offboarding_checklist where subscription_id = 'S-OP' order by step"
    ).fetchall()
    assert all(done for _, done in checklist) and len(checklist) == 8

    state = counts(ops)
    posts_before = ops.execute("select count(*) from renewals.slack_outbox").fetchone()[0]
    run_day(resources, day(2))
    run_day(resources, day(1), run_id="rerun")
    assert counts(ops) == state and len(mailbox.messages) == before + len(sent), "nothing is repeated"
    assert ops.execute("select count(*) from renewals.slack_outbox").fetchone()[0] == posts_before


def test_an_outage_leaves_offboarding_steps_pending_and_a_rerun_completes_them(world, resources, mailbox, ops):
    world.subscription("S-OFF", R, member_type="TC", declined_at=moment(day(-3)))
    mailbox.fail_next(421, "4.3.2 Service shutting down", count=100, stage="MAIL")

    with pytest.raises(Exception, match="temporary"):
        run_day(resources, day(1))
    pending = ops.execute("select step from renewals.offboarding_checklist where not done order by step").fetchall()
    assert [step for (step,) in pending] == [
        "offboarding_alert",
        "offboarding_group_notice",
        "offboarding_reactivation",  # the CTA is open; its owner's notification waits
        "offboarding_thanks",
    ]
    assert ctas_by(ops, "S-OFF") == {"reactivation_opportunity": ("open", None)}

    with mailbox._lock:  # the relay is back
        mailbox._faults.clear()
    run_day(resources, day(1), run_id="retry")
    assert ops.execute("select bool_and(done) from renewals.offboarding_checklist").fetchone()[0] is True
    assert ops.execute("select count(*) from renewals.cta_events").fetchone()[0] == 2  # opened, task: once
    assert sorted(touchpoints_sent(mailbox)) == sorted(
        [
            ("offboarding_alert", "tc-op@example.org, tc-chairs@example.org"),
            ("offboarding_group_notice", "offboarding-tc@example.org"),
            ("offboarding_reactivation", "bizdev@example.org"),
            ("offboarding_thanks", contact_email("S-OFF", "primary")),
        ]
    )


def test_declined_then_paid_after_all_stops_offboarding_and_wins_the_account_back(world, resources, mailbox, ops):
    world.subscription("S-BACK", R, member_type="OP", declined_at=moment(day(-5)))
    run_day(resources, day(1))
    assert ctas_by(ops, "S-BACK")["reactivation_opportunity"] == ("open", None)

    world.update("S-BACK", paid_at=datetime.now(UTC).replace(year=2027, month=3, day=20), invoice_number="INV-7")
    before = len(mailbox.messages)
    run_day(resources, day(5))

    assert [t for t, _ in touchpoints_sent(mailbox, before)] == ["receipt"]
    assert ctas_by(ops, "S-BACK")["reactivation_opportunity"] == ("closed", "won")
    assert ctas_by(ops, "S-BACK")["offboarding_handoff"] == ("closed", "renewed")


def ctas_by(ops, subscription_id: str) -> dict[str, tuple]:
    rows = ops.execute(
        "select type, status, outcome from renewals.ctas where subscription_id = %s", (subscription_id,)
    ).fetchall()
    return {row[0]: row[1:] for row in rows}
