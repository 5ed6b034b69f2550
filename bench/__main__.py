"""``make bench``: the whole day of renewals_daily over N synthetic subscriptions against its floor.

For each N: a fresh warehouse of N subscriptions generated in SQL (bench/warehouse.py), the ops
schema brought to a steady state (yesterday classified, settled and summarized), then, against
one counting SMTP server in its own process (bench/sink.py) and a local Slack webhook (an HTTP
server in a thread of this process, tests/slack_server.py):

* floor: the least work that produces the same outputs (bench/floor.py): the emails from one query
  per shard of the rows due today, in a process per shard, as many at a time as the pipeline;
  the Slack summary's figures counted from them; the spreadsheet;
* pipeline: the whole day exactly as the DAG runs it (bench/day.py): prepare_run, extract,
  classify, every cohort's shards (a process per shard, ``--workers`` at a time), summarize and
  publish (spreadsheet, staff posts, Slack summary);
* io_limit: every warehouse row read once and as many already-rendered emails sent over one SMTP
  connection: what the machine can do at best.

``--staff-actions N`` puts N staff actions in place before both sides run (bench/staff_actions.py).

Each side runs in a process of its own (its peak RSS is its own); the two must send the same emails
(Message-ID, recipients and Subject compared), write the same spreadsheet rows, post the same
Slack summary figures (customer emails, staff emails, steps recorded, each by touchpoint) and the same
staff posts (however grouped into digests). A table per N with each step's seconds, then the
time per subscription across N, the DAG file's parse time, the peak RSS, and last
``ratio_to_floor=X`` for the largest N. "load" is the machine's 1-minute load average when each
side finished: the figures are only comparable on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import time
from contextlib import closing
from datetime import date

import openpyxl

from bench import extract, staff_actions
from bench.sink import Sink
from bench.warehouse import generate
from devenv.postgres import drop_database, ensure_database, ensure_server
from renewals.config import PROJECT_ROOT
from renewals.storage.db import connect
from tests.slack_server import SlackServer

STATE_DIR = PROJECT_ROOT / ".demo"
DEFAULT_AS_OF = "2026-11-18"  # a Wednesday in mid-month: an ordinary day, no monthly notice day
DATABASES = {"warehouse": "renewals_bench_warehouse", "ops": "renewals_bench_ops"}


def child(module: str, config: dict) -> dict:
    """Run ``python -m module`` with the config; its last stdout line is its JSON result."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT / "plugins"), str(PROJECT_ROOT)])}
    done = subprocess.run(
        [sys.executable, "-m", module, json.dumps(config)],
        env=env,
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
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


def bench_one(
    n: int,
    as_of: str,
    workers: int,
    shards: int,
    server: str,
    sink: Sink,
    slack: SlackServer,
    other_warehouse: bool,
    actions: int = 0,
) -> dict:
    for name in DATABASES.values():
        drop_database(server, name)
    uris = {role: ensure_database(server, name) for role, name in DATABASES.items()}
    mark = time.perf_counter()
    with closing(connect(uris["warehouse"], autocommit=True)) as conn:
        rows = generate(conn, n, date.fromisoformat(as_of))
    generated = time.perf_counter() - mark
    books = STATE_DIR / "bench-books"
    config = {
        **uris,
        "smtp_port": sink.port,
        "as_of": as_of,
        "run_id": f"bench__{n}__{as_of}",
        "workers": workers,
        "shards": shards,
        "slack_url": slack.url,
        "spreadsheet": str(books / "pipeline.xlsx"),
        "floor_spreadsheet": str(books / "floor.xlsx"),
        # signs the members' unsubscribe and answer links, the same on both sides
        "unsubscribe_secret": secrets.token_hex(32),
    }
    mark = time.perf_counter()
    previous = child("bench.day", {**config, "mode": "previous_day"})
    sink.take()
    setup = time.perf_counter() - mark
    placed = staff_actions.place(uris, date.fromisoformat(as_of), actions) if actions else 0
    slack.requests.clear()
    floor = child("bench.floor", config)
    floor_emails = sink.take()
    floor_slack = summary_figures(slack.bodies)
    floor_posts = staff_post_blocks(slack.bodies)
    slack.requests.clear()
    pipeline = child("bench.day", config)
    pipeline_emails = sink.take()
    pipeline["load"] = os.getloadavg()[0]
    pipeline_slack = summary_figures(slack.bodies)
    pipeline_posts = staff_post_blocks(slack.bodies)
    staff_messages = sum(not is_summary(body) for body in slack.bodies)
    sheet = child("bench.floor", {**config, "mode": "sheet"})  # the day's end state: after the pipeline
    floor["steps"]["spreadsheet"] = sheet["wall"]
    floor["wall"] += sheet["wall"]
    floor["rss_self_kb"] = max(floor["rss_self_kb"], sheet["rss_self_kb"])
    floor["load"] = os.getloadavg()[0]
    io = child("bench.floor", {**config, "mode": "io_limit", "emails": len(floor_emails)})
    sink.take()
    # the extract through a warehouse other than PostgreSQL
    extracts = extract.compare(uris, as_of, n, child) if other_warehouse else None
    return {
        "extract": extracts,
        "n": n,
        "staff_actions": placed,
        "rows": rows,
        "generated_s": generated,
        "setup_s": setup,
        "previous_settled": previous["settled"],
        "floor": floor,
        "pipeline": pipeline,
        "io_limit": io,
        "floor_emails": len(floor_emails),
        "pipeline_emails": len(pipeline_emails),
        "same_emails": sorted(floor_emails) == sorted(pipeline_emails),
        "only_floor": len(set(floor_emails) - set(pipeline_emails)),
        "only_pipeline": len(set(pipeline_emails) - set(floor_emails)),
        "duplicates": len(pipeline_emails) - len(set(pipeline_emails)),
        "same_sheets": sheet_rows(config["spreadsheet"]) == sheet_rows(config["floor_spreadsheet"]),
        "same_slack": floor_slack == pipeline_slack and floor_slack is not None,
        "slack_sent": pipeline_slack[0] if pipeline_slack else None,
        "same_staff_posts": floor_posts == pipeline_posts,
        "staff_posts": floor["staff_posts"],
        "staff_messages": staff_messages,
    }


def is_summary(body: dict) -> bool:
    blocks = body.get("blocks") or []
    return bool(blocks) and blocks[0].get("text", {}).get("text", "").startswith("Renewals run as of")


def staff_post_blocks(bodies: list[dict]) -> list[str]:
    """Every block of the staff posts received (the digests' dividers left out), sorted: the same
    posts give the same list however they were grouped into digests."""
    return sorted(
        json.dumps(block, sort_keys=True)
        for body in bodies
        if not is_summary(body)
        for block in body.get("blocks") or []
        if block.get("type") != "divider"
    )


def summary_figures(bodies: list[dict]) -> tuple[str, str] | None:
    """The run summary's figures (customer emails, staff emails, staff steps recorded) and their
    by-touchpoint tables, from the posts received."""
    from renewals.reports.summary import KIND_LABELS, KINDS

    for body in bodies:
        blocks = body.get("blocks") or []
        if is_summary(body):
            fields = {
                f["text"].split("\n", 1)[0].strip("*"): f["text"].split("\n", 1)[1]
                for block in blocks
                if "fields" in block
                for f in block["fields"]
            }
            titles = tuple(f"*{KIND_LABELS[kind]} by touchpoint" for kind in KINDS)
            tables = [b["text"]["text"] for b in blocks if b.get("text", {}).get("text", "").startswith(titles)]
            return " / ".join(fields[KIND_LABELS[kind]] for kind in KINDS), "\n".join(tables)
    return None


def sheet_rows(path: str) -> dict[str, list[tuple]]:
    """The rows of every list sheet of a book (About, with its run and time, left out)."""
    book = openpyxl.load_workbook(path, read_only=True)
    try:
        return {ws.title: list(ws.iter_rows(values_only=True)) for ws in book.worksheets if ws.title != "About"}
    finally:
        book.close()


def _mib(kb: int) -> float:
    return kb / 1024


def print_table(result: dict, workers: int) -> None:
    n = result["n"]
    mode = "sequential shards (1 process)" if workers <= 1 else f"a process per shard, {workers} at a time"
    print()
    print(
        f"N = {n:,} subscriptions ({result['rows']['contacts']:,} contacts); "
        f"deliver and the floor's emails: {mode}; {result['pipeline']['tasks']} deliver tasks"
        + (f"; {result['staff_actions']:,} staff actions in place" if result["staff_actions"] else "")
    )
    print(f"{'':10} {'wall s':>8} {'subs/s':>10} {'emails/s':>9} {'emails':>7} {'peak RSS MiB':>13} {'load':>5}")
    for name in ("floor", "pipeline"):
        side = result[name]
        emails = result[f"{name}_emails"]
        rss = max(side["rss_self_kb"], side["rss_children_kb"])
        print(
            f"{name:10} {side['wall']:8.2f} {n / side['wall']:10,.0f} {emails / side['wall']:9,.1f} {emails:7,} "
            f"{_mib(rss):13.0f} {side['load']:5.1f}"
        )
    for name in ("pipeline", "floor"):
        steps = ", ".join(f"{step} {seconds:.2f}s" for step, seconds in result[name]["steps"].items())
        print(f"{name} steps: {steps}")
    io = result["io_limit"]
    print(
        f"io_limit_s={io['wall']:.2f} (read every warehouse row once {io['read_s']:.2f}s, "
        f"{io['bytes_read'] / 2**20:,.0f} MiB; {result['floor_emails']:,} rendered emails over one connection "
        f"{io['wall'] - io['read_s']:.2f}s)"
    )
    delivered = result["pipeline"]["delivered"]
    published = result["pipeline"]["published"]
    share = result["pipeline"]["steps"]["publish"] / result["pipeline"]["wall"]
    print(
        f"delivered: recorded {delivered['recorded']}, skipped {delivered['skipped']}, failed {delivered['failed']}; "
        f"published: spreadsheet {published['spreadsheet']}, Slack summary {published['slack_summary']}; "
        f"publish {share:.1%} of the day"
    )
    same = (
        "yes"
        if result["same_emails"]
        else (f"NO ({result['only_floor']} only from the floor, {result['only_pipeline']} only from the pipeline)")
    )
    ratio = result["pipeline"]["wall"] / result["floor"]["wall"]
    print(
        f"due emails {result['pipeline_emails'] / n:.2%} of subscriptions; same emails as the floor: {same}; "
        f"same spreadsheet rows: {'yes' if result['same_sheets'] else 'NO'}; same Slack summary figures: "
        f"{'yes' if result['same_slack'] else 'NO'} (sent {result['slack_sent']}); same staff posts: "
        f"{'yes' if result['same_staff_posts'] else 'NO'} ({result['staff_posts']:,} in "
        f"{result['staff_messages']:,} Slack messages); sent twice: "
        f"{result['duplicates']}; ratio to floor {ratio:.2f} "
        f"(setup: generate {result['generated_s']:.1f}s, previous day {result['setup_s']:.1f}s)"
    )
    if result["extract"]:
        print(extract.describe(result["extract"]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("sizes", nargs="*", type=int, default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--as-of", default=DEFAULT_AS_OF)
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="processes delivering shards at a time (default: one per core; 1 = sequential)",
    )
    parser.add_argument("--shards", type=int, default=4, help="RENEWALS_SHARDS of the run (default 4)")
    parser.add_argument(
        "--staff-actions",
        type=int,
        default=0,
        metavar="N",
        help="N staff actions in place (skips, moves, edits, holds) on members with nothing due that day "
        "(bench/staff_actions.py; the issue's figure: 10000)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the bench databases afterwards")
    parser.add_argument(
        "--postgres-only", action="store_true", help="skip the extract through MariaDB or SQLite (a quicker run)"
    )
    args = parser.parse_args(argv)
    server = ensure_server(STATE_DIR)
    results = []
    slack = SlackServer().start()
    os.environ["AIRFLOW_CONN_RENEWALS_SLACK"] = slack.connection()  # the children's renewals_slack
    try:
        with Sink() as sink:
            for n in sorted(args.sizes):
                results.append(
                    bench_one(
                        n,
                        args.as_of,
                        args.workers,
                        args.shards,
                        server,
                        sink,
                        slack,
                        not args.postgres_only,
                        args.staff_actions,
                    )
                )
                print_table(results[-1], args.workers)
    finally:
        slack.stop()
    if not args.keep:
        for name in DATABASES.values():
            drop_database(server, name)
    print()
    if len(results) > 1:
        per = [f"{r['n']:,}: {r['pipeline']['wall'] / r['n'] * 1e6:.1f}" for r in results]
        print("pipeline microseconds per subscription (flat = linear): " + ", ".join(per))
        growth = results[-1]["pipeline"]["wall"] / results[-2]["pipeline"]["wall"]
        print(
            f"t({results[-1]['n']:,})/t({results[-2]['n']:,})={growth:.2f} (N x{results[-1]['n'] / results[-2]['n']:g})"
        )
    parse = dag_parse_seconds()
    print(f"dag_parse_seconds={parse:.3f}")
    largest = results[-1]
    peak = max(largest["pipeline"]["rss_self_kb"], largest["pipeline"]["rss_children_kb"])
    print(f"peak_rss_mib={_mib(peak):.0f} (largest process of the pipeline at N={largest['n']:,})")
    largest_steps = largest["pipeline"]["steps"]
    print(
        f"publish_share={largest_steps['publish'] / largest['pipeline']['wall']:.3f} "
        f"(publish {largest_steps['publish']:.2f}s of {largest['pipeline']['wall']:.2f}s at N={largest['n']:,})"
    )
    print(f"io_limit_s={largest['io_limit']['wall']:.2f} (N={largest['n']:,})")
    ok = all(r["same_emails"] and r["duplicates"] == 0 for r in results)
    print(f"same_emails={'yes' if ok else 'NO'}")
    same = all(r["same_sheets"] and r["same_slack"] and r["same_staff_posts"] for r in results)
    print(f"same_spreadsheet_rows_slack_figures_and_staff_posts={'yes' if same else 'NO'}")
    ok = ok and same
    print(f"ratio_to_floor={largest['pipeline']['wall'] / largest['floor']['wall']:.2f}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
