"""A PostgreSQL for the demo and the tests: the local server when one answers, else an embedded one.

The embedded server runs the binaries bundled with pgserver, but not pgserver's ``PostgresServer``
class: that class listens on a Unix socket only (Airflow connection URIs need TCP), stops the server
when the Python process that started it exits, and, as root, loosens the permissions of every parent
directory up to ``/``. Here the server listens on 127.0.0.1, outlives the process that started it (a
later process finds it through ``postmaster.pid``) and stops only on ``stop_embedded``.

PostgreSQL refuses to run as root. When this process is root (as in CI containers), initdb and the
server run as the unprivileged system user ``pgserver`` (created if missing, the same account pgserver
itself would use); it owns the data directory, and every parent of that directory must let it through.
"""

from __future__ import annotations

import fcntl
import importlib.util
import os
import pwd
import shutil
import socket
import stat
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
from psycopg import errors, sql

PG_URI_ENV = "RENEWALS_PG_URI"
PROBE_PORT_ENV = "RENEWALS_PG_PROBE_PORT"
DEFAULT_PORT = 5432
LOCAL_HOST = "127.0.0.1"
SUPERUSER = "postgres"
SYSTEM_USER = "pgserver"

# Appended to the embedded server's postgresql.conf at initdb: TCP on loopback only, and no Unix
# socket, whose compiled-in directory may not be writable by the server's user.
_EMBEDDED_SETTINGS = """
# renewals devenv
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
"""
_START_ATTEMPTS = 3  # a free port picked here can be taken by someone else before the server binds it


def server_answers(host: str = LOCAL_HOST, port: int = DEFAULT_PORT, user: str = SUPERUSER) -> bool:
    """True when a PostgreSQL at host:port accepts a connection as ``user``."""
    try:
        with psycopg.connect(host=host, port=port, user=user, dbname="postgres", connect_timeout=2):
            return True
    except psycopg.OperationalError:
        return False


def ensure_server(state_dir: Path) -> str:
    """A libpq URI without a database name for a running server, starting an embedded one if needed.

    Order: ``$RENEWALS_PG_URI`` as is; the server on 127.0.0.1:5432 (port overridable with
    ``$RENEWALS_PG_PROBE_PORT``) when it answers; else the embedded server kept in ``state_dir/pgdata``.
    """
    if uri := os.environ.get(PG_URI_ENV):
        return uri
    probe_port = int(os.environ.get(PROBE_PORT_ENV, DEFAULT_PORT))
    if server_answers(LOCAL_HOST, probe_port):
        return _server_uri(probe_port)
    return start_embedded(state_dir / "pgdata")


def start_embedded(pgdata: Path) -> str:
    """Start (initialising on first use) the embedded server of ``pgdata``, or find it running; its URI."""
    pgdata = pgdata.resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    with _locked(pgdata.parent / f".{pgdata.name}.lock"):
        running_port = _running_port(pgdata)
        if running_port is not None:
            return _server_uri(running_port)
        if not (pgdata / "PG_VERSION").exists():
            _initdb(pgdata)
        return _server_uri(_start(pgdata))


def stop_embedded(pgdata: Path) -> None:
    """Stop the embedded server of ``pgdata`` if it runs (fast shutdown: open sessions are ended)."""
    pgdata = pgdata.resolve()
    if not (pgdata / "PG_VERSION").exists():
        return
    with _locked(pgdata.parent / f".{pgdata.name}.lock"):
        if _running_port(pgdata) is not None:
            _pg_tool("pg_ctl", "--wait", "--mode=fast", "--pgdata", str(pgdata), "stop", cwd=pgdata)


def ensure_database(server_uri: str, name: str) -> str:
    """Create database ``name`` unless it exists (safe when two processes race); its URI."""
    with psycopg.connect(_database_uri(server_uri, "postgres"), autocommit=True) as conn:
        if conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone() is None:
            # Suppressed: another process created it between our check and our create.
            with suppress(errors.DuplicateDatabase, errors.UniqueViolation):
                conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    return _database_uri(server_uri, name)


