"""A real IMAP server for the tests: Debian's dovecot (package dovecot-imapd), started on a free
port of 127.0.0.1 with its own configuration, mail directory and password file, as the
dovecot/dovenull users; plain IMAP with a password (the connection's extra says "use_ssl": false).
Messages go in with IMAP APPEND, as a mail server would deliver them."""

from __future__ import annotations

import imaplib
import json
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

DOVECOT = "/usr/sbin/dovecot"
USER = "renewals"

CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{root}/mail/%u
mail_uid = dovecot
mail_gid = dovecot
first_valid_uid = 1
default_internal_user = dovecot
default_internal_group = dovecot
default_login_user = dovenull
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid=dovecot gid=dovecot home={root}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class ImapServer:
    root: Path
    port: int
    password: str
    process: subprocess.Popen | None = None

    @classmethod
    def start(cls) -> ImapServer:
        # Outside pytest's private temp dir: the dovecot users must reach the mail directory.
        root = Path(tempfile.mkdtemp(prefix="renewals-imap-"))
        root.chmod(0o755)
        server = cls(root, _free_port(), secrets.token_hex(12))
        for name in ("run", "state", "mail", "home"):
            (root / name).mkdir()
        shutil.chown(root / "mail", "dovecot", "dovecot")
        shutil.chown(root / "home", "dovecot", "dovecot")
        (root / "passwd").write_text(f"{USER}:{{PLAIN}}{server.password}::::::\n")
        (root / "dovecot.conf").write_text(CONFIG.format(root=root, port=server.port))
        server.process = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(root / "dovecot.conf")], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", server.port), timeout=1):
                    return server
            except OSError:
                if server.process.poll() is not None:
                    raise RuntimeError(f"dovecot exited: {server.process.stderr.read().decode()}") from None
                time.sleep(0.1)
        server.stop()
        raise RuntimeError("dovecot did not start listening")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)
        shutil.rmtree(self.root, ignore_errors=True)

    def connection_env(self) -> dict[str, str]:
        """AIRFLOW_CONN_RENEWALS_INBOX for this server (plain IMAP)."""
        conn = {
            "conn_type": "imap",
            "host": "127.0.0.1",
            "port": self.port,
            "login": USER,
            "password": self.password,
            "extra": {"use_ssl": False},
        }
        return {"AIRFLOW_CONN_RENEWALS_INBOX": json.dumps(conn)}

    def client(self) -> imaplib.IMAP4:
        client = imaplib.IMAP4("127.0.0.1", self.port)
        client.login(USER, self.password)
        return client

    def append(self, raw: bytes, mailbox: str = "INBOX") -> None:
        client = self.client()
        try:
            client.append(mailbox, None, None, raw)
        finally:
            client.logout()

    def flags(self, mailbox: str = "INBOX") -> dict[int, str]:
        """Every message's UID and FLAGS."""
        client = self.client()
        try:
            client.select(mailbox)
            typ, data = client.uid("FETCH", "1:*", "(FLAGS)")
            result = {}
            for item in data or []:
                if isinstance(item, bytes) and b"UID" in item:
                    text = item.decode()
                    uid = int(text.split("UID ", 1)[1].split()[0].rstrip(")"))
                    result[uid] = text.split("FLAGS (", 1)[1].split(")", 1)[0]
            return result
        finally:
            client.logout()
