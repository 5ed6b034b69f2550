"""Load playbook files and reject a bad one with an error that names the file and the field."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from renewals.config import TEAM_DEFAULTS
from renewals.gates import GATES
from renewals.playbooks.model import (
    ANCHORS,
    CHANNELS,
    OFFBOARDING_GROUP,
    OWNER,
    PRIORITIES,
    RECORD_ACTIONS,
    ROLES,
    Conditions,
    CtaChange,
    CtaTask,
    Due,
    Playbook,
    RecordAction,
    Touchpoint,
)

PLAYBOOK_KEYS = {"name", "description", "tiers", "member_types", "requires", "touchpoints"}
TOUCHPOINT_KEYS = {
    "key", "channel", "due", "gates", "when", "to", "to_staff", "cc_teams", "cc_owner", "template",
    "attachment", "transactional", "cta", "record", "needs_approval",
}  # fmt: skip
CONDITION_KEYS = {"tiers", "member_types", "hosted_site", "contact_logged", "engaged"}
CTA_KEYS = {"type", "stage", "priority", "owner", "status", "outcome", "due_days", "tasks", "health", "note"}
RECORD_KEYS = {"action", "outcomes", "keep", "health"}
REQUIRABLE_FIELDS = ("tier", "member_type", "owner_email", "assigned_at", "amount")
ATTACHMENTS = ("receipt_pdf",)
CTA_NOTIFICATION_TEMPLATE = "staff/cta_update"
STAFF = (*TEAM_DEFAULTS, OWNER)
# libyaml's parser where PyYAML was built with it: every deliver task loads the playbooks, and the
# pure-Python parser takes a fifth of a second for them.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class PlaybookError(ValueError):
    """A playbook file that cannot be used, with the place of the problem."""


def load_playbooks(directory: Path, template_dir: Path | None = None) -> dict[str, Playbook]:
    """Every ``*.yaml`` playbook in ``directory``, validated; templates checked when a dir is given."""
    playbooks: dict[str, Playbook] = {}
    touchpoint_owner: dict[str, str] = {}
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise PlaybookError(f"{directory}: no playbook files (*.yaml)")
    for path in files:
        try:
            document = yaml.load(path.read_text(), Loader=_YAML_LOADER)
        except yaml.YAMLError as exc:
            raise PlaybookError(f"{path.name}: not valid YAML: {exc}") from None
        playbook = _parse_playbook(path.name, document)
        if playbook.name in playbooks:
            raise PlaybookError(f"{path.name}: playbook {playbook.name!r} is defined twice")
        for touchpoint in playbook.touchpoints:
            # Touchpoint keys name ledger rows and report lines, so they are unique across playbooks.
            if touchpoint.key in touchpoint_owner:
                raise PlaybookError(
                    f"{path.name}: touchpoint {touchpoint.key!r} already belongs to playbook "
                    f"{touchpoint_owner[touchpoint.key]!r}"
                )
            touchpoint_owner[touchpoint.key] = playbook.name
            if template_dir is not None:
                _check_templates(path.name, touchpoint, template_dir)
        playbooks[playbook.name] = playbook
    return playbooks


def _parse_playbook(source: str, document: Any) -> Playbook:
    where = source
    mapping = _mapping(where, document, PLAYBOOK_KEYS)
    name = _text(where, mapping, "name")
    entries = mapping.get("touchpoints")
    if not isinstance(entries, list) or not entries:
        raise PlaybookError(f"{where}: 'touchpoints' must be a non-empty list")
    touchpoints = tuple(
        _parse_touchpoint(f"{where}: touchpoints[{index}]", name, index, entry) for index, entry in enumerate(entries)
    )
    keys = [touchpoint.key for touchpoint in touchpoints]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    if duplicates:
        raise PlaybookError(f"{where}: duplicate touchpoint keys {duplicates}")
    requires = tuple(_text_list(where, mapping, "requires", REQUIRABLE_FIELDS))
    return Playbook(
        name=name,
        description=str(mapping.get("description", "")),
        touchpoints=touchpoints,
        tiers=_optional_list(where, mapping, "tiers"),
        member_types=_optional_list(where, mapping, "member_types"),
        requires=requires,
    )


def _parse_touchpoint(where: str, playbook: str, position: int, entry: Any) -> Touchpoint:
    mapping = _mapping(where, entry, TOUCHPOINT_KEYS)
    key = _text(where, mapping, "key")
    where = f"{where} ({key})"
    channel = mapping.get("channel", "email")
    if channel not in CHANNELS:
        raise PlaybookError(f"{where}: unknown channel {channel!r}; expected one of {list(CHANNELS)}")
    gates = tuple(_text_list(where, mapping, "gates", GATES))
    if not gates:
        raise PlaybookError(f"{where}: 'gates' must name at least one gate of {list(GATES)}")
    touchpoint = Touchpoint(
        key=key,
        playbook=playbook,
        position=position,
        channel=channel,
        due=_parse_due(where, mapping.get("due")),
        gates=gates,
        to=tuple(_text_list(where, mapping, "to", ROLES)),
        to_staff=tuple(_text_list(where, mapping, "to_staff", (*STAFF, OFFBOARDING_GROUP))),
        cc_teams=tuple(_text_list(where, mapping, "cc_teams", tuple(TEAM_DEFAULTS))),
        cc_owner=_flag(where, mapping, "cc_owner"),
        when=_parse_conditions(where, mapping.get("when", {})),
        template=mapping.get("template", CTA_NOTIFICATION_TEMPLATE if channel == "cta" else None),
        attachment=_choice(where, mapping, "attachment", ATTACHMENTS),
        transactional=_flag(where, mapping, "transactional"),
        cta=_parse_cta(where, mapping["cta"]) if "cta" in mapping else None,
        record=_parse_record(where, mapping["record"]) if "record" in mapping else None,
        needs_approval=_flag(where, mapping, "needs_approval"),
    )
    _check_channel_fields(where, touchpoint)
    return touchpoint


def _check_channel_fields(where: str, tp: Touchpoint) -> None:
    """Each channel needs its own fields and takes no other channel's."""
    needs = {
        "email": ("to", "template"),
        "staff_email": ("to_staff", "template"),
        "cta": ("cta",),
        "record": ("record",),
    }[tp.channel]
    for name in needs:
        if not getattr(tp, name):
            raise PlaybookError(f"{where}: a {tp.channel} touchpoint needs '{name}'")
    if tp.channel != "email" and tp.to:
        raise PlaybookError(f"{where}: 'to' (customer roles) is only for channel email")
    if tp.channel != "cta" and tp.cta is not None:
        raise PlaybookError(f"{where}: 'cta' is only for channel cta")
    if tp.channel != "record" and tp.record is not None:
        raise PlaybookError(f"{where}: 'record' is only for channel record")
    if tp.channel == "record" and (tp.template or tp.to_staff or tp.cc_teams):
        raise PlaybookError(f"{where}: a record touchpoint sends nothing: no template or recipients")
    if tp.attachment and tp.channel != "email":
        raise PlaybookError(f"{where}: attachments are for customer emails")
    if tp.transactional and tp.channel != "email":
        raise PlaybookError(f"{where}: only customer emails are transactional")


