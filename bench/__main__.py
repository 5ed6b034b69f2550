"""``make bench``: a day's run of renewals_daily over N synthetic subscriptions against its floor.

For each N: a fresh warehouse of N subscriptions generated in SQL (bench/warehouse.py), the ops
schema brought to a steady state (yesterday classified and settled), then, against one counting
SMTP server in its own process (bench/sink.py):

* floor: the least work that produces the same emails (bench/floor.py): one query of the rows due
  today, render, send over one connection;
* pipeline: the day exactly as the DAG runs it (bench/day.py): prepare, extract, classify, then
  every cohort's shards, sequentially or with a process per shard slot (``--workers``).

Both run in a process of their own (their peak RSS is theirs); both must send the same emails
(Message-ID, recipients and Subject of each are compared). A table per N, then the time per
subscription across N, the DAG file's parse time, and last ``ratio_to_floor=X`` for the largest N.
"load" is the machine's 1-minute load average when each side finished: the figures are only
comparable on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from contextlib import closing
from datetime import date

from bench import extract
from bench.sink import Sink
from bench.warehouse import generate
from devenv.postgres import drop_database, ensure_database, ensure_server
from renewals.config import PROJECT_ROOT
from renewals.storage.db import connect

STATE_DIR = PROJECT_ROOT / ".demo"
DEFAULT_AS_OF = "2026-11-18"  # a Wednesday in mid-month: an ordinary day, no monthly notice day
DATABASES = {"warehouse": "renewals_bench_warehouse", "ops": "renewals_bench_ops"}


def child(module: str, config: dict) -> dict:
    """Run ``python -m module`` with the config; its last stdout line is its JSON result."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT / "plugins"), str(PROJECT_ROOT)])}
    done = subprocess.run(
        [sys.executable, "-m", module, json.dumps(config)], env=env, cwd=PROJECT_ROOT, stdout=subprocess.PIPE,
        text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"{module} failed (exit {done.returncode})")
    return json.loads(done.stdout.strip().splitlines()[-1])


def dag_parse_seconds() -> float:
    """How long Airflow takes to parse dags/renewals_daily.py (Airflow itself already imported, as in
    the dag-processor), the best of three fresh processes."""
    code = (
        "import time, airflow.dag_processing.dagbag as m\n"
        "t = time.perf_counter()\n"
        f"bag = m.DagBag(dag_folder={str(PROJECT_ROOT / 'dags' / 'renewals_daily.py')!r})\n"
        "assert not bag.import_errors, bag.import_errors\n"
        "print(time.perf_counter() - t)\n"
    )
    home = STATE_DIR / "bench-airflow"
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "PYTHONPATH": str(PROJECT_ROOT / "plugins"),
    }
    best = []
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        best.append(float(out.stdout.strip().splitlines()[-1]))
    return min(best)


def bench_one(n: int, as_of: str, workers: int, shards: int, server: str, sink: Sink) -> dict:
    for name in DATABASES.values():
        drop_database(server, name)
    uris = {role: ensure_database(server, name) for role, name in DATABASES.items()}
    mark = time.perf_counter()
    with closing(connect(uris["warehouse"], autocommit=True)) as conn:
        rows = generate(conn, n, date.fromisoformat(as_of))
    generated = time.perf_counter() - mark
    config = {
        **uris, "smtp_port": sink.port, "as_of": as_of, "run_id": f"bench__{n}__{as_of}", "workers": workers,
        "shards": shards,
    }  # fmt: skip
    mark = time.perf_counter()
    previous = child("bench.day", {**config, "mode": "previous_day"})
    sink.take()
    setup = time.perf_counter() - mark
    floor = child("bench.floor", config)
    floor_emails = sink.take()
    floor["load"] = os.getloadavg()[0]
    pipeline = child("bench.day", config)
    pipeline_emails = sink.take()
    pipeline["load"] = os.getloadavg()[0]
    extracts = extract.compare(uris, as_of, n, child)  # the extract through a warehouse other than PostgreSQL
    return {
        "extract": extracts,
        "n": n,
        "rows": rows,
        "generated_s": generated,
        "setup_s": setup,
        "previous_settled": previous["settled"],
        "floor": floor,
        "pipeline": pipeline,
        "floor_emails": len(floor_emails),
        "pipeline_emails": len(pipeline_emails),
        "same_emails": sorted(floor_emails) == sorted(pipeline_emails),
        "only_floor": len(set(floor_emails) - set(pipeline_emails)),
        "only_pipeline": len(set(pipeline_emails) - set(floor_emails)),
        "duplicates": len(pipeline_emails) - len(set(pipeline_emails)),
    }


