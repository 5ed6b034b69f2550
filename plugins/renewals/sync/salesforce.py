"""The Salesforce target (``renewals_salesforce``): CTAs and call tasks as Task records, the 180-day
BizDev outreach as an Opportunity, and what the pipeline sent, skipped and held, members' answers
and replies and staff's actions as completed Tasks (the activity history).

Every write is an upsert by our key in an External ID field (default Renewal_Key__c), up to 200
records a call through sObject Collections (API 46.0 and later):
``PATCH /services/data/vXX.X/composite/sobjects/<SObject>/<field>`` with allOrNone=false creates
the records not there yet and updates the others, so a retry never makes a second one; the answer
says, record by record, what became of each, and a record Salesforce refuses parks only its own
event. A key that matches several records (DUPLICATE_EXTERNAL_ID; 300 Multiple Choices in the
one-record API, the status it is parked with) is parked with the matches for staff to merge. One
call takes the oldest pending events of one SObject, one per record (a record's two changes in
one call would be refused as a duplicate): a record's later change goes in a later call.

The connection: host = the org's My Domain URL, login = the connected app's consumer key,
password = its consumer secret (OAuth 2.0 client credentials flow).

Why this target does not go through the salesforce provider (apache-airflow-providers-salesforce
5.15 on simple-salesforce 1.12), as the webhook, HubSpot and GitHub go through theirs:

- simple-salesforce's client-credentials login posts to ``https://{domain}.salesforce.com/services/
  oauth2/token``: the host is always under salesforce.com on port 443, so it cannot reach another
  host (a proxy, or the tests' local server), and SalesforceHook's connection form hides the host;
- its session-id login (SalesforceHook's ``session_id`` + the ``instance_url`` extra) takes a token
  the caller got, so the OAuth call would still be ours, and cannot renew it: on 401 it raises
  instead of logging in again (``_refresh_session`` needs a login it was given);
- every answer of 300 and above is raised as an exception that keeps the status and body but not
  the headers, so a 429's or 503's Retry-After is lost, and the provider has no time budget.

So the calls go through renewals.sync.http (requests with the retry policy and the budget).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from renewals.sync.events import CTA_KINDS, MESSAGE_KINDS, Event
from renewals.sync.http import Client, Rejected, Unavailable, rejected
from renewals.sync.mapping import Fields, SalesforceMapping, event_values
from renewals.sync.targets import ConnectionInfo, Delivered, Outcome, deliver_one, upsert_in_one_call
from renewals.sync.text import limited, one_line

# The lengths Salesforce's object reference gives the standard fields the mapping fills (a longer
# value fails its record with STRING_TOO_LONG); Subject and Name are one line.
FIELD_LIMITS = {"Subject": 255, "Name": 120, "Description": 32000}
ONE_LINE = frozenset({"Subject", "Name"})


def field_value(name: str, value: str) -> str:
    """A rendered value as the field takes it: on one line where the field is, cut to its length."""
    value = one_line(value) if name in ONE_LINE else value
    return limited(value, FIELD_LIMITS[name]) if name in FIELD_LIMITS else value


@dataclass
class SalesforceTarget:
    base_url: str
    client_id: str
    client_secret: str
    mapping: SalesforceMapping
    client: Client
    name: str = "salesforce"
    kinds: frozenset[str] = field(init=False)  # CTAs, call tasks and the activities the mapping names
    batch_size: int = 200  # sObject Collections' limit
    _token: tuple[str, str] | None = field(default=None, repr=False)  # (access token, instance URL)

    def __post_init__(self) -> None:
        self.kinds = CTA_KINDS | {"task.due"} | frozenset(self.mapping.activities)

    @classmethod
    def from_connection(cls, conn: ConnectionInfo, mapping: SalesforceMapping, client: Client) -> SalesforceTarget:
        return cls(conn.base_url(), conn.login, conn.password, mapping, client)

    def deliver(self, event: Event, delivery_id: str) -> Delivered:
        return deliver_one(self, event, delivery_id)

    def deliver_batch(self, batch: Sequence[tuple[Event, str]]) -> list[Outcome]:
        return upsert_in_one_call(batch, self.batch_size, self.record, self.upsert)

    def record(self, event: Event) -> tuple[str, str, dict[str, str]]:
        """(SObject, our key, the fields sent) of an event."""
        values = event_values(event)
        sobject, key, fields = self.record_of(event, values)
        return sobject, key, {name: field_value(name, value) for name, value in fields.render(values).items()}

    def record_of(self, event: Event, values: dict[str, str]) -> tuple[str, str, Fields]:
        """(SObject, our key, its fields) of an event."""
        mapping = self.mapping
        if event.kind == "task.due":
            return "Task", f"{values['cta_id']}/{values['task_id']}", mapping.call_task
        if event.kind in mapping.activities:  # one completed Task per event
            prefix = "MSG-" if event.kind in MESSAGE_KINDS else "ACT-"
            key = prefix + hashlib.sha256(event.event_key.encode()).hexdigest()[:24]
            return "Task", key, mapping.activities[event.kind]
        if values["cta_type"] in mapping.opportunity_cta_types:
            return "Opportunity", values["cta_id"], mapping.opportunity
        return "Task", values["cta_id"], mapping.cta_task

    def upsert(self, sobject: str, records: dict[str, dict[str, str]]) -> list[Delivered | Exception]:
        """Upsert ``records`` (our key -> fields) in one call; what became of each, in order."""
        field_name = self.mapping.external_id_field
        body = {
            "allOrNone": False,  # each record on its own: one refused record does not hold back the others
            "records": [
                {"attributes": {"type": sobject}, field_name: key}
                | {name: value for name, value in fields.items() if value != ""}
                for key, fields in records.items()
            ],
        }
        path = f"/services/data/v{self.mapping.api_version}/composite/sobjects/{sobject}/{field_name}"
        for fresh_token in (False, True):
            token, instance = self._session(fresh_token)
            response = self.client.request(
                "PATCH", instance + path, json=body, headers={"Authorization": f"Bearer {token}"}
            )
            if response.status_code != 401:  # an expired session: once more with a new token
                break
        if response.status_code == 403 and "REQUEST_LIMIT_EXCEEDED" in response.text:
            raise Unavailable(f"Salesforce API request limit reached: {response.text}", 403)
        if response.status_code != 200:  # the call itself was refused (a wrong field, a bad request): all of it
            return [rejected(response)] * len(records)
        return [
            self._outcome(sobject, key, result, instance) for key, result in zip(records, response.json(), strict=True)
        ]

    def _outcome(self, sobject: str, key: str, result: dict[str, Any], instance: str) -> Delivered | Exception:
        if result.get("success"):
            record_id = result["id"]
            return Delivered(record_id, f"{instance}/lightning/r/{sobject}/{record_id}/view", key)
        errors = json.dumps(result.get("errors", []))
        if any(error.get("statusCode") == "DUPLICATE_EXTERNAL_ID" for error in result.get("errors", [])):
            return Rejected(
                300,
                f"{self.mapping.external_id_field}={key} matches several {sobject} records; "
                f"merge them or clear the field on all but one: {errors}",
            )
        return Rejected(400, errors)  # the record's own fault (a value too long, a bad picklist value)

    def _session(self, renew: bool) -> tuple[str, str]:
        if self._token is None or renew:
            response = self.client.request(
                "POST",
                f"{self.base_url}/services/oauth2/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": self.client_id,
                    "client_secret": self.client_secret,
                },
            )
            if response.status_code != 200:  # the connection is wrong, not the event: all wait
                raise Unavailable(
                    f"Salesforce refused the connection's credentials: {response.text}", response.status_code
                )
            answer = response.json()
            self._token = (answer["access_token"], answer.get("instance_url") or self.base_url)
        return self._token
