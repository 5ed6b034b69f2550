"""The floor of the benchmark: the least work that produces the same outputs as the day's run.

* Emails: one query over the warehouse per shard returns the rows due today (the playbooks and
  the notice calendar go in as two small temp tables, as in the pipeline), with everything
  rendering needs; each row is rendered with the pipeline's own templates and message builder
  (its copies: one per recipient where the message carries their own unsubscribe or answer
  links, signed with the bench's secret as the pipeline's are) and handed to SMTP over one
  connection per shard. The shards are the pipeline's (the same hash of
  the subscription id) and run in as many processes as the pipeline's deliver: a process per
  shard, ``workers`` at a time. No staging, validation, decision log, ledger or re-check.
* Slack: the staff posts the pipeline queues with those rows (payments received, CTA changes,
  members leaving), built and packed into digests with the pipeline's functions, and the summary,
  its figures (sent, sent by touchpoint) counted from the rows; each posted once, as it is built.
* The spreadsheet (``mode`` ``sheet``): the pipeline's own report queries and writer over the
  day's end state (``renewals.reports.spreadsheet``): no cheaper way to the same rows is known.
* ``io_limit`` (``mode`` ``io_limit``): what the machine can do at best: read every warehouse row
  once (COPY out) and send as many already-rendered emails over one SMTP connection.

Run as ``python -m bench.floor '<json>'``; prints one JSON line with its timings.
"""

from __future__ import annotations

import json
import resource
import smtplib
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import closing
from datetime import date, timedelta
from email.message import EmailMessage
from typing import Any

from psycopg import sql
from psycopg.rows import dict_row

from bench.memory import peak_rss_kb
from renewals.config import Settings
from renewals.decisions.due import load_notice_days, load_touchpoint_defs
from renewals.delivery.messages import WIRE_POLICY, recipients
from renewals.delivery.render import Renderer
from renewals.delivery.shard_delivery import Composer, deactivation_post, payment_post
from renewals.labels import label
from renewals.playbooks import Playbook, Touchpoint, load_playbooks
from renewals.playbooks.model import OWNER
from renewals.reports.summary import RunSummary, count_settled
from renewals.slack.messages import Message, cta_change_message, summary_message
from renewals.slack.outbox import StaffPost, digest_messages
from renewals.storage.ctas import DEFAULT_OWNER_TEAM, change_text, cta_id_for
from renewals.storage.runs import RunContext

