"""The webhook target (``renewals_webhook``, an http connection): every event as a signed JSON POST.

Contract: the URL is schema://host:port plus the connection's ``endpoint`` extra; the password
signs. Headers: X-Renewals-Event (the kind), X-Renewals-Delivery (the same id across retries:
receivers drop a delivery id they have seen), X-Renewals-Signature: sha256=<hex HMAC-SHA256 of the
raw body with the password>. Any 2xx is taken; 429/5xx are retried (renewals.sync.http); another
answer parks the event.

The connection is read by the http provider's HttpHook (renewals.sync.http.hook_session), so the
extras Airflow's HTTP operators take (verify, cert, proxies, trust_env) work here too. One POST per
event: the contract is one signed body per event and delivery id, so there is no batch.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass

from renewals.sync.events import KINDS, Event
from renewals.sync.http import Client, hook_session, rejected
from renewals.sync.targets import WEBHOOK_CONN_ID, Delivered, connection


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass
class WebhookTarget:
    url: str
    secret: str
    client: Client
    name: str = "webhook"
    kinds: frozenset[str] = KINDS

    @classmethod
    def from_connection(cls, client: Client, conn_id: str = WEBHOOK_CONN_ID) -> WebhookTarget:
        """The target on the http connection ``conn_id``; ``client`` sends through its session."""
        conn = connection(conn_id)
        if conn is None:
            raise ValueError(f"no Airflow connection {conn_id!r}")
        client.session, base_url = hook_session(conn_id, own_extras=("endpoint",))
        endpoint = str((conn.extra or {}).get("endpoint") or "")
        if endpoint and not endpoint.startswith("/"):
            endpoint = "/" + endpoint
        return cls(url=base_url.rstrip("/") + endpoint, secret=conn.password, client=client)

    def deliver(self, event: Event, delivery_id: str) -> Delivered:
        body = json.dumps(event.body(delivery_id), separators=(",", ":"), sort_keys=True, default=str).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "renewals-sync",
            "X-Renewals-Event": event.kind,
            "X-Renewals-Delivery": delivery_id,
        }
        if self.secret:
            headers["X-Renewals-Signature"] = signature(self.secret, body)
        response = self.client.request("POST", self.url, data=body, headers=headers)
        if not 200 <= response.status_code < 300:
            raise rejected(response)
        return Delivered()
