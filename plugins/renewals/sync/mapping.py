"""The field mapping of the sync targets (include/sync/mapping.yaml, or RENEWALS_SYNC_MAPPING).

A record's fields are text with {placeholders} naming the event's values (:data:`PLACEHOLDERS`);
``values`` maps a rendered value to the target's own. :func:`load_mapping` refuses a broken file
with an error that names the field, at prepare_run, before the run does anything.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import yaml

from renewals.sync.events import Event

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
# The placeholders each kind of record may use.
PLACEHOLDERS = {
    "cta_task": COMMON | CTA,
    "opportunity": COMMON | CTA,
    "call_task": COMMON | CTA | TASK,
    "message_task": COMMON | MESSAGE,
    "task": COMMON | CTA | TASK,
    "association": COMMON | CTA | TASK,
    "deal": COMMON,
    "issue": COMMON | OFFBOARDING,
}
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
            values[name if name.startswith(f"{section}_") else f"{section}_{name}"] = _text(value)
    values["cta_type_label"] = values.get("cta_type", "").replace("_", " ").capitalize()
    values["message_date"] = values.get("message_sent_at", "")[:10]
    return values


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(map(_text, value))
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

    def render(self, event_values: Mapping[str, str]) -> dict[str, str]:
        rendered = {}
        for name, template in self.templates.items():
            value = fill(template, event_values)
            rendered[name] = self.values.get(name, {}).get(value, value)
        return rendered


@dataclass(frozen=True)
class SalesforceMapping:
    api_version: str
    external_id_field: str
    opportunity_cta_types: frozenset[str]
    cta_task: Fields
    call_task: Fields
    message_task: Fields
    opportunity: Fields


@dataclass(frozen=True)
class HubSpotMapping:
    unique_property: str
    task: Fields
    association: Mapping[str, str]
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
    association = where.mapping(hubspot.get("association"), "hubspot.association")
    if association.get("object") not in ("companies", "deals"):
        where.fail("hubspot.association.object", "must be companies or deals")
    where.template(association.get("id"), "hubspot.association.id", PLACEHOLDERS["association"])
    if not isinstance(association.get("type_id"), int):
        where.fail("hubspot.association.type_id", "must be a whole number (HubSpot's association type id)")
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
                for record in ("cta_task", "call_task", "message_task", "opportunity")
            },
        ),
        hubspot=HubSpotMapping(
            unique_property=where.identifier(hubspot.get("unique_property"), "hubspot.unique_property"),
            task=Fields(where.fields(hubspot.get("task"), "hubspot.task", PLACEHOLDERS["task"]), hs_values),
            association={key: str(value) for key, value in association.items()},
            deal_id=where.template(hubspot.get("deal_id", ""), "hubspot.deal_id", PLACEHOLDERS["deal"]),
            deal_stages={gate: str(stage) for gate, stage in deal_stages.items()},
        ),
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