def drop_database(server_uri: str, name: str) -> None:
    """Drop database ``name`` if it exists, disconnecting its sessions."""
    with psycopg.connect(_database_uri(server_uri, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


def _server_uri(port: int) -> str:
    return f"postgresql://{SUPERUSER}@{LOCAL_HOST}:{port}"


def _database_uri(server_uri: str, name: str) -> str:
    parts = urlsplit(server_uri)
    return urlunsplit(parts._replace(path="/" + quote(name, safe="")))


@contextmanager
def _locked(lock_file: Path) -> Iterator[None]:
    # Serialises initdb/start/stop between processes sharing one data directory.
    with lock_file.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _running_port(pgdata: Path) -> int | None:
    """The port of the server running on ``pgdata``, or None when none runs."""
    if not (pgdata / "PG_VERSION").exists():
        return None
    status = _pg_tool("pg_ctl", "--pgdata", str(pgdata), "status", cwd=pgdata, check=False)
    if status.returncode != 0:  # 3: not running (a stale postmaster.pid is handled by the next start)
        return None
    # The fourth line of postmaster.pid is the port the server listens on.
    return int((pgdata / "postmaster.pid").read_text().splitlines()[3])


def _initdb(pgdata: Path) -> None:
    # Without PG_VERSION there is no usable cluster, only the leftovers of an interrupted initdb.
    if pgdata.exists():
        shutil.rmtree(pgdata)
    account = _system_account() if os.geteuid() == 0 else None
    if account is not None:
        _check_reachable(pgdata.parent, account)
    pgdata.mkdir(mode=0o700)
    if account is not None:
        os.chown(pgdata, account.pw_uid, account.pw_gid)
    _pg_tool(
        "initdb",
        "--pgdata",
        str(pgdata),
        "--username",
        SUPERUSER,
        "--auth",
        "trust",
        "--encoding",
        "UTF8",
        "--locale",
        "C",
        cwd=pgdata,
    )
    with (pgdata / "postgresql.conf").open("a") as conf:
        conf.write(_EMBEDDED_SETTINGS)


def _start(pgdata: Path) -> int:
    log = pgdata / "server.log"
    failures = []
    for _ in range(_START_ATTEMPTS):
        port = _free_port()
        result = _pg_tool(
            "pg_ctl",
            "--wait",
            "--timeout",
            "60",
            "--pgdata",
            str(pgdata),
            "--log",
            str(log),
            "--options",
            f"-p {port}",
            "start",
            cwd=pgdata,
            check=False,
        )
        if result.returncode == 0:
            return port
        failures.append(f"port {port}: {result.stderr.strip()}")
    raise RuntimeError(
        f"embedded PostgreSQL in {pgdata} did not start ({'; '.join(failures)}); "
        f"server.log ends with:\n{_log_tail(log)}"
    )


def _pg_tool(tool: str, *args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(_bundled_bin_dir() / tool), *args],
        cwd=cwd,
        user=_system_account().pw_name if os.geteuid() == 0 else None,
        capture_output=True,  # safe: with --log the server itself never writes to these pipes
        text=True,
        timeout=120,
        # Its own session, so a Ctrl-C in the terminal that started it does not stop a shared server.
        start_new_session=True,
    )
    if check and result.returncode != 0:
        raise RuntimeError(f"{tool} {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
    return result


def _bundled_bin_dir() -> Path:
    # Located, not imported: importing pgserver sets up its own server machinery and runtime-dir lock.
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("pgserver (requirements.txt) is needed for the embedded PostgreSQL")
    return Path(spec.submodule_search_locations[0]) / "pginstall" / "bin"


def _system_account() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SYSTEM_USER],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(SYSTEM_USER)


def _check_reachable(directory: Path, account: pwd.struct_passwd) -> None:
    # Fail with a clear message rather than loosening permissions on directories we do not own.
    for folder in [directory, *directory.parents]:
        mode = folder.stat().st_mode
        if not mode & stat.S_IXOTH and folder.stat().st_uid != account.pw_uid:
            raise PermissionError(
                f"{folder} (mode {stat.filemode(mode)}) does not let user {account.pw_name!r} through; "
                f"the embedded PostgreSQL runs as that user: choose a state directory it can reach "
                f"or `chmod o+x {folder}`"
            )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOCAL_HOST, 0))
        return probe.getsockname()[1]


def _log_tail(log: Path, lines: int = 20) -> str:
    return "\n".join(log.read_text().splitlines()[-lines:]) if log.exists() else "(no log)"
