"""A day of renewals_daily in this process, step by step as the DAG runs it, on local parts.

The one way the tests, the bench and the crash harness run the pipeline without Airflow: the
same step functions as the DAG's tasks (``renewals.pipeline``), with resources built from local
database URIs and an SMTP port instead of Airflow connections.
"""

from __future__ import annotations

import secrets
import smtplib
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date
from functools import partial
from typing import Any

from renewals import pipeline
from renewals.config import Settings
from renewals.decisions.gates import COHORTS
from renewals.pipeline import DeliveryIncomplete, Resources
from renewals.storage.runs import RunContext
from renewals.storage.warehouse import Warehouse

# Open work by cohort and shard, as classification returns it.
Work = dict[str, dict[int, int]]


def local_resources(
    warehouse: str | Warehouse,
    ops_dsn: str,
    smtp_port: int,
    *,
    smtp_timeout: float = 10,
    base: Settings | None = None,
    unsubscribe_secret: bytes | None = None,
    **settings: Any,
) -> Resources:
    """Resources on local parts; ``warehouse`` is a PostgreSQL DSN or any Warehouse; ``settings``
    override fields of ``base`` (default: the environment's). Unsubscribe links are signed with
    ``unsubscribe_secret``, or a secret made up for this process."""
    return Resources(
        warehouse=Warehouse(dsn=warehouse) if isinstance(warehouse, str) else warehouse,
        ops_dsn=ops_dsn,
        smtp_connect=partial(smtplib.SMTP, "127.0.0.1", smtp_port, timeout=smtp_timeout),
        settings=replace(base or Settings.from_env(), **settings),
        unsubscribe_secret=unsubscribe_secret or secrets.token_bytes(32),
    )


@contextmanager
def _timed(timings: dict[str, float] | None, step: str) -> Iterator[None]:
    started = time.perf_counter()
    yield
    if timings is not None:
        timings[step] = time.perf_counter() - started


def classified(
    resources: Resources,
    run: RunContext,
    release_unknown: Iterable[str] = (),
    confirm_unknown: Iterable[str] = (),
    timings: dict[str, float] | None = None,
) -> Work:
    """The DAG's first tasks: prepare (with the operator's verdicts), read the inbox (where
    resources have one), extract, classify. Returns the open work by cohort and shard;
    ``timings`` gets each step's seconds."""
    with _timed(timings, "prepare"):
        unmatched = pipeline.prepare(resources, run, list(release_unknown), list(confirm_unknown))
    assert unmatched == [], f"verdicts that matched no unknown send: {unmatched}"
    pipeline.read_replies(resources, run.dry_run)
    with _timed(timings, "extract"):
        counts = pipeline.extract(resources, run)
    assert counts.balanced(), counts
    with _timed(timings, "classify"):
        return pipeline.classify_run(resources, run)


def deliver_all(resources: Resources, run: RunContext, work: Work | None = None) -> int:
    """Every shard with work of every cohort, as the branch and the mapped deliver tasks run them
    (``work`` None: every shard of every cohort, as when an operator clears the deliver tasks).
    Returns how many shards stayed incomplete (temporary refusals: Airflow would retry them)."""
    incomplete = 0
    for cohort in COHORTS:
        shards = range(resources.settings.shards) if work is None else sorted(work[cohort])
        for shard in shards:
            try:
                pipeline.deliver(resources, run, cohort, shard)
            except DeliveryIncomplete:
                incomplete += 1
    return incomplete


def run_day(
    resources: Resources, as_of: date, run_id: str | None = None, *, finish: bool = False, **scope: Any
) -> RunContext:
    """One whole day: classify, deliver every shard with work, and (``finish``) the summarize step.
    ``scope``: RunContext fields of a manual run (dry_run, subscription_id). Raises
    DeliveryIncomplete, after every shard was tried, when temporary refusals left messages pending."""
    run = RunContext(run_id=run_id or f"local__{as_of.isoformat()}", as_of=as_of, **scope)
    incomplete = deliver_all(resources, run, classified(resources, run))
    if incomplete:  # the DAG's deliver task would fail here and be retried
        raise DeliveryIncomplete(f"{incomplete} shard(s) met only temporary SMTP refusals; their messages stay pending")
    if finish:
        pipeline.finish_run(resources, run)
    return run
