"""A delivery worker that kills itself with SIGKILL at a chosen point of a send (crash tests).

    python -m tests.crash_worker '{"warehouse_dsn": ..., "ops_dsn": ..., "smtp_port": 2525,
                                   "run_id": "...", "as_of": "2026-12-01", "point": "after_handoff", "hit": 3}'

It delivers every cohort and shard of the run the way the DAG's deliver tasks do
(``renewals.pipeline.deliver``), with a ``ShardDelivery.checkpoint`` that sends SIGKILL to its own
process the ``hit``-th time ``point`` is reached: no cleanup, no ``finally``, no closing of the
database or SMTP connections, exactly like a worker killed by the OOM killer or a lost node.
With ``point`` null, or when the point is reached fewer than ``hit`` times, it finishes normally,
exits 0 and prints its delivery reports as JSON.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Callable
from datetime import date
from typing import Any

from devenv.inprocess import local_resources
from renewals import pipeline
from renewals.decisions.gates import COHORTS
from renewals.delivery.shard_delivery import ShardDelivery
from renewals.storage.runs import RunContext

POINTS = ("before_claim", "after_claim", "before_handoff", "after_handoff", "after_record")


def killer(point: str | None, hit: int) -> Callable[[str], None]:
    """A checkpoint that kills this process the ``hit``-th time ``point`` is reached."""
    if point is not None and point not in POINTS:
        raise ValueError(f"unknown point {point!r}; known: {POINTS}")
    reached = 0

    def checkpoint(name: str) -> None:
        nonlocal reached
        if name == point:
            reached += 1
            if reached == hit:
                sys.stdout.flush()
                os.kill(os.getpid(), signal.SIGKILL)

    return checkpoint


def main(argv: list[str]) -> int:
    spec = json.loads(argv[0])
    checkpoint = killer(spec.get("point"), int(spec.get("hit", 1)))

    class CrashingDelivery(ShardDelivery):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.checkpoint = checkpoint

    pipeline.ShardDelivery = CrashingDelivery  # what pipeline.deliver builds for each shard
    resources = local_resources(
        spec["warehouse_dsn"], spec["ops_dsn"], int(spec["smtp_port"]), smtp_retry_delays=(0.0,)
    )
    run = RunContext(run_id=spec["run_id"], as_of=date.fromisoformat(spec["as_of"]))
    reports = {}
    for cohort in COHORTS:
        for shard in range(resources.settings.shards):
            reports[f"{cohort}/{shard}"] = pipeline.deliver(resources, run, cohort, shard).__dict__
    print(json.dumps(reports, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
