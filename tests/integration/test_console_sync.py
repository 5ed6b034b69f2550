"""The console's page of parked sync events (retry and dismiss, audited, edit permission) and the
member page's links from each CTA to its record in the staff systems, on the real api-server."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from renewals.storage.db import connect
from tests.console import CHROMIUM, EVIL, MEMBER, R_SENT, Console, browser_page, console_stack, log_in, shot

SF_URL = "https://acme.my.salesforce.com/lightning/r/Task/00T000000000001/view"


@pytest.fixture(scope="module")
def console(pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    with console_stack(pg_server, Path(tmp_path_factory.mktemp("console-sync"))) as stack:
        with closing(connect(stack.ops_uri, autocommit=True)) as ops:
            ops.execute("insert into renewals.sync_targets (target) values ('salesforce'), ('webhook')")
            for n, (subscription_id, target) in enumerate([(MEMBER, "salesforce"), (EVIL, "webhook")], start=1):
                ops.execute(
                    """
                    insert into renewals.sync_events (event_id, event_key, kind, subscription_id, renewal_date,
                                                      occurred_at, payload)
                    values (%s, %s, 'cta.opened', %s, %s, now(), '{"account": {"account_name": "<i>x</i>"}}')
                    """,
                    (n, f"cta.opened/CTA-{n}", subscription_id, R_SENT),
                )
                ops.execute(
                    "insert into renewals.sync_deliveries (event_id, target, status, last_status, last_answer) "
                    "values (%s, %s, 'parked', 300, %s)",
                    (n, target, '["/services/data/v62.0/sobjects/Task/00T1", "<script>x</script>"]'),
                )
            ops.execute(
                """
                insert into renewals.ctas (cta_id, subscription_id, renewal_date, playbook, type, stage, priority,
                                           owner_team, owner_email, status)
                values ('CTA-console', %s, %s, 'membership', 'renewal_risk', 'at_risk', 'medium',
                        'membership_staff', 'ms@example.org', 'open')
                """,
                (MEMBER, R_SENT),
            )
            ops.execute(
                "insert into renewals.sync_records (target, record_key, remote_id, remote_url) values "
                "('salesforce', 'CTA-console', '00T000000000001', %s), ('github', 'CTA-console', '1', 'javascript:x')",
                (SF_URL,),
            )
        yield stack


def delivery(console: Console, event_id: int) -> tuple:
    with closing(connect(console.ops_uri, autocommit=True)) as ops:
        return ops.execute(
            "select d.status, a.action, a.acted_by from renewals.sync_deliveries d "
            "left join renewals.sync_actions a using (event_id, target) where d.event_id = %s",
            (event_id,),
        ).fetchone()


def test_parked_events_are_listed_with_the_answer_and_escaped(console: Console) -> None:
    status, body, _ = console.request("GET", "/renewals/api/sync/parked", "staff")
    assert status == 200
    assert {(p["subscription_id"], p["target"], p["last_status"]) for p in body["parked"]} == {
        (MEMBER, "salesforce", 300),
        (EVIL, "webhook", 300),
    }
    _, body, _ = console.request("GET", "/renewals/api/sync/parked", "viewer")
    assert {p["last_answer"] for p in body["parked"]} == {"hidden"}, "an answer may quote the record it refused"

    status, page, _ = console.request("GET", "/renewals/sync", "staff")
    assert status == 200 and "Staff systems: parked events" in page
    assert "<script>x</script>" not in page and "&lt;script&gt;x&lt;/script&gt;" in page


def test_a_viewer_cannot_retry_and_an_editor_can_once(console: Console) -> None:
    status, _, _ = console.request("POST", "/renewals/api/sync/parked/1/salesforce", "viewer", {"action": "retry"})
    assert status == 403 and delivery(console, 1) == ("parked", None, None)

    status, body, _ = console.request(
        "POST", "/renewals/api/sync/parked/1/salesforce", "admin", {"action": "retry"}, cookie=True
    )
    assert status == 200 and body["acted_by"] == "admin"
    assert delivery(console, 1) == ("pending", "retry", "admin")

    status, _, _ = console.request("POST", "/renewals/api/sync/parked/1/salesforce", "admin", {"action": "retry"})
    assert status == 404, "only a parked event can be retried"


def test_dismiss_settles_the_event_without_sending_it(console: Console) -> None:
    status, _, _ = console.request("POST", "/renewals/api/sync/parked/2/webhook", "admin", {"action": "dismiss"})
    assert status == 200 and delivery(console, 2) == ("dismissed", "dismiss", "admin")
    status, _, _ = console.request("POST", "/renewals/api/sync/parked/2/webhook", "admin", {"action": "resend"})
    assert status == 422


def test_the_member_page_links_each_cta_to_its_crm_record(console: Console) -> None:
    status, page, _ = console.request("GET", f"/renewals/members/{MEMBER}", "viewer")
    assert status == 200
    assert f'<a href="{SF_URL}" rel="noopener">Open in Salesforce</a>' in page
    assert "javascript:x" not in page, "only https links"


@pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason=f"{CHROMIUM} is missing (make browser installs it)")
def test_staff_retry_a_parked_event_in_the_browser(console: Console) -> None:
    from playwright.sync_api import expect

    from tests.integration.test_console_browser import accessibility_violations

    with closing(connect(console.ops_uri, autocommit=True)) as ops:  # parked again, whatever ran before
        ops.execute("update renewals.sync_deliveries set status = 'parked' where event_id = 1")
    with browser_page(console.url) as page:
        log_in(page, "admin", "/renewals/sync")
        row = page.locator("#parked tr", has_text=MEMBER)
        expect(row).to_contain_text("300")
        assert accessibility_violations(page) == []
        shot(page, "20-sync-parked")
        row.get_by_role("button", name="Retry").click()
        expect(page.locator("#flash")).to_contain_text("sent again by the next run (by admin)")
        shot(page, "21-sync-retried")
