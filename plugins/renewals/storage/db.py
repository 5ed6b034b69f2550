"""Connections to the warehouse and the ops schema (psycopg 3)."""

from __future__ import annotations

import psycopg


def connect(conninfo: str, autocommit: bool = False) -> psycopg.Connection:
    """A connection whose session works in UTC and writes dates as ISO 8601, so dates and
    timestamps cross databases (as text, in the extract's COPY) unambiguously."""
    return psycopg.connect(conninfo, autocommit=autocommit, options="-c timezone=UTC -c datestyle=ISO,YMD")
