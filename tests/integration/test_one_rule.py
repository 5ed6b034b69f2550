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


def test_forecast_outbox_and_what_comes_next_are_what_classification_decides(world, resources, ops):
    a_world(world)
    first, last = D + timedelta(days=1), D + timedelta(days=DAYS)
    run = run_day(resources, D)
    write_outbox(ops, resources, run)  # as the run's publish step does
    settings, playbooks = resources.settings, resources.playbooks()
    renderer = Renderer(settings.template_dir)
    with ops.transaction():
        load_forecast(ops, run, playbooks, settings.holidays)
        forecast = set(
            ops.execute(
                "select subscription_id, touchpoint, due_date from future_touchpoints where due_date <= %s", (last,)
            ).fetchall()
        )
    outbox = queries.outbox(ops, playbooks, settings, renderer, D, first, last, {}, limit=500)
    in_outbox = {(i["subscription_id"], i["touchpoint"], i["due_date"]) for i in outbox["items"]}
    assert outbox["total"] == len(outbox["items"])
    # the outbox read the rows the run wrote for it; the rule computed live on request gives the same page
    assert ops.execute("select run_id from renewals.outbox_ahead_runs").fetchall() == [(run.run_id,)]
    ops.execute("delete from renewals.outbox_ahead_runs")
    assert queries.outbox(ops, playbooks, settings, renderer, D, first, last, {}, limit=500) == outbox
    staged = run.work.identifiers()["subscriptions"]
    members = {row[0] for row in ops.execute(sql.SQL("select subscription_id from {}").format(staged)).fetchall()}
    assert len(members) == 13
    ahead = {
        (sid, u["touchpoint"], u["due_date"])
        for sid in members
        for u in queries.member(ops, sid, playbooks, settings, renderer, D)["upcoming"]
        if first <= u["due_date"] <= last
    }

    for days in range(1, DAYS + 1):
        run_day(resources, D + timedelta(days=days))
    decided = set(
        ops.execute(
            "select subscription_id, touchpoint, due_date from renewals.touchpoints"
            " where due_date between %s and %s and status <> 'dry_run'",
            (first, last),
        ).fetchall()
    )
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


def test_the_upcoming_sheet_shows_what_staff_made_of_each_touchpoint(world, resources, ops):
    from renewals.console import steering

    for member in ("S-SKIP", "S-MOVE", "S-EDIT", "S-HOLD", "S-PLAIN"):
        world.subscription(member, D + timedelta(days=16))  # renewal_reminder_15 on D+1
    run = run_day(resources, D)
    renewal = D + timedelta(days=16)
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
        ("S-PLAIN", D + timedelta(days=1)): "scheduled",
    }
