"""What a playbook is: touchpoints with a due date rule, the gates they need, and an audience."""

from __future__ import annotations

from dataclasses import dataclass, field

# What a touchpoint's due date is counted from.
ANCHORS = {
    "renewal_date": "renewal date + days",
    "notice_month": "first business day of the month `months_before` months before the renewal month",
}
CHANNELS = ("email",)
ROLES = ("primary", "billing", "committee", "pgb", "tc_chair")
CUSTOMER_SEQUENCE = "customer"


@dataclass(frozen=True)
class Due:
    anchor: str = "renewal_date"
    days: int = 0
    months_before: int = 0


@dataclass(frozen=True)
class Touchpoint:
    key: str
    playbook: str
    position: int
    channel: str
    due: Due
    gates: tuple[str, ...]
    to: tuple[str, ...] = ()
    cc_teams: tuple[str, ...] = ()
    template: str | None = None

    @property
    def sequence(self) -> str:
        """Customer emails of a playbook form one sequence; every other action stands alone."""
        return CUSTOMER_SEQUENCE if self.channel == "email" and self.to else self.key


@dataclass(frozen=True)
class Playbook:
    name: str
    description: str
    touchpoints: tuple[Touchpoint, ...]
    tiers: tuple[str, ...] | None = None
    member_types: tuple[str, ...] | None = None
    requires: tuple[str, ...] = field(default=())

    def touchpoint(self, key: str) -> Touchpoint:
        for touchpoint in self.touchpoints:
            if touchpoint.key == key:
                return touchpoint
        raise KeyError(f"playbook {self.name!r} has no touchpoint {key!r}")

    def validation_rules(self) -> dict[str, object]:
        """The per-playbook input rules the validation SQL applies (known tiers, member types, ...)."""
        return {"tiers": self.tiers, "member_types": self.member_types, "requires": list(self.requires)}