def _mib(kb: int) -> float:
    return kb / 1024


def print_table(result: dict, workers: int) -> None:
    n = result["n"]
    mode = "sequential shards (1 process)" if workers <= 1 else f"a process per shard, {workers} at a time"
    print()
    print(f"N = {n:,} subscriptions ({result['rows']['contacts']:,} contacts); "
          f"pipeline: {mode}; {result['pipeline']['tasks']} deliver tasks")  # fmt: skip
    print(f"{'':10} {'wall s':>8} {'subs/s':>10} {'emails/s':>9} {'emails':>7} {'peak RSS MiB':>13} {'load':>5}")
    for name in ("floor", "pipeline"):
        side = result[name]
        emails = result[f"{name}_emails"]
        rss = max(side["rss_self_kb"], side["rss_children_kb"])
        print(f"{name:10} {side['wall']:8.2f} {n / side['wall']:10,.0f} {emails / side['wall']:9,.1f} {emails:7,} "
              f"{_mib(rss):13.0f} {side['load']:5.1f}")  # fmt: skip
    steps = ", ".join(f"{step} {seconds:.2f}s" for step, seconds in result["pipeline"]["steps"].items())
    delivered = result["pipeline"]["delivered"]
    print(f"pipeline steps: {steps}; recorded {delivered['recorded']}, skipped {delivered['skipped']}, "
          f"failed {delivered['failed']}")  # fmt: skip
    share = result["pipeline_emails"] / n
    same = (
        "yes"
        if result["same_emails"]
        else (f"NO ({result['only_floor']} only from the floor, {result['only_pipeline']} only from the pipeline)")
    )
    ratio = result["pipeline"]["wall"] / result["floor"]["wall"]
    print(f"due emails {share:.2%} of subscriptions; same emails as the floor: {same}; "
          f"sent twice: {result['duplicates']}; ratio to floor {ratio:.2f} "
          f"(setup: generate {result['generated_s']:.1f}s, previous day {result['setup_s']:.1f}s)")  # fmt: skip
    print(extract.describe(result["extract"]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("sizes", nargs="*", type=int, default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--as-of", default=DEFAULT_AS_OF)
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="processes delivering shards at a time (default: one per core; 1 = sequential)",
    )
    parser.add_argument("--shards", type=int, default=4, help="RENEWALS_SHARDS of the run (default 4)")
    parser.add_argument("--keep", action="store_true", help="keep the bench databases afterwards")
    args = parser.parse_args(argv)
    server = ensure_server(STATE_DIR)
    results = []
    with Sink() as sink:
        for n in sorted(args.sizes):
            results.append(bench_one(n, args.as_of, args.workers, args.shards, server, sink))
            print_table(results[-1], args.workers)
    if not args.keep:
        for name in DATABASES.values():
            drop_database(server, name)
    print()
    if len(results) > 1:
        per = [f"{r['n']:,}: {r['pipeline']['wall'] / r['n'] * 1e6:.1f}" for r in results]
        print("pipeline microseconds per subscription (flat = linear): " + ", ".join(per))
    parse = dag_parse_seconds()
    print(f"dag_parse_seconds={parse:.3f}")
    largest = results[-1]
    peak = max(largest["pipeline"]["rss_self_kb"], largest["pipeline"]["rss_children_kb"])
    print(f"peak_rss_mib={_mib(peak):.0f} (largest process of the pipeline at N={largest['n']:,})")
    ok = all(r["same_emails"] and r["duplicates"] == 0 for r in results)
    print(f"same_emails={'yes' if ok else 'NO'}")
    print(f"ratio_to_floor={largest['pipeline']['wall'] / largest['floor']['wall']:.2f}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
