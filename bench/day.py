"""The pipeline side of the benchmark: one day exactly as the DAG runs it (prepare_run,
extract_and_validate, classify_subscriptions, every cohort's deliver shards, summarize, publish:
the spreadsheet, the staff posts and the Slack summary), through the same functions as the DAG's
tasks (renewals.pipeline, renewals.reports.publish), through devenv.inprocess like the tests.
The shards run one after another (``workers`` = 1) or in a pool of worker processes, as an
executor with that many slots would run the mapped deliver tasks.

Run as ``python -m bench.day '<json>'`` by the bench, so that its peak RSS is its own; prints
one JSON line with the timings.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import closing
from datetime import date, timedelta

from bench.memory import peak_rss_kb
from devenv.inprocess import classified, local_resources
from renewals.config import SLACK_CONN_ID, Settings
from renewals.decisions.gates import COHORTS
from renewals.pipeline import Resources, classify_run, deliver, extract, finish_run, prepare
from renewals.reports.publish import publish_run
from renewals.storage.db import connect
from renewals.storage.runs import RunContext


def resources(config: dict) -> Resources:
    """The bench's own settings (the defaults, whatever this shell exports) with its shard count
    and the day's unsubscribe secret (the floor signs its links with the same one)."""
    return local_resources(
        config["warehouse"],
        config["ops"],
        config["smtp_port"],
        smtp_timeout=30,
        base=Settings.from_env({}),
        shards=config["shards"],
        spreadsheet_path=config["spreadsheet"],
        unsubscribe_secret=bytes.fromhex(config["unsubscribe_secret"]),
    )


def _deliver_one(config: dict, run: RunContext, cohort: str, shard: int) -> dict:
    report = deliver(resources(config), run, cohort, shard)
    return {"sent": report.sent, "recorded": report.recorded, "skipped": report.skipped, "failed": report.failed}


def run_day(config: dict) -> dict:
    import airflow.sdk  # noqa: F401 (a task process has Airflow loaded before the task runs: not the day's work)

    res = resources(config)
    run = RunContext(run_id=config["run_id"], as_of=date.fromisoformat(config["as_of"]))
    steps: dict[str, float] = {}
    started = time.perf_counter()
    work = classified(res, run, timings=steps)
    mark = time.perf_counter()
    tasks = [(cohort, shard) for cohort in COHORTS for shard in sorted(work[cohort])]
    totals = {"sent": 0, "recorded": 0, "skipped": 0, "failed": 0}
    if config["workers"] <= 1:
        reports = [_deliver_one(config, run, cohort, shard) for cohort, shard in tasks]
    else:
        # The largest shards first, so that the workers finish together.
        tasks.sort(key=lambda task: -work[task[0]][task[1]])
        with ProcessPoolExecutor(max_workers=config["workers"]) as pool:
            reports = list(pool.map(_deliver_one, *zip(*[(config, run, c, s) for c, s in tasks], strict=True)))
    for report in reports:
        for key in totals:
            totals[key] += report[key]
    steps["deliver"] = time.perf_counter() - mark
    mark = time.perf_counter()
    finish_run(res, run)
    steps["summarize"] = time.perf_counter() - mark
    mark = time.perf_counter()
    published = publish_run(res, run, slack_conn_id=SLACK_CONN_ID)
    steps["publish"] = time.perf_counter() - mark
    wall = time.perf_counter() - started
    return {
        "wall": wall,
        "steps": steps,
        "delivered": totals,
        "tasks": len(tasks),
        "published": {output: published[output]["status"] for output in ("spreadsheet", "slack_summary")},
        "rss_self_kb": peak_rss_kb(),
        "rss_children_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    }


def previous_day(config: dict) -> dict:
    """The steady state before the measured day: yesterday was classified by a run and whatever it
    had to send is settled (marked sent here, without sending), so the measured day only does
    one day's work. A run the day before yesterday is registered so that yesterday's look-back
    is the ordinary catch-up window, not a first run's year."""
    res = resources(config)
    as_of = date.fromisoformat(config["as_of"])
    yesterday = RunContext(run_id=f"{config['run_id']}__previous", as_of=as_of - timedelta(days=1))
    prepare(res, yesterday)
    with closing(connect(res.ops_dsn, autocommit=True)) as ops:
        ops.execute(
            """
            insert into renewals.runs (run_id, run_key, as_of, dry_run, classified_at, finished_at)
            values (%s, md5(%s), %s, false, now(), now())
            on conflict (run_id) do nothing
            """,
            (f"{config['run_id']}__before", config["run_id"], as_of - timedelta(days=2)),
        )
    extract(res, yesterday)
    classify_run(res, yesterday)
    with closing(connect(res.ops_dsn, autocommit=True)) as ops:
        settled = ops.execute(
            "update renewals.touchpoints set status = 'sent', attempts = 1, sent_at = now() where status = 'pending'"
        ).rowcount
    finish_run(res, yesterday)  # yesterday's renewal cycles recorded, the run finished
    with closing(connect(res.ops_dsn, autocommit=True)) as ops:
        ops.execute("vacuum analyze renewals.touchpoints")
        ops.execute("vacuum analyze renewals.decisions")
        ops.execute("vacuum analyze renewals.renewal_cycles")
    return {"settled": settled}


if __name__ == "__main__":
    config = json.loads(sys.argv[1])
    result = previous_day(config) if config.get("mode") == "previous_day" else run_day(config)
    print(json.dumps(result), flush=True)