DUE_TODAY = """
with s as (
    select w.*, coalesce(w.timezone, %(business_timezone)s) as zone,
           (w.intent_confirmed_at at time zone coalesce(w.timezone, %(business_timezone)s))::date as intent_on,
           (w.paid_at at time zone coalesce(w.timezone, %(business_timezone)s))::date as paid_on,
           (w.declined_at at time zone coalesce(w.timezone, %(business_timezone)s))::date as declined_on
    from warehouse.subscriptions w
    where not w.paused
      and (('x' || left(md5(w.subscription_id), 8))::bit(32)::int & 2147483647) %% %(shards)s = %(shard)s
),
gated as (
    select s.*,
           case when s.paid_on <= %(as_of)s then 'paid' when s.declined_on <= %(as_of)s then 'declined'
                when s.intent_on <= %(as_of)s then 'intent_confirmed' else 'no_response' end as gate
    from s
),
due as (
    select g.*, d.touchpoint, d.sequence, d.position, d.channel, d.roles, d.staff, d.to_owner,
           d.offboarding_group, d.cc, d.cc_owner,
           row_number() over (partition by g.subscription_id, d.sequence order by d.position desc) as recency
    from gated g
    join touchpoint_defs d on d.playbook = g.playbook and g.gate = any(d.gates)
    where %(as_of)s::date = case d.anchor
            when 'renewal_date' then g.renewal_date + d.days
            when 'notice_month' then (
                select n.notice_day from notice_days n
                where n.renewal_month = date_trunc('month', g.renewal_date)::date and n.months_before = d.months_before)
            when 'intent_confirmed' then g.intent_on + d.days
            when 'paid' then g.paid_on + d.days
            when 'assigned' then g.assigned_at + (d.days - 1)
        end
      and (d.tiers is null or g.tier = any(d.tiers))
      and (d.member_types is null or g.member_type = any(d.member_types))
      and (d.hosted_site is null or g.hosted_site = d.hosted_site)
      and (d.contact_logged is null
           or coalesce((g.last_contact_at at time zone g.zone)::date >= g.assigned_at, false) = d.contact_logged)
      and (d.engaged is null
           or (coalesce((g.next_meeting_at at time zone g.zone)::date > %(as_of)s, false) or g.in_negotiation)
              = d.engaged)
)
select u.subscription_id, u.renewal_date, u.touchpoint, u.playbook, u.channel, u.account_name, u.tier,
       u.member_type, u.amount, u.currency, u.invoice_number, u.term_months, u.owner_email, u.zone as timezone,
       u.paid_on, u.decline_reason,
       case u.channel
           when 'email' then a.recipients
           when 'staff_email' then array_remove(
               u.staff || case when u.to_owner then u.owner_email end
               || case when u.offboarding_group then
                      case u.member_type when 'OP' then %(offboarding_op)s else %(offboarding_tc)s end end, null)
           else array[]::text[]
       end as recipients,
       array_remove(u.cc || case when u.cc_owner then u.owner_email end, null) as cc,
       a.contact_name,
       case when u.channel in ('staff_email', 'record') then a.contacts end as contacts
from due u
left join lateral (
    select array_agg(distinct c.email order by c.email)
               filter (where not c.opted_out and c.role = any(u.roles)) as recipients,
           (array_agg(c.name order by c.contact_id) filter (where c.role = 'primary' and c.name is not null))[1]
               as contact_name,
           coalesce(jsonb_agg(jsonb_build_object('role', c.role, 'name', c.name, 'email', c.email)
                              order by c.role, c.email), '[]'::jsonb) as contacts
    from warehouse.contacts c
    where c.subscription_id = u.subscription_id
) a on true
where u.recency = 1 and (u.channel <> 'email' or a.recipients is not null)
"""


def _cta_context(row: dict[str, Any], touchpoint: Touchpoint, teams: dict[str, str], as_of: date) -> dict[str, Any]:
    """A CTA as its first touchpoint opens it (the bench's steady state has no CTA open yet)."""
    change = touchpoint.cta
    assert change is not None

    def owner_of(owner: str) -> tuple[str, str]:
        if owner == OWNER:
            return OWNER, row["owner_email"] or teams[DEFAULT_OWNER_TEAM]
        return owner, teams[owner]

    owner_team, owner_email = owner_of(change.owner or DEFAULT_OWNER_TEAM)
    due = as_of  # the touchpoint's due date: today
    tasks = [
        {"title": task.title, "assignee_email": owner_of(task.assignee)[1], "due_date": due + timedelta(task.due_days)}
        for task in change.tasks
    ]
    return {
        "cta_id": cta_id_for(row["subscription_id"], row["renewal_date"], change.type),
        "type": change.type,
        "type_label": label(change.type),
        "stage": change.stage,
        "stage_label": label(change.stage),
        "priority": change.priority or "medium",
        "owner_team": owner_team,
        "owner_email": owner_email,
        "status": change.status,
        "outcome": None,
        "due_date": due + timedelta(days=change.due_days) if change.due_days is not None else None,
        "previous_owner_email": None,
        "tasks": tasks,
        "change": change_text([("opened", None, change.stage), *(("task", None, task.title) for task in change.tasks)]),
        "notify": True,
    }


