"""``make soak``: the crash harness of tests/integration/test_crashes.py as a long run.

    python -m tests.soak [CRASHES] [--seed S]

CRASHES SIGKILLs (default 200) are spread evenly over every point of a send
(tests/crash_worker.POINTS), in rounds: a fresh world of about forty due messages
(tests/reliability.crash_world), its day classified, then workers killed the n-th time they reach
the round's point (n random) until its messages run out; in every other round a second run of the
same day (classify and deliver, in this process) goes on at the same time as the killed workers.
In every round, between one of the crashes (a random one) and its retry, a run dated a random older
day comes in (tests/reliability.older_day_run: a backfill, a catch-up run).
Each round then ends as the crash tests do: a last worker finishes, a rerun of the day, the
operator's verdicts on what is left unknown (from the relay's log) and the run that applies them.

Prints one totals line (crashes, older runs, duplicates, losses, unknown, due; then after the verdicts) and
exits non-zero on any duplicate or loss. Not part of ``make test``: minutes, not seconds.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import threading
from collections import Counter
from contextlib import closing
from pathlib import Path

from devenv.mailbox import FileMailbox
from devenv.postgres import drop_database, ensure_database, ensure_server
from renewals.config import PROJECT_ROOT
from renewals.storage.db import connect
from tests.crash_worker import POINTS
from tests.daily import resources_for
from tests.reliability import (
    CRASH_DAY,
    classified,
    crash_world,
    due_messages,
    full_run,
    older_day_run,
    settle_unknown_from_mail_log,
    tally,
    worker,
)
from tests.world import World


def one_round(server: str, number: int, point: str, crashes_wanted: int, together: bool, rng: random.Random) -> Counter:
    """One world and day: up to ``crashes_wanted`` SIGKILLs at ``point``; returns the round's figures."""
    names = {"warehouse": f"soak_wh_{number}", "ops": f"soak_ops_{number}"}
    databases = {role: ensure_database(server, name) for role, name in names.items()}
    figures: Counter = Counter()
    try:
        with (
            tempfile.TemporaryDirectory() as outbox,
            FileMailbox(Path(outbox)) as mailbox,
            closing(connect(databases["warehouse"], autocommit=True)) as warehouse,
            closing(connect(databases["ops"], autocommit=True)) as ops,
        ):
            crash_world(World(warehouse))
            resources = resources_for(databases, mailbox)
            run = classified(resources, f"scheduled__{number}", CRASH_DAY)
            due = due_messages(ops)
            second = None
            if together:  # another run of the same day, classifying and delivering meanwhile
                second = threading.Thread(target=full_run, args=(resources, f"manual__{number}__together", CRASH_DAY))
                second.start()
            older_after = rng.randint(1, min(crashes_wanted, 4))  # the crash an older day's run follows
            while figures["crashes"] < crashes_wanted:
                pending = len(due_messages(ops))
                if pending == 0:
                    break
                if worker(databases, mailbox, run.run_id, point, hit=rng.randint(1, min(pending, 4))) == -9:
                    figures["crashes"] += 1
                    if figures["crashes"] == older_after:
                        older_day_run(resources, databases, mailbox, rng, f"{number}")
                        figures["older_runs"] += 1
            if second is not None:
                second.join()
            worker(databases, mailbox, run.run_id, None)  # the task's last retry finishes
            full_run(resources, f"manual__{number}__rerun", CRASH_DAY)
            before = tally(ops, mailbox, due, resources.settings)
            release, confirm = settle_unknown_from_mail_log(ops, mailbox, resources.settings)
            full_run(
                resources, f"manual__{number}__verdicts", CRASH_DAY, release_unknown=release, confirm_unknown=confirm
            )
            after = tally(ops, mailbox, due, resources.settings)
            figures.update(
                due=before.due,
                duplicates=before.duplicates,
                losses=before.losses,
                unknown=before.unknown,
                final_duplicates=after.duplicates,
                final_losses=after.losses,
                final_unknown=after.unknown,
            )
    finally:
        for name in names.values():
            drop_database(server, name)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.soak", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("crashes", nargs="?", type=int, default=200, help="SIGKILLs in all (default 200)")
    parser.add_argument("--seed", default="soak")
    args = parser.parse_args(argv)
    server = ensure_server(PROJECT_ROOT / ".demo")
    rng = random.Random(args.seed)
    totals: Counter = Counter()
    rounds = 0
    for index, point in enumerate(POINTS):
        # an even share of the crashes for each point (the first points take the remainder)
        wanted = args.crashes // len(POINTS) + (index < args.crashes % len(POINTS))
        crashed = 0
        while crashed < wanted:
            together = rounds % 2 == 1
            figures = one_round(server, rounds, point, wanted - crashed, together=together, rng=rng)
            rounds += 1
            crashed += figures["crashes"]
            totals.update(figures)
            print(f"round {rounds} at {point}{' (two runs at once)' if together else ''}: {dict(figures)}", flush=True)
            if figures["crashes"] == 0 and not together:
                break  # the point is never reached, even alone: no use trying again
    bad = totals["duplicates"] + totals["losses"] + totals["final_duplicates"] + totals["final_losses"]
    print(
        f"SOAK TOTALS crashes={totals['crashes']} older_runs={totals['older_runs']}"
        f" duplicates={totals['duplicates']} losses={totals['losses']}"
        f" unknown={totals['unknown']} due={totals['due']} rounds={rounds}; after operator verdicts:"
        f" duplicates={totals['final_duplicates']} losses={totals['final_losses']} unknown={totals['final_unknown']}"
    )
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
