"""Warehouse text that tries to be more than data, through a real run and the real SMTP server:
an owner "email" that is a mailto URI in disguise, and settings out of range."""

from __future__ import annotations

import re
from datetime import date, timedelta
from email import policy
from email.parser import BytesParser
from html import unescape
from urllib.parse import unquote, urlsplit

from devenv import inprocess
from devenv.inprocess import deliver_all
from renewals.storage.runs import RunContext
from tests.daily import resources_for

AS_OF = date(2026, 12, 1)
CRAFTED = "x?cc=attacker%40evil.example&subject=y@corp.example"
ODD = "o'brien+deals@corp.example"  # a real address with characters a URI reads specially


def run_day(resources, run_id: str = "hostile") -> None:
    run = RunContext(run_id=run_id, as_of=AS_OF)
    inprocess.classified(resources, run)
    deliver_all(resources, run)


def html_of(message) -> str:
    parsed = BytesParser(policy=policy.default).parsebytes(message.as_bytes())
    return parsed.get_body(("html",)).get_content()


def test_an_owner_email_that_is_a_mailto_uri_is_quarantined_not_linked(world, databases, mailbox, ops):
    world.subscription("S-CRAFTED", AS_OF + timedelta(days=60), playbook="contract", owner_email=CRAFTED)
    world.subscription(
        "S-ODD", AS_OF + timedelta(days=60), playbook="contract", owner_email="o'brien+deals@corp.example"
    )

    run_day(resources_for(databases, mailbox))

    assert not any("attacker" in message.as_string() for message in mailbox.messages)
    reasons = ops.execute("select reasons from renewals.quarantine where subscription_id = 'S-CRAFTED'").fetchone()[0]
    assert "invalid_owner_email" in reasons
    copies = [m for m in mailbox.messages if m["X-Renewal-Subscription"] == "S-ODD"]  # one per recipient
    assert copies
    for message in copies:
        hrefs = [unescape(h) for h in re.findall(r'href="(mailto:[^"]*)"', html_of(message))]
        assert hrefs and all(urlsplit(h).query == "" and unquote(urlsplit(h).path) == ODD for h in hrefs), hrefs


def test_every_mailto_link_of_the_templates_is_to_exactly_the_address():
    """Validation keeps such an owner out of a run; the links would not carry it either."""
    from renewals.config import Settings
    from renewals.delivery.render import Renderer, message_context

    settings = Settings.from_env()
    templates = sorted(
        str(path.relative_to(settings.template_dir))[: -len(".html")]
        for path in settings.template_dir.rglob("*.html")
        if "mailto" in path.read_text() and not path.name.startswith("_")
    )
    assert len(templates) >= 5
    row = {"subscription_id": "S-1", "account_name": "Acme", "renewal_date": AS_OF, "owner_email": CRAFTED}
    context = {**message_context(row, AS_OF, "t", "Membership", CRAFTED), "cta": None}
    hrefs = {}
    for template in templates:
        html = Renderer(settings.template_dir).render(template, context).html
        hrefs[template] = [unescape(h) for h in re.findall(r'href="(mailto:[^"]*)"', html)]
    links = [href for found in hrefs.values() for href in found]
    assert len(links) >= 5, hrefs
    assert all(urlsplit(h).query == "" and unquote(urlsplit(h).path) == CRAFTED for h in links), hrefs
