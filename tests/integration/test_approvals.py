"""Staff approval before irreversible steps, on real PostgreSQL and SMTP (the pipeline's steps
in-process; the answer is what Airflow's Human-in-the-loop task returns, see
test_approvals_airflow.py for the same through the real api-server and scheduler)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from devenv.inprocess import classified, deliver_all
from renewals import pipeline
from renewals.config import ConfigError
from renewals.console import queries as console_queries
from renewals.decisions.approvals import APPROVE, HOLD_ALL
from renewals.delivery.render import Renderer
from renewals.reports.summary import format_summary, run_summary
from renewals.storage.runs import RunContext
from tests.conftest import moment

R = date(2027, 3, 15)
STEP = "offboarding_deactivation"


def day(offset: int) -> date:
    return R + timedelta(days=offset)


def answer(option: str = APPROVE, hold: tuple[str, ...] = (), user: str | None = "ops-anna", note: str | None = None):
    """The Human-in-the-loop task's result (a timeout when ``user`` is None)."""
    return {
        "chosen_options": [option],
        "params_input": {"hold": list(hold), "note": note},
        "responded_by_user": {"id": user, "name": user} if user else None,
        "responded_at": datetime(2027, 3, 16, 9, 30, tzinfo=UTC),
        "timedout": user is None,
    }


@pytest.fixture
def approving(resources):
    return replace(resources, settings=replace(resources.settings, approvals=frozenset({"membership"})))


def declined(world, *subscription_ids: str) -> None:
    for sid in subscription_ids:
        world.subscription(sid, R, member_type="TC", declined_at=moment(day(-5)), decline_reason="budget")


def run(resources, as_of: date, run_id: str) -> RunContext:
    """The run's tasks up to the approval request: classify and deliver every shard."""
    context = RunContext(run_id=run_id, as_of=as_of)
    deliver_all(resources, context, classified(resources, context))
    return context


def step_state(ops, sid: str) -> tuple:
    return ops.execute(
        "select status, reason, decided_by from renewals.touchpoints where subscription_id = %s and touchpoint = %s",
        (sid, STEP),
    ).fetchone()


def deactivated(ops) -> dict[str, int]:
    rows = ops.execute("select subscription_id, count(*) from renewals.deactivations group by 1").fetchall()
    return dict(rows)


def test_an_irreversible_step_waits_for_staff_while_everything_else_goes_out(world, approving, mailbox, ops):
    declined(world, "S-A", "S-B")
    context = run(approving, day(1), "scheduled__d1")

    assert step_state(ops, "S-A") == ("awaiting_approval", None, None)
    assert deactivated(ops) == {}, "nothing irreversible before an answer"
    assert "offboarding_thanks" in {m["X-Renewal-Touchpoint"] for m in mailbox.messages}, "the emails went out"
    asked = pipeline.awaiting_approval(approving, context)
    assert [(item.subscription_id, item.touchpoint) for item in asked] == [("S-A", STEP), ("S-B", STEP)]

    pipeline.carry_out_approvals(approving, context, answer())
    assert deactivated(ops) == {"S-A": 2, "S-B": 2}  # each member's two contacts, once
    assert step_state(ops, "S-A")[0] == "sent" and step_state(ops, "S-A")[2] == "ops-anna"
    audit = ops.execute(
        "select subscription_id, decision, decided_by, asked_at is not null from renewals.approvals order by 1"
    ).fetchall()
    assert audit == [("S-A", "approved", "ops-anna", True), ("S-B", "approved", "ops-anna", True)]

    outcome = pipeline.carry_out_approvals(approving, context, answer())  # the task's retry
    assert outcome.answer is None and deactivated(ops) == {"S-A": 2, "S-B": 2}


