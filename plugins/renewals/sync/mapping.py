"""The field mapping of the sync targets (include/sync/mapping.yaml, or RENEWALS_SYNC_MAPPING).

A record's fields are text with {placeholders} naming the event's values (:data:`PLACEHOLDERS`);
``values`` maps a rendered value to the target's own. :func:`load_mapping` refuses a broken file
with an error that names the field, at prepare_run, before the run does anything.
"""

from __future__ import annotations

import json
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import yaml

from renewals.sync.events import ACTIVITY_KINDS, Event

COMMON = {
    "subscription_id",
    "renewal_date",
    "kind",
    "event_key",
    "occurred_at",
    "account_id",
    "account_name",
    "account_playbook",
    "account_gate",
    "account_amount",
    "account_currency",
    "touchpoint",
    "occurred_on",
    "occurred_at_ms",  # milliseconds since 1970 (HubSpot's hs_timestamp)
    # the CRM records the warehouse row names (optional extract columns; blank when absent)
    "salesforce_account_id",
    "salesforce_opportunity_id",
    "salesforce_what_id",  # the opportunity, else the account: what a Task is related to
    "hubspot_company_id",
    "hubspot_deal_id",
}
CTA = {
    "cta_id",
    "cta_type",
    "cta_type_label",
    "cta_stage",
    "cta_priority",
    "cta_status",
    "cta_outcome",
    "cta_owner_team",
    "cta_owner_email",
    "cta_due_date",
    "cta_playbook",
    "cta_opened_at",
}
TASK = {"task_id", "task_title", "task_assignee_email", "task_due_date", "task_touchpoint", "task_status"}
MESSAGE = {
    "message_touchpoint",
    "message_status",
    "message_playbook",
    "message_channel",
    "message_subject",
    "message_recipients",
    "message_cc",
    "message_id",
    "message_sent_at",
    "message_date",
    "message_reason",
    "message_due_date",
}
OFFBOARDING = {"offboarding_member_type", "offboarding_decline_reason", "offboarding_started_at"}
ANSWER = {"answer", "answer_label", "answer_reason", "answer_recipient", "answer_touchpoint", "answer_answered_at"}
REPLY = {
    "reply_sender",
    "reply_subject",
    "reply_excerpt",
    "reply_received_at",
    "reply_in_reply_to",
    "reply_gate",
    "reply_held_at",
    "reply_resumed_at",
    "reply_resumed_by",
}
STAFF_ACTION = {
    "staff_action_action",
    "staff_action_touchpoint",
    "staff_action_reason",
    "staff_action_actor",
    "staff_action_before",
    "staff_action_after",
}
# The placeholders each kind of record may use.
PLACEHOLDERS = {
    "cta_task": COMMON | CTA,
    "opportunity": COMMON | CTA,
    "call_task": COMMON | CTA | TASK,
    "activity_task": COMMON,
    "task": COMMON | CTA | TASK,
    "note": COMMON,
    "association": COMMON | CTA | TASK,
    "deal": COMMON,
    "issue": COMMON | OFFBOARDING,
}
# The placeholders of each kind of event the activity history takes (Salesforce's completed
# Tasks, HubSpot's notes).
ACTIVITY_PLACEHOLDERS = {
    "message.sent": COMMON | MESSAGE,
    "message.skipped": COMMON | MESSAGE,
    "message.held": COMMON | MESSAGE,
    "member.answered": COMMON | ANSWER,
    "reply.held": COMMON | REPLY,
    "reply.resumed": COMMON | REPLY,
    "staff.action": COMMON | STAFF_ACTION,
}
ANSWER_LABELS = {"intent": "intends to renew", "decline": "declines to renew"}
GATES = ("no_response", "intent_confirmed", "paid", "declined")


class MappingError(ValueError):
    """The mapping file cannot be used; the message names the field."""


def event_values(event: Event) -> dict[str, str]:
    """The event's values by placeholder name: the payload flattened (``cta.type`` -> cta_type)."""
    values: dict[str, str] = {
        "subscription_id": event.subscription_id,
        "renewal_date": event.renewal_date.isoformat() if event.renewal_date else "",
        "kind": event.kind,
        "event_key": event.event_key,
        "occurred_at": event.occurred_at.isoformat(),
    }
    for section, content in event.payload.items():
        if not isinstance(content, dict):
            values[section] = _text(content)
            continue
        for name, value in content.items():
            # answer.answer -> answer, cta.cta_id -> cta_id, answer.reason -> answer_reason
            flat = section if name == section else name if name.startswith(f"{section}_") else f"{section}_{name}"
            values[flat] = _text(value)
    values["occurred_on"] = values["occurred_at"][:10]
    values["occurred_at_ms"] = str(int(event.occurred_at.timestamp() * 1000))
    values["cta_type_label"] = values.get("cta_type", "").replace("_", " ").capitalize()
    values["message_date"] = values.get("message_sent_at", "")[:10]
    values["answer_label"] = ANSWER_LABELS.get(values.get("answer", ""), "")
    values["salesforce_what_id"] = values.get("salesforce_opportunity_id") or values.get("salesforce_account_id", "")
    return values


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(map(_text, value))
    if isinstance(value, dict):  # a staff action's before and after
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return ""


