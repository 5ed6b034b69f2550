"""The sync targets that are on: each one whose Airflow connection exists."""

from __future__ import annotations

import time
from collections.abc import Callable

from renewals.config import Settings
from renewals.sync.github import GitHubTarget
from renewals.sync.http import Budget, Client
from renewals.sync.hubspot import HubSpotTarget
from renewals.sync.mapping import load_mapping
from renewals.sync.salesforce import SalesforceTarget
from renewals.sync.targets import (
    GITHUB_CONN_ID,
    HUBSPOT_CONN_ID,
    SALESFORCE_CONN_ID,
    WEBHOOK_CONN_ID,
    ConnectionInfo,
    Target,
    connection,
)
from renewals.sync.webhook import WebhookTarget

Connections = Callable[[str], ConnectionInfo | None]


def configured_targets(
    settings: Settings, connections: Connections = connection, sleep: Callable[[float], None] = time.sleep
) -> list[Target]:
    """The targets whose connection exists, each with its own time budget for this run. The webhook,
    HubSpot and GitHub read their connection again through their provider's hook."""

    def client() -> Client:
        return Client(Budget(settings.sync_budget), sleep=sleep)

    targets: list[Target] = []
    mapping = load_mapping(settings.sync_mapping_path)
    if connections(WEBHOOK_CONN_ID):
        targets.append(WebhookTarget.from_connection(client()))
    if conn := connections(SALESFORCE_CONN_ID):
        targets.append(SalesforceTarget.from_connection(conn, mapping.salesforce, client()))
    if connections(HUBSPOT_CONN_ID):
        targets.append(HubSpotTarget.from_connection(mapping.hubspot, client()))
    if connections(GITHUB_CONN_ID):
        targets.append(GitHubTarget.from_connection(mapping.github, client()))
    return targets
