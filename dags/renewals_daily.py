"""
### renewals_daily

Runs the renewal playbooks once a day as of the run's date: its logical date (or, when it has
none, the time it was triggered) as a date in the business timezone.

1. **prepare_run**: migrate the ops schema, register the run, apply operator verdicts.
2. **extract_and_validate**: copy the warehouse into staging, quarantine bad rows.
3. **classify_subscriptions**: in SQL, every subscription's gate, cohort and due touchpoints;
   decisions go to the log and the ledger.
4. **choose_cohorts**: branch to the cohorts that have something to deliver today.
5. **`deliver_<cohort>`**: send, one mapped task per shard, exactly once through the ledger.
6. **summarize**: record the renewal cycles, mark the run finished, write the summary to the task
   log, update the Asset `renewals_audit` (downstream DAGs can be scheduled on it).
7. **publish**: the renewal spreadsheet, the staff posts queued by the delivery and the run summary
   on Slack (`renewals_slack`; without it, in the task log). Slack never fails the run.
8. **sync**: after the deliveries, however they ended, the day's changes (CTAs, call tasks, messages,
   offboardings) go to the staff systems whose connection exists (`renewals_webhook`, ...); what a
   system did not take waits for the next run. Emails never wait for a CRM.

Beside them, where approvals are on (`RENEWALS_APPROVALS`): **approve_irreversible_steps** asks
staff once, in Required Actions (and on Slack and by email), to approve the irreversible steps due
(skipped when there are none); **carry_out_approvals** records the answer and carries out what was
approved. Neither holds up the emails, the summary or the spreadsheet while staff decide.

A task that fails notifies staff once, on Slack and by email (`RENEWALS_FAILURE_EMAIL`).

**Params** (trigger form or `--conf`):

- `subscription_id`: run for this one subscription only.
- `as_of`: process the world as of this date instead of the run's date (not a later date unless
  `dry_run` or `allow_future_as_of`).
- `dry_run`: decide and render without sending (the ledger keeps preview rows).
- `release_unknown` / `confirm_unknown`: settle sends left *unknown* after checking the mail
  relay's log, each given as `SUBSCRIPTION_ID/TOUCHPOINT`; not in a dry run.

A wrong or contradictory param fails prepare_run at once, without a retry, with a message naming
it (a quarantined `subscription_id` fails extract_and_validate, with the quarantine reasons).
"""

from __future__ import annotations

import logging
import os
from datetime import timedelta

import pendulum
from airflow.sdk import Param, TriggerRule, XComArg, dag, task
from airflow.timetables.trigger import CronTriggerTimetable

from renewals.decisions.gates import COHORTS
from renewals.notifications.failure import failure_notifiers
from renewals.operators.approval import StaffApprovalOperator
from renewals.reports.assets import RENEWALS_AUDIT

# Read at parse time only to lay out the DAG: no database or network is touched here.
BUSINESS_TIMEZONE = os.environ.get("RENEWALS_BUSINESS_TIMEZONE", "UTC")
SCHEDULE = os.environ.get("RENEWALS_SCHEDULE", "0 6 * * *")
log = logging.getLogger(__name__)
# SUBSCRIPTION_ID/TOUCHPOINT, split on the last slash (renewals.manual_runs.parse_ref).
UNKNOWN_REF_PATTERN = r"^\s*\S.*/\s*[A-Za-z0-9_]+\s*$"


@task(multiple_outputs=False)
def prepare_run(params: dict, dag_run=None, logical_date=None) -> dict:
    from renewals.airflow_resources import airflow_resources
    from renewals.decisions.dates import as_of_date
    from renewals.manual_runs import refusal_recorded, refuse_bad_params
    from renewals.pipeline import prepare, resolve_run

    run_date = as_of_date(logical_date or dag_run.run_after, BUSINESS_TIMEZONE)
    as_registered = resolve_run(dag_run.run_id, run_date, None, params["dry_run"], params["subscription_id"])
    with refusal_recorded(airflow_resources(), as_registered):
        refuse_bad_params(airflow_resources(), params, run_date)
    run = resolve_run(dag_run.run_id, run_date, params["as_of"], params["dry_run"], params["subscription_id"])
    verdicts = [params[name] or [] for name in ("release_unknown", "confirm_unknown")]
    unmatched = prepare(airflow_resources(), run, *verdicts)
    if unmatched:  # a retry of this task lands here too, after the verdicts were applied
        log.warning("No send in status 'unknown' for %s; nothing changed for them", unmatched)
    return run.to_xcom()


