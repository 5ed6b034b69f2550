"""The states and reasons the pipeline writes, as types. Each enum whose values a CHECK constraint
of the ops schema lists names that column in ``CONSTRAINED``; tests/integration/test_statuses.py
holds the two equal, so a migration that adds a state must add it here too (and the reverse).

A StrEnum member is its string: it compares equal to it, formats as it and goes into SQL
parameters as it, so code that reads rows back can compare them with these members.
"""

from __future__ import annotations

from enum import StrEnum


class TouchpointStatus(StrEnum):
    """A ledger row (renewals.touchpoints): see renewals.storage.ledger for the moves."""

    PENDING = "pending"  # due, not yet handed over (again, after a temporary refusal)
    SENT = "sent"
    SKIPPED = "skipped"
    FAILED = "failed"  # refused for good
    UNKNOWN = "unknown"  # handed over, outcome not recorded: an operator's verdict settles it
    DRY_RUN = "dry_run"  # what a dry run would have sent
    AWAITING_APPROVAL = "awaiting_approval"
    HELD = "held"  # not done for now: decided again by a later run


class SkipReason(StrEnum):
    """Why delivery settled a claimed row unsent (``reason`` of a skipped or held row)."""

    SUPPRESSED = "suppressed"  # every recipient is on the suppression list
    NOT_IN_WAREHOUSE = "not_in_warehouse"
    PAUSED = "paused"
    CYCLE_CHANGED = "cycle_changed"
    GATE_CHANGED = "gate_changed"
    SKIPPED_BY_STAFF = "skipped_by_staff"
    HELD_BY_STAFF = "held_by_staff"
    MOVED_BY_STAFF = "moved_by_staff"
    REPLIED = "replied"  # the member replied: staff have the conversation (renewals.inbox)


class HandoffOutcome(StrEnum):
    """What the SMTP relay made of one message (renewals.delivery.smtp)."""

    SENT = "sent"  # accepted
    RETRY = "retry"  # refused for now (4xx): nothing was accepted, so offering it again is safe
    FAILED = "failed"  # refused for good (5xx)
    UNKNOWN = "unknown"  # the connection broke during the hand-off


class CtaStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class CtaPriority(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class CtaTaskStatus(StrEnum):
    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"


class PostStatus(StrEnum):
    """A staff post of the Slack outbox, and the result of posting to Slack."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    NOT_CONFIGURED = "not_configured"


class PublicationStatus(StrEnum):
    """What became of a run's output (renewals.publications): the spreadsheet or the Slack summary."""

    SENT = "sent"
    WRITTEN = "written"
    NOT_CONFIGURED = "not_configured"
    SKIPPED = "skipped"  # not this run's to publish (a dry run, a single-subscription run)
    FAILED = "failed"


class ApprovalDecision(StrEnum):
    APPROVED = "approved"
    HELD = "held"


class SuppressionReason(StrEnum):
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"
    MANUAL = "manual"  # added by an operator


class StaffAction(StrEnum):
    """A staff action of the console's audit trail (renewals.staff_actions)."""

    SKIP = "skip"
    MOVE = "move"
    EDIT = "edit"
    RESTORE = "restore"
    HOLD = "hold"
    LIFT = "lift"
    NOTE = "note"


class SyncDeliveryStatus(StrEnum):
    """An event's delivery to one staff system (renewals.sync_deliveries)."""

    PENDING = "pending"  # the next sync sends it
    DELIVERED = "delivered"
    PARKED = "parked"  # refused for good: staff retry or dismiss it in the console
    DISMISSED = "dismissed"


class ParkedAction(StrEnum):
    """What staff did with a parked delivery (renewals.sync_actions)."""

    RETRY = "retry"
    DISMISS = "dismiss"


# (table, column) of the ops schema -> the enum of the values its CHECK constraint allows.
class MemberAnswer(StrEnum):
    """What a member answered through a one-click link (renewals.member_answers)."""

    INTENT = "intent"  # counts as intent_confirmed
    DECLINE = "decline"  # counts as declined


class InboxKind(StrEnum):
    """What a message read from the renewals_inbox mailbox is (renewals.inbox_messages)."""

    REPLY = "reply"  # a person's reply to one of our messages: stops the cycle's reminders
    AUTO_REPLY = "auto_reply"  # RFC 3834 or an out-of-office: recorded only
    BOUNCE = "bounce"  # a delivery-status notification: the address is suppressed
    UNMATCHED = "unmatched"  # names none of our messages: left alone
    UNREADABLE = "unreadable"  # could not be parsed: recorded, never fails the run


class AnswerEmailStatus(StrEnum):
    """The staff email of one member answer (renewals.answer_emails): written before the hand-off."""

    UNKNOWN = "unknown"  # being handed over, or a crash left it so: never sent again by itself
    SENT = "sent"
    RETRY = "retry"  # refused for now (4xx): the next publish offers it again
    FAILED = "failed"  # refused for good, or for now too many times
    NOT_CONFIGURED = "not_configured"  # its playbook emails nobody of answers (or no address is known)


CONSTRAINED: dict[tuple[str, str], type[StrEnum]] = {
    ("touchpoints", "status"): TouchpointStatus,
    ("ctas", "status"): CtaStatus,
    ("ctas", "priority"): CtaPriority,
    ("cta_tasks", "status"): CtaTaskStatus,
    ("slack_outbox", "status"): PostStatus,
    ("approvals", "decision"): ApprovalDecision,
    ("suppressions", "reason"): SuppressionReason,
    ("staff_actions", "action"): StaffAction,
    ("sync_deliveries", "status"): SyncDeliveryStatus,
    ("sync_actions", "action"): ParkedAction,
    ("member_answers", "answer"): MemberAnswer,
    ("inbox_messages", "kind"): InboxKind,
    ("answer_emails", "status"): AnswerEmailStatus,
}
