"""Security basics: no secret in the repository, the logs, the audit tables or the messages;
templates rendered autoescaped in a sandbox whatever the warehouse holds; SQL always parameterised.
"""

from __future__ import annotations

import ast
import re
import subprocess
from datetime import date
from email import policy
from email.parser import BytesParser
from pathlib import Path
from string import Formatter

import pytest
from jinja2.sandbox import SandboxedEnvironment

from renewals.config import INCLUDE_DIR, PROJECT_ROOT, Settings
from renewals.delivery.messages import build_email, message_id
from renewals.delivery.render import Renderer, message_context
from renewals.storage.sql_files import WorkTables

# --- no secret in the repository --------------------------------------------------------------

SECRET_PATTERNS = {
    "private key": re.compile(r"-----BEGIN (RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----"),
    "AWS access key": re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),
    "Slack token": re.compile(r"\bxox[abposr]-[0-9A-Za-z-]{10,}"),
    "Slack webhook": re.compile(r"hooks\.slack\.com/services/T[0-9A-Z]{6,}/B[0-9A-Z]{6,}/[0-9A-Za-z]{20,}"),
    "GitHub token": re.compile(r"\b(ghp|gho|ghs|ghu|github_pat)_[0-9A-Za-z_]{20,}"),
    "Google API key": re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"),
}
# user:password@ in a URI, and password-like settings, unless the value is an obvious placeholder
CREDENTIALS_IN_URI = re.compile(r"[a-z][a-z0-9+.-]*://[^\s:/@'\"]+:([^\s@'\"/]+)@", re.IGNORECASE)
PASSWORD_SETTING = re.compile(r"""(?i)\b(password|passwd|secret|api_key|token)["']?\s*[:=]\s*["']([^"'\s]{6,})["']""")
PLACEHOLDERS = {"secret", "password", "changeme", "example", "xxx", "***", "<password>", "..."}
BINARY_SUFFIXES = {".pdf", ".png", ".jpg", ".gif", ".xlsx", ".ico", ".woff", ".woff2", ".gz", ".zip"}