def _parse_conditions(where: str, value: Any) -> Conditions:
    mapping = _mapping(f"{where}: when", value, CONDITION_KEYS)
    return Conditions(
        tiers=_optional_list(f"{where}: when", mapping, "tiers"),
        member_types=_optional_list(f"{where}: when", mapping, "member_types"),
        hosted_site=_optional_flag(where, mapping, "hosted_site"),
        contact_logged=_optional_flag(where, mapping, "contact_logged"),
        engaged=_optional_flag(where, mapping, "engaged"),
    )


def _parse_cta(where: str, value: Any) -> CtaChange:
    where = f"{where}: cta"
    mapping = _mapping(where, value, CTA_KEYS)
    health = _mapping(f"{where}: health", mapping.get("health", {}), {"score", "label"})
    status = _choice(where, mapping, "status", ("open", "closed")) or "open"
    tasks = []
    for index, task in enumerate(mapping.get("tasks", []) or []):
        task_where = f"{where}: tasks[{index}]"
        task_map = _mapping(task_where, task, {"title", "assignee", "due_days"})
        tasks.append(
            CtaTask(
                title=_text(task_where, task_map, "title"),
                assignee=_choice(task_where, task_map, "assignee", STAFF) or OWNER,
                due_days=_int(task_where, task_map, "due_days", 0),
            )
        )
    return CtaChange(
        type=_text(where, mapping, "type"),
        stage=_text(where, mapping, "stage"),
        priority=_choice(where, mapping, "priority", PRIORITIES),
        owner=_choice(where, mapping, "owner", STAFF),
        status=status,
        outcome=mapping.get("outcome"),
        due_days=_int(where, mapping, "due_days", None),
        tasks=tuple(tasks),
        health_score=_score(where, health),
        health_label=health.get("label"),
        note=mapping.get("note"),
    )


def _parse_record(where: str, value: Any) -> RecordAction:
    where = f"{where}: record"
    mapping = _mapping(where, value, RECORD_KEYS)
    action = _choice(where, mapping, "action", RECORD_ACTIONS)
    if action is None:
        raise PlaybookError(f"{where}: 'action' is required, one of {list(RECORD_ACTIONS)}")
    outcomes = mapping.get("outcomes", {})
    if not isinstance(outcomes, dict) or not all(isinstance(v, str) for v in outcomes.values()):
        raise PlaybookError(f"{where}: 'outcomes' maps CTA types (or '*') to an outcome")
    if action == "close_ctas" and "*" not in outcomes:
        raise PlaybookError(f"{where}: close_ctas needs an outcome for '*' (every other CTA type)")
    health = _mapping(f"{where}: health", mapping.get("health", {}), {"score", "label"})
    return RecordAction(
        action=action,
        outcomes=tuple(sorted(outcomes.items())),
        keep=tuple(_text_list(where, mapping, "keep", _any_name(mapping.get("keep", [])))),
        health_score=_score(where, health),
        health_label=health.get("label"),
    )


