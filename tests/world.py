"""Build a warehouse for a test: subscriptions and contacts with sensible defaults."""

from __future__ import annotations

from datetime import date
from typing import Any

import psycopg
from psycopg import sql

from renewals.config import INCLUDE_DIR, Settings
from renewals.playbooks import load_playbooks

DEFAULT_ROLES = ("primary", "billing")


def customer_emails(mailbox) -> list:
    """The customer emails a mailbox received (staff notices of CTAs and offboarding left out)."""
    settings = Settings()
    customer = {
        tp.key for playbook in load_playbooks(settings.playbook_dir).values() for tp in playbook.touchpoints
        if tp.channel == "email"
    }  # fmt: skip
    return [message for message in mailbox.messages if message["X-Renewal-Touchpoint"] in customer]


def contact_email(subscription_id: str, role: str) -> str:
    return f"{role}.{subscription_id.lower()}@members.example.com"


class World:
    """The warehouse of one test (autocommit connection)."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn
        conn.execute((INCLUDE_DIR / "sql" / "warehouse" / "schema.sql").read_text())

    def subscription(
        self,
        subscription_id: str,
        renewal_date: date,
        *,
        roles: tuple[str, ...] = DEFAULT_ROLES,
        **fields: Any,
    ) -> str:
        row = {
            "subscription_id": subscription_id,
            "account_id": f"A-{subscription_id}",
            "account_name": f"Account {subscription_id}",
            "playbook": "membership",
            "tier": "standard",
            "member_type": "TC",
            "renewal_date": renewal_date,
            "amount": 1200,
            "currency": "USD",
            "owner_email": "owner@example.org",
            **fields,
        }
        self._insert("subscriptions", row)
        for role in roles:
            self.contact(subscription_id, role)
        return subscription_id

    def contact(self, subscription_id: str, role: str, **fields: Any) -> None:
        row = {
            "contact_id": f"C-{subscription_id}-{role}",
            "subscription_id": subscription_id,
            "role": role,
            "name": f"{role.title()} of {subscription_id}",
            "email": contact_email(subscription_id, role),
            **fields,
        }
        self._insert("contacts", row)

    def update(self, subscription_id: str, **fields: Any) -> None:
        assignments = sql.SQL(", ").join(
            sql.SQL("{} = {}").format(sql.Identifier(name), sql.Placeholder(name)) for name in fields
        )
        self.conn.execute(
            sql.SQL("update warehouse.subscriptions set {} where subscription_id = %(id)s").format(assignments),
            {**fields, "id": subscription_id},
        )

    def _insert(self, table: str, row: dict[str, Any]) -> None:
        self.conn.execute(
            sql.SQL("insert into {} ({}) values ({})").format(
                sql.Identifier("warehouse", table),
                sql.SQL(", ").join(map(sql.Identifier, row)),
                sql.SQL(", ").join(map(sql.Placeholder, row)),
            ),
            row,
        )
