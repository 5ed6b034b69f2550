"""Runs carry what they are: a manual run of renewals_daily shows in the runs list (its note) as a
dry run, a one-member run, an as-of run, or a run that settles unknown sends.

Airflow 3.3 lets no task write its own run's note, so a listener of the renewals plugin labels
the run when the scheduler starts it (``on_dag_run_running``), from the run's conf. A note the
operator typed at trigger time is kept after the label. A run refused for its params
(``renewals.manual_runs``) gets the refusal in front of its note when the scheduler marks it failed
(``on_dag_run_failed``), read from the run's row in the ops schema. (``airflow dags test`` runs no
listeners: its runs are not labelled.)
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from airflow.listeners import hookimpl

DAG_ID = "renewals_daily"
SEPARATOR = " · "
log = logging.getLogger(__name__)


def run_label(conf: Mapping[str, Any] | None) -> str | None:
    """What a run with this conf is, in a few words; None for a plain run."""
    conf = conf or {}
    parts = []
    if conf.get("dry_run"):
        parts.append("Dry run")
    if (conf.get("subscription_id") or "").strip():
        parts.append(f"One member: {conf['subscription_id'].strip()}")
    if conf.get("as_of"):
        parts.append(f"As of {conf['as_of']}" + (" (future allowed)" if conf.get("allow_future_as_of") else ""))
    verdicts = len(conf.get("release_unknown") or []) + len(conf.get("confirm_unknown") or [])
    if verdicts:
        parts.append(f"Settles {verdicts} unknown send(s)")
    return SEPARATOR.join(parts) or None


def labelled_note(label: str, note: str | None) -> str:
    """The label first, then what the operator wrote (a run started again keeps one label)."""
    if not note:
        return label
    return note if note.startswith(label) else f"{label}{SEPARATOR}{note}"


def refused_note(refusal: str, note: str | None) -> str:
    """The refusal first: it is what the operator has to act on."""
    return labelled_note(f"Refused: {refusal}", note)


def run_refusal(run_id: str) -> str | None:
    """Why the run was refused (``renewals.runs.refusal``), or None."""
    from contextlib import closing

    from renewals.airflow_resources import postgres_dsn
    from renewals.config import OPS_CONN_ID
    from renewals.storage.db import connect

    # The scheduler waits on this: a few seconds at most for an ops database that does not answer.
    with closing(connect(f"{postgres_dsn(OPS_CONN_ID)} connect_timeout=5", autocommit=True)) as ops:
        found = ops.execute("select refusal from renewals.runs where run_id = %s", (run_id,)).fetchone()
    return found[0] if found else None


@hookimpl
def on_dag_run_failed(dag_run: Any, msg: str) -> None:
    if dag_run.dag_id != DAG_ID:
        return
    try:
        refusal = run_refusal(dag_run.run_id)
        if refusal:
            dag_run.note = refused_note(refusal, dag_run.note)[:1000]
    except Exception:  # a note is never worth a scheduler error
        log.exception("Could not note the refusal of run %s", dag_run.run_id)


@hookimpl
def on_dag_run_running(dag_run: Any, msg: str) -> None:
    if dag_run.dag_id != DAG_ID:
        return
    label = run_label(dag_run.conf)
    if label is None:
        return
    try:
        # The scheduler's session holds the run: the note is committed with the run's start.
        dag_run.note = labelled_note(label, dag_run.note)[:1000]
    except Exception:  # a label is never worth a failed run start
        log.exception("Could not label run %s", dag_run.run_id)
