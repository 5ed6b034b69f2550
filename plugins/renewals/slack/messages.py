"""Every message the pipeline posts to Slack, as (fallback text, Block Kit blocks): the staff
posts (payment received, member leaving, CTA change) and their digests, the run summary and a
task's failure.

Plain functions of plain values, light to import (the DAG file imports the failure notifier at
parse time)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from renewals.slack.blocks import button, context, escape, fields, header, listing, section
from renewals.statuses import TouchpointStatus

if TYPE_CHECKING:
    from renewals.reports.summary import RunSummary

Message = tuple[str, list[dict[str, Any]]]


def _money(amount: Any, currency: str | None) -> str | None:
    if amount is None:
        return None
    return f"{amount:,.2f} {currency or ''}".strip()


def payment_received_message(
    *,
    account_name: str,
    subscription_id: str,
    renewal_date: date,
    paid_on: date | None = None,
    amount: Any = None,
    currency: str | None = None,
    invoice_number: str | None = None,
    playbook: str | None = None,
    tier: str | None = None,
) -> Message:
    """The staff post for a payment received (gate 2)."""
    name = escape(account_name)
    text = f"Payment received: {name} ({escape(subscription_id)}), renewal {renewal_date.isoformat()}"
    blocks = [
        section(f":white_check_mark: *Payment received*: {name}"),
        fields(
            [
                ("Subscription", subscription_id),
                ("Renewal date", renewal_date.isoformat()),
                ("Paid on", paid_on.isoformat() if paid_on else None),
                ("Amount", _money(amount, currency)),
                ("Invoice", invoice_number),
                ("Playbook / tier", " / ".join(filter(None, (playbook, tier))) or None),
            ]
        ),
    ]
    return text, blocks


def deactivation_message(
    *,
    account_name: str,
    subscription_id: str,
    renewal_date: date,
    member_type: str | None = None,
    contacts: Sequence[tuple[str, str]] = (),
    decline_reason: str | None = None,
) -> Message:
    """The staff post for a member leaving: the contacts (role, email) to deactivate."""
    name = escape(account_name)
    text = (
        f"Deactivation: {name} ({escape(subscription_id)}), renewal {renewal_date.isoformat()}:"
        f" {len(contacts)} contact(s) to deactivate"
    )
    roster = "\n".join(f"• {escape(role)}: {escape(address)}" for role, address in contacts)
    blocks = [
        section(f":wave: *Member leaving*: {name}"),
        fields(
            [
                ("Subscription", subscription_id),
                ("Renewal date", renewal_date.isoformat()),
                ("Member type", member_type),
                ("Reason", decline_reason),
            ]
        ),
        section(f"*Contacts to deactivate*\n{roster or '(no contacts on record)'}"),
    ]
    return text, blocks


def cta_change_message(cta: dict[str, Any], account_name: str, subscription_id: str) -> Message:
    """The staff post for a CTA that opened or moved: what changed and who owns it now."""
    label, name = escape(cta["type_label"]), escape(account_name)
    text = (
        f"{label} for {name} ({escape(subscription_id)}): {escape(cta['change'])}; owner {escape(cta['owner_email'])}"
    )
    blocks = [
        section(f":bell: *{label}*: {name}"),
        fields(
            [
                ("Subscription", subscription_id),
                ("Stage", cta["stage_label"]),
                ("Priority", cta["priority"]),
                ("Owner", cta["owner_email"]),
                ("Change", cta["change"]),
            ]
        ),
    ]
    return text, blocks


# How a digest's notification text counts each kind of staff post (one, several).
STAFF_POST_KINDS = {
    "payment_received": ("payment received", "payments received"),
    "cta": ("CTA change", "CTA changes"),
    "deactivation": ("member leaving", "members leaving"),
}
DIVIDER = {"type": "divider"}


def staff_digest_message(posts: Sequence[tuple[str, str, Sequence[dict[str, Any]] | None]]) -> Message:
    """Several staff posts (kind, text, blocks) as one Slack message: each post's blocks (a post
    without blocks: its text), a divider between two posts, and a notification text that counts
    them by kind ("3 renewal updates: 2 payments received, 1 CTA change"). One post is itself."""
    if len(posts) == 1:
        _kind, text, only_blocks = posts[0]
        return text, list(only_blocks or [])
    counts = Counter(kind for kind, _text, _blocks in posts)
    parts = []
    for kind, n in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        one, several = STAFF_POST_KINDS.get(kind, (kind.replace("_", " "), kind.replace("_", " ")))
        parts.append(f"{n} {one if n == 1 else several}")
    blocks: list[dict[str, Any]] = []
    for _kind, text, post_blocks in posts:
        if blocks:
            blocks.append(DIVIDER)
        blocks.extend(post_blocks or [section(text)])
    return f"{len(posts)} renewal updates: {', '.join(parts)}", blocks


def run_url(base_url: str, dag_id: str, run_id: str) -> str:
    """The run's page in the Airflow 3 UI."""
    return f"{base_url.rstrip('/')}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"