@task(multiple_outputs=False)
def extract_and_validate(run: dict) -> dict:
    from renewals.airflow_resources import airflow_resources
    from renewals.manual_runs import refusal_recorded, refuse_quarantined_member
    from renewals.pipeline import extract
    from renewals.storage.runs import RunContext

    resources, context = airflow_resources(), RunContext.from_xcom(run)
    counts = extract(resources, context)
    with refusal_recorded(resources, context):
        refuse_quarantined_member(resources, context, counts.subscriptions_processed)
    if not counts.balanced():
        raise RuntimeError(f"row accounting does not balance: {counts}")
    return counts.__dict__


@task(retries=2, retry_delay=timedelta(minutes=1), multiple_outputs=False)
def read_inbox(run: dict) -> dict | None:
    """New mail of ``renewals_inbox`` first: a member's reply stops their reminders before this
    run decides them (nothing without the connection, or in a dry run)."""
    from renewals.airflow_resources import airflow_resources
    from renewals.pipeline import read_replies
    from renewals.storage.runs import RunContext

    report = read_replies(airflow_resources(), RunContext.from_xcom(run).dry_run)
    return None if report is None else report.__dict__


@task(multiple_outputs=False)
def classify_subscriptions(run: dict, ti=None) -> list[int]:
    """Decides everything due; returns the shards that have something to deliver (mapped over by
    the deliver tasks) and pushes the cohorts that have (``cohorts``, for the branch)."""
    from renewals.airflow_resources import airflow_resources
    from renewals.pipeline import classify_run
    from renewals.storage.runs import RunContext

    work = classify_run(airflow_resources(), RunContext.from_xcom(run))
    ti.xcom_push(key="cohorts", value=[cohort for cohort in COHORTS if work[cohort]])
    return sorted({shard for shards in work.values() for shard in shards})


@task.branch
def choose_cohorts(cohorts: list[str]) -> list[str]:
    """Only cohorts with messages to deliver run; the others show as skipped in the grid. Reads
    classification's answer: clearing this task alone re-branches on the same decisions."""
    return [f"deliver_{cohort}" for cohort in cohorts]


@task(retries=3, retry_delay=timedelta(minutes=2), retry_exponential_backoff=True, multiple_outputs=False)
def deliver(run: dict, cohort: str, shard: int) -> dict:
    from renewals.airflow_resources import airflow_resources
    from renewals.pipeline import deliver as deliver_shard
    from renewals.storage.runs import RunContext

    return deliver_shard(airflow_resources(), RunContext.from_xcom(run), cohort, shard).__dict__


@task(trigger_rule=TriggerRule.NONE_FAILED, outlets=[RENEWALS_AUDIT])
def summarize(run: dict, outlet_events=None) -> str:
    """Completes the run: the audit rows are all in, so the Asset renewals_audit is updated."""
    from renewals.airflow_resources import airflow_resources
    from renewals.pipeline import finish_run
    from renewals.storage.runs import RunContext

    text = finish_run(airflow_resources(), RunContext.from_xcom(run))
    print(text)
    outlet_events[RENEWALS_AUDIT].extra = {key: run[key] for key in ("run_id", "as_of", "dry_run", "subscription_id")}
    return text


@task(retries=3, retry_delay=timedelta(minutes=2), trigger_rule=TriggerRule.ALL_DONE, multiple_outputs=False)
def carry_out_approvals(run: dict, response: dict | None) -> dict:
    """Staff's answer recorded; the approved steps carried out exactly once, the held ones left for
    the next run. Runs after the run's own deliveries (so it never competes with them) however they
    ended: a failed delivery elsewhere does not lose the answer."""
    from renewals.airflow_resources import airflow_resources
    from renewals.pipeline import carry_out_approvals as carry_out
    from renewals.storage.runs import RunContext

    if response is None:  # nothing was asked in this run (or the request never went out)
        from airflow.sdk.exceptions import AirflowSkipException

        raise AirflowSkipException("No approval was asked for in this run")
    outcome = carry_out(airflow_resources(), RunContext.from_xcom(run), response)
    if outcome.answer:
        answer = outcome.answer
        log.info("Approved by %s: %s", answer.decided_by, [item.label for item in answer.approved])
        log.info("Held (%s): %s", answer.held_reason, [item.label for item in answer.held])
        if answer.unknown_holds:
            log.warning("Asked to hold %s, which this run did not ask about: ignored", list(answer.unknown_holds))
    return {
        "sent": sum(report.sent for report in outcome.carried_out),
        "recorded": sum(report.recorded for report in outcome.carried_out),
    }


@task(retries=2, retry_delay=timedelta(minutes=2), multiple_outputs=False)
def publish(run: dict, dag_run=None) -> dict:
    """The spreadsheet, the queued staff posts, the staff emails of members' answers and the Slack
    summary; Slack and SMTP problems are only logged."""
    from airflow.configuration import conf

    from renewals.airflow_resources import airflow_resources
    from renewals.reports.publish import publish_run
    from renewals.slack.messages import run_url
    from renewals.storage.runs import RunContext

    url = run_url(conf.get("api", "base_url", fallback="http://localhost:8080"), dag_run.dag_id, dag_run.run_id)
    return publish_run(airflow_resources(), RunContext.from_xcom(run), url)