def test_held_members_are_asked_again_and_carried_out_once_when_approved(world, approving, ops):
    declined(world, "S-A", "S-B")
    first = run(approving, day(1), "scheduled__d1")
    pipeline.carry_out_approvals(approving, first, answer(hold=("S-B",), note="call them first"))

    assert deactivated(ops) == {"S-A": 2}
    assert step_state(ops, "S-B") == ("held", "held_by_approver", "ops-anna")
    settings = approving.settings
    page = console_queries.member(ops, "S-B", approving.playbooks(), settings, Renderer(settings.template_dir), day(1))
    (approval,) = [event["detail"] for event in page["timeline"] if event["kind"] == "approval"]
    assert (approval["decision"], approval["decided_by"], approval["reason"]) == ("held", "ops-anna", "call them first")
    assert ops.execute("select decision, reason from renewals.approvals where subscription_id = 'S-B'").fetchone() == (
        "held",
        "call them first",
    )

    second = run(approving, day(2), "scheduled__d2")
    assert [item.subscription_id for item in pipeline.awaiting_approval(approving, second)] == ["S-B"]
    assert step_state(ops, "S-B")[0] == "awaiting_approval"
    pipeline.carry_out_approvals(approving, second, answer(user="ops-ben"))
    assert deactivated(ops) == {"S-A": 2, "S-B": 2}

    third = run(approving, day(3), "scheduled__d3")
    assert pipeline.awaiting_approval(approving, third) == [], "nothing is asked twice once done"
    assert deactivated(ops) == {"S-A": 2, "S-B": 2}


def test_no_answer_by_the_timeout_holds_everything(world, approving, ops):
    declined(world, "S-A")
    context = run(approving, day(1), "scheduled__d1")
    pipeline.carry_out_approvals(approving, context, answer(option=HOLD_ALL, user=None))
    assert deactivated(ops) == {}
    assert step_state(ops, "S-A") == ("held", "approval_timed_out", "timeout")
    summary = format_summary(run_summary(ops, context.run_id))
    assert "irreversible steps: 0 awaiting staff approval, 1 held" in summary


def test_hold_all_holds_every_member_whatever_the_hold_list(world, approving, ops):
    declined(world, "S-A", "S-B")
    context = run(approving, day(1), "scheduled__d1")
    pipeline.carry_out_approvals(approving, context, answer(option=HOLD_ALL, hold=("S-A",)))
    assert deactivated(ops) == {}
    assert {step_state(ops, sid)[0] for sid in ("S-A", "S-B")} == {"held"}


def test_a_held_step_no_longer_due_is_settled_not_asked_again(world, approving, ops):
    declined(world, "S-A")
    first = run(approving, day(1), "scheduled__d1")
    pipeline.carry_out_approvals(approving, first, answer(hold=("S-A",)))
    world.update("S-A", declined_at=None, decline_reason=None)  # the member changed their mind

    second = run(approving, day(2), "scheduled__d2")
    assert pipeline.awaiting_approval(approving, second) == []
    assert step_state(ops, "S-A")[:2] == ("skipped", "gate_changed")
    assert deactivated(ops) == {}


def test_a_dry_run_asks_nothing(world, approving, ops):
    declined(world, "S-A")
    context = RunContext(run_id="manual__dry", as_of=day(1), dry_run=True)
    classified(approving, context)
    assert pipeline.awaiting_approval(approving, context) == []
    assert step_state(ops, "S-A")[0] == "dry_run"


def test_approvals_off_carries_the_step_out_at_once(world, resources, ops):
    declined(world, "S-A")
    run(resources, day(1), "scheduled__d1")
    assert deactivated(ops) == {"S-A": 2} and step_state(ops, "S-A")[0] == "sent"


@pytest.mark.parametrize(
    ("approvals", "message"),
    [({"no_such_playbook"}, "not a playbook"), ({"sales"}, "marks no touchpoint needs_approval")],
)
def test_a_wrong_approvals_setting_stops_the_run_before_any_work(resources, approvals, message):
    wrong = replace(resources, settings=replace(resources.settings, approvals=frozenset(approvals)))
    with pytest.raises(ConfigError, match=message):
        pipeline.prepare(wrong, RunContext(run_id="scheduled__x", as_of=day(1)))
