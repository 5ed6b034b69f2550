"""The public pages: one-click unsubscribe (RFC 8058) and one-click answers. No login: the
link's token is the authority, and it is checked before anything touches the database.

Served by the console app inside the Airflow api-server (local use) and by the standalone app
of renewals.public_app (a deployment's internet-facing pages); both build their routes here.
A GET only shows a page with a form (mail scanners open every link); the form's POST acts.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

import psycopg
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from renewals.delivery import unsubscribe
from renewals.delivery.render import long_date
from renewals.statuses import SuppressionReason
from renewals.storage import answers, suppressions
from renewals.storage.db import connect

TEMPLATES = Path(__file__).parent / "templates"
MAX_FORM_BYTES = 16_384  # a token and a reason fit; a bigger body is not read

_jinja = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True))
_jinja.filters["long_date"] = long_date  # "31 December 2026", as the emails write dates


def _page(template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(_jinja.get_template(template).render(**context), status_code=status_code)


Secrets = Callable[[], tuple[bytes, ...]]  # the link secrets, newest first (a rotation's previous one after it)


def _refusal(template: str, secrets: tuple[bytes, ...], token: str, read: Callable[..., Any]) -> Any:
    """What the token says, or the page that refuses it (4xx; nothing is changed)."""
    if not secrets:
        return _page(template, 503, error="These links are not set up here")
    try:
        return read(secrets[0], token, previous=secrets[1] if len(secrets) > 1 else None)
    except unsubscribe.ExpiredToken as exc:
        return _page(template, 400, error=str(exc).capitalize())
    except unsubscribe.BadToken as exc:
        return _page(template, 403, error=str(exc).capitalize())


async def _form(request: Request) -> dict[str, str]:
    """The form-encoded body (the page's button, a mail client's one-click POST), first values."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return {}
    return {name: values[0] for name, values in parse_qs(body.decode(errors="replace")).items()}


def public_router(secrets: Secrets, ops_dsn: Callable[[], str]) -> APIRouter:
    """The unsubscribe and answer routes, with where their secrets and database come from."""
    router = APIRouter()

    def ops() -> psycopg.Connection:
        return connect(ops_dsn(), autocommit=True)

    @router.get("/unsubscribe", response_class=HTMLResponse)
    def unsubscribe_confirm(token: str = "") -> HTMLResponse:
        """A link opened in a browser only asks: the button POSTs."""
        target = _refusal("unsubscribe.html", secrets(), token, unsubscribe.read_token)
        if isinstance(target, HTMLResponse):
            return target
        return _page("unsubscribe.html", error=None, done=False, action=_back_to_this_page(token))

    @router.post("/unsubscribe", response_class=HTMLResponse)
    async def unsubscribe_now(request: Request, token: str = "") -> HTMLResponse:
        """The one-click POST of a mail client (body ``List-Unsubscribe=One-Click``) or the page's
        button: suppresses the one recipient of the token; a replay changes nothing."""
        token = token or (await _form(request)).get("token", "")
        target = _refusal("unsubscribe.html", secrets(), token, unsubscribe.read_token)
        if isinstance(target, HTMLResponse):
            return target
        with ops() as conn:
            suppressions.add(
                conn,
                [target.address],
                SuppressionReason.UNSUBSCRIBED,
                scope=target.scope,
                source="unsubscribe_link",
                created_by="unsubscribe link",
            )
        return _page("unsubscribe.html", error=None, done=True)

    @router.get("/answer/{kind}", response_class=HTMLResponse)
    def answer_confirm(kind: str, token: str = "") -> HTMLResponse:
        """The answer's page: what the link says, a confirm button (and for a decline, a reason)."""
        answer = _answer_of(kind, token, secrets())
        if isinstance(answer, HTMLResponse):
            return answer
        return _page("answer.html", error=None, done=False, answer=answer, action=_back_to_this_page(token))

    @router.post("/answer/{kind}", response_class=HTMLResponse)
    async def answer_now(request: Request, kind: str, token: str = "") -> HTMLResponse:
        """Records the answer (form-encoded; ``reason`` optional). A replayed link records nothing."""
        form = await _form(request)
        token = token or form.get("token", "")
        answer = _answer_of(kind, token, secrets())
        if isinstance(answer, HTMLResponse):
            return answer
        with ops() as conn:
            recorded = answers.record(conn, answer, form.get("reason"), unsubscribe.token_digest(token))
        return _page("answer.html", error=None, done=True, answer=answer, recorded=recorded)

    return router


def _back_to_this_page(token: str) -> str:
    """The form's target: this same path and token, relative to the page (never built from the
    Host a request named)."""
    return f"?{urlencode({'token': token})}"


def _answer_of(kind: str, token: str, secrets: tuple[bytes, ...]) -> unsubscribe.Answer | HTMLResponse:
    """The token's answer, which the URL's word must name too; else the refusal page."""
    answer = _refusal("answer.html", secrets, token, unsubscribe.read_answer_token)
    if not isinstance(answer, HTMLResponse) and answer.answer != kind:
        return _page("answer.html", 403, error="This link is not valid")
    return answer
