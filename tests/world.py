"""Build a warehouse for a test: subscriptions and contacts with sensible defaults."""

from __future__ import annotations

from datetime import date
from typing import Any

from renewals.config import Settings
from renewals.delivery.messages import message_id
from renewals.playbooks import load_playbooks
from tests.warehouses import Dialect

DEFAULT_ROLES = ("primary", "billing")
POSTGRES = Dialect("postgres")


def customer_emails(mailbox) -> list:
    """The customer emails a mailbox received (staff notices of CTAs and offboarding left out)."""
    settings = Settings()
    customer = {
        tp.key
        for playbook in load_playbooks(settings.playbook_dir).values()
        for tp in playbook.touchpoints
        if tp.channel == "email"
    }
    return [message for message in mailbox.messages if message["X-Renewal-Touchpoint"] in customer]


def first_copies(messages: list) -> list:
    """Of messages sent as one copy per recipient, the first of each (it keeps the Message-ID the
    touchpoint's contract gives: subscription, renewal date, touchpoint)."""
    return [
        m
        for m in messages
        if m["Message-ID"]
        == message_id(
            m["X-Renewal-Subscription"],
            date.fromisoformat(m["X-Renewal-Date"]),
            m["X-Renewal-Touchpoint"],
            m["Message-ID"].rsplit("@", 1)[1].rstrip(">"),
        )
    ]


def contact_email(subscription_id: str, role: str) -> str:
    return f"{role}.{subscription_id.lower()}@members.example.com"


class World:
    """The warehouse of one test: an autocommit connection with ``execute`` (psycopg's, or
    tests.warehouses.DbApiWriter for MariaDB and SQLite) and its SQL dialect."""

    def __init__(self, conn: Any, dialect: Dialect = POSTGRES) -> None:
        self.conn = conn
        self.dialect = dialect
        for statement in dialect.schema_statements():
            conn.execute(statement)

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
        param = self.dialect.param
        assignments = ", ".join(f"{name} = {param(name)}" for name in fields)  # column names of the contract
        self.conn.execute(
            f"update {self.dialect.table('subscriptions')} set {assignments} where subscription_id = {param('id')}",
            {**fields, "id": subscription_id},
        )

    def _insert(self, table: str, row: dict[str, Any]) -> None:
        placeholders = ", ".join(map(self.dialect.param, row))
        self.conn.execute(f"insert into {self.dialect.table(table)} ({', '.join(row)}) values ({placeholders})", row)

    def add_columns(self, table: str, *columns: str) -> None:
        """Give ``table`` more text columns (the optional ones of the extract)."""
        for column in columns:
            self.conn.execute(f"alter table {self.dialect.table(table)} add column {column} text")

    def recreate_as_text(self, table: str, columns: tuple[str, ...]) -> None:
        """Replace ``table`` by one of text columns and no keys, like a loosely typed export."""
        self.conn.execute(f"drop table {self.dialect.table(table)}")
        self.conn.execute(f"create table {self.dialect.table(table)} ({', '.join(f'{c} text' for c in columns)})")
