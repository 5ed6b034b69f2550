"""Connections to the warehouse and the ops schema (psycopg 3)."""

from __future__ import annotations

import psycopg


def connect(conninfo: str, autocommit: bool = False) -> psycopg.Connection:
    """A connection whose session works in UTC, so timestamps cross databases unambiguously."""
    return psycopg.connect(conninfo, autocommit=autocommit, options="-c timezone=UTC")
