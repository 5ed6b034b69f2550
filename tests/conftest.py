"""What every test shares, with nothing running: Airflow pointed at a folder of the test session
(its metadata database, on PostgreSQL, is set up by tests/integration/conftest.py for the tests that
need it), an SMTP server per test, and helpers. Unit tests need no PostgreSQL and no Airflow database."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pytest
import yaml

from devenv.mailbox import FileMailbox
from renewals.config import PROJECT_ROOT

STATE_DIR = PROJECT_ROOT / ".demo"
TEST_AIRFLOW_HOME = STATE_DIR / f"test-airflow-{os.getpid()}"


def pytest_configure(config: pytest.Config) -> None:
    """Airflow reads its configuration when first imported, so point it at this session's folders
    before any test module imports it."""
    os.environ.update(
        {
            "AIRFLOW_HOME": str(TEST_AIRFLOW_HOME),
            "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "RENEWALS_SHARDS": "2",
            # The publish task writes the spreadsheet here, never over the demo's .demo/renewals.xlsx.
            "RENEWALS_SPREADSHEET_PATH": (TEST_AIRFLOW_HOME / "renewals.xlsx").as_uri(),
        }
    )


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(TEST_AIRFLOW_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def compose() -> dict:
    """docker-compose.yaml as data (PyYAML resolves its anchors and merge keys as Compose does)."""
    return yaml.safe_load((PROJECT_ROOT / "docker-compose.yaml").read_text())


@pytest.fixture
def mailbox(tmp_path: Path) -> Iterator[FileMailbox]:
    with FileMailbox(tmp_path / "outbox") as box:
        yield box


def moment(day: date, hour: int = 12) -> datetime:
    """A timestamp on ``day`` (UTC noon), for gate facts."""
    from datetime import UTC

    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)
