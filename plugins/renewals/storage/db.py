"""Connections to the warehouse and the ops schema (psycopg 3)."""

from __future__ import annotations

from typing import TypeVar

import psycopg

Row = TypeVar("Row")


def connect(conninfo: str, autocommit: bool = False) -> psycopg.Connection:
    """A connection whose session works in UTC and writes dates as ISO 8601, so dates and
    timestamps cross databases (as text, in the extract's COPY) unambiguously."""
    return psycopg.connect(conninfo, autocommit=autocommit, options="-c timezone=UTC -c datestyle=ISO,YMD")


def one_row(cursor: psycopg.Cursor[Row]) -> Row:
    """The row of a statement that always returns one (an aggregate, ``insert ... returning``)."""
    row = cursor.fetchone()
    if row is None:
        raise LookupError("the statement returned no row")
    return row
