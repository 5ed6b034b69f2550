"""SQL lives in include/sql/; this module loads it and names the run's work tables."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from psycopg import sql

from renewals.config import INCLUDE_DIR

SQL_DIR = INCLUDE_DIR / "sql"
WORK_SCHEMA = "renewals_work"


@cache
def sql_text(name: str) -> str:
    """The text of ``include/sql/<name>``."""
    return (SQL_DIR / name).read_text()


@dataclass(frozen=True)
class WorkTables:
    """The per-run staging tables in ``renewals_work``, named after the run key."""

    run_key: str

    def identifiers(self) -> dict[str, sql.Composable]:
        return {
            "raw_subscriptions": sql.Identifier(WORK_SCHEMA, f"raw_subscriptions_{self.run_key}"),
            "raw_contacts": sql.Identifier(WORK_SCHEMA, f"raw_contacts_{self.run_key}"),
            "subscriptions": sql.Identifier(WORK_SCHEMA, f"subscriptions_{self.run_key}"),
            "contacts": sql.Identifier(WORK_SCHEMA, f"contacts_{self.run_key}"),
        }

    def statement(self, name: str) -> sql.Composed:
        """``include/sql/<name>`` with the run's table names filled in."""
        return sql.SQL(sql_text(name)).format(**self.identifiers())


def migration_files(directory: Path | None = None) -> list[Path]:
    return sorted((directory or SQL_DIR / "migrations").glob("*.sql"))
