"""The enums of renewals.statuses against the ops schema's CHECK constraints, on a freshly
migrated schema: a migration that adds a state (or a column of states) without its enum, or an
enum member no constraint allows, fails here."""

from __future__ import annotations

import re

from renewals.statuses import CONSTRAINED
from renewals.storage.migrations import migrate


def allowed_values(ops) -> dict[tuple[str, str], set[str]]:
    """(table, column) -> the values of each one-column CHECK constraint of schema renewals that
    lists them (``column in ('a', 'b')``, which PostgreSQL keeps as ``= ANY (ARRAY['a'::text, ...])``)."""
    rows = ops.execute(
        """
        select t.relname, a.attname, pg_get_constraintdef(c.oid)
        from pg_constraint c
        join pg_class t on t.oid = c.conrelid
        join pg_namespace n on n.oid = t.relnamespace
        join pg_attribute a on a.attrelid = c.conrelid and c.conkey = array[a.attnum]
        where c.contype = 'c' and n.nspname = 'renewals'
        """
    ).fetchall()
    return {
        (table, column): set(re.findall(r"'((?:[^']|'')*)'::text", definition))
        for table, column, definition in rows
        if "= ANY (ARRAY[" in definition
    }


def test_every_listed_check_constraint_has_its_enum_with_the_same_values(ops):
    migrate(ops)
    in_schema = allowed_values(ops)
    assert in_schema, "no CHECK constraint listing values found: the query above no longer reads them"
    assert set(in_schema) == set(CONSTRAINED)
    for column, enum in CONSTRAINED.items():
        assert {member.value for member in enum} == in_schema[column], column