@task(retries=2, retry_delay=timedelta(minutes=2), trigger_rule=TriggerRule.ALL_DONE, multiple_outputs=False)
def sync(params: dict, ti=None) -> dict:
    """The day's events to the staff systems that are on; a system that is down or refuses an
    event never fails this task (the event waits for the next run, or is parked for staff). It
    runs however the deliveries ended, but not after a refused run: that run did nothing."""
    from airflow.sdk.exceptions import AirflowSkipException

    if ti.xcom_pull(task_ids="prepare_run") is None:
        raise AirflowSkipException("The run was refused before it started: nothing to sync")
    from renewals.airflow_resources import airflow_resources
    from renewals.pipeline import sync_run
    from renewals.sync.setup import configured_targets

    resources = airflow_resources()
    report = sync_run(resources, configured_targets(resources.settings), dry_run=bool(params["dry_run"]))
    if report is None:
        return {"skipped": "dry run"}
    log.info("Sync: %s event(s) queued; %s", report.queued, report.targets or "no target is on")
    return {"queued": report.queued, **{name: vars(target) for name, target in report.targets.items()}}


@dag(
    dag_id="renewals_daily",
    description="Renewal reminders, follow-ups and staff actions, once a day, exactly once.",
    schedule=CronTriggerTimetable(SCHEDULE, timezone=BUSINESS_TIMEZONE),
    start_date=pendulum.datetime(2026, 1, 1, tz=BUSINESS_TIMEZONE),
    catchup=False,
    # Failure notifiers on every task: one Slack post and one email when a task try ends failed
    # (not for tries that are retried; none at DAG level, which would notify twice).
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5), "on_failure_callback": failure_notifiers()},
    # The form refuses what a schema can (blank ids, malformed refs, non-dates); prepare_run
    # refuses the rest (unknown ids, contradictions) before any work, without a retry.
    params={
        "subscription_id": Param(
            None,
            type=["null", "string"],
            pattern=r"^\s*[^\s/]",
            description="Run for this subscription only (an id the warehouse has and validation keeps).",
        ),
        "as_of": Param(
            None,
            type=["null", "string"],
            format="date",
            # The picker shows dates the browser's way (mm/dd/yyyy in en-US) and sends YYYY-MM-DD.
            description="Process the world as of this date instead of the run's date: pick it (shown in your "
            "browser's date format); in --conf, YYYY-MM-DD. Not after the run's date unless dry_run or "
            "allow_future_as_of.",
        ),
        # Switches may be null: the form marks a param required (a red asterisk) unless its type
        # allows null, and an on/off switch always has a value; null counts as off.
        "allow_future_as_of": Param(
            False,
            type=["boolean", "null"],
            description="Send as of an as_of after the run's date (messages go out early).",
        ),
        "dry_run": Param(
            False,
            type=["boolean", "null"],
            description="Decide and render everything without sending; the ledger keeps preview rows "
            "(status dry_run) that the next real run replaces.",
        ),
        **{
            name: Param(
                None,
                type=["null", "array"],
                items={"type": "string", "pattern": UNKNOWN_REF_PATTERN},
                description=description + " One SUBSCRIPTION_ID/TOUCHPOINT per line; optional. Not with dry_run.",
            )
            for name, description in (
                ("release_unknown", "Sends in status 'unknown' the relay did NOT deliver: sent again if still due."),
                ("confirm_unknown", "Sends in status 'unknown' the relay did deliver: marked sent."),
            )
        },
    },
    doc_md=__doc__,
    tags=["renewals"],
)
def renewals_daily():
    run = prepare_run()
    counts = extract_and_validate(run)
    shards = classify_subscriptions(run)
    [counts, read_inbox(run)] >> shards
    branches = choose_cohorts(XComArg(shards.operator, key="cohorts"))
    # Shards are mapped from classification's output, so only shards with work run, and a
    # cohort the branch skips is skipped whole.
    deliveries = [
        deliver.override(task_id=f"deliver_{cohort}").partial(run=run, cohort=cohort).expand(shard=shards)
        for cohort in COHORTS
    ]
    summary = summarize(run)
    branches >> deliveries >> summary
    summary >> publish(run)
    # Off the emails' path: after every delivery however it ended (and the cycles summarize records).
    [*deliveries, summary] >> sync()
    # Off the main path: waiting for staff never holds up the deliveries or the summary.
    # A failed request is asked again soon (a retry writes a new request); never executes anything.
    approval = StaffApprovalOperator(
        task_id="approve_irreversible_steps", run=run, retries=1, retry_delay=timedelta(seconds=30)
    )
    shards >> approval
    [approval, *deliveries] >> carry_out_approvals(run, approval.output)


renewals_daily()
