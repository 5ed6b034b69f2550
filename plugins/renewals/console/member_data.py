"""Who may see members' personal data in the console, and what the others see instead.

Read on ``renewals_daily`` opens the console; Airflow's Viewer role reads every DAG, so that alone
shows counts, ids, dates and states only. Contacts' names and addresses, message texts and raw
quarantined rows need read on the ``renewals_ops`` connection: a right no auth manager gives a
viewer, granted on purpose, and one that shows nothing its holder could not reach already (the
ops database holds all of it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from renewals.config import OPS_CONN_ID

HIDDEN = "hidden"
NOTICE = (
    f"Contacts' names and addresses, message texts, raw quarantined rows and staff systems' answers are {HIDDEN}: "
    f"they need read on the {OPS_CONN_ID} connection (Operator's guide: Security)."
)
# The keys that carry them wherever they appear in what the console answers: contacts, suppressions,
# recipients of sends and previews, the texts of previews and edited wording, quarantined rows, and
# a staff system's answer to a refused event (it may quote the record it refused).
PERSONAL_KEYS = frozenset(
    {
        "name",
        "email",
        "address",
        "recipients",
        "cc",
        "text",
        "body",
        "html",
        "text_body",
        "html_body",
        "raw",
        "last_answer",
    }
)


def may_see(user: Any) -> bool:
    """Whether Airflow's auth manager lets ``user`` read the ops database's connection."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import ConnectionDetails

    return get_auth_manager().is_authorized_connection(
        method="GET", details=ConnectionDetails(conn_id=OPS_CONN_ID), user=user
    )


def shown(data: Mapping[str, Any], visible: bool) -> dict[str, Any]:
    """``data`` as it is for a reader who may see personal data; for the others, with every
    personal value replaced by ``HIDDEN`` and the ``member_data_hidden`` notice saying why."""
    if visible:
        return dict(data)
    return {**_hide(data), "member_data_hidden": NOTICE}


def _hide(value: Any, personal: bool = False) -> Any:
    if personal:
        # a list stays a list (the pages join recipients); a row or a text becomes the word
        if isinstance(value, list | tuple):
            return [HIDDEN] if value else []
        return value if value is None else HIDDEN
    if isinstance(value, Mapping):
        return {key: _hide(item, key in PERSONAL_KEYS) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_hide(item) for item in value]
    return value
