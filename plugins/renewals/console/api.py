"""The console's FastAPI app, mounted by the api-server at ``/renewals`` (plugins/renewals_plugin.py).

``/renewals/api/...`` answers JSON; the other routes are server-rendered pages (Jinja with
autoescape: every warehouse value is escaped; HTML previews go in a sandboxed iframe's srcdoc).
Every route but the public pages ``/unsubscribe`` and ``/answer/...`` (renewals.console.public:
a sealed token is their authority) needs a user logged in to
Airflow (the UI's ``_token`` cookie or a Bearer token) who
may read ``renewals_daily``; settling an unknown send, or retrying or dismissing an event a staff
system refused, needs permission to edit it. Members' personal data is shown only to users who may
also read the ops connection (``member_data``). A page asked
for without login redirects to Airflow's login page; the API answers 401.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlencode

import psycopg
from cachetools.func import ttl_cache
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel, BeforeValidator, Field, StringConstraints
from starlette.exceptions import HTTPException as StarletteHTTPException

from renewals.config import OPS_CONN_ID, ConfigError, Settings
from renewals.console import member_data, queries, steering
from renewals.console.public import public_router
from renewals.decisions.dates import as_of_date
from renewals.delivery.render import Renderer
from renewals.labels import label
from renewals.playbooks import Playbook, load_playbooks
from renewals.reports import summary
from renewals.statuses import ParkedAction, StaffAction
from renewals.storage import replies
from renewals.storage.db import connect
from renewals.sync import parked

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


def sees_member_data(user: Any = CurrentUser) -> bool:
    return member_data.may_see(user)


SeesMemberData = Annotated[bool, Depends(sees_member_data)]


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
    # The renewal cycle of the send the operator looked at: a verdict settles that send, never
    # another cycle's send of the same touchpoint.
    renewal_date: date


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
def api_search(ops: Ops, sees: SeesMemberData, q: str = "") -> JSONResponse:
    """Members by subscription id, account name prefix or (for who may see them) a contact's email."""
    return _json(member_data.shown({"q": q, "members": queries.search(ops, q, by_contacts=sees)}, sees))


@api.get("/members/{subscription_id:path}")
def api_member(ops: Ops, sees: SeesMemberData, subscription_id: str) -> JSONResponse:
    """Facts, contacts, the timeline (newest first) and what comes next with previews."""
    return _json(member_data.shown(_member(ops, subscription_id), sees))


@api.get("/runs/{run_id:path}")
def api_run(ops: Ops, sees: SeesMemberData, run_id: str) -> JSONResponse:
    """The run's summary; for a dry run, the messages it would have sent, rendered."""
    return _json(member_data.shown(_run(ops, run_id), sees))


@api.get("/unknown")
def api_unknown(ops: Ops, sees: SeesMemberData) -> JSONResponse:
    """Sends in 'unknown' waiting for an operator's verdict."""
    return _json(member_data.shown({"unknown": queries.unknown_sends(ops)}, sees))


@api.post("/unknown/{subscription_id:path}/{touchpoint}", dependencies=[CanEdit])
def api_settle(ops: Ops, subscription_id: str, touchpoint: str, body: Verdict, user: Any = CurrentUser) -> JSONResponse:
    """Delivered -> 'sent'; not delivered -> 'pending' (the next run sends it if still due)."""
    if not subscription_id.strip() or not touchpoint.strip():
        raise HTTPException(status_code=422, detail="a verdict names a subscription id and a touchpoint")
    decided_by = user_name(user)
    try:
        queries.settle_unknown(
            ops, subscription_id, touchpoint, body.renewal_date, body.verdict == "delivered", decided_by
        )
    except queries.NotFound as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    return _json(
        {
            "subscription_id": subscription_id,
            "touchpoint": touchpoint,
            "renewal_date": body.renewal_date,
            "verdict": body.verdict,
            "decided_by": decided_by,
        }
    )


class ParkedActionBody(BaseModel):
    action: ParkedAction
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] | None = None


@api.get("/sync/parked")
def api_parked(ops: Ops, sees: SeesMemberData) -> JSONResponse:
    """Events a staff system refused for good, with its answer."""
    return _json(member_data.shown({"parked": parked.parked(ops)}, sees))