def _parse_due(where: str, value: Any) -> Due:
    mapping = _mapping(f"{where}: due", value, {"anchor", "days", "months_before"})
    anchor = mapping.get("anchor", "renewal_date")
    if anchor not in ANCHORS:
        raise PlaybookError(f"{where}: due.anchor {anchor!r} is unknown; expected one of {list(ANCHORS)}")
    days = mapping.get("days", 0)
    months_before = mapping.get("months_before", 0)
    if not isinstance(days, int) or isinstance(days, bool) or not -730 <= days <= 730:
        raise PlaybookError(f"{where}: due.days must be a whole number of days within two years")
    if anchor == "notice_month" and (not isinstance(months_before, int) or not 0 <= months_before <= 24):
        raise PlaybookError(f"{where}: due.months_before must be a whole number from 0 to 24")
    if anchor == "assigned" and days < 1:
        raise PlaybookError(f"{where}: due.days counts from day 1 (the day of the hand-over) for anchor assigned")
    return Due(anchor=anchor, days=days, months_before=months_before)


def _any_name(values: Any) -> tuple[str, ...]:
    """Every name is allowed (CTA types are open-ended); only the shape is checked."""
    return tuple(value for value in values if isinstance(value, str)) if isinstance(values, list) else ()


def _flag(where: str, mapping: Mapping[str, Any], name: str) -> bool:
    return bool(_optional_flag(where, mapping, name))


def _optional_flag(where: str, mapping: Mapping[str, Any], name: str) -> bool | None:
    value = mapping.get(name)
    if value is not None and not isinstance(value, bool):
        raise PlaybookError(f"{where}: '{name}' must be true or false")
    return value


def _choice(where: str, mapping: Mapping[str, Any], name: str, allowed: Iterable[str]) -> str | None:
    value = mapping.get(name)
    allowed = tuple(allowed)
    if value is not None and value not in allowed:
        raise PlaybookError(f"{where}: '{name}' is {value!r}; expected one of {list(allowed)}")
    return value


def _int(where: str, mapping: Mapping[str, Any], name: str, default: int | None) -> int | None:
    value = mapping.get(name, default)
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or abs(value) > 730):
        raise PlaybookError(f"{where}: '{name}' must be a whole number of days within two years")
    return value


def _score(where: str, health: Mapping[str, Any]) -> int | None:
    score = health.get("score")
    if score is None:
        return None
    if not isinstance(score, int) or isinstance(score, bool) or not 0 <= score <= 100:
        raise PlaybookError(f"{where}: health.score must be a whole number from 0 to 100")
    if not isinstance(health.get("label"), str):
        raise PlaybookError(f"{where}: health needs a 'label' with its score")
    return score


def _check_templates(source: str, touchpoint: Touchpoint, template_dir: Path) -> None:
    if touchpoint.template is None:
        return
    for suffix in (".subject.txt", ".txt", ".html"):
        path = template_dir / f"{touchpoint.template}{suffix}"
        if not path.is_file():
            raise PlaybookError(f"{source}: touchpoint {touchpoint.key!r}: template file {path} is missing")


def _mapping(where: str, value: Any, allowed: set[str]) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise PlaybookError(f"{where}: expected a mapping, got {type(value).__name__}")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise PlaybookError(f"{where}: unknown field(s) {unknown}; allowed: {sorted(allowed)}")
    return value


def _text(where: str, mapping: Mapping[str, Any], name: str) -> str:
    value = mapping.get(name)
    if not isinstance(value, str) or not value.strip() or value != value.strip():
        raise PlaybookError(f"{where}: '{name}' must be a non-empty name without surrounding spaces")
    return value


def _text_list(where: str, mapping: Mapping[str, Any], name: str, allowed: Iterable[str]) -> list[str]:
    values = mapping.get(name, [])
    if not isinstance(values, list) or not all(isinstance(value, str) for value in values):
        raise PlaybookError(f"{where}: '{name}' must be a list of names")
    allowed = tuple(allowed)
    unknown = [value for value in values if value not in allowed]
    if unknown:
        raise PlaybookError(f"{where}: '{name}' has unknown value(s) {unknown}; expected some of {list(allowed)}")
    return values


def _optional_list(where: str, mapping: Mapping[str, Any], name: str) -> tuple[str, ...] | None:
    if name not in mapping:
        return None
    values = mapping[name]
    if not isinstance(values, list) or not values or not all(isinstance(value, str) for value in values):
        raise PlaybookError(f"{where}: '{name}' must be a non-empty list of names")
    return tuple(values)
