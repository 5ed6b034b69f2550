"""The delivery splits into a bounded, configurable number of shards that any worker can take:
RENEWALS_SHARDS sets how many, every subscription lands in exactly one of them, and the DAG maps one
deliver task instance per shard with work (the Celery demo, devenv/celery_demo.py, runs them on
two workers)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from psycopg import sql

from devenv.inprocess import classified
from renewals.config import ConfigError, Settings
from renewals.decisions.gates import COHORTS
from renewals.pipeline import deliver
from renewals.storage.runs import RunContext
from tests.dag_file import renewals_dag
from tests.daily import resources_for

AS_OF = date(2026, 12, 1)


def test_the_number_of_shards_is_a_setting():
    assert Settings.from_env({}).shards == 4
    assert Settings.from_env({"RENEWALS_SHARDS": "16"}).shards == 16
    for bad in ("0", "-2", "many"):
        with pytest.raises(ConfigError):
            Settings.from_env({"RENEWALS_SHARDS": bad})


def test_each_cohorts_delivery_is_mapped_over_the_shards_with_work():
    from airflow.sdk.definitions.mappedoperator import MappedOperator

    dag = renewals_dag()
    for cohort in COHORTS:
        task = dag.get_task(f"deliver_{cohort}")
        assert isinstance(task, MappedOperator)
        # one task instance per element of classify_subscriptions' list of shards
        assert [upstream.task_id for upstream in task.iter_mapped_dependencies()] == ["classify_subscriptions"]


def test_every_subscription_is_in_one_shard_below_the_setting(world, databases, mailbox, ops):
    for n in range(40):
        world.subscription(f"S-{n:03}", AS_OF + timedelta(days=15))  # renewal_reminder_15 due today
    resources = resources_for(databases, mailbox, shards=3)
    run = RunContext(run_id="sharded", as_of=AS_OF)
    work = classified(resources, run)

    staged = dict(
        ops.execute(
            sql.SQL("select shard, count(*) from {} group by 1").format(run.work.identifiers()["subscriptions"])
        ).fetchall()
    )
    assert set(staged) == {0, 1, 2} and sum(staged.values()) == 40
    assert set(work["upcoming"]) == {0, 1, 2} and sum(work["upcoming"].values()) == 40
    assert not any(work[cohort] for cohort in COHORTS if cohort != "upcoming")
    # Any worker can take any shard, in any order: together they send each message once.
    for shard in (2, 0, 1):
        deliver(resources, run, "upcoming", shard)
    ids = [message["Message-ID"] for message in mailbox.messages]
    assert len(ids) == 40 and len(set(ids)) == 40
