"""Block Kit building blocks, cut to Slack's limits.

Slack reads ``<...>`` in a message's text and mrkdwn as a mention or a link (``<!channel>``,
``<https://x|label>``) and ``&`` as an entity, so every value from the warehouse or a run goes
through :func:`escape` before it reaches a message: :func:`fields` and :func:`listing` escape
their values themselves; a caller escapes what it puts in a section's own text."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

MAX_SECTION_TEXT = 3000  # characters in a section's text
MAX_HEADER_TEXT = 150
MAX_FIELDS = 10  # fields in one section


def escape(value: object) -> str:
    """``value`` as Slack text that shows as typed: ``&``, ``<`` and ``>`` as Slack's entities."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def truncate(text: str, limit: int = MAX_SECTION_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": truncate(text, MAX_HEADER_TEXT), "emoji": True}}


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": truncate(text)}}


def context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(text, MAX_HEADER_TEXT * 10)}]}


def fields(pairs: Sequence[tuple[str, Any]]) -> dict[str, Any]:
    """A section of labelled values; empty values are left out."""
    shown = [(label, value) for label, value in pairs if value not in (None, "")][:MAX_FIELDS]
    return {
        "type": "section",
        "fields": [{"type": "mrkdwn", "text": f"*{label}*\n{escape(value)}"} for label, value in shown],
    }


def button(text: str, url: str, action_id: str) -> dict[str, Any]:
    return {
        "type": "actions",
        "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": text}, "url": url, "action_id": action_id}
        ],
    }


def listing(title: str, counter: Counter) -> dict[str, Any]:
    """A titled, aligned count table in a code block, cut to Slack's section limit."""
    head = f"*{title}*\n"
    if not counter:
        return section(head + "_none_")
    items = sorted((escape(key), n) for key, n in counter.items())
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
    return section(head + "```" + "\n".join(kept) + "```")
