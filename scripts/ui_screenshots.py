"""The operator's guide's pictures of the Airflow UI (docs/img/): the trigger form of renewals_daily
and an approval request in Required Actions. Run beside `make airflow` (the UI on localhost:8080, every user an
admin): ``.venv/bin/python scripts/ui_screenshots.py``. It triggers one run (a plain run of today:
held irreversible steps are asked about again) and waits for its request. Debian's chromium,
driven by Playwright; never a browser download."""

from __future__ import annotations

import json
import sys
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

UI = "http://localhost:8080"
OUT = Path(__file__).resolve().parents[1] / "docs" / "img"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-gpu"]


def api(method: str, path: str, token: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(
        UI + path,
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    with urllib.request.urlopen(UI + "/auth/token", timeout=30) as response:  # all admins: no password
        token = json.loads(response.read())["access_token"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{UI}/dags/renewals_daily")
        page.get_by_role("button", name="Trigger").first.click()
        page.get_by_text("Run Parameters", exact=False).first.wait_for(timeout=30000)
        time.sleep(2)
        page.screenshot(path=str(OUT / "trigger-form.png"))
        page.keyboard.press("Escape")

        api("PATCH", "/api/v2/dags/renewals_daily", token, {"is_paused": False})
        run = api("POST", "/api/v2/dags/renewals_daily/dagRuns", token, {"logical_date": None})
        path = f"/api/v2/dags/renewals_daily/dagRuns/{run['dag_run_id']}/hitlDetails"
        deadline = time.monotonic() + 600
        while not api("GET", path, token)["hitl_details"]:
            if time.monotonic() > deadline:
                print("no approval request within 10 minutes (is approvals on, and a step due?)", file=sys.stderr)
                return 1
            time.sleep(5)
        time.sleep(5)
        page.goto(
            f"{UI}/dags/renewals_daily/runs/{run['dag_run_id']}/tasks/approve_irreversible_steps/required_actions"
        )
        page.get_by_text("Approve", exact=True).first.wait_for(timeout=30000)
        time.sleep(2)
        page.screenshot(path=str(OUT / "required-action.png"), full_page=True)
        browser.close()
    print(f"Screenshots in {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
