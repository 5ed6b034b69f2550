"""Shared parts of the reliability tests (crashes, concurrency, backfill, outages) and of
``make soak`` (tests/soak.py): running the pipeline's steps without Airflow, the crash world and
its SIGKILLed workers, and counting what the mailbox received against the ledger."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

from devenv import inprocess
from devenv.mailbox import FileMailbox
from renewals.config import PROJECT_ROOT, Settings
from renewals.delivery.messages import message_id, sender_domain
from renewals.pipeline import Resources
from renewals.storage.runs import RunContext
from tests.conftest import moment

# Ledger channels whose rows are handed to SMTP (a Message-ID the mailbox can count).
MAIL_CHANNELS = ("email", "staff_email")


def classified(resources: Resources, run_id: str, as_of: date, **verdicts: Iterable[str]) -> RunContext:
    """prepare, extract and classify one run, as the DAG's first three tasks do."""
    run = RunContext(run_id=run_id, as_of=as_of)
    inprocess.classified(resources, run, **verdicts)
    return run


def full_run(resources: Resources, run_id: str, as_of: date, **verdicts: Iterable[str]) -> RunContext:
    run = classified(resources, run_id, as_of, **verdicts)
    inprocess.deliver_all(resources, run)
    return run


@dataclass(frozen=True)
class Due:
    """A ledger row that is handed to SMTP, with the Message-ID it goes out with."""

    subscription_id: str
    renewal_date: date
    touchpoint: str

    @property
    def ref(self) -> str:
        return f"{self.subscription_id}/{self.touchpoint}"

    def message_id(self, settings: Settings) -> str:
        return message_id(self.subscription_id, self.renewal_date, self.touchpoint, sender_domain(settings.sender))


def due_messages(ops, statuses: tuple[str, ...] = ("pending",)) -> set[Due]:
    rows = ops.execute(
        "select subscription_id, renewal_date, touchpoint from renewals.touchpoints"
        " where status = any(%s) and channel = any(%s)",
        (list(statuses), list(MAIL_CHANNELS)),
    ).fetchall()
    return {Due(*row) for row in rows}


def received(mailbox: FileMailbox) -> Counter:
    return Counter(str(m["Message-ID"]) for m in mailbox.messages)


@dataclass
class Figures:
    """What became of the messages that were due: the delivery rules in numbers."""

    due: int = 0
    delivered: int = 0  # received exactly once
    duplicates: int = 0  # extra copies of a Message-ID the mailbox received
    losses: int = 0  # due, not received and not 'unknown' (or 'sent' in the ledger but never received)
    unknown: int = 0  # left 'unknown' in the ledger
    unknown_received: int = 0  # ... of which the relay did get the message
    unexpected: int = 0  # received, but not one of the due messages
    lost: list[str] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)

    def line(self) -> str:
        return (
            f"due={self.due} delivered={self.delivered} duplicates={self.duplicates} losses={self.losses}"
            f" unknown={self.unknown} (received {self.unknown_received}, not received"
            f" {self.unknown - self.unknown_received}) unexpected={self.unexpected}"
        )


def handed_over(ops) -> set[Due]:
    """Every ledger row a message was handed to SMTP for (any channel: emails, staff notices, CTA owners)."""
    rows = ops.execute(
        "select subscription_id, renewal_date, touchpoint from renewals.touchpoints where message_id is not null"
        " and status in ('sent', 'unknown')"
    ).fetchall()
    return {Due(*row) for row in rows}


