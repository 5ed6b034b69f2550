"""Load playbook files and reject a bad one with every error of the file, each naming the file and
the field. The shape of a file is the pydantic model of renewals.playbooks.schema; here the checks
that need more than one file: templates on disk, touchpoint keys unique across playbooks."""

from __future__ import annotations

from itertools import takewhile
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from renewals.playbooks.model import (
    Conditions,
    CtaChange,
    CtaTask,
    Due,
    Playbook,
    RecordAction,
    Touchpoint,
)
from renewals.playbooks.schema import CtaSpec, PlaybookSpec, RecordSpec, TouchpointSpec
from renewals.statuses import CtaPriority, CtaStatus

CTA_NOTIFICATION_TEMPLATE = "staff/cta_update"
# libyaml's parser where PyYAML was built with it: every deliver task loads the playbooks, and the
# pure-Python parser takes a fifth of a second for them.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class PlaybookError(ValueError):
    """A playbook file that cannot be used, with the place of every problem."""


def load_playbooks(directory: Path, template_dir: Path | None = None) -> dict[str, Playbook]:
    """Every ``*.yaml`` playbook in ``directory``, validated; templates checked when a dir is given."""
    playbooks: dict[str, Playbook] = {}
    touchpoint_owner: dict[str, str] = {}
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise PlaybookError(f"{directory}: no playbook files (*.yaml)")
    for path in files:
        playbook = _parse_file(path)
        problems = []
        if playbook.name in playbooks:
            problems.append(f"playbook {playbook.name!r} is defined twice")
        for touchpoint in playbook.touchpoints:
            # Touchpoint keys name ledger rows and report lines, so they are unique across playbooks.
            if touchpoint.key in touchpoint_owner:
                problems.append(
                    f"touchpoint {touchpoint.key!r} already belongs to playbook {touchpoint_owner[touchpoint.key]!r}"
                )
            touchpoint_owner.setdefault(touchpoint.key, playbook.name)
            if template_dir is not None:
                problems += _missing_templates(touchpoint, template_dir)
        _fail_on(path.name, problems)
        playbooks[playbook.name] = playbook
    return playbooks


def _parse_file(path: Path) -> Playbook:
    try:
        document = yaml.load(path.read_text(), Loader=_YAML_LOADER)
    except yaml.YAMLError as exc:
        raise PlaybookError(f"{path.name}: not valid YAML: {exc}") from None
    try:
        spec = PlaybookSpec.model_validate(document)
    except ValidationError as exc:
        _fail_on(path.name, [_describe(error, document) for error in exc.errors()])
        raise  # unreachable: _fail_on raised
    return _playbook(spec)


def _fail_on(source: str, problems: list[str]) -> None:
    if len(problems) == 1:
        raise PlaybookError(f"{source}: {problems[0]}")
    if problems:
        raise PlaybookError(f"{source}: {len(problems)} errors:\n" + "\n".join(f"  {p}" for p in problems))


def _describe(error: ErrorDetails, document: Any) -> str:
    """One validation error as ``touchpoints[0] (key): 'due.days': what is wrong (got value)``."""
    loc = error["loc"]
    where = []
    if len(loc) > 1 and loc[0] == "touchpoints" and isinstance(loc[1], int):
        where.append(f"touchpoints[{loc[1]}]{_key_of(document, loc[1])}")
        loc = loc[2:]
    if loc:
        names = len(list(takewhile(lambda part: isinstance(part, str), loc)))
        rest = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc[names:])
        where.append(f"'{'.'.join(map(str, loc[:names]))}'{rest}")
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown field"
    elif error["type"] not in ("value_error", "missing"):
        message += f" (got {error['input']!r})"
    return ": ".join([*where, message])


def _key_of(document: Any, position: Any) -> str:
    """`` (key)`` of the touchpoint at ``position`` of the raw document, when it has one."""
    try:
        key = document["touchpoints"][position]["key"]
    except (KeyError, IndexError, TypeError):
        return ""
    return f" ({key})" if isinstance(key, str) else ""


def _missing_templates(touchpoint: Touchpoint, template_dir: Path) -> list[str]:
    if touchpoint.template is None:
        return []
    paths = (template_dir / f"{touchpoint.template}{suffix}" for suffix in (".subject.txt", ".txt", ".html"))
    return [f"touchpoint {touchpoint.key!r}: template file {path} is missing" for path in paths if not path.is_file()]


def _playbook(spec: PlaybookSpec) -> Playbook:
    return Playbook(
        name=spec.name,
        description=spec.description,
        touchpoints=tuple(_touchpoint(spec.name, position, tp) for position, tp in enumerate(spec.touchpoints)),
        tiers=_optional_tuple(spec.tiers),
        member_types=_optional_tuple(spec.member_types),
        requires=tuple(spec.requires),
        answers_to_staff=tuple(spec.answers_to_staff),
    )


def _touchpoint(playbook: str, position: int, spec: TouchpointSpec) -> Touchpoint:
    return Touchpoint(
        key=spec.key,
        playbook=playbook,
        position=position,
        channel=spec.channel,
        due=Due(anchor=spec.due.anchor, days=spec.due.days, months_before=spec.due.months_before),
        gates=tuple(spec.gates),
        to=tuple(spec.to),
        to_staff=tuple(spec.to_staff),
        cc_teams=tuple(spec.cc_teams),
        cc_owner=spec.cc_owner,
        when=Conditions(
            tiers=_optional_tuple(spec.when.tiers),
            member_types=_optional_tuple(spec.when.member_types),
            hosted_site=spec.when.hosted_site,
            contact_logged=spec.when.contact_logged,
            engaged=spec.when.engaged,
        ),
        template=spec.template or (CTA_NOTIFICATION_TEMPLATE if spec.channel == "cta" else None),
        attachment=spec.attachment,
        transactional=spec.transactional,
        cta=_cta(spec.cta) if spec.cta else None,
        record=_record(spec.record) if spec.record else None,
        needs_approval=spec.needs_approval,
    )


def _cta(spec: CtaSpec) -> CtaChange:
    return CtaChange(
        type=spec.type,
        stage=spec.stage,
        priority=None if spec.priority is None else CtaPriority(spec.priority),
        owner=spec.owner,
        status=CtaStatus(spec.status),
        outcome=spec.outcome,
        due_days=spec.due_days,
        tasks=tuple(CtaTask(title=t.title, assignee=t.assignee, due_days=t.due_days) for t in spec.tasks),
        health_score=spec.health.score,
        health_label=spec.health.label,
        note=spec.note,
    )


def _record(spec: RecordSpec) -> RecordAction:
    return RecordAction(
        action=spec.action,
        outcomes=tuple(sorted(spec.outcomes.items())),
        keep=tuple(spec.keep),
        health_score=spec.health.score,
        health_label=spec.health.label,
    )


def _optional_tuple(values: list[str] | None) -> tuple[str, ...] | None:
    return None if values is None else tuple(values)
