"""What a playbook is: touchpoints with a due-date rule, the gates and conditions they need,
an audience, and what they do (an email, a staff email, a CTA change, or a record)."""

from __future__ import annotations

from dataclasses import dataclass, field

from renewals.statuses import CtaPriority, CtaStatus

# What a touchpoint's due date is counted from.
ANCHORS = {
    "renewal_date": "renewal date + days",
    "notice_month": "first business day of the month `months_before` months before the renewal month",
    "intent_confirmed": "the day intent to renew was confirmed + days",
    "paid": "the day payment was received + days",
    "assigned": "the renewal's hand-over to the owner is day 1; `days` is the day number",
}
# email: to customer contacts; staff_email: to staff teams or the owner; cta: open or move the
# one CTA of its type; record: a change recorded in the ops schema only.
CHANNELS = ("email", "staff_email", "cta", "record")
ROLES = ("primary", "billing", "committee", "pgb", "tc_chair")
PRIORITIES = tuple(priority.value for priority in CtaPriority)
RECORD_ACTIONS = ("review_list", "close_ctas", "deactivate_contacts", "start_offboarding")
ATTACHMENTS = ("receipt_pdf",)
# Input a playbook may require of every row (a row without it is quarantined).
REQUIRABLE_FIELDS = ("tier", "member_type", "owner_email", "assigned_at", "amount")
# Besides team names, staff addresses may be given as the subscription's owner or, for
# offboarding, the group of its member type (offboarding_tc or offboarding_op).
OWNER = "owner"
OFFBOARDING_GROUP = "offboarding_group"
CUSTOMER_SEQUENCE = "customer"


@dataclass(frozen=True)
class Due:
    anchor: str = "renewal_date"
    days: int = 0
    months_before: int = 0


@dataclass(frozen=True)
class Conditions:
    """Extra conditions on the subscription, besides the gates (None: no condition)."""

    tiers: tuple[str, ...] | None = None
    member_types: tuple[str, ...] | None = None
    hosted_site: bool | None = None
    contact_logged: bool | None = None  # a two-way contact logged since the hand-over
    engaged: bool | None = None  # a future meeting booked, or in negotiation


@dataclass(frozen=True)
class CtaTask:
    title: str
    assignee: str  # a team name or "owner"
    due_days: int = 0  # from the touchpoint's due date


@dataclass(frozen=True)
class CtaChange:
    """Open the CTA of ``type`` for the renewal, or move the existing one: never a second one."""

    type: str
    stage: str
    priority: CtaPriority | None = None
    owner: str | None = None  # a team name or "owner"; None keeps the current owner
    status: CtaStatus = CtaStatus.OPEN
    outcome: str | None = None
    due_days: int | None = None
    tasks: tuple[CtaTask, ...] = ()
    health_score: int | None = None
    health_label: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class RecordAction:
    action: str
    outcomes: tuple[tuple[str, str], ...] = ()  # close_ctas: (cta type or "*", outcome)
    keep: tuple[str, ...] = ()  # close_ctas: CTA types left open (e.g. ones the same step opens)
    health_score: int | None = None
    health_label: str | None = None


@dataclass(frozen=True)
class Touchpoint:
    key: str
    playbook: str
    position: int
    channel: str
    due: Due
    gates: tuple[str, ...]
    to: tuple[str, ...] = ()
    to_staff: tuple[str, ...] = ()
    cc_teams: tuple[str, ...] = ()
    cc_owner: bool = False
    when: Conditions = field(default_factory=Conditions)
    template: str | None = None
    attachment: str | None = None
    # a receipt or confirmation the customer asked for: RENEWALS_SUPPRESS_TRANSACTIONAL decides
    # whether suppressions apply to it, and it carries no List-Unsubscribe
    transactional: bool = False
    cta: CtaChange | None = None
    record: RecordAction | None = None
    # Irreversible: where approvals are on for the playbook (RENEWALS_APPROVALS), staff approve it first.
    needs_approval: bool = False

    @property
    def sequence(self) -> str:
        """Customer emails of a playbook form one sequence; every other action stands alone."""
        return CUSTOMER_SEQUENCE if self.channel == "email" else self.key

    @property
    def is_reminder(self) -> bool:
        """A customer email that is not transactional: it carries the unsubscribe link, and a
        person's reply stops it for the cycle."""
        return self.channel == "email" and not self.transactional

    @property
    def asks_decision(self) -> bool:
        """A reminder sent while the member has not answered: it carries the one-click answers."""
        return self.is_reminder and "no_response" in self.gates

    @property
    def sends_email(self) -> bool:
        return self.channel in ("email", "staff_email", "cta")


@dataclass(frozen=True)
class Playbook:
    name: str
    description: str
    touchpoints: tuple[Touchpoint, ...]
    tiers: tuple[str, ...] | None = None
    member_types: tuple[str, ...] | None = None
    requires: tuple[str, ...] = field(default=())
    # who hears of each member's one-click answer by email: teams and/or "owner" (none: Slack only)
    answers_to_staff: tuple[str, ...] = ()

    def touchpoint(self, key: str) -> Touchpoint:
        for touchpoint in self.touchpoints:
            if touchpoint.key == key:
                return touchpoint
        raise KeyError(f"playbook {self.name!r} has no touchpoint {key!r}")

    def validation_rules(self) -> dict[str, object]:
        """The per-playbook input rules the validation SQL applies (known tiers, member types, ...)."""
        return {"tiers": self.tiers, "member_types": self.member_types, "requires": list(self.requires)}
