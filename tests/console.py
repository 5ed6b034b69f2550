"""The console's test stack: the real Airflow api-server (simple auth manager: an admin, a staff
user who may see members' personal data and a viewer who may not) serving the renewals plugin
over an ops schema that in-process runs filled: real sends, a dry run, an 'unknown' send and a
quarantined row."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from devenv.inprocess import run_day
from devenv.mailbox import FileMailbox
from devenv.postgres import drop_database, ensure_database
from renewals.config import PROJECT_ROOT
from renewals.storage.db import connect
from tests.daily import resources_for
from tests.world import World

PASSWORDS = {"admin": "admin-secret", "staff": "staff-secret", "viewer": "viewer-secret"}
# The simple auth manager lets only its op and admin roles read connections, the right that shows
# members' personal data (renewals.console.member_data); a viewer reads the console without it.
USERS = "admin:admin,staff:op,viewer:viewer"
TODAY = datetime.now(UTC).date()  # the api-server's today (business timezone UTC in tests)
# Renewals that have something due today (the -30 reminder) and something ahead.
R_SENT = TODAY + timedelta(days=30)
MEMBER = "S-CONSOLE-1"  # sent today; its -30 send is then made 'unknown'
DRY = "S-CONSOLE-DRY"  # only seen by a dry run
EVIL = "S-CONSOLE-<b>X</b>"  # warehouse values with markup in them (and a slash in an id)


@dataclass
class Console:
    url: str
    ops_uri: str
    dry_run_id: str
    real_run_id: str
    tokens: dict[str, str] = field(default_factory=dict)

    def request(
        self, method: str, path: str, user: str | None = None, body: Any = None, cookie: bool = False
    ) -> tuple[int, Any, dict[str, str]]:
        """(status, parsed JSON or text, headers); redirects are not followed."""
        headers = {"Accept": "application/json"}
        if user is not None:
            if cookie:
                headers["Cookie"] = f"_token={self.tokens[user]}"
            else:
                headers["Authorization"] = f"Bearer {self.tokens[user]}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        opener = urllib.request.build_opener(NoRedirect)
        try:
            with opener.open(req, timeout=30) as response:
                return response.status, _parse(response.read(), response.headers), dict(response.headers)
        except urllib.error.HTTPError as error:
            return error.code, _parse(error.read(), error.headers), dict(error.headers)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _parse(raw: bytes, headers: Any) -> Any:
    if "json" in (headers.get("Content-Type") or ""):
        return json.loads(raw)
    return raw.decode()


def free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fill_ops(databases: dict[str, str], mailbox: FileMailbox, tmp: Path) -> tuple[str, str]:
    """A dry run for one member, a real day for the others, an unknown send, a quarantined row."""
    with closing(connect(databases["warehouse"], autocommit=True)) as conn:
        world = World(conn)
        world.subscription(DRY, R_SENT, account_name="Dry Run Holdings")
        world.subscription(MEMBER, R_SENT, account_name="Acme Widgets & Co")
        world.subscription(EVIL, R_SENT, account_name="<script>alert('x')</script> Ltd", roles=())
        world.contact(EVIL, "primary", email="evil@members.example.com", name="<img src=x onerror=alert(1)>")
        world.subscription("S-BAD", R_SENT, playbook="no_such_playbook")
    resources = resources_for(databases, mailbox, spreadsheet_path=(tmp / "renewals.xlsx").as_uri())
    dry = run_day(resources, TODAY, run_id="manual__dry", dry_run=True, subscription_id=DRY)
    real = run_day(resources, TODAY, run_id="scheduled__today", finish=True)
    with closing(connect(databases["ops"], autocommit=True)) as ops:
        # What a crash between hand-off and record leaves: the send's outcome is not known.
        ops.execute(
            "update renewals.touchpoints set status = 'unknown', sent_at = null "
            "where subscription_id = %s and status = 'sent' and channel = 'email'",
            (MEMBER,),
        )
    return dry.run_id, real.run_id


@contextmanager
def start_console(
    databases: dict[str, str],
    tmp: Path,
    apps: str = "core",
    extra_env: dict[str, str] | None = None,
    port: int | None = None,
) -> Iterator[tuple[str, subprocess.Popen]]:
    """``airflow api-server`` on a free port with the test's metadata database and connections
    (``extra_env``: more settings, e.g. for a scheduler sharing the server's JWT secret)."""
    passwords = tmp / "passwords.json"
    passwords.write_text(json.dumps(PASSWORDS))
    port = port or free_port()
    env = {
        **os.environ,
        "AIRFLOW_CONN_RENEWALS_OPS": databases["ops"],
        "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": USERS,
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
        "AIRFLOW__API_AUTH__JWT_SECRET": uuid.uuid4().hex,
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "RENEWALS_BUSINESS_TIMEZONE": "UTC",
        **(extra_env or {}),
    }
    log = open(tmp / "api-server.log", "wb")  # noqa: SIM115 (closed when the server stops)
    airflow = str(Path(sys.executable).with_name("airflow"))
    server = subprocess.Popen(
        [airflow, "api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1", "--apps", apps],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"api-server exited: {(tmp / 'api-server.log').read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(url + "/api/v2/monitor/health", timeout=2):
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    raise RuntimeError("api-server did not answer within 180 s") from None
                time.sleep(0.5)
        yield url, server
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def token(url: str, user: str) -> str:
    request = urllib.request.Request(
        url + "/auth/token",
        data=json.dumps({"username": user, "password": PASSWORDS[user]}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["access_token"]


@contextmanager
def console_stack(pg_server: str, tmp: Path) -> Iterator[Console]:
    """The whole stack for a test module (the api-server takes seconds to start)."""
    suffix = uuid.uuid4().hex[:10]
    names = {"warehouse": f"t_wh_{suffix}", "ops": f"t_ops_{suffix}"}
    databases = {role: ensure_database(pg_server, name) for role, name in names.items()}
    try:
        with FileMailbox(tmp / "outbox") as mailbox:
            dry_run_id, real_run_id = fill_ops(databases, mailbox, tmp)
        with start_console(databases, tmp) as (url, _server):
            console = Console(url, databases["ops"], dry_run_id, real_run_id)
            console.tokens = {user: token(url, user) for user in PASSWORDS}
            yield console
    finally:
        for name in names.values():
            drop_database(pg_server, name)


CHROMIUM = os.environ.get("RENEWALS_CHROMIUM", "/usr/bin/chromium")
SCREENS = PROJECT_ROOT / ".demo" / "screens"


@contextmanager
def browser_page(url: str) -> Iterator[Any]:
    """A page of Debian's chromium (headless, driven by Playwright) on ``url``; never a download."""
    from playwright.sync_api import sync_playwright

    SCREENS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-gpu"],
        )
        try:
            context = browser.new_context(viewport={"width": 1440, "height": 900}, base_url=url)
            page = context.new_page()
            page.set_default_timeout(30_000)
            yield page
        finally:
            browser.close()


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(SCREENS / f"{name}.png"), full_page=True)


def log_in(page: Any, user: str, path: str = "/renewals/") -> None:
    """Airflow's own login form (simple auth manager), reached by asking for ``path``."""
    page.goto(path)
    page.wait_for_url("**/auth/login**")
    shot(page, "00-login")
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password").fill(PASSWORDS[user])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"**{path.rstrip('/')}**")
