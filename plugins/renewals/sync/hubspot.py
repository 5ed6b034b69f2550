"""The HubSpot target (``renewals_hubspot``: a private app's access token as the password; the host
defaults to api.hubapi.com): call tasks through the CRM v3 tasks API, and the renewal's deal moved
through its stages as it passes each gate.

Idempotent by a unique custom task property (default ``renewal_key``, "unique values" on): a task
is created with our key; HubSpot answers 409 when a task already has it (a retry after a crash),
and the task is then updated through that key (PATCH ...?idProperty=renewal_key).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from renewals.sync.events import Event
from renewals.sync.http import Client, rejected
from renewals.sync.mapping import HubSpotMapping, event_values, fill
from renewals.sync.targets import ConnectionInfo, Delivered

DEFAULT_API = "https://api.hubapi.com"


@dataclass
class HubSpotTarget:
    base_url: str
    token: str
    mapping: HubSpotMapping
    client: Client
    portal_id: str = ""  # the account's id, for links to its records (the connection's extra portal_id)
    name: str = "hubspot"
    kinds: frozenset[str] = frozenset({"task.due", "renewal.gate"})

    @classmethod
    def from_connection(cls, conn: ConnectionInfo, mapping: HubSpotMapping, client: Client) -> HubSpotTarget:
        portal_id = str((conn.extra or {}).get("portal_id") or "")
        return cls(conn.base_url() if conn.host else DEFAULT_API, conn.password, mapping, client, portal_id)

    def deliver(self, event: Event, delivery_id: str) -> Delivered:
        values = event_values(event)
        if event.kind == "renewal.gate":
            return self.move_deal(values)
        return self.upsert_task(f"{values['cta_id']}/{values['task_id']}", values)

    def upsert_task(self, key: str, values: dict[str, str]) -> Delivered:
        properties = {**self.mapping.task.render(values), self.mapping.unique_property: key}
        association = self.mapping.association
        associated_id = fill(association["id"], values)
        body: dict = {"properties": properties}
        if associated_id:
            kind = {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": int(association["type_id"])}
            body["associations"] = [{"to": {"id": associated_id}, "types": [kind]}]
        response = self._call("POST", "/crm/v3/objects/tasks", body)
        if response.status_code == 409:  # made before (a retry): update it through our key
            url = f"/crm/v3/objects/tasks/{quote(key, safe='')}?idProperty={self.mapping.unique_property}"
            response = self._call("PATCH", url, {"properties": properties})
        if response.status_code not in (200, 201):
            raise rejected(response)
        task_id = response.json()["id"]
        return Delivered(task_id, self._record_url("0-27", task_id), key)

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

    def _call(self, method: str, path: str, body: dict):
        return self.client.request(
            method, self.base_url + path, json=body, headers={"Authorization": f"Bearer {self.token}"}
        )
