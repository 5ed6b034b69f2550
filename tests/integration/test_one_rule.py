"""One rule of what is due and applies: the spreadsheet's forecast, the console's outbox and each
member's "what comes next", all taken on one day, against what classification actually decides
on the days that follow over the same unchanged world, across the playbooks and their anchors."""

from __future__ import annotations

from datetime import date, timedelta

from psycopg import sql

from devenv.inprocess import run_day
from renewals.console import queries
from renewals.delivery.render import Renderer
from renewals.reports.publish import write_outbox
from renewals.reports.spreadsheet import load_forecast
from renewals.storage import replies
from tests.conftest import moment

D = date(2026, 11, 27)  # a Friday; the notice day of February 2027's renewals (2 months before) is 1 December
DAYS = 10  # the days after D that are run and compared
Key = tuple[str, str, date]


def a_world(world) -> None:
    world.subscription("S-R15", D + timedelta(days=16))  # renewal_reminder_15 on D+1
    world.subscription("S-R1", D + timedelta(days=3))  # reminders -1 and 0, then overdue and risk CTA
    world.subscription("S-CONF", D + timedelta(days=33))  # renewal_confirmation (-30) on D+3
    world.subscription("S-REV", D + timedelta(days=93), tier="premier")  # review and check-in (-90) on D+3
    world.subscription("S-FEB", date(2027, 2, 20))  # renewal_notice on its notice day
    world.subscription("S-INT", D + timedelta(days=17), intent_confirmed_at=moment(D - timedelta(days=3)))
    world.subscription("S-LATE", D - timedelta(days=10))  # overdue_notice_15 on D+5
    world.subscription("S-SALES", D + timedelta(days=40), playbook="sales", assigned_at=D - timedelta(days=2))
    world.subscription("S-SALES-NEW", D + timedelta(days=40), playbook="sales", assigned_at=D - timedelta(days=1))
    # a rep who logged a contact: no day-3 follow-up email, no call tasks (the forecast once listed them)
    world.subscription(
        "S-SALES-MET",
        D + timedelta(days=40),
        playbook="sales",
        assigned_at=D - timedelta(days=1),
        last_contact_at=moment(D),
    )
    world.subscription("S-CONTRACT", D + timedelta(days=37), playbook="contract")  # -30 on D+7
    world.subscription("S-LOW", D + timedelta(days=35), playbook="low_touch")  # the 30-day letter on D+5
    world.subscription("S-PAUSED", D + timedelta(days=16), paused=True)  # nothing while paused
    # replied to a reminder: its reminders -1, 0 and overdue are held, its risk CTA is not
    world.subscription("S-REPLIED", D + timedelta(days=3))


def a_reply(ops, subscription_id: str, renewal_date: date, gate: str = "no_response") -> None:
    """What reading the inbox records of a person's reply (renewals.inbox): the message, and the
    hold it puts on the cycle's reminders at the gate the cycle is at."""
    (message,) = ops.execute(
        """
        insert into renewals.inbox_messages (mailbox, uidvalidity, uid, kind, subscription_id, renewal_date)
        values ('INBOX', 1, (select count(*) + 1 from renewals.inbox_messages), 'reply', %s, %s)
        returning inbox_message_id
        """,
        (subscription_id, renewal_date),
    ).fetchone()
    ops.execute(
        "insert into renewals.reply_holds (inbox_message_id, subscription_id, renewal_date, gate)"
        " values (%s, %s, %s, %s)",
        (message, subscription_id, renewal_date, gate),
    )