def _n(value: Any) -> str:
    return "?" if value is None else str(value)


def summary_message(summary: RunSummary, url: str | None = None, notes: Sequence[str] = ()) -> Message:
    """The run summary: the as-of date; counts by playbook, cohort and gate; customer emails, staff
    emails and staff steps recorded, each by touchpoint; skipped by reason, history settled apart,
    failed, unknown; quarantined rows; CTAs opened and escalated; offboardings started; a button to
    the run in the Airflow UI."""
    from renewals.reports.summary import HISTORY_NOTE, KIND_LABELS, KINDS, STEPS_RECORDED

    c = summary.counts
    totals = summary.status_totals
    skipped = sum(summary.skipped_by_reason.values())
    history = sum(summary.history_by_reason.values())
    failed = totals.get(TouchpointStatus.FAILED, 0)
    unknown = totals.get(TouchpointStatus.UNKNOWN, 0)
    title = f"Renewals run as of {summary.as_of}" + (" (dry run)" if summary.dry_run else "")
    about = f"Run `{escape(summary.run_id)}`" + (" · dry run: nothing was sent" if summary.dry_run else "")

    def label(kind: str) -> str:
        return KIND_LABELS[kind] + (" (would send)" if summary.dry_run and kind != STEPS_RECORDED else "")

    blocks: list[dict[str, Any]] = [
        header(title),
        context(about),
        fields(
            [
                (
                    "Subscriptions",
                    f"{_n(c.get('subscriptions_in'))} in · {_n(c.get('subscriptions_processed'))} processed",
                ),
                ("Quarantined", f"{summary.quarantined} row(s)"),
                *((label(kind), str(summary.total(kind))) for kind in KINDS),
                ("Skipped", str(skipped)),
                ("Failed", str(failed)),
                ("Unknown", f"{unknown} this run · {summary.unknown_open} open"),
                ("CTAs", f"{summary.ctas_opened} opened · {summary.ctas_escalated} escalated"),
                (
                    "Offboardings started",
                    f"{summary.offboardings_started} ({summary.deactivations} contact(s) to deactivate)",
                ),
            ]
        ),
        listing("By playbook / gate / cohort", summary.cohorts),
        *(listing(f"{label(kind)} by touchpoint", summary.sent[kind]) for kind in KINDS),
        listing("Skipped by reason", summary.skipped_by_reason),
    ]
    if history:
        blocks.append(listing(f"Settled from history ({HISTORY_NOTE})", summary.history_by_reason))
    if summary.failed:
        blocks.append(listing("Failed", Counter(f"{tp}: {reason}" for tp, reason in summary.failed)))
    if summary.quarantined_by_reason:
        blocks.append(listing("Quarantined by reason", summary.quarantined_by_reason))
    if summary.unknown_open:
        blocks.append(
            section(
                f":warning: *{summary.unknown_open} send(s) in status unknown*: handed to the mail relay, outcome "
                "not recorded. Check the relay's log and settle them with `release_unknown` / `confirm_unknown`."
            )
        )
    blocks.extend(context(escape(note)) for note in notes)
    if url:
        blocks.append(button("Open the run in Airflow", url, "open_run"))
    figures = ", ".join(f"{KIND_LABELS[kind].lower()} {summary.total(kind)}" for kind in KINDS)
    text = (
        f"{escape(title)}: {figures}, skipped {skipped}"
        + (f" (and {history} from history)" if history else "")
        + f", failed {failed}, unknown {unknown}, quarantined {summary.quarantined}, "
        f"CTAs opened {summary.ctas_opened} / escalated {summary.ctas_escalated}, "
        f"offboardings started {summary.offboardings_started}" + (f" · {escape(url)}" if url else "")
    )
    return text, blocks