def compose(
    row: dict[str, Any], touchpoint: Touchpoint, composer: Composer
) -> tuple[list[EmailMessage], tuple[str, Message] | None]:
    """The row's emails (a CTA's one message to its owner, or the touchpoint's copies: one per
    recipient where it carries their own links) and the staff post the pipeline queues with them
    (kind, message), if any."""
    if touchpoint.cta is not None:
        cta = _cta_context(row, touchpoint, dict(composer.settings.teams), composer.as_of)
        message = composer.message(row, touchpoint, cta)
        return [message], ("cta", cta_change_message(cta, row["account_name"], row["subscription_id"]))
    copies = composer.copies(row, touchpoint)
    if touchpoint.attachment == "receipt_pdf":
        return copies, ("payment_received", payment_post(row))
    return copies, None


def deactivation_of(row: dict[str, Any], touchpoint: Touchpoint) -> tuple[str, Message] | None:
    """The staff post of a record touchpoint that deactivates the member's contacts."""
    if touchpoint.record is None or touchpoint.record.action != "deactivate_contacts":
        return None
    return "deactivation", deactivation_post(row, sorted((c["role"], c["email"]) for c in row["contacts"]))


def due_today(
    conn: Any, settings: Settings, playbooks: dict[str, Playbook], as_of: date, shards: int, shard: int
) -> Iterator[dict[str, Any]]:
    """The warehouse rows of one shard due on ``as_of`` (DUE_TODAY), streamed, in the caller's
    transaction on the warehouse connection ``conn``."""
    load_touchpoint_defs(conn, playbooks, settings.teams)
    load_notice_days(
        conn,
        sql.SQL("select min(renewal_date), max(renewal_date) from warehouse.subscriptions"),
        playbooks,
        settings.holidays,
    )
    params = {
        "as_of": as_of,
        "business_timezone": settings.business_timezone,
        "offboarding_tc": settings.teams["offboarding_tc"],
        "offboarding_op": settings.teams["offboarding_op"],
        "shards": shards,
        "shard": shard,
    }
    with conn.cursor(name="due_today", row_factory=dict_row) as cur:
        cur.itersize = 2000
        cur.execute(DUE_TODAY, params)
        yield from cur


def _floor_shard(config: dict, shard: int) -> tuple[dict, list[StaffPost]]:
    """One shard's emails, as one deliver task: its own connections; returns the counts by
    touchpoint and the staff posts."""
    import psycopg

    settings = Settings.from_env({})
    as_of = date.fromisoformat(config["as_of"])
    playbooks: dict[str, Playbook] = load_playbooks(settings.playbook_dir)
    composer = Composer(settings, Renderer(settings.template_dir), as_of, bytes.fromhex(config["unsubscribe_secret"]))
    smtp = smtplib.SMTP("127.0.0.1", config["smtp_port"], timeout=30)
    by_channel: dict[str, Counter] = {}
    posts: list[StaffPost] = []
    with closing(psycopg.connect(config["warehouse"], options="-c timezone=UTC")) as conn, conn.transaction():
        for row in due_today(conn, settings, playbooks, as_of, config["shards"], shard):
            by_channel.setdefault(row["channel"], Counter())[row["touchpoint"]] += 1
            touchpoint = playbooks[row["playbook"]].touchpoint(row["touchpoint"])
            if row["channel"] == "record":  # recorded, nothing to send
                post = deactivation_of(row, touchpoint)
            else:
                copies, post = compose(row, touchpoint, composer)
                for message in copies:
                    smtp.sendmail(settings.sender, recipients(message), wire_bytes(message))
            if post is not None:
                kind, (text, blocks) = post
                posts.append(StaffPost(kind, text, blocks))
    smtp.quit()
    return by_channel, posts


def wire_bytes(message: EmailMessage) -> bytes:
    """The message as the pipeline's Mailer hands it over (the same header folding)."""
    return message.as_bytes(policy=WIRE_POLICY)


