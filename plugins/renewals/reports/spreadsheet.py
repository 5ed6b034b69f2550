"""The renewal spreadsheet: an .xlsx workbook rewritten atomically after each run at
``RENEWALS_SPREADSHEET_PATH`` (an Airflow object-storage path; a local file by default).

Sheets:

- **Pipeline**: one row per renewal in flight (renewal date from 90 days ago to 180 days ahead;
  a paid or declined one stays 30 days after it happened): account, playbook, tier, renewal
  date, days to go, gate, last sent and next due touchpoint, the most urgent open CTA (priority,
  owner), intent, paid and declined dates.
- **Review**: the month's review list (the -90 step): renewals whose review day falls in the
  as-of month, not paid or declined, sponsors first, then by amount; with the check-in call
  the tier needs.
- **Paid**: every renewal the pipeline has seen paid, newest first, with the receipt's date.
- **Upcoming**: every touchpoint due in the next 30 days, by day.
- **About**: the as-of date, the run, and what each sheet holds.

Each list sheet shows at most its first ``max_rows`` rows (RENEWALS_SPREADSHEET_ROWS, 5,000 by
default: what staff read or print; the review list in priority order, the next days first), then
a total row with the count and where all the rows are (the ops tables, the console).

Everything is read from the ops schema: the run's staged subscriptions, the ledger, the CTAs
and renewals.renewal_cycles. Future due dates come from the playbooks, computed in SQL over a
temp table of touchpoint definitions (anchors renewal_date, notice_month, intent_confirmed,
paid, assigned; a touchpoint with an anchor this report does not know is left out).
"""

from __future__ import annotations

from collections.abc import Container, Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql

from renewals.console.outbox import written_ahead
from renewals.decisions.due import ahead_query, load_rule_tables
from renewals.playbooks import Playbook
from renewals.reports.workbook import Column, CountedRows, Sheet, WrittenWorkbook, write_workbook
from renewals.storage.runs import RunContext
from renewals.storage.sql_files import sql_text

UPCOMING_DAYS = 30
FUTURE_HORIZON_DAYS = 400  # how far ahead the next touchpoint of a renewal is looked for
DEFAULT_REVIEW = {"membership": -90}  # the -90 review step, until a playbook declares one
REVIEW_ACTION = "review_list"

# Columns several sheets show, alike everywhere.
ACCOUNT = Column("Account", width=32)
SUBSCRIPTION = Column("Subscription", width=14)
PLAYBOOK = Column("Playbook", width=12)
TIER = Column("Tier", width=26)
MEMBER_TYPE = Column("Member type", width=12)
RENEWAL_DATE = Column("Renewal date", "date")
AMOUNT = Column("Amount", "money")
CURRENCY = Column("Currency", width=9)
GATE = Column("Gate", width=17)
RENEWAL = (ACCOUNT, SUBSCRIPTION, PLAYBOOK, TIER, MEMBER_TYPE, RENEWAL_DATE)

PIPELINE_COLUMNS = (
    *RENEWAL,
    Column("Days to go", "int", width=11),
    GATE,
    Column("Cohort", width=17),
    Column("Last touchpoint", width=26),
    Column("Last sent", "date"),
    Column("Next touchpoint", width=26),
    Column("Next due", "date"),
    Column("CTA", width=20),
    Column("CTA priority", width=12),
    Column("CTA owner", width=28),
    Column("Intent confirmed", "date", width=16),
    Column("Paid on", "date"),
    Column("Declined on", "date"),
    AMOUNT,
    CURRENCY,
    Column("Owner", width=28),
)
REVIEW_COLUMNS = (
    Column("Priority", "int", width=9),
    *RENEWAL,
    Column("Review on", "date"),
    Column("Days to go", "int", width=11),
    AMOUNT,
    CURRENCY,
    GATE,
    Column("Intent confirmed", "date", width=16),
    Column("Check-in call with", width=30),
    Column("Open CTA", width=20),
    Column("CTA priority", width=12),
    Column("Owner", width=28),
    Column("Paused", "bool"),
)
PAID_COLUMNS = (
    Column("Paid on", "date"),
    *RENEWAL,
    AMOUNT,
    CURRENCY,
    Column("Invoice", width=14),
    Column("Receipt sent", "date"),
)
UPCOMING_COLUMNS = (
    Column("Due", "date"),
    Column("Day", width=6),
    Column("Touchpoint", width=26),
    Column("Playbook", width=12),
    Column("Channel", width=11),
    ACCOUNT,
    SUBSCRIPTION,
    RENEWAL_DATE,
    GATE,
    Column("Audience", width=36),
    Column("Staff", width=11),  # scheduled, or held, skipped, moved or edited by staff
)
ABOUT_COLUMNS = (Column("Item", width=18), Column("Value", width=100))


