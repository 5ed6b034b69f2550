"""The PDF receipt: its text (streams are uncompressed), Unicode names, determinism, file name."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from renewals.delivery.receipt import Receipt, pdf_text, receipt_filename, receipt_pdf

RECEIPT = Receipt(
    organisation="Membership Services",
    account_name="Acme Widgets",
    subscription_id="SUB-0042",
    invoice_number="INV-1001",
    amount=Decimal("1250"),
    currency="USD",
    paid_on=date(2026, 12, 20),
    term_start=date(2027, 1, 1),
    term_end=date(2027, 12, 31),
    contact_name="Jane Doe",
)


def shown_text(pdf: bytes) -> list[bytes]:
    """The strings drawn on the page, in cp1252 as the core fonts hold them."""
    return [re.sub(rb"\\(.)", rb"\1", s) for s in re.findall(rb"\(((?:[^()\\]|\\.)*)\) ?Tj", pdf)]


def test_a_one_page_pdf_with_the_receipt_details():
    pdf = receipt_pdf(RECEIPT)
    assert pdf.startswith(b"%PDF-")
    assert pdf.rstrip().endswith(b"%%EOF")
    assert pdf.count(b"/Type /Page\n") == 1
    assert b"/MediaBox [0 0 595.28 841.89]" in pdf  # A4
    text = shown_text(pdf)
    for expected in (
        b"Receipt",
        b"Membership Services",
        b"INV-1001",
        b"20 December 2026",
        b"Acme Widgets",
        b"Jane Doe",
        b"SUB-0042",
        b"1 January 2027 to 31 December 2027",
        b"1,250.00 USD",
    ):
        assert expected in text, expected
    assert any(b"Thank you" in line for line in text)


def test_missing_invoice_number_amount_and_contact_show_a_dash():
    pdf = receipt_pdf(replace(RECEIPT, invoice_number=None, amount=None, currency=None, contact_name=None))
    text = shown_text(pdf)
    assert text.count("\u2014".encode("cp1252")) == 2
    assert b"Contact" not in text
    assert b"Jane Doe" not in text


def test_amount_without_currency():
    assert b"980.50" in shown_text(receipt_pdf(replace(RECEIPT, amount=Decimal("980.5"), currency=None)))


@pytest.mark.parametrize(
    "name",
    [
        "Zoë Ünïcødé 株式会社",
        "Łódź Sp. z o.o. \u2010 \u201cquoted\u201d",
        "(Parens) & back\\slash",
        "Emoji \U0001f600 and tab\tand newline\n",
        "\u200b\u0000",
        "x" * 5000,
    ],
)
def test_any_account_name_renders(name):
    pdf = receipt_pdf(replace(RECEIPT, account_name=name, contact_name=name, organisation=name))
    assert pdf.startswith(b"%PDF-")
    assert pdf.count(b"/Type /Page\n") == 1


def test_unicode_names_keep_what_the_font_can_draw():
    text = shown_text(receipt_pdf(replace(RECEIPT, account_name="Zoë Ünïcødé 株式会社")))
    assert "Zoë Ünïcødé ????".encode("cp1252") in text


def test_pdf_text():
    assert pdf_text("Zoë") == "Zoë"
    assert pdf_text("Łódź") == "Lódz"
    assert pdf_text("Őă株") == "Oa?"
    assert pdf_text("a\tb\nc") == "a b c"
    assert pdf_text("€ – —") == "€ – —"  # in cp1252


def test_same_receipt_same_bytes():
    assert receipt_pdf(RECEIPT) == receipt_pdf(replace(RECEIPT))
    assert receipt_pdf(RECEIPT) != receipt_pdf(replace(RECEIPT, paid_on=date(2026, 12, 21)))
    assert b"/CreationDate (D:20261220000000Z" in receipt_pdf(RECEIPT)


@pytest.mark.parametrize(
    ("invoice_number", "subscription_id", "expected"),
    [
        ("INV-1001", "SUB-1", "receipt-INV-1001.pdf"),
        (None, "SUB-1", "receipt-SUB-1.pdf"),
        ("", "a0X/7 9", "receipt-a0X-7-9.pdf"),
        ("../../etc/passwd", "SUB-1", "receipt-etc-passwd.pdf"),
        ("INV 2026/Ü1", "SUB-1", "receipt-INV-2026-U1.pdf"),
        ("株式", "株式", "receipt.pdf"),
    ],
)
def test_receipt_filename(invoice_number, subscription_id, expected):
    receipt = replace(RECEIPT, invoice_number=invoice_number, subscription_id=subscription_id)
    assert receipt_filename(receipt) == expected
