"""The suppression list (``renewals.suppressions``): addresses that get no more customer mail,
for every playbook (scope ``all``) or one. Delivery looks up a whole batch's addresses in one
query (:func:`lookup`) and leaves suppressed recipients out of each message."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import psycopg

from renewals.statuses import SuppressionReason
from renewals.storage.warehouse import Warehouse

REASONS = tuple(reason.value for reason in SuppressionReason)
ALL = "all"  # the scope of every customer email of every playbook


def normalise(address: str) -> str:
    """The form the list keeps and every lookup uses: trimmed, lower-cased."""
    return address.strip().lower()


def add(
    ops: psycopg.Connection,
    addresses: Iterable[str],
    reason: SuppressionReason,
    *,
    source: str,
    created_by: str,
    scope: str = ALL,
    detail: str | None = None,
) -> int:
    """Suppress ``addresses`` for ``scope``; one already suppressed there keeps its first entry
    (so a replayed unsubscribe or a second bounce changes nothing). Returns how many are new."""
    return _insert(ops, [(address, reason, detail) for address in addresses], scope, source, created_by)


def import_reported(warehouse: Warehouse, ops: psycopg.Connection, created_by: str) -> int:
    """Suppress what the mail provider reported (the warehouse's ``bounces.sql`` in
    include/sql/extract/: address, reason, detail), in one insert. Returns how many are new."""
    conn = warehouse.open()
    try:
        cursor = conn.cursor()
        cursor.execute(warehouse.query("bounces.sql"))
        reported = cursor.fetchall()
        cursor.close()
    finally:
        conn.close()
    return _insert(ops, reported, ALL, "warehouse", created_by)


def _insert(
    ops: psycopg.Connection, entries: Iterable[tuple[str, str, str | None]], scope: str, source: str, created_by: str
) -> int:
    unique = {normalise(address): (reason, detail) for address, reason, detail in entries}
    if unknown := {reason for reason, _detail in unique.values()} - set(REASONS):
        raise ValueError(f"reasons {sorted(unknown)}: expected one of {REASONS}")
    rows = ops.execute(
        """
        insert into renewals.suppressions (address, scope, reason, source, detail, created_by)
        select address, %(scope)s, reason, %(source)s, detail, %(created_by)s
        from unnest(%(addresses)s::text[], %(reasons)s::text[], %(details)s::text[]) as e(address, reason, detail)
        on conflict (address, scope) do nothing
        returning 1
        """,
        {
            "addresses": list(unique),
            "reasons": [r for r, _d in unique.values()],
            "details": [d for _r, d in unique.values()],
            "scope": scope,
            "source": source,
            "created_by": created_by,
        },
    ).fetchall()
    return len(rows)


@dataclass(frozen=True)
class Suppressed:
    """A batch's suppressions: address -> {scope: reason}."""

    entries: Mapping[str, Mapping[str, str]]

    def reason(self, address: str, playbook: str) -> str | None:
        """Why ``address`` gets no mail of ``playbook`` (None: it may)."""
        scopes = self.entries.get(normalise(address), {})
        return scopes.get(ALL) or scopes.get(playbook)

    def left_out(self, addresses: Iterable[str], playbook: str) -> dict[str, str]:
        """The suppressed ones of ``addresses``, with their reasons."""
        return {a: reason for a in addresses if (reason := self.reason(a, playbook)) is not None}


def lookup(ops: psycopg.Connection, addresses: Iterable[str]) -> Suppressed:
    """The suppressions of ``addresses``, in one query (the unique key's index serves it)."""
    wanted = sorted({normalise(a) for a in addresses})
    entries: dict[str, dict[str, str]] = {}
    if wanted:
        for address, scope, reason in ops.execute(
            "select address, scope, reason from renewals.suppressions where address = any(%s)", (wanted,)
        ):
            entries.setdefault(address, {})[scope] = reason
    return Suppressed(entries)
