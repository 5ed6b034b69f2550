"""Approvals end to end on real Airflow: the api-server (core and execution APIs, simple auth
manager) and the scheduler (LocalExecutor) run renewals_daily with approvals on for membership.
Staff answer on the Required Actions page in a real browser (Debian's chromium, Playwright): hold
one member with a note; the next request times out; on the third day the answer comes through
the Human-in-the-loop REST API (what the page calls). Nothing irreversible happens
without an approval, a held step is asked about again, and it is carried out exactly once."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import closing
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from renewals.config import PROJECT_ROOT
from renewals.storage.db import connect
from tests.conftest import moment
from tests.console import CHROMIUM, Console, browser_page, free_port, log_in, shot, start_console, token
from tests.daily import contract_connections, scheduler_env

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason=f"{CHROMIUM} is missing (make test installs it)"),
]

AIRFLOW = str(Path(sys.executable).with_name("airflow"))
R = date(2026, 3, 15)  # the runs are manual runs as of days around it (param as_of)
TIMEOUT_S = 45
ANSWER_AFTER_S = 5
STEP = "offboarding_deactivation"


SUFFIX = secrets.token_hex(3)  # run ids are unique in the metadata database the tests share
D1, D2, D3, DRY = (f"approvals__{name}_{SUFFIX}" for name in ("d1", "d2", "d3", "dry"))


def day(offset: int) -> date:
    return R + timedelta(days=offset)


def wait_for(what: str, check: Callable[[], Any], timeout: float, logs: Path) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(1)
    tail = (logs / "scheduler.log").read_text()[-3000:]
    raise AssertionError(f"timed out waiting for {what}; scheduler log:\n{tail}")


@pytest.fixture
def airflow_stack(world, databases, mailbox, tmp_path):
    api_port = free_port()
    env = {
        **scheduler_env(api_port, tmp_path / "logs"),
        **contract_connections(databases, mailbox.port),
        "AIRFLOW__SCHEDULER__TRIGGER_TIMEOUT_CHECK_INTERVAL": "3",
        "RENEWALS_APPROVALS": "membership",
        "RENEWALS_APPROVAL_TIMEOUT": str(TIMEOUT_S),
    }
    for sid in ("S-A", "S-B"):
        world.subscription(sid, R, member_type="TC", declined_at=moment(day(-5)), decline_reason="budget")
    with start_console(databases, tmp_path, apps="core,execution", extra_env=env, port=api_port) as (url, _):
        full_env = {**os.environ, **env}
        subprocess.run([AIRFLOW, "dags", "reserialize"], env=full_env, check=True, capture_output=True)
        subprocess.run([AIRFLOW, "dags", "unpause", "renewals_daily"], env=full_env, check=True, capture_output=True)
        scheduler = subprocess.Popen(
            [AIRFLOW, "scheduler", "--skip-serve-logs"],
            env=full_env,
            cwd=PROJECT_ROOT,
            stdout=(tmp_path / "scheduler.log").open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            console = Console(url, databases["ops"], "", "")
            console.tokens = {"admin": token(url, "admin")}
            yield console
        finally:
            scheduler.terminate()
            scheduler.wait(timeout=60)
            subprocess.run([AIRFLOW, "dags", "pause", "renewals_daily"], env=full_env, capture_output=True)


def trigger(stack: Console, run_id: str, as_of: date, note: str | None = None, **conf: Any) -> None:
    body = {"dag_run_id": run_id, "logical_date": None, "conf": {"as_of": as_of.isoformat(), **conf}, "note": note}
    status, body, _ = stack.request("POST", "/api/v2/dags/renewals_daily/dagRuns", "admin", body)
    assert status == 200, body


def asked(stack: Console, run_id: str, logs: Path) -> dict:
    """The run's request, once its task waits for the answer (as a person finds it in the UI)."""
    waiting = "approve_irreversible_steps"
    wait_for("the approval request", lambda: task_state(stack, run_id, waiting) == "awaiting_input", 240, logs)
    # Airflow 3.3.2 loses an answer given within a second or so of the task parking: the scheduler
    # then sees the parked try's exit while the task is already resumed, fails that try, and the
    # retry asks again (safe: nothing is carried out). A person never answers that fast.
    time.sleep(ANSWER_AFTER_S)
    return request_of(stack, run_id)


def run_path(run_id: str) -> str:
    return f"/api/v2/dags/renewals_daily/dagRuns/{run_id}"


def request_of(stack: Console, run_id: str) -> dict | None:
    status, body, _ = stack.request("GET", run_path(run_id) + "/hitlDetails", "admin")
    assert status == 200, body
    return next(iter(body["hitl_details"]), None)


def task_state(stack: Console, run_id: str, task_id: str) -> str | None:
    status, body, _ = stack.request("GET", f"{run_path(run_id)}/taskInstances/{task_id}", "admin")
    return body.get("state") if status == 200 else None


