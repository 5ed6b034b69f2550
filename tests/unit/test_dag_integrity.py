"""The DAG file: imports cleanly, is thin, and has the shape and params of the contract."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from renewals.config import PROJECT_ROOT, Settings
from renewals.decisions.gates import COHORTS
from renewals.playbooks import load_playbooks
from tests.dag_file import renewals_dag

DAGS = PROJECT_ROOT / "dags"


@pytest.fixture(scope="module")
def dag():
    return renewals_dag()


def test_the_shipped_playbooks_and_their_templates_are_valid():
    settings = Settings()
    playbooks = load_playbooks(settings.playbook_dir, settings.template_dir)
    assert "membership" in playbooks


def test_the_dag_has_the_contract_params(dag):
    assert set(dag.params) == {
        "subscription_id",
        "as_of",
        "allow_future_as_of",
        "dry_run",
        "release_unknown",
        "confirm_unknown",
    }
    assert dag.params["dry_run"] is False
    assert dag.params["subscription_id"] is None and dag.params["as_of"] is None


def test_a_malformed_as_of_param_is_refused():
    from airflow.exceptions import ParamValidationError
    from airflow.sdk import Param
    from airflow.sdk.definitions.param import ParamsDict

    params = ParamsDict({"as_of": Param("2026-13-45", type=["null", "string"], format="date")})
    with pytest.raises(ParamValidationError):
        params.validate()


def test_every_cohort_is_a_branch_of_the_cohort_choice(dag):
    choose = dag.get_task("choose_cohorts")
    assert choose.downstream_task_ids == {f"deliver_{cohort}" for cohort in COHORTS}
    for cohort in COHORTS:
        assert dag.get_task(f"deliver_{cohort}").downstream_task_ids == {"summarize", "carry_out_approvals", "sync"}
    assert [task.task_id for task in dag.get_task("prepare_run").get_flat_relatives(upstream=False)]


def test_the_sync_to_staff_systems_waits_for_the_deliveries_and_holds_up_nothing(dag):
    sync = dag.get_task("sync")
    assert sync.upstream_task_ids == {"summarize", *(f"deliver_{cohort}" for cohort in COHORTS)}
    assert sync.downstream_task_ids == set()  # nothing waits for a CRM
    assert sync.trigger_rule == "all_done"  # a failed or skipped delivery does not stop it


def test_waiting_for_an_approval_holds_up_no_delivery_and_no_summary(dag):
    approval = dag.get_task("approve_irreversible_steps")
    assert approval.upstream_task_ids == {"prepare_run", "classify_subscriptions"}
    waiting_on_it = {task.task_id for task in approval.get_flat_relatives(upstream=False)}
    assert waiting_on_it == {"carry_out_approvals"}
    assert approval.defaults == ["Hold all"]  # no answer by the timeout holds, never executes


def test_the_dag_runs_daily_in_the_business_timezone(dag):
    assert dag.timetable.summary == "0 6 * * *"
    assert str(dag.timezone) in ("UTC", "Timezone('UTC')")
    assert dag.catchup is False


def test_parsing_the_dag_file_does_no_work():
    """No database driver, no playbook loading, no pipeline code at parse time: only wiring."""
    probe = (
        "import sys, time, json; sys.path[:0] = [{plugins!r}, {dags!r}]; t = time.perf_counter();"
        "import renewals_daily; elapsed = time.perf_counter() - t;"
        "print(json.dumps({{'elapsed': elapsed, 'loaded': sorted(m for m in ('psycopg',"
        " 'renewals.pipeline', 'renewals.storage', 'renewals.playbooks', 'renewals.delivery') if m in sys.modules)}}))"
    ).format(plugins=str(PROJECT_ROOT / "plugins"), dags=str(DAGS))
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    print(f"DAG file parsed in {report['elapsed']:.3f}s")
    assert report["loaded"] == []


def test_the_dag_describes_itself_in_markdown_the_ui_renders_as_written(dag):
    """The DAG list shows the description; the doc renders as Markdown with raw HTML allowed, so a
    name like deliver_<cohort> must sit in a code span, and RST's double backticks are not used."""
    import re

    assert dag.description
    doc = dag.doc_md
    assert "``" not in doc
    outside_code = re.sub(r"`[^`\n]*`", "", doc)
    assert not re.search(r"<[A-Za-z_][^>]*>", outside_code), "an HTML-looking tag outside a code span"
    assert "`deliver_<cohort>`" in doc


def test_the_domain_imports_without_airflow():
    """The steps of a run are plain Python: importing them must not load Airflow (whose settings are
    read on first import: the tests and the in-process runner rely on choosing them first)."""
    code = "import sys, renewals.pipeline, devenv.inprocess; print(sorted(m for m in sys.modules if m == 'airflow'))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=PROJECT_ROOT,
        env={"PYTHONPATH": f"{PROJECT_ROOT / 'plugins'}:{PROJECT_ROOT}", "PATH": "/usr/bin:/bin"},
    )
    assert out.stdout.strip() == "[]"
