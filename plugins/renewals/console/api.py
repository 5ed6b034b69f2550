"""The console's FastAPI app, mounted by the api-server at ``/renewals`` (plugins/renewals_plugin.py).

``/renewals/api/...`` answers JSON; the other routes are server-rendered pages (Jinja with
autoescape: every warehouse value is escaped; HTML previews go in a sandboxed iframe's srcdoc).
Every route but ``/unsubscribe`` (a signed token is its authority) needs a user logged in to
Airflow (the UI's ``_token`` cookie or a Bearer token) who
may read ``renewals_daily``; settling an unknown send needs permission to edit it. A page asked
for without login redirects to Airflow's login page; the API answers 401.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

import psycopg
from cachetools.func import ttl_cache
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from renewals.config import OPS_CONN_ID, ConfigError, Settings
from renewals.console import queries
from renewals.dates import as_of_date
from renewals.delivery import unsubscribe
from renewals.delivery.render import Renderer
from renewals.playbooks import Playbook, load_playbooks
from renewals.storage import suppressions
from renewals.storage.db import connect

DAG_ID = "renewals_daily"
URL_PREFIX = "/renewals"  # where the plugin mounts the app (links in the pages)
TEMPLATES = Path(__file__).parent / "templates"
log = logging.getLogger(__name__)


def _access(method: Literal["GET", "PUT"]) -> Any:
    """Airflow's own check: a logged-in user allowed ``method`` on renewals_daily."""
    from airflow.api_fastapi.core_api.security import requires_access_dag

    return Depends(requires_access_dag(method, param_dag_id=DAG_ID))


def _user_dep() -> Any:
    from airflow.api_fastapi.core_api.security import get_user

    return Depends(get_user)


CanRead = _access("GET")
CanEdit = _access("PUT")
CurrentUser = _user_dep()


@cache
def _setup() -> tuple[Settings, dict[str, Playbook], Renderer]:
    """Settings, playbooks and templates as the run loads them, once per api-server process."""
    settings = Settings.from_env()
    return settings, load_playbooks(settings.playbook_dir, settings.template_dir), Renderer(settings.template_dir)


def ops_dsn() -> str:
    """The ops database of the ``renewals_ops`` connection (AIRFLOW_CONN_RENEWALS_OPS or the UI)."""
    from renewals.airflow_resources import postgres_dsn

    return postgres_dsn(OPS_CONN_ID)


def ops_connection() -> Iterator[psycopg.Connection]:
    # One short connection per request: the console is a handful of staff, not a public site,
    # and this keeps no state in the api-server between requests.
    with connect(ops_dsn(), autocommit=True) as conn:
        yield conn


ops_session = contextmanager(ops_connection)  # the same, where a route opens it itself


Ops = Annotated[psycopg.Connection, Depends(ops_connection)]


def today() -> date:
    settings, _, _ = _setup()
    return as_of_date(datetime.now(UTC), settings.business_timezone)


def user_name(user: Any) -> str:
    return user.get_name() if hasattr(user, "get_name") else str(user)


# --- JSON API -------------------------------------------------------------------------------

api = APIRouter(prefix="/api", dependencies=[CanRead])


class Verdict(BaseModel):
    verdict: Literal["delivered", "not_delivered"]


def _json(data: Any, status_code: int = 200) -> JSONResponse:
    return JSONResponse(jsonable_encoder(data), status_code=status_code)


def _member(ops: psycopg.Connection, subscription_id: str) -> dict[str, Any]:
    settings, playbooks, renderer = _setup()
    try:
        return queries.member(ops, subscription_id, playbooks, settings, renderer, today())
    except queries.NotFound as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None


def _run(ops: psycopg.Connection, run_id: str) -> dict[str, Any]:
    try:
        return queries.run(ops, run_id)
    except queries.NotFound as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None


@api.get("/members")
def api_search(ops: Ops, q: str = "") -> JSONResponse:
    """Members by subscription id, account name prefix or a contact's email."""
    return _json({"q": q, "members": queries.search(ops, q)})


@api.get("/members/{subscription_id:path}")
def api_member(ops: Ops, subscription_id: str) -> JSONResponse:
    """Facts, contacts, the timeline (newest first) and what comes next with previews."""
    return _json(_member(ops, subscription_id))


@api.get("/runs/{run_id:path}")
def api_run(ops: Ops, run_id: str) -> JSONResponse:
    """The run's summary; for a dry run, the messages it would have sent, rendered."""
    return _json(_run(ops, run_id))


@api.get("/unknown")
def api_unknown(ops: Ops) -> JSONResponse:
    """Sends in 'unknown' waiting for an operator's verdict."""
    return _json({"unknown": queries.unknown_sends(ops)})


@api.post("/unknown/{subscription_id:path}/{touchpoint}", dependencies=[CanEdit])
def api_settle(ops: Ops, subscription_id: str, touchpoint: str, body: Verdict, user: Any = CurrentUser) -> JSONResponse:
    """Delivered -> 'sent'; not delivered -> 'pending' (the next run sends it if still due)."""
    decided_by = user_name(user)
    try:
        queries.settle_unknown(ops, subscription_id, touchpoint, body.verdict == "delivered", decided_by)
    except queries.NotFound as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    return _json({"subscription_id": subscription_id, "touchpoint": touchpoint, "verdict": body.verdict,
                  "decided_by": decided_by})  # fmt: skip


