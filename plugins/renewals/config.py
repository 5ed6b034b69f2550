"""Settings of a renewals deployment, read from the environment.

Every setting has a default so that the demo runs with nothing configured. docs/configuration.md
lists them all; team addresses are configuration, never code.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from renewals.decisions.dates import HolidayCalendar, parse_holidays

PROJECT_ROOT = Path(__file__).resolve().parents[2]
INCLUDE_DIR = PROJECT_ROOT / "include"

WAREHOUSE_CONN_ID = "renewals_warehouse"
OPS_CONN_ID = "renewals_ops"
SMTP_CONN_ID = "renewals_smtp"
SLACK_CONN_ID = "renewals_slack"
UNSUBSCRIBE_CONN_ID = "renewals_unsubscribe"  # its password signs the unsubscribe links
INBOX_CONN_ID = "renewals_inbox"  # imap: the mailbox replies come to (optional)

# The renewal spreadsheet: an Airflow object-storage path (file://, s3://, gs://, ...).
DEFAULT_SPREADSHEET_PATH = (PROJECT_ROOT / ".demo" / "renewals.xlsx").as_uri()

# Staff teams the playbooks address; each maps to an address setting RENEWALS_TEAM_<NAME>.
TEAM_DEFAULTS = {
    "membership_staff": "membership@example.org",
    "accounts_receivable": "ar@example.org",
    "bizdev": "bizdev@example.org",
    "tc_op": "tc-op@example.org",
    "terminations": "terminations@example.org",
    "offboarding_tc": "offboarding-tc@example.org",
    "offboarding_op": "offboarding-op@example.org",
    "tc_chairs": "tc-chairs@example.org",
    "sales_managers": "sales-managers@example.org",
}


# How long an unsubscribe link may stay valid: ten years is more than any reminder is kept.
MAX_UNSUBSCRIBE_DAYS = 3650


class ConfigError(ValueError):
    """A setting has a value the pipeline cannot work with."""


@dataclass(frozen=True)
class Settings:
    business_timezone: str = "UTC"
    catch_up_days: int = 7
    holidays: HolidayCalendar = HolidayCalendar()
    shards: int = 4
    batch_size: int = 500
    sender: str = "Membership Services <renewals@example.org>"
    support_line: str = "member-support@example.org"
    reply_to: str = TEAM_DEFAULTS["membership_staff"]
    smtp_retry_delays: tuple[float, ...] = (2.0, 8.0, 30.0)
    teams: Mapping[str, str] = field(default_factory=lambda: dict(TEAM_DEFAULTS))
    playbook_dir: Path = INCLUDE_DIR / "playbooks"
    template_dir: Path = INCLUDE_DIR / "templates"
    sql_dir: Path = INCLUDE_DIR / "sql"
    spreadsheet_path: str = DEFAULT_SPREADSHEET_PATH
    spreadsheet_rows: int = 5000  # rows a list sheet shows at most (then a total row)
    slack_timeout: int = 10
    slack_retries: int = 3
    slack_max_wait: float = 120.0
    failure_email: str = TEAM_DEFAULTS["membership_staff"]
    # Playbooks whose touchpoints marked needs_approval wait for staff (none: approvals are off).
    approvals: frozenset[str] = frozenset()
    approval_timeout: float = 86400.0  # seconds; no answer by then holds every step asked about
    approval_email: str = TEAM_DEFAULTS["membership_staff"]
    # Who may answer an approval request: (user id as the auth manager knows it, name shown);
    # none: anyone who may edit renewals_daily (Airflow's default for a Required Action).
    approvers: tuple[tuple[str, str], ...] = ()
    # suppressions apply to transactional emails (receipts) too; by default they are still sent
    suppress_transactional: bool = False
    # import the mail provider's bounces and complaints (include/sql/extract/bounces.sql) each run
    bounces_query: bool = False
    # one-click unsubscribe (List-Unsubscribe) on customer reminders: the public address of the
    # Airflow api-server that serves /renewals/unsubscribe, the mailto, how long a link is valid
    list_unsubscribe: bool = True
    public_url: str = "http://localhost:8080"
    unsubscribe_mailto: str = "unsubscribe@example.org"
    unsubscribe_days: int = 90
    # the sync to staff systems (renewals.sync): seconds a run spends per target, the field mapping
    sync_budget: float = 300.0
    sync_mapping_path: Path = INCLUDE_DIR / "sync" / "mapping.yaml"

    def team_address(self, team: str) -> str:
        try:
            return self.teams[team]
        except KeyError:
            raise ConfigError(f"unknown staff team {team!r}; known: {sorted(self.teams)}") from None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        timezone = env.get("RENEWALS_BUSINESS_TIMEZONE", "UTC")
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"RENEWALS_BUSINESS_TIMEZONE={timezone!r} is not an IANA timezone") from None
        teams = {team: env.get(f"RENEWALS_TEAM_{team.upper()}", default) for team, default in TEAM_DEFAULTS.items()}
        return cls(
            business_timezone=timezone,
            catch_up_days=_positive_int(env, "RENEWALS_CATCH_UP_DAYS", 7, allow_zero=True),
            holidays=_holidays(env),
            shards=_positive_int(env, "RENEWALS_SHARDS", 4),
            batch_size=_positive_int(env, "RENEWALS_BATCH_SIZE", 500),
            sender=env.get("RENEWALS_SENDER", cls.sender),
            support_line=env.get("RENEWALS_SUPPORT_LINE", cls.support_line),
            reply_to=env.get("RENEWALS_REPLY_TO", teams["membership_staff"]),
            smtp_retry_delays=_delays(env, "RENEWALS_SMTP_RETRY_DELAYS", cls.smtp_retry_delays),
            teams=teams,
            spreadsheet_path=_text(env, "RENEWALS_SPREADSHEET_PATH", DEFAULT_SPREADSHEET_PATH),
            spreadsheet_rows=_positive_int(env, "RENEWALS_SPREADSHEET_ROWS", cls.spreadsheet_rows),
            slack_timeout=_positive_int(env, "RENEWALS_SLACK_TIMEOUT", cls.slack_timeout),
            slack_retries=_positive_int(env, "RENEWALS_SLACK_RETRIES", cls.slack_retries, allow_zero=True),
            slack_max_wait=_seconds(env, "RENEWALS_SLACK_MAX_WAIT", cls.slack_max_wait),
            failure_email=_text(env, "RENEWALS_FAILURE_EMAIL", teams["membership_staff"]),
            approvals=frozenset(name.strip() for name in env.get("RENEWALS_APPROVALS", "").split(",") if name.strip()),
            approval_timeout=_seconds(env, "RENEWALS_APPROVAL_TIMEOUT", cls.approval_timeout, maximum=30 * 86400),
            approval_email=_text(env, "RENEWALS_APPROVAL_EMAIL", teams["membership_staff"]),
            approvers=_approvers(env.get("RENEWALS_APPROVERS", "")),
            suppress_transactional=_flag(env, "RENEWALS_SUPPRESS_TRANSACTIONAL", cls.suppress_transactional),
            bounces_query=_flag(env, "RENEWALS_BOUNCES_QUERY", cls.bounces_query),
            list_unsubscribe=_flag(env, "RENEWALS_LIST_UNSUBSCRIBE", cls.list_unsubscribe),
            public_url=_text(env, "RENEWALS_PUBLIC_URL", cls.public_url),
            unsubscribe_mailto=_text(env, "RENEWALS_UNSUBSCRIBE_MAILTO", cls.unsubscribe_mailto),
            unsubscribe_days=_positive_int(
                env, "RENEWALS_UNSUBSCRIBE_DAYS", cls.unsubscribe_days, maximum=MAX_UNSUBSCRIBE_DAYS
            ),
            sync_budget=_seconds(env, "RENEWALS_SYNC_BUDGET", cls.sync_budget),
            sync_mapping_path=Path(_text(env, "RENEWALS_SYNC_MAPPING", str(cls.sync_mapping_path))),
        )


def _holidays(env: Mapping[str, str]) -> HolidayCalendar:
    country = _text(env, "RENEWALS_HOLIDAY_COUNTRY", "") or None
    subdivision = _text(env, "RENEWALS_HOLIDAY_SUBDIVISION", "") or None
    if subdivision is not None and country is None:
        raise ConfigError(f"RENEWALS_HOLIDAY_SUBDIVISION={subdivision!r} needs RENEWALS_HOLIDAY_COUNTRY")
    try:
        return HolidayCalendar(parse_holidays(env.get("RENEWALS_HOLIDAYS", "").split(",")), country, subdivision)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _approvers(raw: str) -> tuple[tuple[str, str], ...]:
    """``id`` or ``id=name`` entries, comma-separated: ``alice, 7=Alice Smith``."""
    approvers = []
    for entry in filter(None, (part.strip() for part in raw.split(","))):
        user_id, _, name = (part.strip() for part in entry.partition("="))
        if not user_id:
            raise ConfigError(f"RENEWALS_APPROVERS: {entry!r} names no user id (id or id=name)")
        approvers.append((user_id, name or user_id))
    return tuple(approvers)


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = _text(env, name, "").lower()
    if not raw:
        return default
    if raw not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
        raise ConfigError(f"{name}={raw!r} must be true or false")
    return raw in ("true", "1", "yes", "on")


def _positive_int(
    env: Mapping[str, str], name: str, default: int, allow_zero: bool = False, maximum: int | None = None
) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number") from None
    if value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(f"{name}={raw!r} must be {'zero or more' if allow_zero else 'positive'}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name}={raw!r} must be at most {maximum}")
    return value


def _delays(env: Mapping[str, str], name: str, default: tuple[float, ...]) -> tuple[float, ...]:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        delays = tuple(float(part) for part in raw.split(",") if part.strip())
    except ValueError:
        raise ConfigError(f"{name}={raw!r} must be comma-separated seconds, e.g. 2,8,30") from None
    if any(delay < 0 or delay > 600 for delay in delays):
        raise ConfigError(f"{name}={raw!r}: each delay must be between 0 and 600 seconds")
    return delays


def _text(env: Mapping[str, str], name: str, default: str) -> str:
    raw = env.get(name)
    return default if raw is None or raw.strip() == "" else raw.strip()


def _seconds(env: Mapping[str, str], name: str, default: float, maximum: float = 3600) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number of seconds") from None
    if not 0 <= value <= maximum:
        raise ConfigError(f"{name}={raw!r} must be between 0 and {maximum:g} seconds")
    return value