def fill(template: str, values: Mapping[str, str]) -> str:
    """``template`` with the event's values (a value the event does not have is blank)."""
    return template.format_map(_Blank(values))


@dataclass(frozen=True)
class Fields:
    """One record's fields: templates and their value maps."""

    templates: Mapping[str, str]
    values: Mapping[str, Mapping[str, str]]

    def render(
        self, event_values: Mapping[str, str], escape: Mapping[str, Callable[[str], str]] | None = None
    ) -> dict[str, str]:
        """The fields' values; ``escape`` names the fields whose system reads markup, and how the
        event's values are made literal there (the template's own text is ours, left as it is)."""
        rendered = {}
        for name, template in self.templates.items():
            literal = (escape or {}).get(name)
            value = fill(template, {k: literal(v) for k, v in event_values.items()} if literal else event_values)
            rendered[name] = self.values.get(name, {}).get(value, value)
        return rendered

    def with_fields(self, more: Fields) -> Fields:
        """These fields and ``more``'s (``more`` wins a field both have)."""
        return Fields({**self.templates, **more.templates}, self.values)


@dataclass(frozen=True)
class SalesforceMapping:
    api_version: str
    external_id_field: str
    opportunity_cta_types: frozenset[str]
    cta_task: Fields
    call_task: Fields
    opportunity: Fields
    activities: Mapping[str, Fields]  # by event kind: the completed Task of each (activity_task's fields and its own)


@dataclass(frozen=True)
class Association:
    """A HubSpot record tasks and notes are associated with (a company or a deal), and the
    HubSpot-defined association type of each."""

    object: str  # companies | deals
    id: str  # a template: the record's id (blank: not associated)
    task_type_id: int
    note_type_id: int


@dataclass(frozen=True)
class HubSpotMapping:
    unique_property: str
    task: Fields
    associations: tuple[Association, ...]
    notes: Mapping[str, Fields]  # by event kind: the note of each (note's fields and its own)
    deal_id: str
    deal_stages: Mapping[str, str]


@dataclass(frozen=True)
class GitHubMapping:
    label: str
    title: str
    intro: str
    checklist: tuple[str, ...]


@dataclass(frozen=True)
class SyncMapping:
    salesforce: SalesforceMapping
    hubspot: HubSpotMapping
    github: GitHubMapping


def load_mapping(path: Path) -> SyncMapping:
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise MappingError(f"{path}: cannot be read as YAML: {exc}") from None
    where = _Where(path)
    root = where.mapping(document, "")
    salesforce = where.mapping(root.get("salesforce"), "salesforce")
    sf_values = _value_maps(where, salesforce.get("values", {}), "salesforce.values")
    hubspot = where.mapping(root.get("hubspot"), "hubspot")
    hs_values = _value_maps(where, hubspot.get("values", {}), "hubspot.values")
    associations = hubspot.get("associations")
    if not isinstance(associations, list):
        where.fail("hubspot.associations", "must be a list of the records tasks and notes are associated with")
    deal_stages = where.mapping(hubspot.get("deal_stages", {}), "hubspot.deal_stages")
    for gate, stage in deal_stages.items():
        if gate not in GATES:
            where.fail(f"hubspot.deal_stages.{gate}", f"is not a gate; gates: {', '.join(GATES)}")
        where.identifier(stage, f"hubspot.deal_stages.{gate}")
    github = where.mapping(root.get("github"), "github")
    checklist = github.get("checklist")
    if not isinstance(checklist, list) or not checklist or not all(isinstance(step, str) for step in checklist):
        where.fail("github.checklist", "must be a list of steps (text), at least one")
    return SyncMapping(
        github=GitHubMapping(
            label=where.template(github.get("label"), "github.label", set()),
            title=where.template(github.get("title"), "github.title", PLACEHOLDERS["issue"]),
            intro=where.template(github.get("intro", ""), "github.intro", PLACEHOLDERS["issue"]),
            checklist=tuple(
                where.template(step, f"github.checklist[{n}]", PLACEHOLDERS["issue"])
                for n, step in enumerate(checklist)
            ),
        ),
        salesforce=SalesforceMapping(
            api_version=where.identifier(str(salesforce.get("api_version", "")), "salesforce.api_version"),
            external_id_field=where.identifier(salesforce.get("external_id_field"), "salesforce.external_id_field"),
            opportunity_cta_types=frozenset(salesforce.get("opportunity_cta_types") or ()),
            **{
                record: Fields(
                    where.fields(salesforce.get(record), f"salesforce.{record}", PLACEHOLDERS[record]), sf_values
                )
                for record in ("cta_task", "call_task", "opportunity")
            },
            activities=_activities(where, "salesforce", salesforce, "activity_task", "activities", sf_values),
        ),
        hubspot=HubSpotMapping(
            unique_property=where.identifier(hubspot.get("unique_property"), "hubspot.unique_property"),
            task=Fields(where.fields(hubspot.get("task"), "hubspot.task", PLACEHOLDERS["task"]), hs_values),
            associations=tuple(
                _association(where, association, f"hubspot.associations[{n}]")
                for n, association in enumerate(associations)
            ),
            notes=_activities(where, "hubspot", hubspot, "note", "notes", hs_values),
            deal_id=where.template(hubspot.get("deal_id", ""), "hubspot.deal_id", PLACEHOLDERS["deal"]),
            deal_stages={gate: str(stage) for gate, stage in deal_stages.items()},
        ),
    )