@api.post("/sync/parked/{event_id}/{target}", dependencies=[CanEdit])
def api_parked_action(
    ops: Ops, event_id: int, target: str, body: ParkedActionBody, user: Any = CurrentUser
) -> JSONResponse:
    """Retry (the next run sends it again) or dismiss a parked event; audited with the user."""
    acted_by = user_name(user)
    try:
        parked.act(ops, event_id, target, body.action, acted_by, body.note)
    except parked.NotParked as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    return _json({"event_id": event_id, "target": target, "action": body.action, "acted_by": acted_by})


# --- staff steering: the outbox, holds, and actions on one touchpoint --------------------------

OUTBOX_DAYS = 14  # the default range: today and the next 14 days
OUTBOX_PAGE = 50
OUTBOX_MAX_DAYS = 92
STATES = Literal["scheduled", "held", "skipped", "moved", "edited"]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
Subject = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300, pattern=r"^[^\r\n]*$")]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20000)]


class Hold(BaseModel):
    until: date | None = None
    reason: Reason


class Skip(BaseModel):
    action: Literal["skip"]
    reason: Reason


class Move(BaseModel):
    action: Literal["move"]
    to: date
    reason: Reason


class EditWording(BaseModel):
    action: Literal["edit"]
    subject: Subject | None = None
    text: Text | None = None
    reason: Reason


class Restore(BaseModel):
    action: Literal["restore"]
    reason: str | None = None


class Note(BaseModel):
    text: Reason


TouchpointAction = Annotated[Skip | Move | EditWording | Restore, Field(discriminator="action")]


def _invalid(field: str, message: str) -> HTTPException:
    """A 422 shaped as FastAPI's own validation errors, naming the field."""
    return HTTPException(status_code=422, detail=[{"loc": ["body", field], "msg": message, "type": "value_error"}])


def _not_before_today(field: str, day: date | None) -> None:
    if day is not None and day < today():
        raise _invalid(field, f"{field}: {day.isoformat()} is in the past (today is {today().isoformat()})")


def _staged_or_404(ops: psycopg.Connection, subscription_id: str) -> dict[str, Any]:
    staged = queries.staged_member(ops, subscription_id)
    if staged is None:
        raise HTTPException(status_code=404, detail=f"no member {subscription_id!r} in the latest run's staged data")
    return staged[0]


def _blank(value: Any) -> Any:
    return None if value == "" else value


# An empty field of the outbox's filter form means "all", as leaving the parameter out does.
Blank = BeforeValidator(_blank)


@dataclass(frozen=True)
class OutboxQuery:
    """The outbox's filters and page from the query string, for the API and the landing page alike."""

    first: Annotated[date | None, Query(alias="from"), Blank] = None
    last: Annotated[date | None, Query(alias="to"), Blank] = None
    playbook: Annotated[str | None, Blank] = None
    touchpoint: Annotated[str | None, Blank] = None
    owner: Annotated[str | None, Blank] = None
    team: Annotated[str | None, Blank] = None
    state: Annotated[STATES | None, Blank] = None
    limit: Annotated[int, Query(ge=1, le=500)] = OUTBOX_PAGE
    offset: Annotated[int, Query(ge=0)] = 0


Outbox = Annotated[OutboxQuery, Depends()]


@api.get("/outbox")
def api_outbox(ops: Ops, sees: SeesMemberData, query: Outbox) -> JSONResponse:
    """Every message and staff action due from ``from`` to ``to`` (default today and the next
    14 days) across members, filtered, one page."""
    return _json(member_data.shown(_outbox(ops, query), sees))


def _outbox(ops: psycopg.Connection, query: OutboxQuery) -> dict[str, Any]:
    settings, playbooks, renderer = _setup()
    first = query.first or today()
    last = query.last or first + timedelta(days=OUTBOX_DAYS)

    def refuse(field: str, message: str) -> HTTPException:
        return HTTPException(status_code=422, detail=[{"loc": ["query", field], "msg": message, "type": "value_error"}])

    if last < first:
        raise refuse("to", "to: before from")
    if (last - first).days > OUTBOX_MAX_DAYS:
        raise refuse("to", f"to: at most {OUTBOX_MAX_DAYS} days after from")
    if query.playbook is not None and query.playbook not in playbooks:
        raise refuse("playbook", f"playbook: one of {', '.join(sorted(playbooks))}")
    if query.team is not None and query.team not in settings.teams:
        raise refuse("team", f"team: one of {', '.join(sorted(settings.teams))}")
    filters = {name: getattr(query, name) for name in queries.OUTBOX_FILTERS}
    return queries.outbox(ops, playbooks, settings, renderer, today(), first, last, filters, query.limit, query.offset)


