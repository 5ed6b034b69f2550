"""One day of the pipeline exactly as the DAG runs it (prepare, extract, classify, every cohort's
shards, summary), called directly: for tests that walk many days on real PostgreSQL and SMTP."""

from __future__ import annotations

import smtplib
from dataclasses import replace
from datetime import date

from renewals.config import Settings
from renewals.gates import COHORTS
from renewals.pipeline import Resources, classify_run, deliver, extract, prepare
from renewals.storage.runs import RunContext


def local_resources(databases: dict[str, str], smtp_port: int, **settings) -> Resources:
    return Resources(
        warehouse_dsn=databases["warehouse"],
        ops_dsn=databases["ops"],
        smtp_connect=lambda: smtplib.SMTP("127.0.0.1", smtp_port, timeout=10),
        settings=replace(Settings(), shards=2, smtp_retry_delays=(0.0,), **settings),
    )


def run_day(resources: Resources, day: date, run_id: str | None = None, **scope) -> RunContext:
    run = RunContext(run_id=run_id or f"test__{day.isoformat()}", as_of=day, **scope)
    prepare(resources, run)
    extract(resources, run)
    work = classify_run(resources, run)
    for cohort in COHORTS:
        for shard in sorted(work[cohort]):
            deliver(resources, run, cohort, shard)
    return run