def build_spreadsheet(
    ops: psycopg.Connection,
    run: RunContext,
    playbooks: Mapping[str, Playbook],
    target: str,
    business_timezone: str = "UTC",
    holidays: Container[date] = frozenset(),
    max_rows: int | None = None,
) -> WrittenWorkbook:
    """Query the sheets (one read transaction, rows streamed) and write the workbook to ``target``;
    each list sheet shows its first ``max_rows`` rows, then a total row saying where the rest is."""
    work = run.work
    staged = f"renewals_work.subscriptions_{run.run_key}"
    params = {
        "as_of": run.as_of,
        "timezone": business_timezone,
        "days": UPCOMING_DAYS,
        "receipt_touchpoints": receipt_touchpoints(playbooks),
        "rows": max_rows,
    }
    review_days = ", ".join(f"{days:+d} days ({name})" for name, days in review_offsets(playbooks).items())
    with ops.transaction():
        ops.execute(work.statement("report/pipeline_shown.sql"), params)
        load_forecast(ops, run, playbooks, holidays, near_days=UPCOMING_DAYS)
        _load_review_offsets(ops, playbooks)
        about = [
            ("As of", run.as_of),
            ("Run", run.run_id),
            ("Written at (UTC)", datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")),
            (
                "Pipeline",
                "One row per renewal in flight: renewal date from 90 days ago to 180 days ahead; paid or "
                "declined ones for 30 days after. Next touchpoint: the next one due under the current gate.",
            ),
            (
                "Review",
                "The month's review list (the -90 step): renewals whose review day is in this month, not paid "
                "or declined; sponsors first, then by amount.",
            ),
            ("Paid", "Every renewal seen paid, newest payment first."),
            ("Upcoming", f"Every touchpoint due in the next {UPCOMING_DAYS} days under the current gate, by day."),
            *(
                [
                    (
                        "Rows",
                        f"Each sheet shows its first {max_rows:,} rows, in its order; a last row gives the total "
                        "and where the rest is.",
                    )
                ]
                if max_rows
                else []
            ),
        ]
        queries: dict[str, sql.SQL | sql.Composed] = {
            "pipeline": work.statement("report/sheet_pipeline.sql"),
            "review": work.statement("report/sheet_review.sql"),
            "paid": sql.SQL(sql_text("report/sheet_paid.sql")),
            "upcoming": work.statement("report/sheet_upcoming.sql"),
        }
        notes = {
            "pipeline": f"All renewals: {staged} in the ops database; one renewal in full: the console.",
            "review": f"The whole list: {staged} (review day = renewal date {review_days}) in the ops database.",
            "paid": "Every payment: renewals.renewal_cycles (paid_on) in the ops database.",
            "upcoming": "One renewal's touchpoints ahead: the console; decided ones: renewals.touchpoints.",
        }
        sheets = [
            Sheet(title, columns, CountedRows(_stream(ops, name, queries[name], params)), max_rows, notes[name])
            for title, name, columns in (
                ("Pipeline", "pipeline", PIPELINE_COLUMNS),
                ("Review", "review", REVIEW_COLUMNS),
                ("Paid", "paid", PAID_COLUMNS),
                ("Upcoming", "upcoming", UPCOMING_COLUMNS),
            )
        ]
        sheets.append(Sheet("About", ABOUT_COLUMNS, about))
        return write_workbook(
            target, sheets, title=f"Renewals as of {run.as_of.isoformat()}", properties={"run": run.run_id}
        )


def load_forecast(
    ops: psycopg.Connection,
    run: RunContext,
    playbooks: Mapping[str, Playbook],
    holidays: Container[date] = frozenset(),
    near_days: int | None = None,
) -> None:
    """The temp table ``future_touchpoints`` (dropped at commit: call it in a transaction): every
    touchpoint due after the as-of date, up to the horizon, of the run's staged subscriptions, by
    the rule classification decides by (renewals.decisions.due), that the ledger does not hold yet
    (subscription_id, renewal_date, touchpoint, position, channel, audience, due_date, and state:
    scheduled, or what staff made of it). With ``near_days``, what the sheets use only: every
    subscription's touchpoints of the next ``near_days`` days (Upcoming), the whole horizon for the
    renewals the Pipeline sheet shows (the temp table report_pipeline_shown: their next due). The
    near days are read from the outbox's rows of the run (renewals.console.outbox) when the publish
    step wrote them, else computed."""
    subscriptions = run.work.identifiers()["subscriptions"]
    load_rule_tables(ops, subscriptions, playbooks, holidays)
    ops.execute(
        "create temp table future_touchpoints (subscription_id text, renewal_date date, touchpoint text,"
        " position int, channel text, audience text, due_date date, state text) on commit drop"
    )
    horizon = run.as_of + timedelta(days=FUTURE_HORIZON_DAYS)
    first = run.as_of + timedelta(days=1)
    near = horizon if near_days is None else min(run.as_of + timedelta(days=near_days), horizon)
    if written_ahead(ops, run.run_id, run.as_of, first, near) is not None:
        # the outbox's rows the publish step wrote before the book: the same rule, computed once
        params = {"run_id": run.run_id, "first": first, "last": near}
        ops.execute(sql_text("report/future_from_outbox.sql"), params)
    else:
        _forecast(ops, subscriptions, run.as_of, first, near)
    if near < horizon:
        _forecast(ops, sql.Identifier("report_pipeline_shown"), run.as_of, near + timedelta(days=1), horizon)
    ops.execute("analyze future_touchpoints")


def _forecast(ops: psycopg.Connection, subscriptions: sql.Composable, as_of: date, first: date, last: date) -> None:
    statement = sql.SQL(sql_text("report/future_touchpoints.sql")).format(ahead=ahead_query(subscriptions))
    ops.execute(statement, {"as_of": as_of, "first": first, "last": last})


def receipt_touchpoints(playbooks: Mapping[str, Playbook]) -> list[str]:
    return sorted(
        tp.key for playbook in playbooks.values() for tp in playbook.touchpoints if tp.key.startswith("receipt")
    )


def review_offsets(playbooks: Mapping[str, Playbook]) -> dict[str, int]:
    """Days from the renewal date of each playbook's review step (record action review_list)."""
    offsets = {
        playbook.name: tp.due.days
        for playbook in playbooks.values()
        for tp in playbook.touchpoints
        if tp.record is not None and tp.record.action == REVIEW_ACTION and tp.due.anchor == "renewal_date"
    }
    if not offsets:
        offsets = {name: days for name, days in DEFAULT_REVIEW.items() if name in playbooks}
    return offsets


def _load_review_offsets(ops: psycopg.Connection, playbooks: Mapping[str, Playbook]) -> None:
    ops.execute("create temp table report_review_offsets (playbook text, days int) on commit drop")
    with ops.cursor().copy("copy report_review_offsets from stdin") as copy:
        for name, days in review_offsets(playbooks).items():
            copy.write_row((name, days))


def _stream(
    ops: psycopg.Connection, name: str, query: sql.SQL | sql.Composed, params: dict[str, Any]
) -> Iterator[tuple]:
    """Rows of ``query`` through a server-side cursor, fetched in pages when the sheet is written."""
    with ops.cursor(name=f"report_{name}") as cursor:
        cursor.itersize = 2000
        cursor.execute(query, params)
        yield from cursor
