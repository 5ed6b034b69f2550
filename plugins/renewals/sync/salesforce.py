"""The Salesforce target (``renewals_salesforce``): CTAs and call tasks as Task records, the 180-day
BizDev outreach as an Opportunity, and what the pipeline sent, skipped and held, members' answers
and replies and staff's actions as completed Tasks (the activity history).

Every write is an upsert by our key in an External ID field (default Renewal_Key__c):
``PATCH /services/data/vXX.X/sobjects/<SObject>/<field>/<key>`` creates the record the first time
(201) and updates it after (200), so a retry never makes a second one. A key that matches several
records (300 Multiple Choices) is parked with the matches for staff to merge.

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
from dataclasses import dataclass, field
from urllib.parse import quote

from renewals.sync.events import CTA_KINDS, MESSAGE_KINDS, Event
from renewals.sync.http import Client, Rejected, Unavailable, rejected
from renewals.sync.mapping import Fields, SalesforceMapping, event_values
from renewals.sync.targets import ConnectionInfo, Delivered
from renewals.sync.text import limited, one_line

# The lengths Salesforce's object reference gives the standard fields the mapping fills (a longer
# value fails the whole upsert with STRING_TOO_LONG); Subject and Name are one line.
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
    _token: tuple[str, str] | None = field(default=None, repr=False)  # (access token, instance URL)

    def __post_init__(self) -> None:
        self.kinds = CTA_KINDS | {"task.due"} | frozenset(self.mapping.activities)

    @classmethod
    def from_connection(cls, conn: ConnectionInfo, mapping: SalesforceMapping, client: Client) -> SalesforceTarget:
        return cls(conn.base_url(), conn.login, conn.password, mapping, client)

    def deliver(self, event: Event, delivery_id: str) -> Delivered:
        values = event_values(event)
        sobject, key, fields = self.record_of(event, values)
        return self.upsert(sobject, key, {name: field_value(name, v) for name, v in fields.render(values).items()})

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

    def upsert(self, sobject: str, key: str, fields: dict[str, str]) -> Delivered:
        body = {name: value for name, value in fields.items() if value != ""}
        path = f"/services/data/v{self.mapping.api_version}/sobjects/{sobject}/{self.mapping.external_id_field}/"
        for fresh_token in (False, True):
            token, instance = self._session(fresh_token)
            response = self.client.request(
                "PATCH", instance + path + quote(key, safe=""), json=body, headers={"Authorization": f"Bearer {token}"}
            )
            if response.status_code != 401:  # an expired session: once more with a new token
                break
        if response.status_code in (200, 201):
            record_id = response.json().get("id")
            return Delivered(record_id, f"{instance}/lightning/r/{sobject}/{record_id}/view", key)
        if response.status_code == 204:  # an update answered without a body (API versions before 46.0)
            return Delivered(record_key=key)
        if response.status_code == 300:
            raise Rejected(
                300,
                f"{self.mapping.external_id_field}={key} matches several {sobject} records; "
                f"merge them or clear the field on all but one: {response.text}",
            )
        if response.status_code == 403 and "REQUEST_LIMIT_EXCEEDED" in response.text:
            raise Unavailable(f"Salesforce API request limit reached: {response.text}", 403)
        raise rejected(response)

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
