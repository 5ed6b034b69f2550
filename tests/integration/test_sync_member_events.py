"""What members say reaches the staff systems: a one-click answer (with its reason and the address
whose link was used, never the link's token) and a reply read from the inbox (its first lines, the
reminders held, then resumed by staff) are events for the webhook, completed Tasks in Salesforce's
activity history and notes on HubSpot's timeline, next to the messages the pipeline sent and
skipped and what staff did; each once, also when the sync runs again."""

from __future__ import annotations

import hashlib
import json
from datetime import date, timedelta

import pytest

from devenv import inprocess
from renewals.console.steering import hold
from renewals.delivery.unsubscribe import Answer
from renewals.pipeline import sync_run
from renewals.storage import answers, replies
from renewals.sync.http import Budget, Client
from renewals.sync.webhook import WebhookTarget
from tests.integration.test_inbox import answer_to, imap, inbox_resources, reminder  # noqa: F401
from tests.integration.test_sync_hubspot import target_for as hubspot_target
from tests.integration.test_sync_salesforce import target_for as salesforce_target
from tests.integration.test_sync_webhook import verified_events, webhook_connection  # noqa: F401
from tests.vendor_https import (  # noqa: F401
    hubspot_fixture,
    salesforce_fixture,
    test_ca_files_fixture,
    test_ca_fixture,
    webhook_receiver_fixture,
)
from tests.world import contact_email

AS_OF = date(2026, 12, 1)
RENEWAL = AS_OF + timedelta(days=15)  # the run of AS_OF sends renewal_reminder_15
TOKEN_DIGEST = hashlib.sha256(b"the link's token").hexdigest()
REPLY = "Can we move to the premier tier? <img src=x onerror=alert(1)>\nThanks, Ann"


@pytest.fixture
def answered_and_replied(world, databases, mailbox, ops, imap):  # noqa: F811
    """S-DECLINE declines with a link of the first reminder; S-REPLY replies to it, and staff
    resume its reminders after the next run held them."""
    world.add_columns("subscriptions", "salesforce_account_id", "hubspot_company_id")
    world.subscription("S-DECLINE", RENEWAL, salesforce_account_id="001000000000042AAA", hubspot_company_id="9001")
    world.subscription("S-REPLY", RENEWAL, salesforce_account_id="001000000000043AAA", hubspot_company_id="9002")
    resources = inbox_resources(databases, mailbox, imap)
    inprocess.run_day(resources, AS_OF, "day-1", finish=True)
    decline = Answer(
        "S-DECLINE", RENEWAL, "decline", contact_email("S-DECLINE", "primary"), "renewal_reminder_15", AS_OF
    )
    answers.record(ops, decline, "We merged with another member.", TOKEN_DIGEST)
    imap.append(answer_to(reminder(mailbox, "S-REPLY"), REPLY))
    inprocess.run_day(resources, RENEWAL - timedelta(days=1), "day-2", finish=True)  # reads the reply
    assert replies.resume(ops, "S-REPLY", "staff@example.org") == 1
    hold(ops, "S-REPLY", RENEWAL + timedelta(days=3), "waiting for the board", "ana")
    return resources


@pytest.mark.usefixtures("webhook_connection")
def test_answers_and_replies_reach_the_webhook_salesforce_and_hubspot_once(
    answered_and_replied, webhook_receiver, salesforce, hubspot, ops
):
    webhook = WebhookTarget.from_connection(Client(Budget(30)))
    targets = [webhook, salesforce_target(salesforce), hubspot_target(hubspot)]

    report = sync_run(answered_and_replied, targets)

    assert all(target.parked == 0 for target in report.targets.values()), report
    bodies = {
        body["kind"]: body for body in verified_events(webhook_receiver) if body["kind"].startswith(("member", "reply"))
    }
    assert bodies.keys() == {"member.answered", "reply.held", "reply.resumed"}
    answer = bodies["member.answered"]
    assert answer["subscription_id"] == "S-DECLINE"
    assert answer["data"]["answer"] == {
        "answer": "decline",
        "reason": "We merged with another member.",
        "recipient": contact_email("S-DECLINE", "primary"),
        "touchpoint": "renewal_reminder_15",
        "answered_at": answer["data"]["answer"]["answered_at"],
    }
    assert "token" not in json.dumps(answer) and TOKEN_DIGEST not in json.dumps(answer)
    held, resumed = bodies["reply.held"]["data"]["reply"], bodies["reply.resumed"]["data"]["reply"]
    assert held["excerpt"] == REPLY
    assert held["sender"] == contact_email("S-REPLY", "primary") and held["gate"] == "no_response"
    assert resumed["resumed_by"] == "staff@example.org"
    assert bodies["reply.held"]["data"]["salesforce"]["account_id"] == "001000000000043AAA"

    history = {
        task["Subject"]: task for task in salesforce.records["Task"] if task["Renewal_Key__c"][:4] in ("MSG-", "ACT-")
    }
    declined = history["Member answer: Account S-DECLINE declines to renew"]
    assert declined["Status"] == "Completed" and declined["WhatId"] == "001000000000042AAA"
    assert "We merged with another member." in declined["Description"]
    replied = next(task for subject, task in history.items() if subject.startswith("Member replied: Re: "))
    assert replied["Description"].endswith("First lines:\n" + REPLY), "plain text: Salesforce shows it as such"
    assert "Reminders resumed: Account S-REPLY" in history
    assert history["Renewal pipeline: hold by ana"]["Description"].endswith("Reason: waiting for the board")
    skipped = [task for subject, task in history.items() if subject.startswith("Email not sent")]
    assert any("replied" in task["Description"] for task in skipped), "the reminder the reply held back"

    notes = [note["hs_note_body"] for note in hubspot.objects["notes"].values()]
    escaped = "Can we move to the premier tier? &lt;img src=x onerror=alert(1)&gt;<br>Thanks, Ann"
    assert any(body.endswith("First lines:<br>" + escaped) for body in notes), "rich text: the reply escaped"
    assert any("declines to renew" in body and "We merged" in body for body in notes)
    assert any(body.startswith("ana: hold") for body in notes)
    associated = {to_id for kind, _record, to, to_id in hubspot.associations if kind == "notes" and to == "companies"}
    assert associated == {"9001", "9002"}

    records = (len(webhook_receiver.requests), len(salesforce.records["Task"]), len(hubspot.objects["notes"]))
    again = sync_run(answered_and_replied, targets)
    assert again.queued == 0
    assert (len(webhook_receiver.requests), len(salesforce.records["Task"]), len(hubspot.objects["notes"])) == records
