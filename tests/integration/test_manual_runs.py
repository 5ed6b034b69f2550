"""Wrong manual inputs through Airflow (dag.test and the CLI): the run fails in its first task
with a message naming the param and the value, the task is not tried again, nothing is sent
and the ledger is untouched."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest

from renewals.config import PROJECT_ROOT
from tests.warehouses import KINDS

D1 = date(2026, 12, 1)


def task_tries(run_id: str) -> dict[str, tuple[str, int]]:
    """Every task instance of the run: (state, try number), from Airflow's metadata database."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(TaskInstance).filter(TaskInstance.run_id == run_id).all()
        return {ti.task_id: (ti.state, ti.try_number) for ti in rows if ti.map_index < 1}


def refused_run(airflow, capfd, **conf):
    """Runs the DAG on D1 with ``conf``; returns the task states and everything it logged."""
    import pendulum

    from tests.dag_file import renewals_dag

    dag_run = renewals_dag().test(logical_date=pendulum.datetime(D1.year, D1.month, D1.day, tz="UTC"), run_conf=conf)
    assert dag_run.state == "failed"
    out, err = capfd.readouterr()
    return task_tries(dag_run.run_id), out + err


def assert_nothing_done(mailbox, ops) -> None:
    # A refused input is the operator's to fix (the failed task says why), not an incident: no
    # message at all, not even a failure notice to staff.
    assert mailbox.messages == [], [message["Subject"] for message in mailbox.messages]
    # A refusal in prepare_run comes before the ops schema is even migrated.
    if ops.execute("select to_regclass('renewals.touchpoints')").fetchone()[0]:
        assert ops.execute("select count(*) from renewals.touchpoints").fetchone()[0] == 0


@pytest.mark.parametrize(
    ("conf", "message"),
    [
        ({"subscription_id": "S-NOBODY"}, "subscription_id='S-NOBODY': no such subscription in the warehouse"),
        (
            {"dry_run": True, "release_unknown": ["S-HERE/renewal_reminder_15"]},
            "release_unknown=['S-HERE/renewal_reminder_15'] settles sends in the ledger: not allowed with dry_run",
        ),
        ({"as_of": (D1 + timedelta(days=1)).isoformat()}, "as_of=2026-12-02 is after the run's date 2026-12-01"),
        ({"confirm_unknown": ["S-HERE/no_such_step"]}, "'no_such_step', which no playbook defines"),
    ],
)
def test_a_wrong_input_fails_the_first_task_once_and_does_nothing(world, airflow, mailbox, ops, capfd, conf, message):
    world.subscription("S-HERE", D1 + timedelta(days=15))
    tries, output = refused_run(airflow, capfd, **conf)
    assert tries["prepare_run"] == ("failed", 1)
    assert all(state != "success" for task, (state, _) in tries.items() if task != "prepare_run")
    assert message in output
    assert_nothing_done(mailbox, ops)


@pytest.mark.parametrize("warehouse_kind", KINDS)  # the one-member extract is each dialect's
def test_a_quarantined_member_is_refused_with_the_reasons(world, airflow, mailbox, ops, capfd):
    # The warehouse has the id (with spaces around it, as the extract trims), but validation
    # quarantines the row: only the extract knows why, so the second task refuses, before any send.
    world.subscription(" S-BAD ", D1 + timedelta(days=15), amount=-5, tier="platinum")
    tries, output = refused_run(airflow, capfd, subscription_id="S-BAD")
    assert tries["prepare_run"][0] == "success"
    assert tries["extract_and_validate"] == ("failed", 1)
    assert "subscription_id='S-BAD' is quarantined by validation: negative_amount, unknown_tier" in output
    assert_nothing_done(mailbox, ops)


def test_the_cli_refuses_a_malformed_reference_before_the_run_starts(world, databases, mailbox):
    """What the param schema can refuse is refused at trigger time, as the form does."""
    env = {
        **os.environ,
        "AIRFLOW_CONN_RENEWALS_WAREHOUSE": databases["warehouse"],
        "AIRFLOW_CONN_RENEWALS_OPS": databases["ops"],
    }
    airflow = str(Path(sys.executable).with_name("airflow"))
    result = subprocess.run(
        [airflow, "dags", "test", "renewals_daily", D1.isoformat(), "--conf", '{"release_unknown": ["S-HERE"]}'],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0
    assert "Invalid input for param release_unknown" in result.stdout + result.stderr
    assert mailbox.messages == []