def test_forecast_outbox_and_what_comes_next_are_what_classification_decides(world, resources, ops):
    a_world(world)
    first, last = D + timedelta(days=1), D + timedelta(days=DAYS)
    run = run_day(resources, D)
    a_reply(ops, "S-REPLIED", D + timedelta(days=3))  # read from the inbox after the run
    write_outbox(ops, resources, run)  # as the run's publish step does
    settings, playbooks = resources.settings, resources.playbooks()
    renderer = Renderer(settings.template_dir)
    forecast_rows = "select subscription_id, touchpoint, due_date, state, channel, audience, position"
    forecast_rows += " from future_touchpoints where due_date <= %s"
    with ops.transaction():
        load_forecast(ops, run, playbooks, settings.holidays)  # the whole horizon: computed
        computed = set(ops.execute(forecast_rows, (last,)).fetchall())
    with ops.transaction():
        # the Upcoming sheet's days, read from the rows the run wrote for the outbox (no Pipeline sheet)
        ops.execute(
            sql.SQL("create temp table report_pipeline_shown on commit drop as select * from {} limit 0").format(
                run.work.identifiers()["subscriptions"]
            )
        )
        load_forecast(ops, run, playbooks, settings.holidays, near_days=DAYS)
        assert set(ops.execute(forecast_rows, (last,)).fetchall()) == computed, "the outbox's rows are the forecast"
    forecast_states = {(sid, touchpoint, due): state for sid, touchpoint, due, state, *_ in computed}
    forecast = set(forecast_states)
    outbox = queries.outbox(ops, playbooks, settings, renderer, D, first, last, {}, limit=500)
    in_outbox = {(i["subscription_id"], i["touchpoint"], i["due_date"]) for i in outbox["items"]}
    outbox_states = {(i["subscription_id"], i["touchpoint"], i["due_date"]): i["state"] for i in outbox["items"]}
    assert outbox["total"] == len(outbox["items"])
    # the outbox read the rows the run wrote for it; the rule computed live on request gives the same page
    assert ops.execute("select run_id from renewals.outbox_ahead_runs").fetchall() == [(run.run_id,)]
    ops.execute("delete from renewals.outbox_ahead_runs")
    assert queries.outbox(ops, playbooks, settings, renderer, D, first, last, {}, limit=500) == outbox
    held_filter = queries.outbox(ops, playbooks, settings, renderer, D, first, last, {"state": "held"}, limit=500)
    held_in_outbox = {(i["subscription_id"], i["touchpoint"], i["due_date"]) for i in held_filter["items"]}
    staged = run.work.identifiers()["subscriptions"]
    members = {row[0] for row in ops.execute(sql.SQL("select subscription_id from {}").format(staged)).fetchall()}
    assert len(members) == 14
    ahead_states = {
        (sid, u["touchpoint"], u["due_date"]): u["state"]
        for sid in members
        for u in queries.member(ops, sid, playbooks, settings, renderer, D)["upcoming"]
        if first <= u["due_date"] <= last
    }
    ahead = set(ahead_states)

    for days in range(1, DAYS + 1):
        run_day(resources, D + timedelta(days=days))
    ledger = {
        (sid, touchpoint, due): (status, reason)
        for sid, touchpoint, due, status, reason in ops.execute(
            "select subscription_id, touchpoint, due_date, status, reason from renewals.touchpoints"
            " where due_date between %s and %s and status <> 'dry_run'",
            (first, last),
        ).fetchall()
    }
    decided = set(ledger)
    assert forecast == decided
    assert in_outbox == decided
    assert ahead == decided
    touchpoints = {touchpoint for _, touchpoint, _ in decided}
    # every kind of anchor and playbook the fixture has is in the comparison
    assert {
        "renewal_reminder_15",
        "renewal_notice",
        "payment_reminder_15",
        "sales_call_day_4",
        "renewal_review",
        "sales_followup_email",
        "contract_reminder",
        "low_touch_notice_30",
    } <= touchpoints
    assert not {sid for sid, _, _ in decided} & {"S-PAUSED", "S-SALES-MET"}
    # what a reply holds is shown held everywhere, and classification skips it as replied
    replied = {key: ledger[key] for key in decided if key[0] == "S-REPLIED"}
    held = {key for key, verdict in replied.items() if verdict == ("skipped", "replied")}
    assert {touchpoint for _, touchpoint, _ in held} == {"renewal_reminder_1", "renewal_reminder_0", "overdue_notice_1"}
    for states in (forecast_states, outbox_states, ahead_states):
        assert {key for key in replied if states[key] == "held"} == held
        assert {states[key] for key in replied.keys() - held} == {"scheduled"}  # the risk CTA goes on
    assert held_in_outbox == held  # and the outbox's "held" filter finds it


def test_the_upcoming_sheet_shows_what_staff_made_of_each_touchpoint(world, resources, ops):
    from renewals.console import steering

    for member in ("S-SKIP", "S-MOVE", "S-EDIT", "S-HOLD", "S-REPLIED", "S-RESUMED", "S-PLAIN"):
        world.subscription(member, D + timedelta(days=16))  # renewal_reminder_15 on D+1
    run = run_day(resources, D)
    renewal = D + timedelta(days=16)
    a_reply(ops, "S-REPLIED", renewal)
    a_reply(ops, "S-RESUMED", renewal)
    assert replies.resume(ops, "S-RESUMED", "pat") == 1  # staff took the member back from the console
    a_reply(ops, "S-PLAIN", renewal, gate="intent_confirmed")  # a reply at a gate the cycle has left
    steering.steer_touchpoint(ops, "S-SKIP", renewal, "renewal_reminder_15", "skip", "pat", "in a call")
    steering.steer_touchpoint(
        ops, "S-MOVE", renewal, "renewal_reminder_15", "move", "pat", "later", move_to=D + timedelta(days=4)
    )
    steering.steer_touchpoint(
        ops, "S-EDIT", renewal, "renewal_reminder_15", "edit", "pat", "wording", subject="Personal"
    )
    steering.hold(ops, "S-HOLD", D + timedelta(days=3), "away", "pat")
    with ops.transaction():
        load_forecast(ops, run, resources.playbooks(), resources.settings.holidays)
        rows = ops.execute(
            run.work.statement("report/sheet_upcoming.sql"), {"as_of": D, "days": 30, "rows": None}
        ).fetchall()
    upcoming = {(row[6], row[0]): row[10] for row in rows if row[2] == "renewal_reminder_15"}
    assert upcoming == {
        ("S-SKIP", D + timedelta(days=1)): "skipped",
        ("S-MOVE", D + timedelta(days=4)): "moved",
        ("S-EDIT", D + timedelta(days=1)): "edited",
        ("S-HOLD", D + timedelta(days=1)): "held",
        ("S-REPLIED", D + timedelta(days=1)): "held",
        ("S-RESUMED", D + timedelta(days=1)): "scheduled",
        ("S-PLAIN", D + timedelta(days=1)): "scheduled",
    }
