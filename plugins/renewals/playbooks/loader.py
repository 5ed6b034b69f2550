"""Load playbook files and reject a bad one with an error that names the file and the field."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from renewals.config import TEAM_DEFAULTS
from renewals.gates import GATES
from renewals.playbooks.model import ANCHORS, CHANNELS, ROLES, Due, Playbook, Touchpoint

PLAYBOOK_KEYS = {"name", "description", "tiers", "member_types", "requires", "touchpoints"}
TOUCHPOINT_KEYS = {"key", "channel", "due", "gates", "to", "cc_teams", "template"}
REQUIRABLE_FIELDS = ("tier", "member_type", "owner_email", "assigned_at", "amount")


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
            document = yaml.safe_load(path.read_text())
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
    to = tuple(_text_list(where, mapping, "to", ROLES))
    cc_teams = tuple(_text_list(where, mapping, "cc_teams", tuple(TEAM_DEFAULTS)))
    template = mapping.get("template")
    if channel == "email":
        if not to:
            raise PlaybookError(f"{where}: an email needs recipients in 'to' (roles {list(ROLES)})")
        if not isinstance(template, str) or not template:
            raise PlaybookError(f"{where}: an email needs a 'template'")
    return Touchpoint(
        key=key,
        playbook=playbook,
        position=position,
        channel=channel,
        due=_parse_due(where, mapping.get("due")),
        gates=gates,
        to=to,
        cc_teams=cc_teams,
        template=template,
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
    return Due(anchor=anchor, days=days, months_before=months_before)


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
