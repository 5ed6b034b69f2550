"""The spreadsheet's forecast (future_touchpoints) against what classification actually decides on
the days that follow, over the same unchanged world: the forecast is what the pipeline will do."""

from __future__ import annotations

from datetime import date, timedelta

from devenv.inprocess import run_day
from renewals.reports.spreadsheet import load_forecast
from tests.conftest import moment

D = date(2026, 11, 27)  # a Friday; the notice day of February 2027's renewals (2 months before) is 1 December
DAYS = 8  # the days after D that are run and compared


def a_world(world) -> None:
    world.subscription("S-R15", D + timedelta(days=16))  # renewal_reminder_15 on D+1
    world.subscription("S-R1", D + timedelta(days=3))  # reminders -1 and 0, then overdue and risk CTA
    world.subscription("S-CONF", D + timedelta(days=33))  # renewal_confirmation (-30) on D+3
    world.subscription("S-REV", D + timedelta(days=93), tier="premier")  # review and check-in (-90) on D+3
    world.subscription("S-FEB", date(2027, 2, 20))  # renewal_notice on its notice day
    world.subscription("S-INT", D + timedelta(days=17), intent_confirmed_at=moment(D - timedelta(days=3)))
    world.subscription("S-LATE", D - timedelta(days=10))  # overdue_notice_15 on D+5
    world.subscription("S-SALES", D + timedelta(days=40), playbook="sales", assigned_at=D - timedelta(days=2))
    world.subscription("S-PAUSED", D + timedelta(days=16), paused=True)  # nothing while paused


def test_the_forecast_is_what_classification_decides_on_the_following_days(world, resources, ops):
    a_world(world)
    run = run_day(resources, D)
    with ops.transaction():
        load_forecast(ops, run, resources.playbooks(), resources.settings.holidays)
        forecast = set(
            ops.execute(
                "select subscription_id, touchpoint, due_date from future_touchpoints where due_date <= %s",
                (D + timedelta(days=DAYS),),
            ).fetchall()
        )
    for days in range(1, DAYS + 1):
        run_day(resources, D + timedelta(days=days))
    decided = set(
        ops.execute(
            """
            select subscription_id, touchpoint, due_date from renewals.touchpoints
            where due_date > %s and due_date <= %s and status <> 'dry_run'
            """,
            (D, D + timedelta(days=DAYS)),
        ).fetchall()
    )
    assert forecast == decided
    touchpoints = {touchpoint for _, touchpoint, _ in forecast}
    # every kind of anchor the fixture has is in the comparison
    assert {"renewal_reminder_15", "renewal_notice", "payment_reminder_15", "sales_call_day_4", "renewal_review"} <= (
        touchpoints
    )
    assert "S-PAUSED" not in {subscription for subscription, _, _ in forecast}
