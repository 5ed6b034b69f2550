"""What comes next for one member, and what the outbox shows of each message: the touchpoints the
one rule (renewals.decisions.due) puts ahead, with who they go to and the message as it would be
sent (edited by staff where they edited it), from the same templates and composer the delivery
uses (renewals.delivery.shard_delivery.Composer)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from renewals.config import Settings
from renewals.decisions.due import ahead_query, load_rule_tables
from renewals.delivery.messages import bodies
from renewals.delivery.render import Renderer
from renewals.delivery.shard_delivery import Composer, Edit, template_context
from renewals.playbooks import Playbook, Touchpoint
from renewals.playbooks.model import OFFBOARDING_GROUP, OWNER
from renewals.storage.sql_files import sql_text

HORIZON_DAYS = 400  # how far ahead a member's page looks
# the rule's columns a member page and the outbox show of each touchpoint ahead
STEERING = (
    "state",
    "playbook_due_date",
    "skip_reason",
    "move_to",
    "edit_subject",
    "edit_text",
    "held_until",
    "hold_reason",
    "replied",
)


def member_ahead(
    ops: psycopg.Connection,
    staged_table: sql.Composable,
    subscription_id: str,
    playbooks: Mapping[str, Playbook],
    settings: Settings,
    today: date,
) -> list[dict[str, Any]]:
    """The rule's rows still ahead for one member of a run's staging table, from ``today`` on."""
    with ops.transaction(), ops.cursor(row_factory=dict_row) as cur:
        member = sql.Identifier("console_member")
        cur.execute(
            sql.SQL("create temp table {} on commit drop as select * from {} where subscription_id = %s").format(
                member, staged_table
            ),
            (subscription_id,),
        )
        count_answers(ops, member, today)
        load_rule_tables(ops, member, playbooks, settings.holidays, settings.teams)
        query = sql.SQL("{} order by due_date, position, touchpoint").format(ahead_query(member))
        params = {"first": today, "last": today + timedelta(days=HORIZON_DAYS), "as_of": today}
        return cur.execute(query, params).fetchall()


def count_answers(ops: psycopg.Connection, members: sql.Identifier, today: date) -> None:
    """Count the answers given since the members' run staged them on ``members`` (a temp table of
    their staged rows), as the next run will count them."""
    ops.execute(sql.SQL(sql_text("console/answered.sql")).format(members=members), {"as_of": today})


def recipients_of(
    touchpoint: Touchpoint, staged: Mapping[str, Any], contacts: Sequence[Mapping[str, Any]], settings: Settings
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
    contacts: Sequence[Mapping[str, Any]],
    due_rows: Sequence[Mapping[str, Any]],
    playbook: Playbook,
    settings: Settings,
    renderer: Renderer,
) -> list[dict[str, Any]]:
    """Each touchpoint ahead (``due_rows``, from :func:`member_ahead`) with its preview, soonest first."""
    ahead = []
    for due in due_rows:
        touchpoint = playbook.touchpoint(due["touchpoint"])
        item: dict[str, Any] = {
            "renewal_date": due["renewal_date"],
            "touchpoint": touchpoint.key,
            "channel": touchpoint.channel,
            "due_date": due["due_date"],
            "gate": due["gate"],
            # contact_logged / engaged are decided on the day from the owner's activity
            "conditional": touchpoint.when.contact_logged is not None or touchpoint.when.engaged is not None,
            **{key: due[key] for key in STEERING},
            "subject": None,
            "preview": None,
        }
        recipients = recipients_of(touchpoint, staged, contacts, settings)
        item["recipients"] = recipients
        if touchpoint.channel in ("email", "staff_email") and touchpoint.template is not None and recipients:
            edit = Edit.of(due)
            composer = Composer(settings, renderer, due["due_date"])
            item["preview"] = preview(touchpoint, staged, contacts, recipients, composer, edit)
            item["subject"] = item["preview"]["subject"]
        elif touchpoint.cta is not None:
            item["cta"] = {
                "type": touchpoint.cta.type,
                "stage": touchpoint.cta.stage,
                "priority": touchpoint.cta.priority,
            }
        ahead.append(item)
    return ahead


def message_row(
    touchpoint: Touchpoint,
    staged: Mapping[str, Any],
    contacts: Sequence[Mapping[str, Any]],
    recipients: list[str],
    settings: Settings,
) -> dict[str, Any]:
    """The staged row as the delivery composes a touchpoint's message from it: with its
    recipients, copies and the contacts' names."""
    primary = [c for c in sorted(contacts, key=lambda c: c["contact_id"]) if c["role"] == "primary" and c["name"]]
    cc = [settings.teams[team] for team in touchpoint.cc_teams if team in settings.teams]
    if touchpoint.cc_owner and staged.get("owner_email"):
        cc.append(staged["owner_email"])
    return {
        **staged,
        "recipients": recipients,
        "cc": cc,
        "contact_name": primary[0]["name"] if primary else None,
        "contact_names": list(
            dict.fromkeys(
                c["name"]
                for c in sorted(contacts, key=lambda c: (c["role"] != "primary", c["contact_id"]))
                if c["name"] and c["email"] in recipients
            )
        ),
        "contacts": [{"role": c["role"], "name": c["name"], "email": c["email"]} for c in contacts],
    }


def message_body(touchpoint: Touchpoint, row: Mapping[str, Any], composer: Composer, edit: Edit | None) -> str:
    """What staff edit: the message's own words, between the greeting and the signature."""
    if edit is not None and edit.text is not None:
        return edit.text
    assert touchpoint.template is not None  # the caller previews only touchpoints with a template
    context = template_context(row, touchpoint, None, composer.settings, composer.as_of)
    return composer.renderer.content(touchpoint.template, context)


def preview(
    touchpoint: Touchpoint,
    staged: Mapping[str, Any],
    contacts: Sequence[Mapping[str, Any]],
    recipients: list[str],
    composer: Composer,
    edit: Edit | None = None,
) -> dict[str, Any]:
    """The message as the run on its due date (``composer``'s day) would compose it (with staff's ``edit``)."""
    row = message_row(touchpoint, staged, contacts, recipients, composer.settings)
    message = composer.message(row, touchpoint, edit=edit)
    text, html = bodies(message)
    return {
        "subject": message["Subject"],
        "recipients": recipients,
        "cc": row["cc"],
        "text": text,
        "html": html,
        "body": message_body(touchpoint, row, composer, edit),
        "attachments": [part.get_filename() for part in message.iter_attachments()],
    }


def brief_preview(
    touchpoint: Touchpoint,
    staged: Mapping[str, Any],
    contacts: Sequence[Mapping[str, Any]],
    recipients: list[str],
    composer: Composer,
    edit: Edit | None = None,
) -> dict[str, Any]:
    """What a list shows of the message: its subject (the Subject header :func:`preview` reads
    back is the rendered subject itself), copies and own words, without composing the email."""
    row = message_row(touchpoint, staged, contacts, recipients, composer.settings)
    rendered = composer.render(row, touchpoint, edit=edit)
    return {
        "subject": rendered.subject,
        "cc": row["cc"],
        "body": message_body(touchpoint, row, composer, edit),
    }