def tally(ops, mailbox: FileMailbox, due: set[Due], settings: Settings) -> Figures:
    got = received(mailbox)
    rows = ops.execute("select subscription_id, renewal_date, touchpoint, status, message_id from renewals.touchpoints")
    status, ledger_ids = {}, {}
    for s, r, t, st, mid in rows:
        status[(s, r, t)] = st
        if mid is not None:
            ledger_ids[(s, r, t)] = mid
    # a message that goes as one copy per recipient: every copy the ledger composed must arrive, once
    copies: dict[tuple, set[str]] = {}
    for mid, s, r, t in ops.execute(
        "select message_id, subscription_id, renewal_date, touchpoint from renewals.message_copies"
    ):
        copies.setdefault((s, r, t), set()).add(mid)
    figures = Figures(due=len(due), duplicates=sum(n - 1 for n in got.values() if n > 1))
    ids = set(ledger_ids.values()).union(*copies.values())
    for item in due:
        key = (item.subscription_id, item.renewal_date, item.touchpoint)
        mids = copies.get(key) or {ledger_ids.get(key) or item.message_id(settings)}
        ids |= mids
        st = status.get(key)
        figures.statuses[st] += 1
        if st == "unknown":
            figures.unknown += 1
            figures.unknown_received += any(got[mid] > 0 for mid in mids)
        elif not all(got[mid] > 0 for mid in mids):
            figures.losses += 1
            figures.lost.append(f"{item.ref} ({st})")
        if all(got[mid] == 1 for mid in mids):
            figures.delivered += 1
    figures.unexpected = sum(n for mid, n in got.items() if mid not in ids)
    return figures


def settle_unknown_from_mail_log(ops, mailbox: FileMailbox, settings: Settings) -> tuple[list[str], list[str]]:
    """What the operator does (operator's guide: Settling unknown sends): look each 'unknown' Message-ID up in the
    relay's log; delivered -> confirm_unknown, not delivered -> release_unknown."""
    got = received(mailbox)
    release, confirm = [], []
    for item in sorted(due_messages(ops, ("unknown",)), key=lambda d: d.ref):
        (confirm if got[item.message_id(settings)] else release).append(item.ref)
    return release, confirm


CRASH_DAY = date(2026, 12, 1)
ALL_ROLES = ("primary", "billing", "committee", "pgb")


def crash_world(world) -> None:
    """About forty messages due on CRASH_DAY in every customer cohort, one to four recipients each."""
    for n in range(16):
        world.subscription(f"S-UP-{n:02}", CRASH_DAY + timedelta(days=15))  # renewal_reminder_15
    for n in range(8):
        world.subscription(f"S-CONF-{n:02}", CRASH_DAY + timedelta(days=30), roles=ALL_ROLES)  # renewal_confirmation
    for n in range(8):
        world.subscription(
            f"S-PAY-{n:02}", CRASH_DAY + timedelta(days=15), intent_confirmed_at=moment(CRASH_DAY - timedelta(days=20))
        )  # payment_reminder_15
    for n in range(8):
        world.subscription(f"S-OVER-{n:02}", CRASH_DAY - timedelta(days=15))  # overdue_notice_15


def worker(databases, mailbox, run_id: str, point: str | None, hit: int = 1, as_of: date = CRASH_DAY) -> int:
    """tests/crash_worker.py delivering the run in a process of its own, killed (-9) the ``hit``-th
    time it reaches ``point`` (none: it finishes, 0)."""
    spec = {
        "warehouse_dsn": databases["warehouse"],
        "ops_dsn": databases["ops"],
        "smtp_port": mailbox.port,
        "run_id": run_id,
        "as_of": as_of.isoformat(),
        "point": point,
        "hit": hit,
    }
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT / "plugins"), str(PROJECT_ROOT)])}
    result = subprocess.run(
        [sys.executable, "-m", "tests.crash_worker", json.dumps(spec)],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode in (0, -9), result.stdout[-2000:] + result.stderr[-4000:]
    return result.returncode


OLDER_DAYS = 30  # how far before CRASH_DAY the older runs between a crash and its retry are dated


def older_day_run(resources: Resources, databases, mailbox, rng: random.Random, label: str) -> RunContext:
    """A run dated a random day before CRASH_DAY (a backfill, a catch-up run, a retry of an older
    day) coming between a crash and its retry: classified here, delivered by a worker of its own.
    It must leave the crashed run's claims to that run: nothing lost, nothing sent twice."""
    day = CRASH_DAY - timedelta(days=rng.randint(1, OLDER_DAYS))
    run = classified(resources, f"backfill__{day.isoformat()}__{label}", day)
    assert worker(databases, mailbox, run.run_id, None, as_of=day) == 0
    return run
