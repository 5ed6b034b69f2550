"""The public pages as a small app of their own: only ``/renewals/unsubscribe`` and
``/renewals/answer/{intent,decline}`` (the routes of renewals.console.public, which the Airflow
console app also serves for local use), so that nothing of Airflow need face the internet.

It needs no Airflow: two settings, from the environment.
- ``RENEWALS_PUBLIC_SECRET``: the secret that seals the links, the same value as the
  ``renewals_unsubscribe`` connection's password (or ``RENEWALS_PUBLIC_SECRET_FILE``: a file
  holding it, e.g. a Docker secret); while it is rotated, ``RENEWALS_PUBLIC_PREVIOUS_SECRET``
  the one before it (the connection's ``previous_password``).
- ``RENEWALS_PUBLIC_DSN``: the ops database as the ``renewals_public`` role (migration 0016:
  insert suppressions and answers, queue a staff post; nothing else).

Run: ``uvicorn --factory renewals.public_app:create_app`` (docker-compose: the ``public``
service). It serves no API docs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from fastapi import FastAPI

from renewals.console.public import public_router
from renewals.delivery.unsubscribe import weak_secret

URL_PREFIX = "/renewals"  # as in the Airflow api-server, so a link works with either


class PublicAppError(RuntimeError):
    """A setting of the public app is missing."""


def _secrets(env: Mapping[str, str]) -> tuple[bytes, ...]:
    """The link secrets, newest first, each long enough to seal links."""
    if env.get("RENEWALS_PUBLIC_SECRET_FILE"):
        secret = Path(env["RENEWALS_PUBLIC_SECRET_FILE"]).read_text().strip()
    else:
        secret = env.get("RENEWALS_PUBLIC_SECRET", "")
    if not secret:
        raise PublicAppError("RENEWALS_PUBLIC_SECRET (or RENEWALS_PUBLIC_SECRET_FILE) is required")
    named = {
        "RENEWALS_PUBLIC_SECRET": secret,
        "RENEWALS_PUBLIC_PREVIOUS_SECRET": env.get("RENEWALS_PUBLIC_PREVIOUS_SECRET"),
    }
    for name, value in named.items():
        if value and (why := weak_secret(value.encode())):
            raise PublicAppError(f"{name} {why}")
    return tuple(value.encode() for value in named.values() if value)


def create_app(env: Mapping[str, str] | None = None) -> FastAPI:
    env = os.environ if env is None else env
    secrets = _secrets(env)
    dsn = env.get("RENEWALS_PUBLIC_DSN", "")
    if not dsn:
        raise PublicAppError("RENEWALS_PUBLIC_DSN is required")
    app = FastAPI(title="Renewals public pages", docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(public_router(lambda: secrets, lambda: dsn), prefix=URL_PREFIX)
    return app
