"""The HubSpot target (``renewals_hubspot``, an http connection: a private app's access token as the
password; the host defaults to https://api.hubapi.com): call tasks through the CRM v3 tasks API, what the pipeline sent,
skipped and held, members' answers and replies and staff's actions as notes (the CRM v3 notes API)
on the timeline of the company and deal, and the renewal's deal moved through its stages as it
passes each gate.

Idempotent by a unique custom property on tasks and notes (default ``renewal_key``, "unique
values" on): a record is created with our key; HubSpot answers 409 when one already has it (a
retry after a crash), and it is then updated through that key (PATCH ...?idProperty=renewal_key).

The connection is read by the http provider's HttpHook (renewals.sync.http.hook_session): the
URL is schema://host:port (https only: the token is a bearer secret); the extra ``portal_id`` (the
account's id, for links to its records) is ours.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

import requests

from renewals.sync.events import Event
from renewals.sync.http import Client, hook_session, rejected
from renewals.sync.mapping import Fields, HubSpotMapping, event_values, fill
from renewals.sync.targets import HUBSPOT_CONN_ID, Delivered, connection
from renewals.sync.text import html_text, limited, one_line

DEFAULT_API = "https://api.hubapi.com"
PROPERTY_CHARS = 65536  # HubSpot's limit for a text property's value (hs_note_body's, as its reference says)
RICH_TEXT = {"hs_note_body": html_text, "hs_task_body": html_text}  # shown as HTML: values go in escaped
ONE_LINE = frozenset({"hs_task_subject"})
OBJECT_TYPE_IDS = {"tasks": "0-27", "notes": "0-46"}  # for links to records


@dataclass
class HubSpotTarget:
    base_url: str
    token: str
    mapping: HubSpotMapping
    client: Client
    portal_id: str = ""  # the account's id, for links to its records (the connection's extra portal_id)
    name: str = "hubspot"
    kinds: frozenset[str] = field(init=False)  # call tasks, gates and the activities the mapping names

    def __post_init__(self) -> None:
        self.kinds = frozenset({"task.due", "renewal.gate"}) | frozenset(self.mapping.notes)

    @classmethod
    def from_connection(cls, mapping: HubSpotMapping, client: Client, conn_id: str = HUBSPOT_CONN_ID) -> HubSpotTarget:
        """The target on the http connection ``conn_id``; ``client`` sends through its session."""
        conn = connection(conn_id)
        if conn is None:
            raise ValueError(f"no Airflow connection {conn_id!r}")
        client.session, base_url = hook_session(conn_id, own_extras=("portal_id",))
        if not urlsplit(base_url).hostname:
            base_url = DEFAULT_API
        if urlsplit(base_url).scheme != "https":
            raise ValueError(f"connection {conn_id}: HubSpot takes https only (the token is a secret), not {base_url}")
        portal_id = str((conn.extra or {}).get("portal_id") or "")
        return cls(base_url.rstrip("/"), conn.password, mapping, client, portal_id)

    def deliver(self, event: Event, delivery_id: str) -> Delivered:
        values = event_values(event)
        if event.kind == "renewal.gate":
            return self.move_deal(values)
        if event.kind in self.mapping.notes:  # one note per event
            key = "NOTE-" + hashlib.sha256(event.event_key.encode()).hexdigest()[:24]
            return self.upsert("notes", key, self.mapping.notes[event.kind], values)
        return self.upsert("tasks", f"{values['cta_id']}/{values['task_id']}", self.mapping.task, values)

    def upsert(self, object_type: str, key: str, fields: Fields, values: dict[str, str]) -> Delivered:
        """Create the task or note with our key, or update the one that has it."""
        rendered = fields.render(values, escape=RICH_TEXT)
        properties = {
            **{name: limited(one_line(v) if name in ONE_LINE else v, PROPERTY_CHARS) for name, v in rendered.items()},
            self.mapping.unique_property: key,
        }
        body: dict = {"properties": properties}
        associations = [
            {
                "to": {"id": associated_id},
                "types": [
                    {
                        "associationCategory": "HUBSPOT_DEFINED",
                        "associationTypeId": association.task_type_id
                        if object_type == "tasks"
                        else association.note_type_id,
                    }
                ],
            }
            for association in self.mapping.associations
            if (associated_id := fill(association.id, values))
        ]
        if associations:
            body["associations"] = associations
        response = self._call("POST", f"/crm/v3/objects/{object_type}", body)
        if response.status_code == 409:  # made before (a retry): update it through our key
            url = f"/crm/v3/objects/{object_type}/{quote(key, safe='')}?idProperty={self.mapping.unique_property}"
            response = self._call("PATCH", url, {"properties": properties})
        if response.status_code not in (200, 201):
            raise rejected(response)
        record_id = response.json()["id"]
        return Delivered(record_id, self._record_url(OBJECT_TYPE_IDS[object_type], record_id), key)

    def move_deal(self, values: dict[str, str]) -> Delivered:
        deal_id = fill(self.mapping.deal_id, values)
        stage = self.mapping.deal_stages.get(values.get("gate", ""))
        if not deal_id or not stage:  # no deal for this renewal, or no stage for this gate
            return Delivered()
        response = self._call(
            "PATCH", f"/crm/v3/objects/deals/{quote(deal_id, safe='')}", {"properties": {"dealstage": stage}}
        )
        if response.status_code != 200:
            raise rejected(response)
        return Delivered(deal_id, self._record_url("0-3", deal_id))

    def _record_url(self, object_type: str, record_id: str) -> str | None:
        if not self.portal_id:
            return None
        return f"https://app.hubspot.com/contacts/{self.portal_id}/record/{object_type}/{record_id}"

    def _call(self, method: str, path: str, body: dict) -> requests.Response:
        return self.client.request(
            method, self.base_url + path, json=body, headers={"Authorization": f"Bearer {self.token}"}
        )
