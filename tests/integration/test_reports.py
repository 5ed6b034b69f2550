"""What a run publishes, on real PostgreSQL, SMTP, Slack (a local webhook server) and Airflow:
the Slack summary payload, the workbook read back with pandas and openpyxl, the audit Asset,
failure notifications, and Slack outages that never touch the emails."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, datetime, timedelta

import openpyxl
import pandas as pd
import pendulum
import pytest

from devenv.inprocess import run_day
from renewals.config import Settings
from renewals.pipeline import finish_run
from renewals.playbooks import load_playbooks
from renewals.reports.publish import SpreadsheetNotWritten, publish_run
from tests.conftest import moment
from tests.dag_file import renewals_dag
from tests.slack_server import slack_server_fixture  # noqa: F401 (the slack_server fixture)

D = date(2026, 12, 1)  # a Tuesday; the -90 review month of renewals in March 2027
SHEETS = ["Pipeline", "Review", "Paid", "Upcoming", "About"]


def a_world(world) -> None:
    world.subscription("S-UP", D + timedelta(days=15), account_name="Upcoming Org")  # renewal_reminder_15 today
    world.subscription("S-SOON", D + timedelta(days=20), account_name="Soon Org")  # reminder_15 due in 5 days
    world.subscription(
        "S-PAID",
        D + timedelta(days=20),
        account_name="Paid Org",
        paid_at=moment(D - timedelta(days=3)),
        invoice_number="INV-42",
        amount=5000,
    )
    world.subscription(
        "S-DECL", D + timedelta(days=40), account_name="Leaving Org", declined_at=moment(D - timedelta(days=2))
    )
    world.subscription("S-PREM", date(2027, 3, 10), tier="premier", account_name="Premier Org", amount=20000)
    world.subscription("S-COSAI", date(2027, 3, 20), tier="cosai_sponsor", account_name="CoSAI Org", amount=9000)
    world.subscription("S-STD", date(2027, 3, 5), account_name="Standard Org")
    world.subscription("S-FAR", D + timedelta(days=200), account_name="Far Org")  # not in flight yet
    world.subscription("S-BAD", D + timedelta(days=15), playbook="enterprise")  # quarantined


def next_touchpoint(days_to_go: int) -> tuple[str, int]:
    """The membership playbook's next touchpoint for a standard TC member without response."""
    settings = Settings()
    playbook = load_playbooks(settings.playbook_dir, settings.template_dir)["membership"]
    ahead = [
        (tp.due.days, tp.position, tp.key)
        for tp in playbook.touchpoints
        if tp.due.anchor == "renewal_date"
        and "no_response" in tp.gates
        and tp.due.days > -days_to_go
        and "standard" in (getattr(getattr(tp, "when", None), "tiers", None) or ["standard"])
    ]
    days, _, key = min(ahead)
    return key, days


def run_dag(day: date, before=None, **conf):
    """renewals_daily through dag.test(), optionally changing the DAG object first."""
    dag = renewals_dag()
    if before:
        before(dag)
    return dag.test(logical_date=pendulum.datetime(day.year, day.month, day.day, tz="UTC"), run_conf=conf or None)


def summary_fields(body: dict) -> dict[str, str]:
    section = next(block for block in body["blocks"] if "fields" in block)
    return {f["text"].split("\n", 1)[0].strip("*"): f["text"].split("\n", 1)[1] for f in section["fields"]}


@pytest.fixture
def spreadsheet(tmp_path, monkeypatch):
    path = tmp_path / "shared" / "renewals.xlsx"
    monkeypatch.setenv("RENEWALS_SPREADSHEET_PATH", path.as_uri())
    return path


