"""What each run published (the Slack summary, the spreadsheet) and with what outcome:
``renewals.publications``, one row per (run, output), counting the tries."""

from __future__ import annotations

import psycopg

from renewals.statuses import PublicationStatus


def record_publication(
    ops: psycopg.Connection,
    run_id: str,
    output: str,
    status: PublicationStatus,
    target: str | None,
    detail: str | None,
) -> None:
    ops.execute(
        """
        insert into renewals.publications as p (run_id, output, status, target, detail)
        values (%s, %s, %s, %s, %s)
        on conflict (run_id, output) do update
        set status = excluded.status, target = excluded.target, detail = excluded.detail,
            attempts = p.attempts + 1, updated_at = now()
        """,
        (run_id, output, status, target, detail or None),
    )


def publication_status(ops: psycopg.Connection, run_id: str, output: str) -> str | None:
    """The outcome an earlier try of this run's publish step recorded (None: not tried yet)."""
    row = ops.execute(
        "select status from renewals.publications where run_id = %s and output = %s", (run_id, output)
    ).fetchone()
    return row[0] if row else None