@api.post("/members/{subscription_id:path}/hold", dependencies=[CanEdit])
def api_hold(ops: Ops, subscription_id: str, body: Hold, user: Any = CurrentUser) -> JSONResponse:
    """Hold the member until ``until`` (null: until lifted): nothing goes to their contacts."""
    _staged_or_404(ops, subscription_id)
    if body.until is not None and body.until <= today():
        raise _invalid("until", f"until: {body.until.isoformat()} is not after today ({today().isoformat()})")
    return _json(steering.hold(ops, subscription_id, body.until, body.reason, user_name(user)))


@api.delete("/members/{subscription_id:path}/hold", dependencies=[CanEdit])
def api_lift(ops: Ops, subscription_id: str, user: Any = CurrentUser) -> JSONResponse:
    """Lift the member's hold: the process resumes with the catch-up rule."""
    _staged_or_404(ops, subscription_id)
    try:
        return _json(steering.lift(ops, subscription_id, user_name(user)))
    except steering.NoHold as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None


@api.post("/members/{subscription_id:path}/notes", dependencies=[CanEdit])
def api_note(ops: Ops, subscription_id: str, body: Note, user: Any = CurrentUser) -> JSONResponse:
    """A note on the member's timeline."""
    _staged_or_404(ops, subscription_id)
    return _json(steering.note(ops, subscription_id, body.text, user_name(user)))


@api.post("/members/{subscription_id:path}/touchpoints/{touchpoint}", dependencies=[CanEdit])
def api_steer(
    ops: Ops, subscription_id: str, touchpoint: str, body: TouchpointAction, user: Any = CurrentUser
) -> JSONResponse:
    """Skip, move, edit or restore one touchpoint of the member's current renewal cycle."""
    staged = _staged_or_404(ops, subscription_id)
    _, playbooks, _ = _setup()
    playbook = playbooks.get(staged["playbook"])
    if playbook is None or touchpoint not in {tp.key for tp in playbook.touchpoints}:
        raise HTTPException(
            status_code=404, detail=f"no touchpoint {touchpoint!r} in the {staged['playbook']} playbook"
        )
    fields: dict[str, Any] = {}
    if isinstance(body, Move):
        _not_before_today("to", body.to)
        fields["move_to"] = body.to
    elif isinstance(body, EditWording):
        if body.subject is None and body.text is None:
            raise _invalid("subject", "subject or text: give at least one")
        if playbook.touchpoint(touchpoint).template is None:
            raise _invalid("action", f"action: {touchpoint} sends no message to edit")
        fields.update(subject=body.subject, text=body.text)
    try:
        done = steering.steer_touchpoint(
            ops,
            subscription_id,
            staged["renewal_date"],
            touchpoint,
            StaffAction(body.action),
            user_name(user),
            body.reason,
            **fields,
        )
    except steering.AlreadySent as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from None
    return _json(done)


@api.post("/members/{subscription_id:path}/resume-reminders", dependencies=[CanEdit])
def api_resume_reminders(ops: Ops, subscription_id: str, user: Any = CurrentUser) -> JSONResponse:
    """Staff take back a member a reply handed to them: the reminders go on from the next run."""
    resumed_by = user_name(user)
    ended = replies.resume(ops, subscription_id, resumed_by)
    if not ended:
        raise HTTPException(status_code=404, detail=f"no reminders of {subscription_id!r} are stopped by a reply")
    return _json({"subscription_id": subscription_id, "resumed_by": resumed_by, "holds_ended": ended})


@api.get("/quarantine")
def api_quarantine(ops: Ops, sees: SeesMemberData, run_id: str | None = None) -> JSONResponse:
    """Quarantined input rows by reason code, with the raw rows (one run, or all)."""
    return _json(member_data.shown(queries.quarantine(ops, run_id), sees))


