"""The HubSpot target (``renewals_hubspot``, an http connection: a private app's access token as the
password; the host defaults to https://api.hubapi.com): call tasks through the CRM v3 tasks API, what
the pipeline sent, skipped and held, members' answers and replies and staff's actions as notes (the
CRM v3 notes API) on the timeline of the company and deal, and the renewal's deal moved through its
stages as it passes each gate.

Tasks and notes are written up to 100 a call by batch upsert (``POST /crm/v3/objects/<tasks|notes>/
batch/upsert``), keyed on a unique custom property (default ``renewal_key``, "unique values" on):
a record is made the first time and updated after, so a retry after a crash never makes a second
one. HubSpot answers 200 when every input was written and 207 Multi-Status when some were not; each
error names its input by the objectWriteTraceId we gave it (our key), and parks only that event.
Batch upsert takes no associations, so the records written are then associated with their company
and deal by the v4 associations batch API, one call per kind of record associated with (an
association that exists already stays one). One call takes the oldest pending events of one object
type, one per record (HubSpot refuses a batch that names a key twice): tasks and notes go in calls
of their own, and a record's later change in a later call.

The connection is read by the http provider's HttpHook (renewals.sync.http.hook_session): the
URL is schema://host:port (https only: the token is a bearer secret); the extra ``portal_id`` (the
account's id, for links to its records) is ours.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from renewals.sync.events import Event
from renewals.sync.http import Client, Rejected, hook_session, rejected
from renewals.sync.mapping import Fields, HubSpotMapping, event_values, fill
from renewals.sync.targets import HUBSPOT_CONN_ID, Delivered, Outcome, connection, deliver_one, upsert_in_one_call
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
    batch_size: int = 100  # batch upsert's limit

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
        return deliver_one(self, event, delivery_id)

    def deliver_batch(self, batch: Sequence[tuple[Event, str]]) -> list[Outcome]:
        if batch[0][0].kind == "renewal.gate":  # a deal moves alone (a few a day)
            try:
                return [self.move_deal(event_values(batch[0][0]))]
            except Rejected as exc:
                return [exc]
        return upsert_in_one_call(batch, self.batch_size, self.record, self.upsert)

    def record(self, event: Event) -> tuple[str, str, tuple[Fields, dict[str, str]]]:
        """(object type, our key, its properties and the event's values): a note per activity, a
        task per call task. A gate is no record: it raises, and waits for a call of its own."""
        if event.kind == "renewal.gate":
            raise ValueError("a deal's stage moves alone")
        values = event_values(event)
        if event.kind in self.mapping.notes:  # one note per event
            key = "NOTE-" + hashlib.sha256(event.event_key.encode()).hexdigest()[:24]
            return "notes", key, (self.mapping.notes[event.kind], values)
        return "tasks", f"{values['cta_id']}/{values['task_id']}", (self.mapping.task, values)

    def upsert(
        self, object_type: str, records: dict[str, tuple[Fields, dict[str, str]]]
    ) -> list[Delivered | Exception]:
        """Batch upsert of ``records`` (our key -> fields, values), then their associations; the
        outcome of each, in order."""
        inputs = [
            {
                "id": key,
                "idProperty": self.mapping.unique_property,
                "objectWriteTraceId": key,
                "properties": {
                    name: limited(one_line(value) if name in ONE_LINE else value, PROPERTY_CHARS)
                    for name, value in fields.render(values, escape=RICH_TEXT).items()
                },
            }
            for key, (fields, values) in records.items()
        ]
        response = self._call("POST", f"/crm/v3/objects/{object_type}/batch/upsert", {"inputs": inputs})
        if response.status_code not in (200, 207):
            return [rejected(response)] * len(records)
        answer = response.json()
        written = {result["objectWriteTraceId"]: result["id"] for result in answer.get("results", [])}
        refused = errors_by_input(answer, "objectWriteTraceId")
        outcomes: dict[str, Delivered | Exception] = {}
        for key in records:
            if key in written:
                url = self._record_url(OBJECT_TYPE_IDS[object_type], written[key])
                outcomes[key] = Delivered(written[key], url, key)
            else:  # an input HubSpot did not write: its own error, or the answer's errors when none names it
                outcomes[key] = Rejected(response.status_code, refused.get(key) or json.dumps(answer.get("errors", [])))
        self._associate(
            object_type, {key: (written[key], records[key][1]) for key in records if key in written}, outcomes
        )
        return [outcomes[key] for key in records]

    def _associate(
        self,
        object_type: str,
        written: dict[str, tuple[str, dict[str, str]]],
        outcomes: dict[str, Delivered | Exception],
    ) -> None:
        """Associate each record written (our key -> its id, the event's values) with the company and
        deal the event names; one whose association HubSpot refuses is parked with why (a retry
        writes both again)."""
        for association in self.mapping.associations:
            type_id = association.task_type_id if object_type == "tasks" else association.note_type_id
            kind = {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}
            keys = {}  # record id -> our key, for the inputs of this call
            inputs = []
            for key, (record_id, values) in written.items():
                if associated_id := fill(association.id, values):
                    inputs.append({"from": {"id": record_id}, "to": {"id": associated_id}, "types": [kind]})
                    keys[record_id] = key
            if not inputs:
                continue
            path = f"/crm/v4/associations/{object_type}/{association.object}/batch/create"
            response = self._call("POST", path, {"inputs": inputs})
            if response.status_code not in (200, 201, 207):
                for key in keys.values():
                    outcomes[key] = rejected(response)
                continue
            for record_id, error in errors_by_input(response.json(), "fromObjectId").items():
                if record_id in keys:
                    outcomes[keys[record_id]] = Rejected(response.status_code, f"association: {error}")

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


def errors_by_input(answer: dict[str, Any], context_key: str) -> dict[str, str]:
    """A batch answer's errors by the input each names in its context (``context_key``)."""
    return {
        name: json.dumps(error)
        for error in answer.get("errors", [])
        for name in error.get("context", {}).get(context_key, [])
    }
