"""The shape of a playbook file, as one pydantic model: the loader validates every file with it
(every error of a file at once) and include/playbooks/playbook.schema.json is generated from it,
so editors check the YAML as people type (``make playbook-schema`` writes it again)."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, model_validator

from renewals.config import INCLUDE_DIR, TEAM_DEFAULTS
from renewals.decisions.gates import GATES
from renewals.playbooks.model import (
    ANCHORS,
    ATTACHMENTS,
    CHANNELS,
    OFFBOARDING_GROUP,
    OWNER,
    PRIORITIES,
    RECORD_ACTIONS,
    REQUIRABLE_FIELDS,
    ROLES,
)

# Beside the shipped playbooks, which name it in their yaml-language-server modeline.
SCHEMA_PATH = INCLUDE_DIR / "playbooks" / "playbook.schema.json"

# The allowed values come from the domain's own constants (a new gate or team needs no edit here).
Gate = Literal[GATES]  # type: ignore[valid-type]
Role = Literal[ROLES]  # type: ignore[valid-type]
Team = Literal[(*TEAM_DEFAULTS,)]  # type: ignore[valid-type]
Staff = Literal[(*TEAM_DEFAULTS, OWNER)]  # type: ignore[valid-type]
StaffRecipient = Literal[(*TEAM_DEFAULTS, OWNER, OFFBOARDING_GROUP)]  # type: ignore[valid-type]
Name = Annotated[str, Field(min_length=1, pattern=r"^\S(.*\S)?$", description="a name without surrounding spaces")]
Names = Annotated[list[str], Field(min_length=1)]
Days = Annotated[StrictInt, Field(ge=-730, le=730, description="whole days, within two years")]
ANCHOR_HELP = "; ".join(f"{anchor}: {meaning}" for anchor, meaning in ANCHORS.items())


class _Strict(BaseModel):
    """Unknown fields are errors: a misspelt field must not be silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class DueSpec(_Strict):
    """When a touchpoint falls due, counted from its anchor."""

    anchor: Literal[tuple(ANCHORS)] = Field("renewal_date", description=ANCHOR_HELP)  # type: ignore[valid-type]
    days: Days = 0
    months_before: Annotated[StrictInt, Field(ge=0, le=24)] = 0

    @model_validator(mode="after")
    def _assigned_counts_from_day_one(self) -> Self:
        if self.anchor == "assigned" and self.days < 1:
            raise ValueError("'due.days' counts from day 1 (the day of the hand-over) for anchor assigned")
        return self


class ConditionsSpec(_Strict):
    """Conditions on the subscription, besides the gates (absent: no condition)."""

    tiers: Names | None = None
    member_types: Names | None = None
    hosted_site: StrictBool | None = None
    contact_logged: StrictBool | None = Field(None, description="a two-way contact logged since the hand-over")
    engaged: StrictBool | None = Field(None, description="a future meeting booked, or in negotiation")


class HealthSpec(_Strict):
    score: Annotated[StrictInt, Field(ge=0, le=100)] | None = None
    label: str | None = None

    @model_validator(mode="after")
    def _score_has_a_label(self) -> Self:
        if self.score is not None and self.label is None:
            raise ValueError("health needs a 'label' with its score")
        return self


class CtaTaskSpec(_Strict):
    title: Name
    assignee: Staff = OWNER
    due_days: Days = Field(0, description="days from the touchpoint's due date")


class CtaSpec(_Strict):
    """Open the CTA of ``type`` for the renewal, or move the existing one: never a second one."""

    type: Name
    stage: Name
    priority: Literal[PRIORITIES] | None = None  # type: ignore[valid-type]
    owner: Staff | None = Field(None, description="a team or owner; absent keeps the current owner")
    status: Literal["open", "closed"] = "open"
    outcome: str | None = None
    due_days: Days | None = None
    tasks: list[CtaTaskSpec] = []
    health: HealthSpec = HealthSpec()
    note: str | None = None


class RecordSpec(_Strict):
    action: Literal[RECORD_ACTIONS]  # type: ignore[valid-type]
    outcomes: dict[str, str] = Field({}, description="close_ctas: CTA type (or '*' for every other) to outcome")
    keep: list[str] = Field([], description="close_ctas: CTA types left open")
    health: HealthSpec = HealthSpec()

    @model_validator(mode="after")
    def _close_ctas_covers_every_type(self) -> Self:
        if self.action == "close_ctas" and "*" not in self.outcomes:
            raise ValueError("close_ctas needs an outcome for '*' (every other CTA type)")
        return self


# What each channel needs, and what only one channel may have.
CHANNEL_NEEDS = {
    "email": ("to", "template"),
    "staff_email": ("to_staff", "template"),
    "cta": ("cta",),
    "record": ("record",),
}
ONLY_FOR = {"to": "email", "cta": "cta", "record": "record", "attachment": "email", "transactional": "email"}


class TouchpointSpec(_Strict):
    key: Name = Field(description="unique across playbooks; names ledger rows and reports")
    channel: Literal[CHANNELS] = "email"  # type: ignore[valid-type]
    due: DueSpec
    gates: Annotated[list[Gate], Field(min_length=1)]
    when: ConditionsSpec = ConditionsSpec()
    to: list[Role] = Field([], description="customer contact roles")
    to_staff: list[StaffRecipient] = []
    cc_teams: list[Team] = []
    cc_owner: StrictBool = False
    template: str | None = Field(None, description="under include/templates/: .subject.txt, .txt and .html")
    attachment: Literal[ATTACHMENTS] | None = None  # type: ignore[valid-type]
    transactional: StrictBool = Field(False, description="a customer email the customer's own action calls for")
    cta: CtaSpec | None = None
    record: RecordSpec | None = None
    needs_approval: StrictBool = Field(False, description="irreversible: staff approve it first where approvals are on")

    @model_validator(mode="after")
    def _fields_of_its_channel(self) -> Self:
        needs = CHANNEL_NEEDS[self.channel]
        problems = [f"a {self.channel} touchpoint needs '{name}'" for name in needs if not getattr(self, name)]
        problems += [
            f"'{name}' is only for channel {channel}"
            for name, channel in ONLY_FOR.items()
            if getattr(self, name) and self.channel != channel
        ]
        if self.channel == "record" and (self.template or self.to_staff or self.cc_teams):
            problems.append("a record touchpoint sends nothing: no template or recipients")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class PlaybookSpec(_Strict):
    """A renewal process: who gets what, when, under which gates."""

    model_config = ConfigDict(title="Renewals playbook")

    name: Name = Field(description="the value of warehouse.subscriptions.playbook")
    description: str = ""
    tiers: Names | None = Field(None, description="the tiers this playbook knows (others are quarantined)")
    member_types: Names | None = None
    requires: list[Literal[REQUIRABLE_FIELDS]] = Field([], description="input a row must have")  # type: ignore[valid-type]
    answers_to_staff: list[Staff] = Field(
        [], description="who gets an email of each member's one-click answer: teams and/or owner (none: Slack only)"
    )
    touchpoints: Annotated[list[TouchpointSpec], Field(min_length=1)]

    @model_validator(mode="after")
    def _touchpoint_keys_are_unique(self) -> Self:
        keys = [touchpoint.key for touchpoint in self.touchpoints]
        if duplicates := sorted({key for key in keys if keys.count(key) > 1}):
            raise ValueError(f"duplicate touchpoint keys {duplicates}")
        return self


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a playbook file, as committed beside the playbooks."""
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **PlaybookSpec.model_json_schema()}


def json_schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"


def write_json_schema() -> None:
    SCHEMA_PATH.write_text(json_schema_text())
