"""The Airflow Asset a renewals run updates, for downstream DAGs to be scheduled on.

``renewals_daily``'s summarize task (the one that completes a run) emits an event for it once
the run's audit rows are in the ops schema; the event's extra carries run_id, as_of, dry_run and
subscription_id. A downstream DAG::

    from airflow.sdk import Asset, dag

    @dag(schedule=[Asset.ref(name="renewals_audit")])
    def renewals_downstream(): ...
"""

from __future__ import annotations

from airflow.sdk import Asset

RENEWALS_AUDIT = Asset(name="renewals_audit", uri="x-renewals://renewals_ops/renewals", group="renewals")
