"""A one-page PDF receipt for a paid renewal, attached to the `receipt` email (gate 2: paid).

Rendered with fpdf2's core Helvetica, so no font file has to ship with the workers. Core fonts
only cover Windows-1252 (the PDF's WinAnsiEncoding): other characters are transliterated where
possible ("Ł" -> "L") and replaced with "?" otherwise, so any account name renders, never crashes.

The output is deterministic: the creation date is the payment date and the file identifier is
derived from the content, so a resend attaches a byte-identical file. Streams are left
uncompressed (a receipt is a few kilobytes), which keeps the text searchable in the raw bytes.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from fpdf import FPDF

from renewals.delivery.render import long_date, money

PDF_ENCODING = "cp1252"  # what WinAnsiEncoding, fpdf2's encoding of the core fonts, covers
MISSING = "\u2014"  # em dash, in cp1252
MAX_VALUE_CHARS = 300  # keeps the receipt on one page whatever the warehouse holds

# common characters outside cp1252 that have an obvious stand-in
_STAND_INS = str.maketrans(
    {
        "\u2010": "-",  # hyphen
        "\u2011": "-",  # non-breaking hyphen
        "\u2012": "-",  # figure dash
        "\u2015": "\u2014",  # horizontal bar
        "\u2212": "-",  # minus sign
        "\u2032": "'",  # prime
        "\u2033": '"',  # double prime
        "\u2044": "/",  # fraction slash
        "\u2007": " ",
        "\u2009": " ",
        "\u202f": " ",
        "\u0141": "L",  # Ł: no decomposition
        "\u0142": "l",  # ł
        "\u0110": "D",  # Đ
        "\u0111": "d",  # đ
        "\u0131": "i",  # dotless i
    }
)


@dataclass(frozen=True)
class Receipt:
    organisation: str
    account_name: str
    subscription_id: str
    invoice_number: str | None
    amount: Decimal | None
    currency: str | None
    paid_on: date
    term_start: date
    term_end: date
    contact_name: str | None


def pdf_text(value: str) -> str:
    """``value`` reduced to what the core fonts can draw: every character either kept, given a
    stand-in, stripped of its accents, or replaced with "?"; control characters become spaces."""
    out: list[str] = []
    for char in unicodedata.normalize("NFC", value):
        if unicodedata.category(char).startswith("C"):
            out.append(" ")
            continue
        if _encodable(char):
            out.append(char)
            continue
        stand_in = char.translate(_STAND_INS)
        if stand_in != char:
            out.append(stand_in)
            continue
        decomposed = "".join(
            c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c) and _encodable(c)
        )
        out.append(decomposed or "?")
    return " ".join("".join(out).split())


def _encodable(char: str) -> bool:
    try:
        char.encode(PDF_ENCODING)
    except UnicodeEncodeError:
        return False
    return True


def _value(value: str | None) -> str:
    text = pdf_text(value or "")
    if len(text) > MAX_VALUE_CHARS:
        text = text[: MAX_VALUE_CHARS - 3].rstrip() + "..."
    return text or MISSING


def receipt_pdf(receipt: Receipt) -> bytes:
    """The receipt as a one-page A4 PDF; the same receipt always gives the same bytes."""
    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    pdf.core_fonts_encoding = PDF_ENCODING
    pdf.set_compression(False)
    pdf.set_creation_date(datetime(receipt.paid_on.year, receipt.paid_on.month, receipt.paid_on.day, tzinfo=UTC))
    organisation = _value(receipt.organisation)
    number = _value(receipt.invoice_number)
    pdf.set_title(f"Receipt {number}" if receipt.invoice_number else "Receipt")
    pdf.set_author(organisation)
    pdf.set_subject(f"Membership renewal of {_value(receipt.account_name)}")
    pdf.set_creator(organisation)
    pdf.set_margins(left=20, top=20, right=20)
    pdf.set_auto_page_break(auto=False)
    pdf.add_page()

    pdf.set_text_color(34, 34, 34)
    pdf.set_font("Helvetica", style="B", size=24)
    pdf.cell(0, 12, "Receipt", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=12)
    pdf.set_text_color(85, 85, 85)
    pdf.cell(0, 7, organisation, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_draw_color(224, 224, 224)
    pdf.line(pdf.l_margin, pdf.get_y(), pdf.w - pdf.r_margin, pdf.get_y())
    pdf.ln(8)

    rows = [
        ("Issued by", organisation),
        ("Invoice number", number),
        ("Date paid", long_date(receipt.paid_on)),
        ("Account", _value(receipt.account_name)),
    ]
    if receipt.contact_name:
        rows.append(("Contact", _value(receipt.contact_name)))
    rows += [
        ("Subscription", _value(receipt.subscription_id)),
        ("Membership term", f"{long_date(receipt.term_start)} to {long_date(receipt.term_end)}"),
        ("Amount paid", _value(money(receipt.amount, receipt.currency))),
    ]
    label_width = 50
    value_width = pdf.w - pdf.l_margin - pdf.r_margin - label_width
    for label, value in rows:
        pdf.set_font("Helvetica", size=11)
        pdf.set_text_color(85, 85, 85)
        pdf.cell(label_width, 7, label)
        pdf.set_font("Helvetica", style="B" if label == "Amount paid" else "", size=11)
        pdf.set_text_color(34, 34, 34)
        pdf.multi_cell(value_width, 7, value, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)

    pdf.ln(8)
    pdf.set_font("Helvetica", size=11)
    pdf.multi_cell(
        0,
        6,
        "Payment has been received in full. Thank you for renewing your membership and for your continued support.",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    return bytes(pdf.output())


def receipt_filename(receipt: Receipt) -> str:
    """``receipt-<invoice number>.pdf``, or the subscription id without an invoice number; only
    letters, digits, dots, hyphens and underscores."""
    for candidate in (receipt.invoice_number, receipt.subscription_id):
        safe = _safe_name(candidate or "")
        if safe:
            return f"receipt-{safe}.pdf"
    return "receipt.pdf"


def _safe_name(value: str) -> str:
    ascii_value = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^A-Za-z0-9._-]+", "-", ascii_value).strip("-._")[:80].strip("-._")
