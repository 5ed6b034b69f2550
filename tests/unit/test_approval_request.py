"""The approval request names who may answer (RENEWALS_APPROVERS, Airflow's HITL assigned users:
the api-server refuses anyone else's answer) and keeps warehouse text inside its table cells."""

from __future__ import annotations

from datetime import date

import pytest

from renewals.config import ConfigError, Settings
from renewals.decisions.approvals import ApprovalItem, request_body


def item(subscription_id: str, account_name: str) -> ApprovalItem:
    return ApprovalItem(
        subscription_id,
        date(2026, 12, 1),
        "deactivate_contacts",
        "membership",
        "declined",
        date(2026, 12, 1),
        account_name,
        0,
    )


def table_rows(body: str) -> list[str]:
    return [line for line in body.splitlines() if line.startswith("|")]


def test_no_line_break_in_an_account_name_adds_rows_to_the_table():
    names = ["Acme\r| S-FAKE | Fake | membership | deactivate_contacts | 2026-12-01 |", "Beta\nCo", "Gamma\r\nLtd"]
    body = request_body([item(f"S-{i}", name) for i, name in enumerate(names)], 24 * 3600)
    rows = table_rows(body)
    assert len(rows) == 2 + len(names)  # the header, its rule, one row a member
    assert all(row.count(" | ") == 4 for row in rows[2:]), rows


def test_the_request_is_assigned_to_the_named_approvers_and_says_so():
    from renewals.operators.approval import StaffApprovalOperator

    settings = Settings.from_env({"RENEWALS_APPROVERS": "alice, 7=Alice Smith"})
    task = StaffApprovalOperator(task_id="approve_irreversible_steps", run={})
    task.ask([item("S-1", "Acme")], settings)
    assert task.assigned_users == [{"id": "alice", "name": "alice"}, {"id": "7", "name": "Alice Smith"}]
    assert "Only alice, Alice Smith may answer" in task.body

    task.ask([item("S-1", "Acme")], Settings.from_env({}))
    assert task.assigned_users is None
    assert "Anyone who may edit renewals_daily may answer: set RENEWALS_APPROVERS" in task.body


def test_an_approver_without_an_id_is_refused():
    with pytest.raises(ConfigError, match="RENEWALS_APPROVERS: '=Bob' names no user id"):
        Settings.from_env({"RENEWALS_APPROVERS": "alice, =Bob"})
