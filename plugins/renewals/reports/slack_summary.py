"""The run summary as a Slack Block Kit message: the as-of date; counts by playbook, cohort and
gate; sent, skipped by reason, failed, unknown; quarantined rows; CTAs opened and escalated;
offboardings started; a button to the run in the Airflow UI."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from renewals.reporting import RunSummary

MAX_SECTION_TEXT = 3000  # Slack's limit for a section's text
MAX_HEADER_TEXT = 150


def run_url(base_url: str, dag_id: str, run_id: str) -> str:
    """The run's page in the Airflow 3 UI."""
    return f"{base_url.rstrip('/')}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"


def summary_message(
    summary: RunSummary, url: str | None = None, notes: Sequence[str] = ()
) -> tuple[str, list[dict[str, Any]]]:
    """(fallback text, blocks) of the run summary for an Incoming Webhook."""
    c = summary.counts
    totals = summary.status_totals
    sent = totals.get("dry_run" if summary.dry_run else "sent", 0)
    skipped = sum(summary.skipped_by_reason.values())
    failed = totals.get("failed", 0)
    unknown = totals.get("unknown", 0)
    title = f"Renewals run as of {summary.as_of}" + (" (dry run)" if summary.dry_run else "")
    context = [f"Run `{summary.run_id}`"]
    if summary.dry_run:
        context.append("dry run: nothing was sent")
    fields = [
        ("Subscriptions", f"{_n(c.get('subscriptions_in'))} in · {_n(c.get('subscriptions_processed'))} processed"),
        ("Quarantined", f"{summary.quarantined} row(s)"),
        ("Would send (dry run)" if summary.dry_run else "Sent", str(sent)),
        ("Skipped", str(skipped)),
        ("Failed", str(failed)),
        ("Unknown", f"{unknown} this run · {summary.unknown_open} open"),
        ("CTAs", f"{summary.ctas_opened} opened · {summary.ctas_escalated} escalated"),
        ("Offboardings started", f"{summary.offboardings_started} ({summary.deactivations} contact(s) to deactivate)"),
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title[:MAX_HEADER_TEXT], "emoji": True}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(context)}]},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f"*{k}*\n{v}"} for k, v in fields]},
        _listing("By playbook / gate / cohort", summary.cohorts),
        _listing(
            "Sent by touchpoint" if not summary.dry_run else "Would send by touchpoint", summary.sent_by_touchpoint
        ),
        _listing("Skipped by reason", summary.skipped_by_reason),
    ]
    if summary.failed:
        blocks.append(_listing("Failed", Counter(f"{tp}: {reason}" for tp, reason in summary.failed)))
    if summary.quarantined_by_reason:
        blocks.append(_listing("Quarantined by reason", summary.quarantined_by_reason))
    if summary.unknown_open:
        blocks.append(
            _section(
                f":warning: *{summary.unknown_open} send(s) in status unknown*: handed to the mail relay, outcome "
                "not recorded. Check the relay's log and settle them with `release_unknown` / `confirm_unknown`."
            )
        )
    for note in notes:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": _cut(note, MAX_HEADER_TEXT * 10)}]})
    if url:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Open the run in Airflow"},
                        "url": url,
                        "action_id": "open_run",
                    }
                ],
            }
        )
    text = (
        f"{title}: sent {sent}, skipped {skipped}, failed {failed}, unknown {unknown}, "
        f"quarantined {summary.quarantined}, CTAs opened {summary.ctas_opened} / escalated {summary.ctas_escalated}, "
        f"offboardings started {summary.offboardings_started}" + (f" · {url}" if url else "")
    )
    return text, blocks


def _n(value: Any) -> str:
    return "?" if value is None else str(value)


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _cut(text, MAX_SECTION_TEXT)}}


def _listing(title: str, counter: Counter) -> dict[str, Any]:
    """A titled, aligned count table in a code block, cut to Slack's section limit."""
    head = f"*{title}*\n"
    if not counter:
        return _section(head + "_none_")
    items = sorted(counter.items())
    width = max(len(key) for key, _ in items)
    lines = [f"{key:<{width}}  {n:>6}" for key, n in items]
    budget = MAX_SECTION_TEXT - len(head) - 8 - 40
    kept: list[str] = []
    used = 0
    for line in lines:
        if used + len(line) + 1 > budget:
            break
        kept.append(line)
        used += len(line) + 1
    if len(kept) < len(lines):
        kept.append(f"… and {len(lines) - len(kept)} more")
    return _section(head + "```" + "\n".join(kept) + "```")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
