"""
### renewals_inbox

Reads the `renewals_inbox` mailbox between the daily runs, so that a member's reply stops their
reminders and reaches staff within the hour rather than the next morning. `renewals_daily` reads
the same mailbox first thing too; each message is handled once whichever run reads it.

Scheduled by `RENEWALS_INBOX_SCHEDULE` (a cron expression in the business timezone, e.g.
`0 * * * *`); without it the DAG only runs when triggered. Without the connection it does nothing.
"""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import dag, task
from airflow.timetables.trigger import CronTriggerTimetable

BUSINESS_TIMEZONE = os.environ.get("RENEWALS_BUSINESS_TIMEZONE", "UTC")
SCHEDULE = os.environ.get("RENEWALS_INBOX_SCHEDULE") or None


@task(retries=2, retry_delay=timedelta(minutes=1), multiple_outputs=False)
def read_inbox() -> dict | None:
    from renewals.airflow_resources import airflow_resources
    from renewals.pipeline import read_replies_between_runs

    report = read_replies_between_runs(airflow_resources())
    return None if report is None else report.__dict__


@dag(
    schedule=CronTriggerTimetable(SCHEDULE, timezone=BUSINESS_TIMEZONE) if SCHEDULE else None,
    start_date=pendulum.datetime(2026, 1, 1, tz=BUSINESS_TIMEZONE),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["renewals"],
)
def renewals_inbox():
    read_inbox()


renewals_inbox()