def test_a_run_posts_its_summary_and_writes_the_spreadsheet(world, airflow, mailbox, ops, slack_server, spreadsheet):
    a_world(world)
    slack_server.answer(429, retry_after=1)  # Slack asks to wait once: the summary still goes out

    dag_run = run_dag(D)
    assert dag_run.state == "success"

    # Slack: the staff post for S-PAID's payment (retried once after its Retry-After), then the summary.
    assert len(slack_server.requests) == 3 and slack_server.requests[0].body == slack_server.requests[1].body
    assert slack_server.bodies[0]["text"].startswith("Payment received: Paid Org (S-PAID)")
    body = slack_server.bodies[-1]
    run_id = dag_run.run_id
    assert body["blocks"][0]["text"]["text"] == "Renewals run as of 2026-12-01"
    fields = summary_fields(body)
    sent = dict(
        ops.execute(
            "select channel, count(*) from renewals.touchpoints where last_run_id = %s and status = 'sent'"
            " group by channel",
            (run_id,),
        ).fetchall()
    )
    # customer emails, staff steps recorded (CTAs, records) and staff emails counted apart, as the ledger has them
    assert fields["Customer emails"] == str(sent.get("email", 0)) and sent.get("email", 0) >= 1
    assert fields["Staff steps recorded"] == str(
        sum(n for channel, n in sent.items() if channel not in ("email", "staff_email"))
    )
    assert int(fields["Staff emails"]) >= sent.get("staff_email", 0)
    assert len(mailbox.messages) >= 1
    assert fields["Quarantined"] == "1 row(s)" and fields["Failed"] == "0"
    assert fields["Subscriptions"] == "9 in · 8 processed"
    assert fields["CTAs"].endswith("escalated") and "Offboardings started" in fields
    rendered = json.dumps(body["blocks"])
    assert "membership / no_response / upcoming" in rendered and "membership / paid / renewed" in rendered
    assert "unknown_playbook" in rendered and "Spreadsheet updated" in rendered
    button = body["blocks"][-1]["elements"][0]
    assert button["url"].endswith("/dags/renewals_daily/runs/" + run_id.replace(":", "%3A").replace("+", "%2B"))

    # The workbook, read back as staff's tools would.
    frames = pd.read_excel(spreadsheet, sheet_name=None)
    assert list(frames) == SHEETS
    pipeline = frames["Pipeline"].set_index("Subscription")
    assert set(pipeline.index) == {"S-UP", "S-SOON", "S-PAID", "S-DECL", "S-PREM", "S-COSAI", "S-STD"}
    assert "S-FAR" not in pipeline.index  # renewal in more than 180 days: not in flight yet
    up = pipeline.loc["S-UP"]
    assert up["Account"] == "Upcoming Org" and up["Days to go"] == 15 and up["Gate"] == "no_response"
    assert up["Renewal date"] == pd.Timestamp(D + timedelta(days=15))
    assert up["Last touchpoint"] == "renewal_reminder_15" and up["Last sent"] == pd.Timestamp(date.today())
    next_key, next_days = next_touchpoint(days_to_go=15)
    assert up["Next touchpoint"] == next_key and up["Next due"] == pd.Timestamp(D + timedelta(days=15 + next_days))
    assert pipeline.loc["S-PAID", "Paid on"] == pd.Timestamp(D - timedelta(days=3))
    assert pipeline.loc["S-DECL", "Declined on"] == pd.Timestamp(D - timedelta(days=2))
    assert pipeline["Renewal date"].dtype.kind == "M" and pipeline["Next due"].dtype.kind == "M"

    review = frames["Review"]
    assert list(review["Subscription"]) == ["S-COSAI", "S-PREM", "S-STD"]  # sponsors first, then amount
    assert list(review["Priority"]) == [1, 2, 3]
    assert review.loc[0, "Check-in call with"] == "TC/OP with the CoSAI PGB reps"
    assert review.loc[1, "Review on"] == pd.Timestamp(date(2027, 3, 10) - timedelta(days=90))

    paid = frames["Paid"]
    assert list(paid["Subscription"]) == ["S-PAID"]
    assert paid.loc[0, "Invoice"] == "INV-42" and paid.loc[0, "Amount"] == 5000

    upcoming = frames["Upcoming"]
    assert upcoming["Due"].is_monotonic_increasing
    assert (upcoming["Due"] > pd.Timestamp(D)).all() and (upcoming["Due"] <= pd.Timestamp(D + timedelta(days=30))).all()
    soon = upcoming[(upcoming["Subscription"] == "S-SOON") & (upcoming["Touchpoint"] == "renewal_reminder_15")]
    assert len(soon) == 1 and soon.iloc[0]["Due"] == pd.Timestamp(D + timedelta(days=5))
    assert soon.iloc[0]["Day"] == "Sun" and soon.iloc[0]["Audience"] == "primary"
    assert not ((upcoming["Subscription"] == "S-UP") & (upcoming["Touchpoint"] == "renewal_reminder_15")).any()

    workbook = openpyxl.load_workbook(spreadsheet)
    for name in SHEETS[:4]:
        sheet = workbook[name]
        assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref.startswith("A1:")
        assert sheet["A1"].font.b and sheet.column_dimensions["A"].width >= 8
    assert workbook["About"]["B2"].value == datetime(2026, 12, 1)

    published = dict(ops.execute("select output, status from renewals.publications where run_id = %s", (run_id,)))
    assert published == {"spreadsheet": "written", "slack_summary": "sent"}

    # The Asset the run updated, for downstream DAGs.
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        events = session.scalars(
            select(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .where(AssetModel.name == "renewals_audit", AssetEvent.source_run_id == run_id)
        ).all()
        assert [event.extra for event in events] == [
            {"run_id": run_id, "as_of": "2026-12-01", "dry_run": False, "subscription_id": None}
        ]


def test_a_slack_outage_fails_neither_the_emails_nor_the_run(world, airflow, mailbox, ops, slack_server, spreadsheet):
    world.subscription("S-UP", D + timedelta(days=15))
    slack_server.answer(503, times=50)

    dag_run = run_dag(D)
    assert dag_run.state == "success"
    assert [m["X-Renewal-Subscription"] for m in mailbox.messages] == ["S-UP"]
    status, detail = ops.execute(
        "select status, detail from renewals.publications where run_id = %s and output = 'slack_summary'",
        (dag_run.run_id,),
    ).fetchone()
    assert status == "failed" and "503" in detail
    assert spreadsheet.exists()


def test_without_slack_the_summary_goes_to_the_task_log(world, airflow, mailbox, ops, spreadsheet, monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_RENEWALS_SLACK", raising=False)
    world.subscription("S-UP", D + timedelta(days=15))
    dag_run = run_dag(D)
    assert dag_run.state == "success" and len(mailbox.messages) == 1
    status, target = ops.execute(
        "select status, target from renewals.publications where run_id = %s and output = 'slack_summary'",
        (dag_run.run_id,),
    ).fetchone()
    assert (status, target) == ("not_configured", "renewals_slack")


def test_a_dry_run_posts_and_writes_nothing(world, airflow, mailbox, ops, slack_server, spreadsheet):
    world.subscription("S-UP", D + timedelta(days=15))
    dag_run = run_dag(D, dry_run=True)
    assert dag_run.state == "success"
    assert slack_server.requests == [] and mailbox.messages == [] and not spreadsheet.exists()
    assert ops.execute("select count(*) from renewals.renewal_cycles").fetchone()[0] == 0


def test_a_failed_task_notifies_staff_once_on_slack_and_by_email(world, airflow, mailbox, slack_server, monkeypatch):
    world.subscription("S-UP", D + timedelta(days=15))
    monkeypatch.setenv("AIRFLOW_CONN_RENEWALS_WAREHOUSE", "postgresql://postgres@127.0.0.1:1/nowhere")
    monkeypatch.setenv("RENEWALS_FAILURE_EMAIL", "oncall@example.org")

    def one_quick_retry(dag):  # a retried try is not notified; the failed one is, once
        dag.get_task("extract_and_validate").retries = 1
        dag.get_task("extract_and_validate").retry_delay = timedelta(0)

    dag_run = run_dag(D, before=one_quick_retry)
    assert dag_run.state == "failed"
    (body,) = slack_server.bodies
    assert "extract_and_validate failed (try 2)" in body["text"]
    (alert,) = mailbox.messages
    assert alert["To"] == "oncall@example.org"
    assert alert["Subject"] == f"[renewals] Task extract_and_validate failed in run {dag_run.run_id}"


# --- the publish step called directly (known run id): staff actions and the spreadsheet's failure


def staff_actions(ops, run_id: str) -> None:
    """CTAs, an offboarding and deactivations as the staff-action code records them."""
    ops.execute(
        """
        insert into renewals.ctas (cta_id, subscription_id, renewal_date, account_name, playbook, type, stage,
                                   priority, owner_team, owner_email, status, due_date)
        values ('CTA-T1', 'S-UP', %(r)s, 'Upcoming Org', 'membership', 'test_risk', 'overdue', 'high',
                'membership_staff', 'ms@example.org', 'open', %(d)s),
               ('CTA-T2', 'S-SOON', %(s)s, 'Soon Org', 'membership', 'test_opportunity', 'opened', 'low',
                'bizdev', 'bizdev@example.org', 'open', %(d)s)
        """,
        {"r": D + timedelta(days=15), "s": D + timedelta(days=20), "d": D + timedelta(days=7)},
    )
    ops.execute(
        """
        insert into renewals.cta_events (cta_id, run_id, kind, from_value, to_value) values
            ('CTA-T1', %(run)s, 'opened', null, 'at_risk'), ('CTA-T1', %(run)s, 'priority', 'medium', 'high'),
            ('CTA-T1', %(run)s, 'stage', 'at_risk', 'overdue'), ('CTA-T2', %(run)s, 'opened', null, 'opened'),
            ('CTA-T2', 'another-run', 'priority', 'low', 'high')
        """,
        {"run": run_id},
    )
    ops.execute(
        "insert into renewals.offboardings (subscription_id, renewal_date, member_type) values ('S-DECL', %s, 'TC')",
        (D + timedelta(days=40),),
    )
    for role in ("primary", "billing"):
        ops.execute(
            "insert into renewals.deactivations (contact_id, subscription_id, renewal_date, role, email, run_id)"
            " values (%s, 'S-DECL', %s, %s, %s, %s)",
            (f"C-S-DECL-{role}", D + timedelta(days=40), role, f"{role}@leaving.example", run_id),
        )


def test_the_summary_counts_staff_actions_and_the_pipeline_shows_ctas(world, resources, ops, slack_server, tmp_path):
    a_world(world)
    run = run_day(resources, D, "test-run-1")
    staff_actions(ops, run.run_id)
    finish_run(resources, run)
    outcome = publish_run(resources, run, "http://airflow.example/dags/renewals_daily/runs/test-run-1")

    assert outcome["spreadsheet"]["status"] == "written" and outcome["slack_summary"]["status"] == "sent"
    staff_post, body = slack_server.bodies  # the staff post the receipt queued first, then the summary
    assert staff_post["text"].startswith("Payment received: Paid Org (S-PAID)")
    fields = summary_fields(body)
    assert fields["CTAs"] == "2 opened · 1 escalated"
    assert fields["Offboardings started"] == "1 (2 contact(s) to deactivate)"

    pipeline = pd.read_excel(tmp_path / "renewals.xlsx", sheet_name="Pipeline").set_index("Subscription")
    assert tuple(pipeline.loc["S-UP", ["CTA", "CTA priority", "CTA owner"]]) == ("test_risk", "high", "ms@example.org")


def test_a_spreadsheet_that_cannot_be_written_is_reported_and_retried(world, resources, ops, slack_server, tmp_path):
    world.subscription("S-UP", D + timedelta(days=15))
    run = run_day(resources, D, "test-run-2")
    finish_run(resources, run)
    (tmp_path / "not-a-dir").write_text("a file where a folder should be")
    broken = replace(
        resources, settings=replace(resources.settings, spreadsheet_path=str(tmp_path / "not-a-dir" / "r.xlsx"))
    )

    with pytest.raises(SpreadsheetNotWritten):
        publish_run(broken, run)
    (body,) = slack_server.bodies
    assert "Spreadsheet NOT updated" in json.dumps(body["blocks"])

    outcome = publish_run(resources, run)  # the task's retry: the summary is not posted twice
    assert outcome["spreadsheet"]["status"] == "written" and len(slack_server.bodies) == 1
    attempts = dict(ops.execute("select output, attempts from renewals.publications where run_id = 'test-run-2'"))
    assert attempts == {"spreadsheet": 2, "slack_summary": 2}


def test_the_dag_publishes_after_the_summary_and_updates_the_audit_asset():
    dag = renewals_dag()
    assert dag.get_task("summarize").downstream_task_ids == {"publish", "sync"}
    assert [asset.name for asset in dag.get_task("summarize").outlets] == ["renewals_audit"]
    for task in dag.tasks:
        assert [type(cb).__name__ for cb in task.on_failure_callback] == [
            "SlackFailureNotifier",
            "EmailFailureNotifier",
        ]
        assert not task.on_retry_callback
    assert not dag.on_failure_callback


def test_older_days_dry_runs_and_one_member_runs_never_overwrite_the_newest_book(
    world, resources, ops, slack_server, tmp_path
):
    world.subscription("S-UP", D + timedelta(days=15), account_name="Upcoming Org")
    book = tmp_path / "renewals.xlsx"

    def as_of_in(path) -> str:
        about = pd.read_excel(path, sheet_name="About").set_index("Item")
        return str(about.loc["As of", "Value"])[:10]

    newest = run_day(resources, D, "today")
    publish_run(resources, newest)
    assert as_of_in(book) == D.isoformat()

    # a backfill of an earlier day: its book goes beside the newest one, named after its day
    older = run_day(resources, D - timedelta(days=3), "backfill")
    outcome = publish_run(resources, older)
    beside = tmp_path / f"renewals.as-of-{(D - timedelta(days=3)).isoformat()}.xlsx"
    assert outcome["spreadsheet"]["status"] == "written"
    assert as_of_in(book) == D.isoformat() and as_of_in(beside) == (D - timedelta(days=3)).isoformat()
    recorded = "select target from renewals.publications where run_id = 'backfill' and output = 'spreadsheet'"
    assert ops.execute(recorded).fetchone()[0] == str(beside)

    # a dry run and a one-member run of a later day write no book at all
    before = book.stat().st_mtime_ns
    for run_id, scope in (("dry", {"dry_run": True}), ("one", {"subscription_id": "S-UP"})):
        run = run_day(resources, D + timedelta(days=1), run_id, **scope)
        assert publish_run(resources, run)["spreadsheet"]["status"] == "skipped"
    assert book.stat().st_mtime_ns == before
    assert sorted(path.name for path in tmp_path.glob("renewals*.xlsx")) == [beside.name, book.name]

    # the next full day replaces the newest book
    publish_run(resources, run_day(resources, D + timedelta(days=1), "tomorrow"))
    assert as_of_in(book) == (D + timedelta(days=1)).isoformat()
