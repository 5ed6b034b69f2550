"""What comes next for one member: every touchpoint still ahead under today's gate, with its due
date and the message as it would be sent, from the same playbooks, templates and composer the
delivery uses (renewals.delivery.deliver.compose_message)."""

from __future__ import annotations

from collections.abc import Container, Mapping
from datetime import date, timedelta
from typing import Any

from renewals.config import Settings
from renewals.dates import notice_day
from renewals.delivery.deliver import compose_message
from renewals.delivery.messages import bodies
from renewals.delivery.render import Renderer
from renewals.gates import GateFacts, gate_on
from renewals.playbooks import Playbook, Touchpoint
from renewals.playbooks.model import OFFBOARDING_GROUP, OWNER


def due_date(touchpoint: Touchpoint, staged: Mapping[str, Any], holidays: Container[date]) -> date | None:
    """The touchpoint's due date for this renewal (None while its anchor has not happened)."""
    due = touchpoint.due
    renewal_date: date = staged["renewal_date"]
    if due.anchor == "renewal_date":
        return renewal_date + timedelta(days=due.days)
    if due.anchor == "notice_month":
        return notice_day(renewal_date, due.months_before, holidays)
    anchor_day = {"intent_confirmed": "intent_on", "paid": "paid_on", "assigned": "assigned_on"}[due.anchor]
    if staged.get(anchor_day) is None:
        return None
    # "assigned": the hand-over is day 1 (as classification counts it)
    return staged[anchor_day] + timedelta(days=due.days - (1 if due.anchor == "assigned" else 0))


def applies(touchpoint: Touchpoint, staged: Mapping[str, Any], gate: str) -> bool:
    when = touchpoint.when
    return (
        gate in touchpoint.gates
        and (when.tiers is None or staged.get("tier") in when.tiers)
        and (when.member_types is None or staged.get("member_type") in when.member_types)
        and (when.hosted_site is None or staged.get("hosted_site") == when.hosted_site)
    )


def recipients_of(
    touchpoint: Touchpoint, staged: Mapping[str, Any], contacts: list[Mapping[str, Any]], settings: Settings
) -> list[str]:
    """Who the message would go to, as classification addresses it (opted-out contacts left out)."""
    if touchpoint.channel == "email":
        return sorted({c["email"] for c in contacts if c["role"] in touchpoint.to and not c["opted_out"]})
    if touchpoint.channel == "staff_email":
        staff = [settings.teams[team] for team in touchpoint.to_staff if team in settings.teams]
        if OWNER in touchpoint.to_staff and staged.get("owner_email"):
            staff.append(staged["owner_email"])
        if OFFBOARDING_GROUP in touchpoint.to_staff:
            staff.append(
                settings.team_address("offboarding_op" if staged.get("member_type") == "OP" else "offboarding_tc")
            )
        return staff
    return []


def upcoming(
    staged: Mapping[str, Any],
    contacts: list[Mapping[str, Any]],
    ledger_keys: set[tuple[date, str]],
    playbook: Playbook,
    settings: Settings,
    renderer: Renderer,
    today: date,
) -> list[dict[str, Any]]:
    """The touchpoints due from ``today`` on that the ledger does not hold yet, soonest first."""
    gate = gate_on(
        GateFacts(
            staged.get("intent_confirmed_at"), staged.get("paid_at"), staged.get("declined_at"), staged["timezone"]
        ),
        today,
    )
    ahead = []
    for touchpoint in playbook.touchpoints:
        if not applies(touchpoint, staged, gate) or (staged["renewal_date"], touchpoint.key) in ledger_keys:
            continue
        due = due_date(touchpoint, staged, settings.holidays)
        if due is None or due < today:
            continue
        item: dict[str, Any] = {
            "renewal_date": staged["renewal_date"],
            "touchpoint": touchpoint.key,
            "channel": touchpoint.channel,
            "due_date": due,
            "gate": gate,
            # contact_logged / engaged are decided on the day from the owner's activity
            "conditional": touchpoint.when.contact_logged is not None or touchpoint.when.engaged is not None,
            "preview": None,
        }
        recipients = recipients_of(touchpoint, staged, contacts, settings)
        if touchpoint.channel in ("email", "staff_email") and touchpoint.template is not None and recipients:
            item["preview"] = preview(touchpoint, staged, contacts, recipients, settings, renderer, due)
        elif touchpoint.cta is not None:
            item["cta"] = {
                "type": touchpoint.cta.type,
                "stage": touchpoint.cta.stage,
                "priority": touchpoint.cta.priority,
            }
        ahead.append(item)
    return sorted(ahead, key=lambda item: (item["due_date"], item["touchpoint"]))


def preview(
    touchpoint: Touchpoint,
    staged: Mapping[str, Any],
    contacts: list[Mapping[str, Any]],
    recipients: list[str],
    settings: Settings,
    renderer: Renderer,
    due: date,
) -> dict[str, Any]:
    """The message as the run on its due date would compose it."""
    primary = [c for c in sorted(contacts, key=lambda c: c["contact_id"]) if c["role"] == "primary" and c["name"]]
    cc = [settings.teams[team] for team in touchpoint.cc_teams if team in settings.teams]
    if touchpoint.cc_owner and staged.get("owner_email"):
        cc.append(staged["owner_email"])
    row = {
        **staged,
        "recipients": recipients,
        "cc": cc,
        "contact_name": primary[0]["name"] if primary else None,
        "contacts": [{"role": c["role"], "name": c["name"], "email": c["email"]} for c in contacts],
    }
    message = compose_message(row, touchpoint, None, settings, renderer, due)
    text, html = bodies(message)
    return {
        "subject": message["Subject"],
        "recipients": recipients,
        "cc": cc,
        "text": text,
        "html": html,
        "attachments": [part.get_filename() for part in message.iter_attachments()],
    }