def post_to_slack(url: str, text: str, blocks: list[dict[str, Any]]) -> None:
    post = urllib.request.Request(
        url, json.dumps({"text": text, "blocks": blocks}).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(post, timeout=30) as answer:
        answer.read()


def run_floor(config: dict) -> dict:
    started = time.perf_counter()
    shards = range(config["shards"])
    with ProcessPoolExecutor(max_workers=max(config["workers"], 1)) as pool:
        results = list(pool.map(_floor_shard, [config] * len(shards), shards))
    summary = RunSummary(config["run_id"], config["as_of"], False, {})
    for by_channel, _posts in results:
        for channel, counts in by_channel.items():
            for touchpoint, rows in counts.items():
                # every CTA change of the floor's day tells its owner (it opens or moves the CTA)
                count_settled(summary, touchpoint, channel, rows, emailed=rows if channel == "cta" else 0)
    emails = time.perf_counter() - started
    posts = [post for _counts, shard_posts in results for post in shard_posts]
    for _digest, (text, blocks) in digest_messages(posts):  # the pipeline's digests of the staff posts
        post_to_slack(config["slack_url"], text, blocks)
    post_to_slack(config["slack_url"], *summary_message(summary))
    return {
        "wall": time.perf_counter() - started,
        "steps": {"emails": emails, "slack": time.perf_counter() - started - emails},
        "sent": summary.emails,
        "staff_posts": len(posts),
        "rss_self_kb": peak_rss_kb(),
        "rss_children_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    }


def floor_sheet(config: dict) -> dict:
    """The spreadsheet of the day's end state, through the pipeline's report queries and writer."""
    import airflow.sdk  # noqa: F401 (loaded before the timing, as for the pipeline's publish)

    from bench.day import resources
    from renewals.reports.spreadsheet import build_spreadsheet
    from renewals.storage.db import connect

    res = resources(config)
    run = RunContext(run_id=config["run_id"], as_of=date.fromisoformat(config["as_of"]))
    with closing(connect(res.ops_dsn, autocommit=True)) as ops:
        # The pipeline's publish wrote the console outbox's rows, which its Upcoming sheet reads; the
        # floor writes no outbox, so its book computes them (not reads the pipeline's work).
        ops.execute("delete from renewals.outbox_ahead_runs where run_id = %s", (run.run_id,))
    started = time.perf_counter()
    with closing(connect(res.ops_dsn, autocommit=True)) as ops:
        build_spreadsheet(
            ops,
            run,
            res.playbooks(),
            config["floor_spreadsheet"],
            res.settings.business_timezone,
            res.settings.holidays,
            res.settings.spreadsheet_rows,
        )
    return {"wall": time.perf_counter() - started, "rss_self_kb": peak_rss_kb()}


def io_limit(config: dict) -> dict:
    """Every warehouse row read once, then ``emails`` already-rendered emails over one SMTP connection."""
    import psycopg

    started = time.perf_counter()
    read = 0
    with closing(psycopg.connect(config["warehouse"])) as conn:
        for table in ("subscriptions", "contacts"):
            with conn.cursor().copy(f"copy warehouse.{table} to stdout") as copy:
                for block in copy:
                    read += len(block)
    reading = time.perf_counter() - started
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "renewals@example.org", "member@example.org", "Renewal"
    message.set_content("Your membership renews soon.\n" * 60)  # about the size of a rendered reminder
    data = wire_bytes(message)
    smtp = smtplib.SMTP("127.0.0.1", config["smtp_port"], timeout=30)
    for _ in range(config["emails"]):
        smtp.sendmail("renewals@example.org", ["member@example.org"], data)
    smtp.quit()
    return {"wall": time.perf_counter() - started, "read_s": reading, "bytes_read": read}


MODES = {"floor": run_floor, "sheet": floor_sheet, "io_limit": io_limit}


if __name__ == "__main__":
    config = json.loads(sys.argv[1])
    print(json.dumps(MODES[config.get("mode", "floor")](config)), flush=True)
