"""A first day in the Airflow UI (issue 27), on the real api-server and scheduler: the trigger form
reads as its help says (no "required" mark on the on/off switches, the as_of help naming the
picker's format), and a refused run says why in its note, which the runs list offers as the row's
note button and the run's page shows, and on its Renewals tab."""

from __future__ import annotations

import re
import secrets
import shutil

import pytest

from tests.console import CHROMIUM, browser_page, log_in, shot
from tests.integration.test_approvals_airflow import airflow_stack, run_ended, run_path, wait_for  # noqa: F401

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason=f"{CHROMIUM} is missing (make test installs it)"),
]

REFUSAL = "subscription_id='S-999999': no such subscription in the warehouse"


def test_the_trigger_form_and_a_refused_run_where_the_operator_looks(airflow_stack, tmp_path) -> None:  # noqa: F811
    from playwright.sync_api import expect

    stack = airflow_stack
    run_id = f"manual__refused_{secrets.token_hex(3)}"
    body = {
        "dag_run_id": run_id,
        "logical_date": None,
        "conf": {"subscription_id": "S-999999"},
        "note": "checking one member",
    }
    status, answer, _ = stack.request("POST", "/api/v2/dags/renewals_daily/dagRuns", "admin", body)
    assert status == 200, answer
    wait_for("the refused run to fail", lambda: run_ended(stack, run_id) == "failed", 240, tmp_path / "logs")

    note = stack.request("GET", run_path(run_id), "admin")[1]["note"]
    assert note == f"Refused: {REFUSAL} · One member: S-999999 · checking one member"

    with browser_page(stack.url) as page:
        log_in(page, "admin", "/dags/renewals_daily/runs")
        row = page.locator("tr", has_text=run_id)
        expect(row).to_be_visible(timeout=30_000)
        page.set_viewport_size({"width": 2400, "height": 900})  # the row's note button is its last column
        expect(row.get_by_role("button", name="Note")).to_be_visible()
        shot(page, "20-runs-list")
        page.set_viewport_size({"width": 1440, "height": 900})
        page.goto(f"/dags/renewals_daily/runs/{run_id}")
        page.wait_for_timeout(3000)
        shot(page, "21-refused-run-page")
        expect(page.get_by_text("Refused:", exact=False).first).to_be_visible()
        page.goto(f"/renewals/runs/{run_id}")
        expect(page.locator("#refusal")).to_contain_text(REFUSAL)

        page.goto("/dags/renewals_daily")
        page.get_by_role("button", name="Trigger").first.click()
        # Run Parameters opens expanded; a switch's label carries no "required" mark (Chakra's
        # indicator, "*", inside the label), since a switch always has a value.
        for switch in ("allow_future_as_of", "dry_run"):
            label = page.locator("label", has_text=re.compile(rf"^\s*{switch}\b"))
            expect(label).to_be_visible()
            assert label.inner_text().strip() == switch, label.inner_text()
        help_text = page.get_by_text("shown in your browser's date format", exact=False)
        expect(help_text).to_be_visible()
        help_text.scroll_into_view_if_needed()
        shot(page, "22-trigger-form")