def repository_files() -> list[Path]:
    """Every file git would commit (tracked, plus new files not ignored)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [PROJECT_ROOT / name for name in listed.split("\0") if name and (PROJECT_ROOT / name).is_file()]


def is_placeholder(value: str) -> bool:
    lowered = value.lower()
    return (
        lowered in PLACEHOLDERS
        or lowered.startswith(("${", "{", "%(", "$", "<"))
        or "example" in lowered
        or "xxxx" in lowered
        or set(lowered) <= {"x", "*", "."}
    )


def test_the_repository_holds_no_secret():
    files = repository_files()
    assert len(files) > 20
    findings = []
    for path in files:
        if path.suffix.lower() in BINARY_SUFFIXES:
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        relative = path.relative_to(PROJECT_ROOT)
        if path.name in (".env", ".netrc", ".pgpass") or path.suffix in (".pem", ".key", ".p12"):
            findings.append(f"{relative}: a credentials file")
        for name, pattern in SECRET_PATTERNS.items():
            findings += [f"{relative}: {name}" for _ in pattern.finditer(text)]
        for match in CREDENTIALS_IN_URI.finditer(text):
            if not is_placeholder(match.group(1)):
                findings.append(f"{relative}: credentials in a URI ({match.group(0)[:40]}...)")
        for match in PASSWORD_SETTING.finditer(text):
            if not is_placeholder(match.group(2)):
                findings.append(f"{relative}: {match.group(1)} = {match.group(2)[:4]}...")
    assert findings == []


def test_the_secret_scan_finds_what_it_looks_for():
    key_header = "-----BEGIN RSA " + "PRIVATE KEY-----"
    assert SECRET_PATTERNS["private key"].search(key_header)
    assert SECRET_PATTERNS["AWS access key"].search("AKIA" + "ABCDEFGHIJKLMNOP")
    assert not is_placeholder(CREDENTIALS_IN_URI.search("postgresql://app:" + "s3cr3t-Value@db:5432/x").group(1))
    assert is_placeholder(CREDENTIALS_IN_URI.search("postgresql://reader:secret@warehouse.internal/x").group(1))
    assert PASSWORD_SETTING.search('"password": "' + "hunter2hunter2" + '"')


# --- templates: autoescaped, sandboxed, values are data ---------------------------------------

HOSTILE = {
    "account_name": "<script>alert('x')</script> {{ 7 * 7 }} {% for x in range(3) %}loop{% endfor %}",
    "contact_name": "{{ ''.__class__.__mro__[1].__subclasses__() }} <b>bold</b> & \"quotes\"",
}


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer(Settings().template_dir)


def hostile_row(**overrides) -> dict:
    return {
        "subscription_id": "S-HOSTILE",
        "renewal_date": date(2026, 12, 16),
        "tier": "standard",
        "member_type": "TC",
        "amount": None,
        "currency": None,
        "invoice_number": "INV-<1>",
        **HOSTILE,
        **overrides,
    }


def test_the_renderer_is_a_sandbox_that_autoescapes_html(renderer):
    env = renderer._env
    assert isinstance(env, SandboxedEnvironment)
    assert env.autoescape("membership/renewal_reminder.html") is True
    assert env.autoescape("membership/renewal_reminder.txt") is False


TEMPLATES = sorted(
    str(path.relative_to(INCLUDE_DIR / "templates")).removesuffix(".html")
    for path in (INCLUDE_DIR / "templates").glob("*/*.html")
    if not path.name.startswith("_")  # macro files, not messages
)


@pytest.mark.parametrize("template", TEMPLATES)
def test_warehouse_values_are_escaped_in_html_and_never_evaluated(renderer, template):
    context = message_context(
        hostile_row(), date(2026, 12, 1), "renewal_reminder_15", "Membership Services", "support@example.org"
    )
    context.setdefault("cta", None)
    # the staff email of a member's answer (renewals.delivery.answer_emails) shows the member's words too
    answer = {"answer": "decline", "reason": HOSTILE["contact_name"], "recipient": HOSTILE["account_name"]}
    context.update(answer, answered_at=date(2026, 12, 2))
    rendered = renderer.render(template, context)
    for part in (rendered.subject, rendered.text, rendered.html):
        # the values' template syntax comes out as it went in, never run
        assert "49" not in part and "looploop" not in part, "a value from the warehouse was evaluated"
        assert "object" not in part and "subclasses__() }}" in part or "__subclasses__" not in part
    if "alert" in rendered.html:
        assert "<script>" not in rendered.html and "&lt;script&gt;" in rendered.html
    if "bold" in rendered.html:
        assert "<b>bold</b>" not in rendered.html


def test_no_template_turns_autoescaping_off():
    offenders = []
    for path in (INCLUDE_DIR / "templates").rglob("*"):
        if path.is_file():
            text = path.read_text()
            if re.search(r"\|\s*safe\b|autoescape\s+false|Markup\(", text):
                offenders.append(str(path.relative_to(INCLUDE_DIR)))
    assert offenders == []


def test_a_line_break_in_a_value_cannot_add_a_header(renderer):
    row = hostile_row(account_name="Acme\r\nBcc: attacker@evil.example\r\nX-Injected: 1")
    context = message_context(row, date(2026, 12, 1), "renewal_reminder_15", "Membership Services", "s@example.org")
    rendered = renderer.render("membership/renewal_reminder", context)
    message = build_email(
        sender="Membership Services <renewals@example.org>",
        to=["primary@members.example.com"],
        cc=[],
        reply_to=None,
        rendered=rendered,
        subscription_id="S-HOSTILE",
        renewal_date=date(2026, 12, 16),
        touchpoint="renewal_reminder_15",
        msg_id=message_id("S-HOSTILE", date(2026, 12, 16), "renewal_reminder_15", "example.org"),
    )
    parsed = BytesParser(policy=policy.default).parsebytes(message.as_bytes())
    assert parsed["Bcc"] is None and parsed["X-Injected"] is None
    assert [a.addr_spec for a in parsed["To"].addresses] == ["primary@members.example.com"]


# --- SQL is parameterised ---------------------------------------------------------------------

EXECUTING = {"execute", "executemany", "copy", "stream"}


def _constants(tree: ast.Module) -> set[str]:
    """Module-level names bound to a string literal (SQL fragments with placeholders only)."""
    names = set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            names |= {target.id for target in node.targets if isinstance(target, ast.Name)}
    return names


def _fixed_text(node: ast.expr, constants: set[str]) -> bool:
    """SQL text fixed in the source: a module constant, or a helper called with literals only
    (e.g. ``status_is('pending')``), never a value known only at run time."""
    if isinstance(node, ast.Name):
        return node.id in constants
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and all(isinstance(arg, ast.Constant) for arg in node.args)
        and all(isinstance(kw.value, ast.Constant) for kw in node.keywords)
    )


def _unsafe(node: ast.expr, constants: set[str]) -> str | None:
    """Why an expression passed as SQL text may carry a value into it (None: it cannot)."""
    if isinstance(node, ast.JoinedStr):
        for part in node.values:
            if isinstance(part, ast.FormattedValue) and not _fixed_text(part.value, constants):
                return f"f-string interpolating {ast.unparse(part.value)}"
    elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
        return "%-formatting"
    elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return (
            _unsafe(node.left, constants)
            or _unsafe(node.right, constants)
            or (
                None
                if all(
                    isinstance(side, ast.Constant) or (isinstance(side, ast.Name) and side.id in constants)
                    for side in (node.left, node.right)
                )
                else "string concatenation"
            )
        )
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format":
        receiver = node.func.value
        if isinstance(receiver, (ast.Constant, ast.JoinedStr)):
            return "str.format"
        if isinstance(receiver, ast.Call):  # sql.SQL("...").format(...): identifiers and literals, quoted
            return _unsafe_sql_call(receiver, constants)
    elif isinstance(node, ast.Call):
        return _unsafe_sql_call(node, constants)
    return None


def _unsafe_sql_call(node: ast.Call, constants: set[str]) -> str | None:
    name = ast.unparse(node.func)
    if name in ("sql.SQL", "SQL") and node.args:
        return _unsafe(node.args[0], constants)
    return None


def sql_executions(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text())
    constants = _constants(tree)
    problems = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in EXECUTING and node.args:
            why = _unsafe(node.args[0], constants)
            if why:
                problems.append((node.lineno, why))
        if ast.unparse(func) in ("sql.SQL", "SQL") and node.args:
            why = _unsafe(node.args[0], constants)
            if why:
                problems.append((node.lineno, f"sql.SQL of {why}"))
    return problems


def test_every_sql_statement_in_the_code_takes_values_as_parameters():
    sources = sorted((PROJECT_ROOT / "plugins").rglob("*.py")) + sorted((PROJECT_ROOT / "dags").rglob("*.py"))
    findings = [
        f"{path.relative_to(PROJECT_ROOT)}:{line}: {why}" for path in sources for line, why in sql_executions(path)
    ]
    assert findings == []


@pytest.mark.parametrize(
    ("code", "caught"),
    [
        ('conn.execute(f"select * from t where id = {subscription_id}")', True),
        ('conn.execute("select * from t where id = %s" % subscription_id)', True),
        ('conn.execute("select * from t where id = " + subscription_id)', True),
        ('conn.execute("select * from t where id = {}".format(subscription_id))', True),
        ('conn.execute(sql.SQL(f"select * from {table}"))', True),
        ('conn.execute("select * from t where id = %s", (subscription_id,))', False),
        ('conn.execute(sql.SQL("select * from {}").format(sql.Identifier(table)))', False),
        ('conn.execute(f"select * from t where {KEY_MATCH}", params)', False),
        ("conn.execute(f\"select * from t where {status_is('pending')}\", params)", False),
        ('conn.execute(f"select * from t where {status_is(status)}", params)', True),
    ],
)
def test_the_sql_check_tells_values_from_placeholders(tmp_path, code, caught):
    source = tmp_path / "sample.py"
    source.write_text(f'KEY_MATCH = "id = %(id)s"\n\n\ndef f(conn, subscription_id, table, params):\n    {code}\n')
    assert bool(sql_executions(source)) is caught


def test_sql_files_format_only_the_runs_table_names_into_statements():
    """A file loaded with ``WorkTables.statement`` has ``{name}`` filled with quoted identifiers (the
    run's tables); every value in it is a %(name)s parameter."""
    used = set()
    for path in (PROJECT_ROOT / "plugins").rglob("*.py"):
        used |= set(re.findall(r"statement\(\s*[\"']([\w/]+\.sql)[\"']", path.read_text()))
    assert "stage/validate_subscriptions.sql" in used
    allowed = set(WorkTables("x").identifiers())
    findings = []
    for name in sorted(used):
        text = (INCLUDE_DIR / "sql" / name).read_text()
        fields = {field for _, field, _, _ in Formatter().parse(text) if field is not None}
        if fields - allowed:
            findings.append(f"{name}: {sorted(fields - allowed)}")
    assert findings == []