# --- pages ----------------------------------------------------------------------------------

pages = APIRouter(dependencies=[CanRead])
_jinja = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True))
_jinja.globals.update(
    root=URL_PREFIX,
    kinds=summary.KINDS,
    kind_labels=summary.KIND_LABELS,
    kind_notes=summary.KIND_NOTES,
    history_note=summary.HISTORY_NOTE,
    hidden=member_data.HIDDEN,
)
_jinja.filters["label"] = label


def _page(template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    html = _jinja.get_template(template).render(**context)
    return HTMLResponse(html, status_code=status_code)


@pages.get("/", response_class=HTMLResponse)
def home(request: Request, ops: Ops, sees: SeesMemberData, query: Outbox, q: str = "") -> Response:
    """The landing page: the outbox (a search from an older link still finds members)."""
    if q:
        return RedirectResponse(f"{URL_PREFIX}/members?{urlencode({'q': q})}", status_code=303)
    outbox = _outbox(ops, query)

    def page_url(page_offset: int) -> str:
        return f"{URL_PREFIX}/?{urlencode({**request.query_params, 'offset': max(page_offset, 0)})}"

    _, playbooks, _ = _setup()
    return _page(
        "outbox.html",
        **member_data.shown({"o": outbox}, sees),
        playbooks=sorted(playbooks),
        states=get_args(STATES),
        page_url=page_url,
        nav="outbox",
    )


@pages.get("/members", response_class=HTMLResponse)
def search_page(ops: Ops, sees: SeesMemberData, q: str = "") -> HTMLResponse:
    members = queries.search(ops, q, by_contacts=sees) if q else None
    return _page("search.html", q=q, **member_data.shown({"members": members}, sees), nav="members")


@pages.get("/members/{subscription_id:path}", response_class=HTMLResponse)
def member_page(ops: Ops, sees: SeesMemberData, subscription_id: str) -> HTMLResponse:
    return _page(
        "member.html", **member_data.shown({"m": _member(ops, subscription_id)}, sees), nav="members", today=today()
    )


# Also the "Renewals" tab of a DAG run: the UI fills in {RUN_ID} (ids may hold slashes, hence :path).
@pages.get("/runs/{run_id:path}", response_class=HTMLResponse)
def run_page(ops: Ops, sees: SeesMemberData, run_id: str) -> HTMLResponse:
    return _page("run.html", **member_data.shown({"r": _run(ops, run_id)}, sees), nav="runs")


@pages.get("/unknown", response_class=HTMLResponse)
def unknown_page(ops: Ops, sees: SeesMemberData) -> HTMLResponse:
    return _page("unknown.html", **member_data.shown({"sends": queries.unknown_sends(ops)}, sees), nav="unknown")


@pages.get("/sync", response_class=HTMLResponse)
def sync_page(ops: Ops, sees: SeesMemberData) -> HTMLResponse:
    return _page("sync.html", **member_data.shown({"events": parked.parked(ops)}, sees), nav="sync")


@pages.get("/quarantine", response_class=HTMLResponse)
def quarantine_page(ops: Ops, sees: SeesMemberData, run_id: str | None = None) -> HTMLResponse:
    return _page(
        "quarantine.html",
        **member_data.shown({"q": queries.quarantine(ops, run_id)}, sees),
        run_id=run_id,
        nav="quarantine",
    )


# --- the public pages (unsubscribe, answers): no login, the token is the authority ----------


# The routes are public: a request from the internet must not become a lookup in Airflow's
# secrets backend (perhaps a remote vault). The secret is read at most once a minute per process,
# so a rotated one is in use within a minute.
SECRET_CACHE_SECONDS = 60


@ttl_cache(maxsize=1, ttl=SECRET_CACHE_SECONDS)
def _signing_secrets() -> tuple[bytes, ...]:
    from renewals.airflow_resources import unsubscribe_secrets

    try:
        return unsubscribe_secrets()
    except ConfigError:
        log.exception("Public links are refused until the connection is fixed")
        return ()


public = public_router(_signing_secrets, ops_dsn)


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