def run_ended(stack: Console, run_id: str) -> str | None:
    state = stack.request("GET", run_path(run_id), "admin")[1]["state"]
    return state if state in ("success", "failed") else None


def answer_in_the_browser(stack: Console, run_id: str, hold: str, note: str) -> None:
    """As staff do: log in, open the run's Required Actions, pick a member to hold, Approve."""
    with browser_page(stack.url) as page:
        log_in(page, "admin", f"/dags/renewals_daily/runs/{run_id}/tasks/approve_irreversible_steps/required_actions")
        page.get_by_text("Select one or multiple values").click(force=True)  # the hold list
        page.get_by_role("option", name=hold).click()
        page.keyboard.press("Escape")
        page.locator("input").last.fill(note)
        shot(page, "approval-request")
        page.get_by_role("button", name="Approve").click()
        page.get_by_text("Response received").wait_for()
        shot(page, "approval-answered")


def ledger(stack: Console) -> dict[str, tuple]:
    with closing(connect(stack.ops_uri, autocommit=True)) as ops:
        rows = ops.execute(
            "select subscription_id, status, reason, decided_by from renewals.touchpoints where touchpoint = %s",
            (STEP,),
        ).fetchall()
        return {row[0]: row[1:] for row in rows}


def deactivations(stack: Console) -> dict[str, int]:
    with closing(connect(stack.ops_uri, autocommit=True)) as ops:
        return dict(ops.execute("select subscription_id, count(*) from renewals.deactivations group by 1").fetchall())


def test_approve_hold_time_out_and_approve_again(airflow_stack: Console, mailbox, tmp_path) -> None:
    stack = airflow_stack

    # Day 1: the request lists both members; the emails and the summary do not wait for it.
    trigger(stack, D1, day(1))
    request = asked(stack, D1, tmp_path)
    assert "S-A" in request["body"] and "S-B" in request["body"] and request["options"] == ["Approve", "Hold all"]
    assert request["params"]["hold"]["schema"]["items"]["enum"] == ["S-A", "S-B"]
    wait_for("the summary while staff decide", lambda: task_state(stack, D1, "summarize") == "success", 240, tmp_path)
    assert "offboarding_thanks" in {m["X-Renewal-Touchpoint"] for m in mailbox.messages}
    assert deactivations(stack) == {}, "nothing irreversible before an answer"
    request_mail = [m for m in mailbox.messages if "irreversible" in str(m["Subject"])]
    assert len(request_mail) == 1 and "/required_actions" in request_mail[0].get_body().get_content()

    answer_in_the_browser(stack, D1, hold="S-B", note="call them first")
    assert wait_for("run 1 to end", lambda: run_ended(stack, D1), 240, tmp_path) == "success"
    assert stack.request("GET", run_path(D1), "admin")[1]["note"] == f"As of {day(1)}", "the runs list says what it is"
    assert deactivations(stack) == {"S-A": 2}
    assert ledger(stack) == {"S-A": ("sent", None, "admin"), "S-B": ("held", "held_by_approver", "admin")}

    # Day 2: S-B is asked about again; nobody answers, so it is held again by the timeout.
    trigger(stack, D2, day(2))
    request = asked(stack, D2, tmp_path)
    assert "S-B" in request["body"] and "S-A" not in request["body"]
    assert wait_for("run 2 to end", lambda: run_ended(stack, D2), TIMEOUT_S + 240, tmp_path) == "success"
    assert ledger(stack)["S-B"] == ("held", "approval_timed_out", "timeout")
    assert deactivations(stack) == {"S-A": 2}

    # Day 3: approved at last, and carried out once.
    trigger(stack, D3, day(3))
    asked(stack, D3, tmp_path)
    status, body, _ = stack.request(
        "PATCH",
        run_path(D3) + "/taskInstances/approve_irreversible_steps/-1/hitlDetails",
        "admin",
        {"chosen_options": ["Approve"], "params_input": {"hold": [], "note": None}},
    )
    assert status == 200, body
    assert wait_for("run 3 to end", lambda: run_ended(stack, D3), 240, tmp_path) == "success"
    assert deactivations(stack) == {"S-A": 2, "S-B": 2}
    with closing(connect(stack.ops_uri, autocommit=True)) as ops:
        audit = ops.execute("select run_id, subscription_id, decision, decided_by from renewals.approvals")
        assert sorted(audit.fetchall()) == [
            (D1, "S-A", "approved", "admin"),
            (D1, "S-B", "held", "admin"),
            (D2, "S-B", "held", "timeout"),
            (D3, "S-B", "approved", "admin"),
        ]

    # A manual dry run of one member is labelled as such in the runs list, the operator's note kept.
    trigger(stack, DRY, day(3), note="checking the letter", dry_run=True, subscription_id="S-A")
    assert wait_for("the dry run to end", lambda: run_ended(stack, DRY), 240, tmp_path) == "success"
    note = stack.request("GET", run_path(DRY), "admin")[1]["note"]
    assert note == f"Dry run · One member: S-A · As of {day(3)} · checking the letter"
