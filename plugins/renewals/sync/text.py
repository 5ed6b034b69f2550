"""Warehouse and member text as the staff systems take it: data, never markup.

An account name, a decline's reason or the first lines of a reply come from outside; in a GitHub
issue they must not ping a team (``@org/team``), make a link or an image, or break the checklist
with a line break; in HubSpot's rich-text bodies they must not be HTML; and no value may be longer
than the field that takes it (the vendors refuse the whole record otherwise).
"""

from __future__ import annotations

import html
import re

_SPACES = re.compile(r"[\s\x00-\x1f\x7f]+")  # line breaks, tabs and control characters
# Markdown's punctuation (CommonMark: any ASCII punctuation may be escaped with a backslash).
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|~])")
ZERO_WIDTH_SPACE = "&#8203;"


def one_line(text: str) -> str:
    """``text`` on one line: line breaks, tabs and control characters as single spaces."""
    return _SPACES.sub(" ", text).strip()


def limited(text: str, chars: int) -> str:
    """``text`` cut to ``chars`` characters, the cut shown with an ellipsis."""
    return text if len(text) <= chars else text[: chars - 1] + "…"


def markdown_text(text: str) -> str:
    """``text`` as literal GitHub Markdown on one line: punctuation escaped, HTML as entities, and a
    zero-width space after each ``@`` and in ``://`` so that nothing mentions anyone or links."""
    escaped = html.escape(_MARKDOWN.sub(r"\\\1", one_line(text)), quote=False)
    return escaped.replace("@", "@" + ZERO_WIDTH_SPACE).replace("://", ":" + ZERO_WIDTH_SPACE + "//")


def html_text(text: str) -> str:
    """``text`` as literal HTML (HubSpot's rich-text bodies), its line breaks kept."""
    return "<br>".join(html.escape(line) for line in text.splitlines())