def approval_message(subject: str, body: str, url: str) -> Message:
    """A run asks staff to approve irreversible steps (``renewals.approvals``); the body holds
    warehouse text (account names), shown as typed."""
    text = f"Renewals: {escape(subject)}"
    return text, [
        section(f":raised_hand: *{text}*"),
        section(escape(body)),
        button("Approve or hold", url, "open_approval"),
    ]


def failure_message(details: dict[str, str]) -> Message:
    """A task that failed (``renewals.notifications.failure.failure_details``)."""
    text = (
        f"Renewals: task {escape(details['task'])} failed (try {details['try_number']})"
        f" in run {escape(details['run_id'])}"
    )
    blocks: list[dict[str, Any]] = [
        section(f":rotating_light: *{text}*"),
        fields(
            [
                ("DAG", details["dag_id"]),
                ("Task", details["task"]),
                ("Run", details["run_id"]),
                ("Try", details["try_number"]),
            ]
        ),
    ]
    if details["error"]:
        blocks.append(section(f"```{escape(details['error'])}```"))
    if details["log_url"].startswith("http"):
        blocks.append(button("Open the task log", details["log_url"], "open_log"))
    return text, blocks


def slack_escape(text: str) -> str:
    """Text a member wrote, shown literally in Slack markup (Slack's three control characters)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def member_answer_message(
    *, subscription_id: str, renewal_date: date, answer: str, reason: str | None, recipient: str
) -> Message:
    """The staff post for a member's one-click answer: intent to renew, or decline (with its reason)."""
    said = "intends to renew" if answer == "intent" else "will not renew"
    text = f"Member answer: {subscription_id} {said}, renewal {renewal_date.isoformat()}"
    blocks = [
        section(f"{':handshake:' if answer == 'intent' else ':door:'} *{slack_escape(subscription_id)}* {said}"),
        fields(
            [
                ("Answered by", slack_escape(recipient)),
                ("Renewal date", renewal_date.isoformat()),
                ("Reason", slack_escape(reason) if reason else None),
            ]
        ),
    ]
    return text, blocks


def member_reply_message(
    *, subscription_id: str, renewal_date: date, sender: str, subject: str, excerpt: str, owner: str
) -> Message:
    """The staff post for a member's reply: reminders stopped for the cycle until staff resume them."""
    text = f"Member replied: {subscription_id}, renewal {renewal_date.isoformat()}; reminders stopped, over to {owner}"
    blocks = [
        section(f":speech_balloon: *Member replied*: {slack_escape(subscription_id)}; reminders stopped"),
        fields(
            [
                ("From", slack_escape(sender)),
                ("Subject", slack_escape(subject)),
                ("Renewal date", renewal_date.isoformat()),
                ("Over to", owner),
            ]
        ),
        section(f">>> {slack_escape(excerpt)}" if excerpt else "(no text)"),
    ]
    return text, blocks
