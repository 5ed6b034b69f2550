"""A deliver task's log answers "what did this send?": one line per message, addresses masked."""

from __future__ import annotations

import logging
from datetime import date, timedelta

from devenv.inprocess import run_day
from renewals.delivery.outcome_log import mask_address
from tests.world import contact_email

D1 = date(2026, 12, 1)


def test_an_address_keeps_its_first_character_and_domain_only():
    assert mask_address("jane.doe@example.org") == "j***@example.org"
    assert mask_address("not-an-address") == "***"


def test_every_message_has_one_masked_log_line(world, resources, mailbox, caplog):
    world.subscription("S-LOG", D1 + timedelta(days=15))
    with caplog.at_level(logging.INFO, logger="renewals.delivery"):
        run_day(resources, D1)
    lines = [record.getMessage() for record in caplog.records if record.name == "renewals.delivery"]
    [message] = mailbox.messages
    [line] = lines
    primary = contact_email("S-LOG", "primary")  # the reminder's one addressee
    assert [address.addr_spec for address in message["To"].addresses] == [primary]
    assert line == (
        f"SENT S-LOG/renewal_reminder_15 audience=customer to=p***@members.example.com "
        f"message_id={message['Message-ID']}"
    )