def _activities(
    where: _Where, name: str, system: dict[str, Any], common: str, field: str, values: dict[str, dict[str, str]]
) -> dict[str, Fields]:
    """The activity records of a system by event kind: the fields of ``common`` (every one) and
    each kind's own under ``field``. A kind left out is not written to that system."""
    shared = Fields(where.fields(system.get(common), f"{name}.{common}", PLACEHOLDERS[common]), values)
    by_kind = where.mapping(system.get(field, {}), f"{name}.{field}")
    records = {}
    for kind, fields in by_kind.items():
        if kind not in ACTIVITY_PLACEHOLDERS:
            where.fail(f"{name}.{field}.{kind}", f"is not an activity; activities: {', '.join(sorted(ACTIVITY_KINDS))}")
        known = ACTIVITY_PLACEHOLDERS[kind]
        records[kind] = shared.with_fields(Fields(where.fields(fields, f"{name}.{field}.{kind}", known), values))
    return records


def _association(where: _Where, document: Any, field: str) -> Association:
    association = where.mapping(document, field)
    if association.get("object") not in ("companies", "deals"):
        where.fail(f"{field}.object", "must be companies or deals")
    for type_id in ("task_type_id", "note_type_id"):
        if not isinstance(association.get(type_id), int):
            where.fail(f"{field}.{type_id}", "must be a whole number (HubSpot's association type id)")
    return Association(
        object=association["object"],
        id=where.template(association.get("id"), f"{field}.id", PLACEHOLDERS["association"]),
        task_type_id=association["task_type_id"],
        note_type_id=association["note_type_id"],
    )


def _value_maps(where: _Where, document: Any, field: str) -> dict[str, dict[str, str]]:
    maps = where.mapping(document, field)
    return {
        name: {str(ours): str(theirs) for ours, theirs in where.mapping(table, f"{field}.{name}").items()}
        for name, table in maps.items()
    }


@dataclass(frozen=True)
class _Where:
    path: Path

    def fail(self, field: str, problem: str) -> NoReturn:
        raise MappingError(f"{self.path}: {field or 'the file'} {problem}")

    def mapping(self, value: Any, field: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(field, "must be a mapping of names to values")
        return value

    def identifier(self, value: Any, field: str) -> str:
        if not isinstance(value, str) or not value.strip() or any(c in value for c in "/?#{} "):
            self.fail(field, f"must be a name (no spaces, slashes or braces), not {value!r}")
        return value

    def template(self, value: Any, field: str, known: set[str]) -> str:
        if not isinstance(value, str):
            self.fail(field, f"must be text, not {value!r}")
        try:
            names = [name for _, name, spec, conversion in string.Formatter().parse(value) if name is not None]
        except ValueError as exc:
            self.fail(field, f"is not a valid template: {exc}")
        for name in names:
            if name not in known:
                self.fail(field, f"names an unknown placeholder {{{name}}}; known here: {', '.join(sorted(known))}")
        return value

    def fields(self, value: Any, field: str, known: set[str]) -> dict[str, str]:
        templates = self.mapping(value, field)
        if not templates:
            self.fail(field, "names no field")
        return {
            self.identifier(name, f"{field}"): self.template(t, f"{field}.{name}", known)
            for name, t in templates.items()
        }
