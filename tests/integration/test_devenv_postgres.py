"""The embedded local stack on PostgreSQL: the embedded server, databases created safely, the
demo data."""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import psycopg
import pytest

from devenv.demo_data import MEMBERSHIP_TOUCHPOINT_OFFSETS, seed_warehouse
from devenv.postgres import drop_database, ensure_database, ensure_server, server_answers, stop_embedded
from renewals.config import PROJECT_ROOT

AS_OF = date(2026, 11, 21)
PLAYBOOKS = {"membership", "contract", "sales", "low_touch"}
BAD_SUBSCRIPTIONS = 7


def _closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_embedded_server_starts_when_none_answers_and_keeps_its_data(monkeypatch: pytest.MonkeyPatch) -> None:
    # Not tmp_path: as root the server runs as an unprivileged user, who must reach the directory.
    state_dir = Path(tempfile.mkdtemp(prefix="renewals-devenv-"))
    state_dir.chmod(0o755)
    monkeypatch.delenv("RENEWALS_PG_URI", raising=False)
    monkeypatch.setenv("RENEWALS_PG_PROBE_PORT", str(_closed_port()))
    try:
        server = ensure_server(state_dir)
        port = int(server.rsplit(":", 1)[1])
        assert server == f"postgresql://postgres@127.0.0.1:{port}"
        assert ensure_server(state_dir) == server  # found running, not started twice
        with psycopg.connect(ensure_database(server, "kept")) as conn:
            conn.execute("create table marker as select 1 as x")

        stop_embedded(state_dir / "pgdata")
        assert not server_answers(port=port)

        restarted = ensure_server(state_dir)
        with psycopg.connect(ensure_database(restarted, "kept")) as conn:
            assert conn.execute("select x from marker").fetchone() == (1,)
    finally:
        stop_embedded(state_dir / "pgdata")
        shutil.rmtree(state_dir)


@pytest.fixture
def server() -> str:
    return ensure_server(PROJECT_ROOT / ".demo")


def test_ensure_database_is_safe_when_two_callers_race(server: str) -> None:
    name = f"t_devenv_race_{uuid.uuid4().hex[:10]}"
    results: list[str] = []

    def create() -> None:
        results.append(ensure_database(server, name))

    callers = [threading.Thread(target=create) for _ in range(4)]
    try:
        for caller in callers:
            caller.start()
        for caller in callers:
            caller.join()
        assert len(results) == 4 and len(set(results)) == 1
        with psycopg.connect(results[0]) as conn:
            assert conn.execute("select current_database()").fetchone() == (name,)
    finally:
        drop_database(server, name)


@pytest.fixture
def warehouse(server: str) -> Iterator[psycopg.Connection]:
    name = f"t_devenv_{uuid.uuid4().hex[:10]}"
    try:
        with psycopg.connect(ensure_database(server, name)) as conn:
            yield conn
    finally:
        drop_database(server, name)


def _checksum(conn: psycopg.Connection) -> tuple[str, str]:
    row = conn.execute(
        """
        select (select md5(string_agg(s::text, '|' order by subscription_id)) from warehouse.subscriptions s),
               (select md5(string_agg(c::text, '|' order by contact_id)) from warehouse.contacts c)
        """
    ).fetchone()
    assert row is not None
    return row


def test_seed_warehouse_counts_and_is_deterministic(warehouse: psycopg.Connection) -> None:
    counts = seed_warehouse(warehouse, AS_OF)

    in_tables = warehouse.execute(
        "select (select count(*) from warehouse.subscriptions), (select count(*) from warehouse.contacts)"
    ).fetchone()
    assert (counts["subscriptions"], counts["contacts"]) == in_tables
    assert counts["subscriptions"] == 3000 + BAD_SUBSCRIPTIONS
    first = _checksum(warehouse)

    assert seed_warehouse(warehouse, AS_OF) == counts
    assert _checksum(warehouse) == first
    seed_warehouse(warehouse, AS_OF, seed=7)
    assert _checksum(warehouse) != first


def test_seed_warehouse_spreads_every_touchpoint_and_playbook(warehouse: psycopg.Connection) -> None:
    seed_warehouse(warehouse, AS_OF)

    no_response = {
        days
        for (days,) in warehouse.execute(
            """
            select distinct renewal_date - %s
            from warehouse.subscriptions
            where playbook = 'membership' and subscription_id not like 'S-BAD-%%'
              and intent_confirmed_at is null and paid_at is null and declined_at is null
            """,
            (AS_OF,),
        )
    }
    assert set(MEMBERSHIP_TOUCHPOINT_OFFSETS) <= no_response
    playbooks = {
        playbook
        for (playbook,) in warehouse.execute(
            "select distinct playbook from warehouse.subscriptions where subscription_id not like 'S-BAD-%'"
        )
    }
    assert playbooks == PLAYBOOKS
    bad = warehouse.execute(
        """
        select (select count(*) from warehouse.subscriptions where subscription_id like 'S-BAD-%'),
               (select count(*) from warehouse.contacts c
                where c.subscription_id not in (select subscription_id from warehouse.subscriptions))
        """
    ).fetchone()
    assert bad == (BAD_SUBSCRIPTIONS, 1)
