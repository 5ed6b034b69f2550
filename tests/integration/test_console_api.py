"""The renewals console's JSON API and pages on the real Airflow api-server: login and
permissions from Airflow's auth manager, members, runs, unknown sends and quarantine over an
ops schema that real (in-process) runs filled."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import closing
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest

from renewals.storage.db import connect
from tests.console import DRY, EVIL, MEMBER, R_SENT, TODAY, Console, console_stack


@pytest.fixture(scope="module")
def console(pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    with console_stack(pg_server, Path(tmp_path_factory.mktemp("console"))) as stack:
        yield stack


def ledger_row(console: Console, subscription_id: str, touchpoint: str) -> tuple:
    with closing(connect(console.ops_uri, autocommit=True)) as ops:
        return ops.execute(
            "select status, sent_at is not null, last_run_id from renewals.touchpoints "
            "where subscription_id = %s and touchpoint = %s",
            (subscription_id, touchpoint),
        ).fetchone()


def verdict(outcome: str) -> dict[str, str]:
    """A verdict on the send of the renewal cycle the unknown page shows."""
    return {"verdict": outcome, "renewal_date": R_SENT.isoformat()}


READS = [
    f"/renewals/api/members/{MEMBER}",
    "/renewals/api/members?q=acme",
    "/renewals/api/runs/scheduled__today",
    "/renewals/api/unknown",
    "/renewals/api/quarantine",
]
PAGES = [
    "/renewals/",
    f"/renewals/members/{MEMBER}",
    "/renewals/runs/scheduled__today",
    "/renewals/unknown",
    "/renewals/quarantine",
]


def test_the_plugin_is_listed_with_its_app_nav_entry_and_run_tab(console: Console) -> None:
    status, body, _ = console.request("GET", "/api/v2/plugins", "admin")
    assert status == 200
    (plugin,) = [p for p in body["plugins"] if p["name"] == "renewals"]
    assert plugin["fastapi_apps"][0]["url_prefix"] == "/renewals"
    views = {view["destination"]: view["href"] for view in plugin["external_views"]}
    assert views == {"nav": "/renewals/", "dag_run": "/renewals/runs/{RUN_ID}"}


@pytest.mark.parametrize("path", READS)
def test_no_api_answers_without_login(console: Console, path: str) -> None:
    status, body, _ = console.request("GET", path)
    assert status == 401, body
    assert "members" not in body and "timeline" not in body


@pytest.mark.parametrize("path", PAGES)
def test_pages_send_a_visitor_without_login_to_the_airflow_login(console: Console, path: str) -> None:
    status, _, headers = console.request("GET", path)
    assert status == 303
    assert headers["location"].startswith("/auth/login?next=") and quote(path, safe="") in headers["location"]


def test_a_forged_token_is_refused(console: Console) -> None:
    console.tokens["forged"] = console.tokens["admin"][:-4] + "AAAA"
    status, _, _ = console.request("GET", f"/renewals/api/members/{MEMBER}", "forged")
    assert status in (401, 403)


def test_unknown_ids_answer_404_with_a_message(console: Console) -> None:
    status, body, _ = console.request("GET", "/renewals/api/members/S-NOBODY", "admin")
    assert status == 404 and "S-NOBODY" in body["detail"]
    status, body, _ = console.request("GET", "/renewals/api/runs/no_such_run", "admin")
    assert status == 404 and "no_such_run" in body["detail"]
    status, body, _ = console.request(
        "POST", "/renewals/api/unknown/S-NOBODY/renewal_confirmation", "admin", verdict("delivered")
    )
    assert status == 404 and "S-NOBODY/renewal_confirmation" in body["detail"]
    status, page, _ = console.request("GET", "/renewals/members/S-NOBODY", "admin", cookie=True)
    assert status == 404 and "no member &#39;S-NOBODY&#39;" in page


def test_member_facts_contacts_timeline_and_what_comes_next(console: Console) -> None:
    status, m, _ = console.request("GET", f"/renewals/api/members/{MEMBER}", "staff")
    assert status == 200
    facts = m["facts"]
    assert (facts["account_name"], facts["playbook"], facts["tier"], facts["gate"]) == (
        "Acme Widgets & Co",
        "membership",
        "standard",
        "no_response",
    )
    assert facts["days_to_renewal"] == 30 and facts["renewal_date"] == R_SENT.isoformat()
    assert {(c["role"], c["opted_out"]) for c in m["contacts"]} == {("primary", False), ("billing", False)}

    timeline = m["timeline"]
    assert [e["at"] for e in timeline] == sorted((e["at"] for e in timeline), reverse=True), "newest first"
    sent = [e for e in timeline if e["kind"] == "ledger" and e["touchpoint"] == "renewal_confirmation"]
    assert len(sent) == 1 and sent[0]["detail"]["message_id"].endswith("@example.org>")
    assert sent[0]["detail"]["recipients"] == [
        "billing.s-console-1@members.example.com",
        "primary.s-console-1@members.example.com",
    ]
    assert any(e["kind"] == "ledger" and e["detail"]["status"] == "skipped" for e in timeline)

    upcoming = {u["touchpoint"]: u for u in m["upcoming"]}
    assert "renewal_confirmation" not in upcoming, "what the ledger holds is not 'ahead'"
    reminder = upcoming["renewal_reminder_15"]
    assert reminder["due_date"] == (R_SENT - timedelta(days=15)).isoformat()
    preview = reminder["preview"]
    assert preview["subject"] == "Reminder: Acme Widgets & Co membership renewal due in 15 days"
    assert preview["recipients"] == ["primary.s-console-1@members.example.com"]
    assert "Dear Primary of S-CONSOLE-1" in preview["text"]
    assert "Acme Widgets &amp; Co" in preview["html"], "the template's own escaping, as sent"
    dues = [u["due_date"] for u in m["upcoming"]]
    assert dues == sorted(dues) and min(dues) >= TODAY.isoformat()


def test_search_by_subscription_id_account_name_and_contact_email(console: Console) -> None:
    def found(q: str) -> list[str]:
        status, body, _ = console.request("GET", f"/renewals/api/members?q={quote(q)}", "staff")
        assert status == 200
        return [member["subscription_id"] for member in body["members"]]

    assert found(MEMBER) == [MEMBER]
    assert found("aCmE wid") == [MEMBER], "account name prefix, any case"
    assert found("PRIMARY.s-console-1@members.example.com") == [MEMBER]
    assert found(DRY) == [DRY] and found("Dry Run") == [DRY]
    assert found("s-console-d") == [DRY], "the start of an id, any case"
    assert found("Primary of S-CONSOLE-1") == [MEMBER], "a contact's name, from the latest staged contacts"
    assert found("%") == [] and found("nobody") == []


def test_a_run_summary_and_what_a_dry_run_would_have_sent(console: Console) -> None:
    status, real, _ = console.request("GET", "/renewals/api/runs/scheduled__today", "staff")
    assert status == 200
    assert real["run"]["dry_run"] is False and real["previews"] == []
    # DRY's and EVIL's confirmations went out; MEMBER's is the unknown one (settled below)
    assert real["summary"]["sent"]["customer_emails"] == {"renewal_confirmation": 2}
    assert real["summary"]["status_totals"]["unknown"] == 1 and real["summary"]["unknown_open"] == 1
    assert real["summary"]["counts"]["subscriptions_quarantined"] == 1 and real["summary"]["quarantined"] == 1

    status, dry, _ = console.request("GET", "/renewals/api/runs/manual__dry", "staff")
    assert status == 200 and dry["run"]["dry_run"] is True
    (preview,) = dry["previews"]
    assert (preview["subscription_id"], preview["touchpoint"]) == (DRY, "renewal_confirmation")
    assert preview["subject"] == "Dry Run Holdings: membership set to renew on 1 January 2027".replace(
        "1 January 2027", f"{R_SENT.day} {R_SENT:%B %Y}"
    )
    assert "primary.s-console-dry@members.example.com" in preview["recipients"]
    assert "Dry Run Holdings" in preview["text_body"] and preview["html_body"].startswith("<!DOCTYPE html>")


def test_a_viewer_cannot_settle_an_unknown_send(console: Console) -> None:
    status, body, _ = console.request(
        "POST", f"/renewals/api/unknown/{MEMBER}/renewal_confirmation", "viewer", verdict("delivered")
    )
    assert status == 403, body
    assert ledger_row(console, MEMBER, "renewal_confirmation")[0] == "unknown"


# What only a reader with the member-data right sees: contacts' addresses and names, the texts of
# messages, and the quarantined row's own values.
PERSONAL = ["@members.example.com", "Primary of S-CONSOLE-1", "Dear ", "onerror", "no_such_playbook"]


def test_a_viewer_reads_counts_and_ids_but_no_personal_data(console: Console) -> None:
    evil = quote(EVIL, safe="")
    paths = [
        *READS,
        f"/renewals/api/runs/{console.dry_run_id}",
        f"/renewals/api/members/{evil}",
        "/renewals/api/members/S-BAD",
        "/renewals/api/outbox",
        f"/renewals/api/members?q={MEMBER}",
        "/renewals/api/sync/parked",
    ]
    for path in paths:
        status, body, _ = console.request("GET", path, "viewer")
        assert status == 200, (path, body)
        assert [p for p in PERSONAL if p in json.dumps(body)] == [], path
        assert "read on the renewals_ops connection" in body["member_data_hidden"], path
        status, body, _ = console.request("GET", path, "staff")
        assert "member_data_hidden" not in body, path

    _, m, _ = console.request("GET", f"/renewals/api/members/{MEMBER}", "viewer")
    assert m["facts"]["account_name"] == "Acme Widgets & Co" and m["facts"]["days_to_renewal"] == 30
    assert sorted((c["role"], c["email"], c["name"]) for c in m["contacts"]) == [
        ("billing", "hidden", "hidden"),
        ("primary", "hidden", "hidden"),
    ]
    sent = [e for e in m["timeline"] if e["kind"] == "ledger" and e["touchpoint"] == "renewal_confirmation"]
    assert sent[0]["detail"]["recipients"] == ["hidden"] and sent[0]["detail"]["message_id"]
    preview = {u["touchpoint"]: u for u in m["upcoming"]}["renewal_reminder_15"]["preview"]
    assert (preview["recipients"], preview["text"], preview["html"]) == (["hidden"], "hidden", "hidden")

    _, body, _ = console.request("GET", "/renewals/api/members?q=primary.s-console-1%40members.example.com", "viewer")
    assert body["members"] == [], "a viewer cannot find out whose an address is"
    _, body, _ = console.request("GET", "/renewals/api/quarantine", "viewer")
    (row,) = [row for row in body["rows"] if row["source_table"] == "subscriptions"]
    assert (row["record_id"], row["raw"]) == ("S-BAD", "hidden") and body["reasons"]
    _, run, _ = console.request("GET", "/renewals/api/runs/scheduled__today", "viewer")
    assert run["summary"]["sent"]["customer_emails"] == {"renewal_confirmation": 2}, "counts stay"


def test_a_viewers_pages_show_no_personal_data_and_say_which_right_does(console: Console) -> None:
    pages = [
        *PAGES,
        f"/renewals/runs/{console.dry_run_id}",
        f"/renewals/members/{quote(EVIL, safe='')}",
        "/renewals/members/S-BAD",
        "/renewals/members?q=acme",
        "/renewals/sync",
    ]
    for path in pages:
        status, page, _ = console.request("GET", path, "viewer", cookie=True)
        assert status == 200, path
        assert [p for p in PERSONAL if p in page] == [], path
        assert 'id="member-data-hidden"' in page and "read on the renewals_ops connection" in page, path
    status, page, _ = console.request("GET", f"/renewals/members/{MEMBER}", "staff", cookie=True)
    assert "primary.s-console-1@members.example.com" in page and 'id="member-data-hidden"' not in page


def test_a_bad_verdict_is_refused(console: Console) -> None:
    status, _, _ = console.request(
        "POST", f"/renewals/api/unknown/{MEMBER}/renewal_confirmation", "admin", verdict("maybe")
    )
    assert status == 422
    assert ledger_row(console, MEMBER, "renewal_confirmation")[0] == "unknown"


def test_delivered_marks_the_send_sent_records_who_and_shows_in_the_timeline(console: Console) -> None:
    status, body, _ = console.request("GET", "/renewals/api/unknown", "staff")
    assert [(u["subscription_id"], u["touchpoint"]) for u in body["unknown"]] == [(MEMBER, "renewal_confirmation")]

    # the UI's way: the login cookie, not a Bearer header
    status, body, _ = console.request(
        "POST", f"/renewals/api/unknown/{MEMBER}/renewal_confirmation", "admin", verdict("delivered"), cookie=True
    )
    assert status == 200 and body["decided_by"] == "admin"
    assert ledger_row(console, MEMBER, "renewal_confirmation") == ("sent", True, "console")

    _, m, _ = console.request("GET", f"/renewals/api/members/{MEMBER}", "staff")
    verdicts = [e for e in m["timeline"] if e["kind"] == "attempt" and e["detail"]["outcome"] == "confirmed"]
    assert len(verdicts) == 1 and verdicts[0]["detail"]["decided_by"] == "admin"
    assert m["timeline"][0]["kind"] in ("attempt", "ledger"), "the verdict is the newest event"

    _, body, _ = console.request("GET", "/renewals/api/unknown", "staff")
    assert body["unknown"] == []
    status, _, _ = console.request(
        "POST", f"/renewals/api/unknown/{MEMBER}/renewal_confirmation", "admin", verdict("delivered")
    )
    assert status == 404, "a settled send cannot be settled again"


def test_not_delivered_puts_the_send_back_to_pending(console: Console) -> None:
    with closing(connect(console.ops_uri, autocommit=True)) as ops:
        ops.execute(
            "update renewals.touchpoints set status = 'unknown', sent_at = null "
            "where subscription_id = %s and touchpoint = 'renewal_confirmation'",
            (EVIL,),
        )
    status, body, _ = console.request(
        "POST",
        f"/renewals/api/unknown/{quote(EVIL, safe='')}/renewal_confirmation",
        "admin",
        verdict("not_delivered"),
    )
    assert status == 200, body
    assert ledger_row(console, EVIL, "renewal_confirmation") == ("pending", False, "console")


def test_quarantine_lists_bad_rows_by_reason_with_the_raw_row(console: Console) -> None:
    status, body, _ = console.request("GET", "/renewals/api/quarantine", "staff")
    assert status == 200
    (row,) = [row for row in body["rows"] if row["source_table"] == "subscriptions"]
    assert row["record_id"] == "S-BAD" and row["raw"]["playbook"] == "no_such_playbook"
    assert {r["reason"] for r in body["reasons"] if r["source_table"] == "subscriptions"} == set(row["reasons"])
    _, member, _ = console.request("GET", "/renewals/api/members/S-BAD", "staff")
    assert [(e["kind"], e["detail"]["record_id"]) for e in member["timeline"]] == [("quarantine", "S-BAD")]


def test_pages_escape_warehouse_values_and_sandbox_html_previews(console: Console) -> None:
    status, page, _ = console.request("GET", f"/renewals/members/{quote(EVIL, safe='')}", "staff", cookie=True)
    assert status == 200
    assert "<script>alert" not in page and "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; Ltd" in page
    assert "S-CONSOLE-&lt;b&gt;X&lt;/b&gt;" in page and "<b>X</b>" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page and "<img" not in page
    assert page.count('<iframe class="preview" sandbox=""') >= 1
    assert 'srcdoc="&lt;!DOCTYPE html&gt;' in page, "the message's HTML only inside the sandboxed srcdoc"


def test_the_run_tab_and_the_lists_render(console: Console) -> None:
    status, page, _ = console.request("GET", "/renewals/runs/manual__dry", "staff", cookie=True)
    assert status == 200 and "Messages this dry run would have sent" in page and DRY in page
    status, page, _ = console.request("GET", "/renewals/quarantine", "staff", cookie=True)
    assert status == 200 and "S-BAD" in page
    status, page, _ = console.request("GET", "/renewals/members?q=acme", "staff", cookie=True)
    assert status == 200 and f"/renewals/members/{MEMBER}" in page
    status, _, headers = console.request("GET", "/renewals/?q=acme", "staff", cookie=True)
    assert status == 303 and headers["location"].endswith("/renewals/members?q=acme"), "an older search link"
    status, page, _ = console.request("GET", "/renewals/", "staff", cookie=True)
    assert status == 200 and "<h1>Outbox</h1>" in page


def test_the_member_page_shows_suppressions_of_the_members_contacts(console: Console) -> None:
    from renewals.storage import suppressions
    from tests.world import contact_email

    address = contact_email(MEMBER, "primary")
    with closing(connect(console.ops_uri, autocommit=True)) as ops:
        suppressions.add(ops, [address], "bounced", source="smtp", created_by="run test", detail="550 5.1.1")
        suppressions.add(ops, ["stranger@example.com"], "manual", source="operator", created_by="ops")
    try:
        status, body, _ = console.request("GET", f"/renewals/api/members/{MEMBER}", "staff")
        assert status == 200
        assert [(s["address"], s["scope"], s["reason"], s["source"]) for s in body["suppressions"]] == [
            (address, "all", "bounced", "smtp")
        ]
        status, page, _ = console.request("GET", f"/renewals/members/{MEMBER}", "staff", cookie=True)
        assert status == 200 and 'id="suppressions"' in page and address in page and "stranger@" not in page
    finally:
        with closing(connect(console.ops_uri, autocommit=True)) as ops:
            ops.execute("delete from renewals.suppressions")


def test_a_verdict_for_a_blank_id_is_refused_not_a_server_error(console: Console) -> None:
    for path in ("/renewals/api/unknown/%20/renewal_reminder_15", "/renewals/api/unknown/S-1/%20"):
        status, body, _ = console.request("POST", path, "admin", verdict("delivered"))
        assert status == 422 and "subscription id" in body["detail"], (path, body)


def test_a_verdict_settles_the_send_of_the_cycle_shown_not_another_cycles(console: Console) -> None:
    older = R_SENT.replace(year=R_SENT.year - 1)
    with closing(connect(console.ops_uri, autocommit=True)) as ops:
        ops.execute(
            "create temp table other_cycle as select * from renewals.touchpoints "
            "where subscription_id = %s and touchpoint = 'renewal_confirmation'",
            (EVIL,),
        )
        ops.execute("update other_cycle set renewal_date = %s, status = 'unknown', message_id = null", (older,))
        ops.execute("insert into renewals.touchpoints select * from other_cycle")
        ops.execute(
            "update renewals.touchpoints set status = 'unknown', sent_at = null "
            "where subscription_id = %s and touchpoint = 'renewal_confirmation'",
            (EVIL,),
        )
    status, body, _ = console.request(
        "POST", f"/renewals/api/unknown/{quote(EVIL, safe='')}/renewal_confirmation", "admin", verdict("delivered")
    )
    assert status == 200 and body["renewal_date"] == R_SENT.isoformat(), body
    with closing(connect(console.ops_uri, autocommit=True)) as ops:
        statuses = dict(
            ops.execute(
                "select renewal_date, status from renewals.touchpoints "
                "where subscription_id = %s and touchpoint = 'renewal_confirmation'",
                (EVIL,),
            ).fetchall()
        )
    assert statuses == {R_SENT: "sent", older: "unknown"}
