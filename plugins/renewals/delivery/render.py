"""Render touchpoint messages from include/templates with a sandboxed, autoescaping Jinja.

Values come from the warehouse, so templates are rendered in a sandbox with HTML autoescaped
and undefined names failing loudly instead of sending a half-empty email.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import FileSystemBytecodeCache, FileSystemLoader, StrictUndefined, select_autoescape
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup

from renewals.decisions.dates import term_end
from renewals.labels import TIER_LABELS, label


@dataclass(frozen=True)
class RenderedMessage:
    subject: str
    text: str
    html: str


# Staff's edited words in place of a template's own (its content block), inside the template's
# frame: greeting, signature and footer as the template has them. A template made from a string
# autoescapes: the text part's words are marked safe (plain text, no markup), the HTML paragraphs
# arrive escaped (Markup) from html_paragraphs.
EDITED_TEXT = "{% extends template %}{% block content %}{{ edited_text | safe }}\n{% endblock %}"
EDITED_HTML = (
    "{% extends template %}{% block content %}{% for paragraph in edited_paragraphs %}"
    '<p style="margin:0 0 16px 0;">{{ paragraph }}</p>{% endfor %}{% endblock %}'
)


def html_paragraphs(text: str) -> list[Markup]:
    """Plain text as HTML paragraphs (blank lines part them, a line break stays one), escaped."""
    paragraphs = [p.strip() for p in text.replace("\r\n", "\n").split("\n\n")]
    return [Markup("<br>").join(p.split("\n")) for p in paragraphs if p]


def long_date(value: date) -> str:
    return f"{value.day} {value:%B %Y}"


def money(amount: Decimal | None, currency: str | None) -> str:
    if amount is None:
        return ""
    return f"{amount:,.2f} {currency or ''}".strip()


def mailto(address: str) -> str:
    """A ``mailto:`` link to exactly ``address``: anything a URI reads as more (``?cc=``, ``&``,
    ``%``) is percent-encoded, so warehouse text cannot add recipients or headers to the link."""
    return "mailto:" + quote(address, safe="@")


class Renderer:
    def __init__(self, template_dir: Path) -> None:
        self._env = SandboxedEnvironment(
            loader=FileSystemLoader(template_dir),
            # Compiled templates kept on disk (a private directory in the temp dir, keyed by the
            # template's source): each deliver task is a new process, and compiling the templates
            # cost it more than rendering a shard's messages.
            bytecode_cache=FileSystemBytecodeCache(pattern="__renewals_jinja_%s.cache"),
            autoescape=select_autoescape(["html"]),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._env.filters["long_date"] = long_date
        self._env.filters["money"] = money
        self._env.filters["label"] = label
        self._env.filters["mailto"] = mailto

    def render(self, template: str, context: dict[str, Any]) -> RenderedMessage:
        subject = self._env.get_template(f"{template}.subject.txt").render(context)
        return RenderedMessage(
            subject=" ".join(subject.split()),
            text=self._env.get_template(f"{template}.txt").render(context),
            html=self._env.get_template(f"{template}.html").render(context),
        )

    def render_edited(
        self, template: str, context: dict[str, Any], subject: str | None, text: str | None
    ) -> RenderedMessage:
        """The message with staff's ``subject`` and ``text`` (the words of its content block; None
        keeps the template's), each part inside the template's own frame."""
        rendered = self.render(template, context)
        if text is None:
            return RenderedMessage(" ".join((subject or rendered.subject).split()), rendered.text, rendered.html)
        return RenderedMessage(
            subject=" ".join((subject or rendered.subject).split()),
            text=self._env.from_string(EDITED_TEXT).render(
                {**context, "template": f"{template}.txt", "edited_text": text.strip()}
            ),
            html=self._env.from_string(EDITED_HTML).render(
                {**context, "template": f"{template}.html", "edited_paragraphs": html_paragraphs(text)}
            ),
        )

    def content(self, template: str, context: dict[str, Any]) -> str:
        """The words of the text part's content block (what staff edit), without the frame."""
        text = self._env.get_template(f"{template}.txt")
        if "content" not in text.blocks:
            return self.render(template, context).text.strip()
        return "".join(text.blocks["content"](text.new_context(context))).strip()


def greeting_names(names: list[str] | None) -> str | None:
    """Everyone a message is addressed to, by name: "Kemi Kowalski and Jane Doe"."""
    names = [name for name in names or [] if name]
    if len(names) <= 1:
        return names[0] if names else None
    return f"{', '.join(names[:-1])} and {names[-1]}"


def member_url(public_url: str, subscription_id: str) -> str:
    """The member's page in the renewals console (the api-server's /renewals app)."""
    return f"{public_url.rstrip('/')}/renewals/members/{quote(subscription_id, safe='')}"


def message_context(
    row: dict[str, Any],
    as_of: date,
    touchpoint: str,
    sender_name: str,
    support_line: str,
    public_url: str = "http://localhost:8080",
) -> dict[str, Any]:
    """The template variables of one touchpoint for one subscription (see include/templates).
    ``contact_name`` greets every named recipient (``contact_names``), else the primary contact."""
    renewal_date: date = row["renewal_date"]
    days_to_renewal = (renewal_date - as_of).days
    term_months = row.get("term_months") or 12
    return {
        "subscription_id": row["subscription_id"],
        "account_name": row["account_name"],
        "contact_name": greeting_names(row.get("contact_names")) or row.get("contact_name"),
        "contacts": row.get("contacts") or [],
        "owner_email": row.get("owner_email"),
        "renewal_date": renewal_date,
        "renewal_year": renewal_date.year,
        "days_to_renewal": days_to_renewal,
        "days_overdue": max(0, -days_to_renewal),
        "tier_label": TIER_LABELS.get(row.get("tier") or ""),
        "member_type": row.get("member_type"),
        "amount": row.get("amount"),
        "currency": row.get("currency"),
        "invoice_number": row.get("invoice_number"),
        "term_months": term_months,
        "term_start": renewal_date,
        "term_end": term_end(renewal_date, term_months),
        "paid_on": row.get("paid_on"),
        "decline_reason": row.get("decline_reason"),
        "support_line": support_line,
        "sender_name": sender_name,
        "touchpoint": touchpoint,
        "member_url": member_url(public_url, row["subscription_id"]),
        "cta": None,
        "answer_links": None,  # the recipient's one-click answers (a reminder asking a decision)
        "unsubscribe_link": None,
    }
