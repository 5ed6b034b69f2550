"""The public routes (unsubscribe, answers) on the real Airflow api-server, as anyone on the internet can
reach it: a request is judged by its token before the database is opened, the signing secret is
not looked up per request, and the page never takes its form's target from the request's Host."""

from __future__ import annotations

import json
import re
import secrets
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest

from renewals.delivery.unsubscribe import make_token
from tests.console import free_port, start_console

SECRET = secrets.token_urlsafe(32)
PREVIOUS = secrets.token_urlsafe(32)  # the secret before a rotation: its links are still out
ADDRESS = "member@members.example.com"


def write_connections(path: Path, password: str, previous: str | None = None) -> None:
    conn = {"conn_type": "generic", "password": password, "extra": {"previous_password": previous} if previous else {}}
    path.write_text(json.dumps({"renewals_unsubscribe": conn}))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """An api-server whose ops database does not answer (nothing listens on its port) and whose
    unsubscribe connection comes from a secrets backend the test can change under it."""
    tmp = Path(tmp_path_factory.mktemp("public"))
    connections = tmp / "connections.json"
    write_connections(connections, SECRET, PREVIOUS)
    unreachable = {"ops": f"postgresql://renewals@127.0.0.1:{free_port()}/renewals_ops?connect_timeout=2"}
    env = {
        "AIRFLOW__SECRETS__BACKEND": "airflow.secrets.local_filesystem.LocalFilesystemBackend",
        "AIRFLOW__SECRETS__BACKEND_KWARGS": json.dumps({"connections_file_path": str(connections)}),
    }
    with start_console(unreachable, tmp, extra_env=env) as (url, _server):
        yield {"url": url, "connections": connections}


def request(url: str, method: str = "GET", host: str | None = None) -> tuple[int, str]:
    data = b"List-Unsubscribe=One-Click" if method == "POST" else None
    headers = {"Content-Type": "application/x-www-form-urlencoded", **({"Host": host} if host else {})}
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def link(server: dict, secret: str) -> str:
    token = make_token(secret.encode(), ADDRESS, "all", datetime.now(UTC) + timedelta(days=1))
    return f"{server['url']}/renewals/unsubscribe?token={quote(token)}"


def test_junk_posts_are_refused_without_opening_the_database(server) -> None:
    forged = link({"url": server["url"]}, secrets.token_urlsafe(32))
    answer = forged.replace("/unsubscribe?", "/answer/intent?")
    for junk in [
        f"{server['url']}/renewals/unsubscribe",
        f"{server['url']}/renewals/unsubscribe?token=x.y",
        forged,
        f"{server['url']}/renewals/answer/decline?token=x.y",
        answer,
    ]:
        for _ in range(5):
            status, page = request(junk, "POST")
            # 403 from the token check; opening the (unreachable) database first would be a 500
            assert status == 403 and "Nothing was changed" in page, page


def test_the_form_posts_back_to_the_page_never_to_the_requests_host(server) -> None:
    status, page = request(link(server, SECRET), host="evil.example")
    assert status == 200 and ADDRESS not in page  # the page names no address either
    [action] = re.findall(r'<form method="post" action="([^"]*)"', page)
    assert action.startswith("?token=") and "evil.example" not in page


def test_links_signed_before_a_rotation_are_honoured_while_the_previous_secret_is_set(server) -> None:
    for secret in (SECRET, PREVIOUS):
        status, page = request(link(server, secret))
        assert status == 200 and "<form" in page
    assert request(link(server, secrets.token_urlsafe(32)))[0] == 403


def test_the_signing_secret_is_not_looked_up_on_every_request(server) -> None:
    valid = link(server, SECRET)
    assert request(valid)[0] == 200
    write_connections(server["connections"], secrets.token_urlsafe(32))  # the backend answers otherwise now
    assert request(valid)[0] == 200  # the secret read a moment ago still judges the link
