"""The way beyond one machine: renewals_daily on Airflow's CeleryExecutor with two Celery workers,
Redis (127.0.0.1:6379) as the broker, an api-server, a scheduler and a dag-processor, all real
processes started by devenv.celery_demo (what ``make celery-demo`` runs), with databases and a folder
of this test's own. It fails when a re-lock breaks the cluster: a worker that cannot start, a task
that never leaves the queue, a shard that runs on no worker or sends twice."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import date
from pathlib import Path

import pytest

from devenv.celery_demo import WORKERS, Cluster, print_report, run_demo

pytestmark = pytest.mark.slow

AS_OF = date(2026, 12, 1)
SHARDS = 4


def test_every_shard_runs_once_on_the_celery_workers(pg_server: str, tmp_path: Path):
    cluster = Cluster(
        state=tmp_path / "cluster",
        database_prefix=f"t_celery_{uuid.uuid4().hex[:10]}",
        broker="redis://127.0.0.1:6379/12",
    )
    try:
        result = run_demo(cluster, pg_server, AS_OF, shards=SHARDS, subscriptions=1500, timeout=600)
    finally:
        cluster.drop_databases(pg_server)
    print_report(result)

    assert result.state == "success"
    not_done = [
        (task, index, state)
        for task, index, state, _host in result.task_instances
        if state not in ("success", "skipped")
    ]
    assert not not_done
    shards_by_task: dict[str, list[int]] = defaultdict(list)
    for task, index, state, _host in result.task_instances:
        if task.startswith("deliver_") and state == "success":
            shards_by_task[task].append(index)
    assert shards_by_task, "no deliver shard ran"
    for task, shards in shards_by_task.items():
        # each shard with work is one task instance, run once: no index twice, none outside the shards
        assert sorted(shards) == sorted(set(shards)) and set(shards) <= set(range(SHARDS)), task
    assert set(WORKERS) <= result.deliver_hosts  # the shards were spread over both workers
    assert result.sent > 0
    assert result.sent_twice == 0
    assert len(result.message_ids) == result.sent  # every send in the ledger reached the mail server once