@api.get("/quarantine")
def api_quarantine(ops: Ops, run_id: str | None = None) -> JSONResponse:
    """Quarantined input rows by reason code, with the raw rows (one run, or all)."""
    return _json(queries.quarantine(ops, run_id))


# --- pages ----------------------------------------------------------------------------------

pages = APIRouter(dependencies=[CanRead])
_jinja = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True))
_jinja.globals["root"] = URL_PREFIX


def _page(template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    html = _jinja.get_template(template).render(**context)
    return HTMLResponse(html, status_code=status_code)


@pages.get("/", response_class=HTMLResponse)
def home(ops: Ops, q: str = "") -> HTMLResponse:
    return _page("search.html", q=q, members=queries.search(ops, q) if q else None, nav="members")


@pages.get("/members/{subscription_id:path}", response_class=HTMLResponse)
def member_page(ops: Ops, subscription_id: str) -> HTMLResponse:
    return _page("member.html", m=_member(ops, subscription_id), nav="members")


# Also the "Renewals" tab of a DAG run: the UI fills in {RUN_ID} (ids may hold slashes, hence :path).
@pages.get("/runs/{run_id:path}", response_class=HTMLResponse)
def run_page(ops: Ops, run_id: str) -> HTMLResponse:
    return _page("run.html", r=_run(ops, run_id), nav="runs")


@pages.get("/unknown", response_class=HTMLResponse)
def unknown_page(ops: Ops) -> HTMLResponse:
    return _page("unknown.html", sends=queries.unknown_sends(ops), nav="unknown")


@pages.get("/quarantine", response_class=HTMLResponse)
def quarantine_page(ops: Ops, run_id: str | None = None) -> HTMLResponse:
    return _page("quarantine.html", q=queries.quarantine(ops, run_id), run_id=run_id, nav="quarantine")


# --- one-click unsubscribe (RFC 8058): no login, the signed token is the authority ------------

public = APIRouter()


def _unsubscribe_page(status_code: int = 200, **context: Any) -> HTMLResponse:
    defaults = {"error": None, "done": False, "addresses": (), "action": ""}
    return _page("unsubscribe.html", status_code, **{**defaults, **context})


# The route is public: a request from the internet must not become a lookup in Airflow's
# secrets backend (perhaps a remote vault). The secret is read at most once a minute per process,
# so a rotated one is in use within a minute.
SECRET_CACHE_SECONDS = 60


@ttl_cache(maxsize=1, ttl=SECRET_CACHE_SECONDS)
def _signing_secrets() -> tuple[bytes, ...]:
    from renewals.airflow_resources import unsubscribe_secrets

    try:
        return unsubscribe_secrets()
    except ConfigError:
        log.exception("Unsubscribe links are refused until the connection is fixed")
        return ()


def _read_token(token: str) -> unsubscribe.Unsubscribe | HTMLResponse:
    """What the token unsubscribes, or the page that refuses it (nothing is changed)."""
    secrets = _signing_secrets()
    if not secrets:
        return _unsubscribe_page(503, error="Unsubscribe links are not set up here")
    try:
        return unsubscribe.read_token(secrets[0], token, previous=secrets[1] if len(secrets) > 1 else None)
    except unsubscribe.ExpiredToken as exc:
        return _unsubscribe_page(400, error=str(exc).capitalize())
    except unsubscribe.BadToken as exc:
        return _unsubscribe_page(403, error=str(exc).capitalize())


@public.get("/unsubscribe", response_class=HTMLResponse)
def unsubscribe_confirm(token: str = "") -> HTMLResponse:
    """A link opened in a browser only asks (link scanners open links too): the button POSTs.
    The form posts back to this same path and token, relative to the page, never to the Host
    the request named."""
    target = _read_token(token)
    if isinstance(target, HTMLResponse):
        return target
    return _unsubscribe_page(addresses=target.addresses, action=f"?{urlencode({'token': token})}")


@public.post("/unsubscribe", response_class=HTMLResponse)
def unsubscribe_now(token: str = "") -> HTMLResponse:
    """The one-click POST of a mail client (body ``List-Unsubscribe=One-Click``) or the page's
    button: suppresses the token's addresses; a replay finds them suppressed and changes nothing.
    Anyone on the internet can POST here: the token is checked before the database is opened."""
    target = _read_token(token)
    if isinstance(target, HTMLResponse):
        return target
    with ops_session() as ops:
        suppressions.add(ops, target.addresses, "unsubscribed", scope=target.scope, source="unsubscribe_link",
                         created_by="unsubscribe link")  # fmt: skip
    return _unsubscribe_page(addresses=target.addresses, done=True)


def _not_for_pages(request: Request, exc: StarletteHTTPException) -> Response:
    """API errors stay JSON; a page asked for without login goes to Airflow's login page, and
    other page errors are shown as a page."""
    if request.url.path.startswith(f"{request.scope.get('root_path', '')}/api/"):
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
    if exc.status_code == 401:
        from airflow.api_fastapi.app import get_auth_manager

        return RedirectResponse(get_auth_manager().get_url_login(next_url=str(request.url)), status_code=303)
    return _page("error.html", status_code=exc.status_code, status=exc.status_code, detail=exc.detail, nav=None)


def create_app() -> FastAPI:
    app = FastAPI(title="Renewals console", description="The renewals console: members, runs, unknown sends")
    app.include_router(api)
    app.include_router(pages)
    app.include_router(public)
    app.add_exception_handler(StarletteHTTPException, _not_for_pages)  # type: ignore[arg-type]
    return app
