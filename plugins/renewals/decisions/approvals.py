"""Staff approval before irreversible steps.

A touchpoint marked ``needs_approval`` in a playbook (the offboarding's contact deactivation, the
low-touch termination hand-off) is not carried out by the deliver tasks of a playbook whose
approvals are on (``RENEWALS_APPROVALS``): classification claims it as 'awaiting_approval', the
run asks staff once for all of them (Airflow's Required Actions), and the answer decides. Staff
approve all, or hold chosen members; no answer by the timeout holds everything, never executes.
A held step is asked about again on the next run while it is still due.

Plain Python: what to ask and what an answer means. Airflow's side is
``renewals.operators.approval``, the ledger's ``renewals.storage.approvals``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from renewals.config import ConfigError

if TYPE_CHECKING:  # the DAG file imports this module's options: nothing heavy at parse time
    from renewals.playbooks import Playbook

APPROVE = "Approve"
HOLD_ALL = "Hold all"
OPTIONS = [APPROVE, HOLD_ALL]
# Who decided when nobody answered before the timeout.
TIMEOUT = "timeout"


@dataclass(frozen=True)
class ApprovalItem:
    """One irreversible step of one member, due in this run and waiting for staff."""

    subscription_id: str
    renewal_date: date
    touchpoint: str
    playbook: str
    cohort: str
    due_date: date
    account_name: str | None
    shard: int

    @property
    def label(self) -> str:
        return f"{self.subscription_id}/{self.touchpoint} (renewal {self.renewal_date.isoformat()})"


@dataclass(frozen=True)
class Answer:
    approved: tuple[ApprovalItem, ...]
    held: tuple[ApprovalItem, ...]
    decided_by: str
    decided_at: datetime
    note: str | None
    # Ids the approver named to hold that were not asked about (ignored, and logged).
    unknown_holds: tuple[str, ...] = ()

    @property
    def held_reason(self) -> str:
        return "approval_timed_out" if self.decided_by == TIMEOUT else "held_by_approver"


def check_approval_playbooks(approvals: Iterable[str], playbooks: Mapping[str, Playbook]) -> None:
    """RENEWALS_APPROVALS must name playbooks that have a step marked needs_approval."""
    for name in sorted(approvals):
        if name not in playbooks:
            raise ConfigError(f"RENEWALS_APPROVALS names {name!r}, which is not a playbook; known: {sorted(playbooks)}")
        if not any(tp.needs_approval for tp in playbooks[name].touchpoints):
            raise ConfigError(
                f"RENEWALS_APPROVALS names {name!r}, whose playbook marks no touchpoint needs_approval: true"
            )


def request_subject(items: Sequence[ApprovalItem]) -> str:
    return f"Approve {len(items)} irreversible renewal step(s)"


def duration_words(seconds: float) -> str:
    """A timeout as people say it: "20 seconds", "1 hour", "1 day", "36 hours"."""
    seconds = round(seconds)
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''}"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} hours"
    return f"{seconds} second{'s' if seconds != 1 else ''}"


def request_body(
    items: Sequence[ApprovalItem], timeout_seconds: float, approvers: Sequence[tuple[str, str]] = ()
) -> str:
    """The Required Action's text (Markdown): who may answer, and every member whose
    irreversible step is due."""
    who = (
        "Only " + ", ".join(_cell(name) for _user_id, name in approvers) + " may answer (RENEWALS_APPROVERS)."
        if approvers
        else "Anyone who may edit renewals_daily may answer: set RENEWALS_APPROVERS to name the approvers."
    )
    rows = "\n".join(
        f"| {_cell(item.subscription_id)} | {_cell(item.account_name or '')} | {item.playbook} | {item.touchpoint}"
        f" | {item.due_date.isoformat()} |"
        for item in items
    )
    return (
        "These steps cannot be undone. **Approve** carries out every step below except for the members "
        "listed in *hold*; **Hold all** carries out none. Held steps are asked about again on the next run.\n\n"
        f"No answer within {duration_words(timeout_seconds)} holds every step. {who}\n\n"
        "| Subscription | Account | Playbook | Step | Due |\n|---|---|---|---|---|\n"
        f"{rows}\n"
    )


def _cell(text: str) -> str:
    """Warehouse text in a Markdown table cell: no cell breaks, no markup."""
    return "".join("\\" + char if char in "|*_`[]<>\\" else char for char in " ".join(text.splitlines()))


def answer_from_response(items: Sequence[ApprovalItem], response: Mapping[str, Any]) -> Answer:
    """Staff's answer (the Human-in-the-loop task's result) applied to the steps asked about."""
    chosen = response.get("chosen_options") or [HOLD_ALL]
    params = response.get("params_input") or {}
    user = response.get("responded_by_user") or {}
    timed_out = bool(response.get("timedout")) or not user
    decided_by = TIMEOUT if timed_out else str(user.get("name") or user.get("id"))
    hold = {str(value).strip() for value in params.get("hold") or []}
    approved: tuple[ApprovalItem, ...]
    if timed_out or HOLD_ALL in chosen:
        approved, held = (), tuple(items)
    else:
        approved = tuple(item for item in items if item.subscription_id not in hold)
        held = tuple(item for item in items if item.subscription_id in hold)
    asked = {item.subscription_id for item in items}
    return Answer(
        approved=approved,
        held=held,
        decided_by=decided_by,
        decided_at=response["responded_at"],
        note=(params.get("note") or "").strip() or None,
        unknown_holds=tuple(sorted(hold - asked)),
    )
