"""What a message read from the inbox is: a person's reply, an automatic reply (RFC 3834 and the
usual out-of-office markers), a late bounce (RFC 3464), or something unreadable."""

from __future__ import annotations

import pytest

from renewals.inbox import AUTO_REPLY, BOUNCE, REPLY, UNREADABLE, read_message

OURS = "<0123abcd@renewals.example.org>"


def reply(extra_headers: str = "", subject: str = "Re: Your membership renewal", body: str = "Yes, call me.") -> bytes:
    return (
        f"From: Ann <Ann@Members.example.com>\r\nTo: membership@example.org\r\nSubject: {subject}\r\n"
        f"Message-ID: <r1@members.example.com>\r\nIn-Reply-To: {OURS}\r\n"
        f"References: <older@renewals.example.org> {OURS}\r\n{extra_headers}"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n\r\nOn Mon, Renewals wrote:\r\n> Dear Ann\r\n"
    ).encode()


def test_a_persons_reply_names_our_message_and_keeps_its_first_lines_only():
    found = read_message(reply(body="Line one\r\nLine two"))
    assert found.kind == REPLY and OURS in found.references and "<older@renewals.example.org>" in found.references
    assert found.sender == "ann@members.example.com" and found.message_id == "<r1@members.example.com>"
    assert found.excerpt == "Line one\nLine two"  # the quoted reminder left out


@pytest.mark.parametrize(
    ("headers", "subject"),
    [
        ("Auto-Submitted: auto-replied\r\n", "Re: Your membership renewal"),
        ("Auto-Submitted: auto-generated\r\n", "Re: Your membership renewal"),
        ("X-Autoreply: yes\r\n", "Re: Your membership renewal"),
        ("Precedence: auto_reply\r\n", "Re: Your membership renewal"),
        ("", "Out of Office: Your membership renewal"),
        ("", "Automatic reply: Your membership renewal"),
        ("", "Abwesenheitsnotiz: Your membership renewal"),
    ],
)
def test_automatic_replies_are_recognised(headers, subject):
    assert read_message(reply(headers, subject)).kind == AUTO_REPLY


def test_auto_submitted_no_is_a_person():
    assert read_message(reply("Auto-Submitted: no\r\n")).kind == REPLY


def test_a_delivery_status_notification_names_the_failed_recipient_and_our_message():
    dsn = (
        "From: MAILER-DAEMON@relay.example.net\r\nSubject: Undelivered\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nNot delivered.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; relay.example.net\r\n\r\n"
        "Final-Recipient: rfc822; Gone@Members.example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
        "Final-Recipient: rfc822; later@members.example.com\r\nAction: delayed\r\nStatus: 4.4.1\r\n\r\n"
        f"--B\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: {OURS}\r\n\r\n--B--\r\n"
    ).encode()
    found = read_message(dsn)
    assert found.kind == BOUNCE and found.references == (OURS,)
    assert found.bounced == ("gone@members.example.com",)  # a delay is not a bounce


def test_a_message_that_cannot_be_read_is_unreadable_not_an_error(monkeypatch):
    import renewals.inbox as inbox

    def broken(message):
        raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")

    monkeypatch.setattr(inbox, "_classified", broken)
    found = read_message(reply())
    assert found.kind == UNREADABLE and "UnicodeDecodeError" in found.detail
