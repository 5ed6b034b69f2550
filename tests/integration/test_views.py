"""The audit schema for the data team, on real PostgreSQL: every view answers on an empty schema
and after real runs, the numbers are right, every table and column is documented, and every
example query in the README and the guides in docs/ runs."""

from __future__ import annotations

import re
from datetime import date

import pytest

from devenv import inprocess
from renewals.config import PROJECT_ROOT
from renewals.pipeline import Resources
from renewals.storage.migrations import migrate
from renewals.storage.runs import RunContext
from tests.conftest import moment

DOCS = [PROJECT_ROOT / "README.md", *sorted((PROJECT_ROOT / "docs").glob("*.md"))]
NOTICE_DAY = date(2027, 1, 1)  # first business day two months before March 2027
LATER = date(2027, 1, 21)


def run_day(resources: Resources, day: date) -> RunContext:
    return inprocess.run_day(resources, day, f"views__{day.isoformat()}", finish=True)


def views(ops) -> list[str]:
    return [
        name
        for (name,) in ops.execute(
            "select table_name from information_schema.views where table_schema = 'renewals' order by 1"
        )
    ]


def rows(ops, query: str, *params) -> list[dict]:
    cursor = ops.execute(query, params)
    names = [column.name for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def example_queries() -> list[tuple[str, str]]:
    """Every statement of every ```sql block in the docs, with where it came from."""
    found = []
    for path in DOCS:
        for block in re.findall(r"```sql\n(.*?)```", path.read_text(), flags=re.S):
            for statement in block.split(";"):
                code = "\n".join(line for line in statement.splitlines() if not line.strip().startswith("--"))
                if code.strip():
                    found.append((path.name, code.strip()))
    return found


def test_every_view_answers_on_an_empty_schema(ops):
    migrate(ops)
    names = views(ops)
    assert {
        "v_funnel_by_month",
        "v_sends_by_day",
        "v_notice_to_payment",
        "v_quarantine_by_reason",
        "v_open_ctas",
    } <= set(names)
    for name in names:
        assert ops.execute(f"select * from renewals.{name}").fetchall() == []


def test_the_views_answer_the_data_teams_questions(world, resources, ops):
    for subscription_id, renewal in (("S-PAY", 15), ("S-OPEN", 20), ("S-DECL", 25)):
        world.subscription(subscription_id, date(2027, 3, renewal))
    world.subscription("S-BAD", date(2027, 3, 5), playbook="enterprise")
    run_day(resources, NOTICE_DAY)
    world.update("S-PAY", paid_at=moment(date(2027, 1, 20)), invoice_number="INV-1")
    world.update("S-DECL", declined_at=moment(date(2027, 1, 18)))
    run_day(resources, LATER)

    (funnel,) = rows(ops, "select * from renewals.v_funnel_by_month where renewal_month = '2027-03-01'")
    assert float(funnel.pop("paid_pct")) == pytest.approx(33.3)
    assert funnel == {
        "renewal_month": date(2027, 3, 1),
        "playbook": "membership",
        "renewals": 3,
        "contacted": 3,
        "confirmed": 1,
        "paid": 1,
        "declined": 1,
        "open": 1,
        "open_overdue": 0,
    }

    sends = rows(
        ops, "select * from renewals.v_sends_by_day where day = %s and touchpoint = 'renewal_notice'", NOTICE_DAY
    )
    assert [(s["playbook"], s["channel"], s["sent"], s["total"]) for s in sends] == [("membership", "email", 3, 3)]

    (payment,) = rows(ops, "select * from renewals.v_notice_to_payment")
    assert payment["subscription_id"] == "S-PAY" and payment["notice_touchpoint"] == "renewal_notice"
    assert payment["notice_on"] == NOTICE_DAY and payment["paid_on"] == date(2027, 1, 20)
    assert payment["days_notice_to_payment"] == 19 and payment["days_paid_before_renewal"] == 54

    quarantine = rows(ops, "select run_id, reason, rows from renewals.v_quarantine_by_reason order by run_id")
    assert quarantine == [
        {"run_id": f"views__{day.isoformat()}", "reason": "unknown_playbook", "rows": 1} for day in (NOTICE_DAY, LATER)
    ]

    ops.execute(
        """
        insert into renewals.ctas (cta_id, subscription_id, renewal_date, playbook, type, stage, priority,
                                   owner_team, owner_email, status, due_date)
        values ('CTA-V1', 'S-OPEN', '2027-03-20', 'membership', 'view_test', 'opened', 'high',
                'membership_staff', 'ms@example.org', 'open', '2020-01-01')
        """
    )
    (open_cta,) = rows(ops, "select * from renewals.v_open_ctas where type = 'view_test'")
    assert open_cta["open_ctas"] == 1 and open_cta["past_due"] == 1 and open_cta["priority"] == "high"

    for name in views(ops):
        ops.execute(f"select * from renewals.{name}").fetchall()


def test_renewal_cycles_change_only_with_their_facts_and_never_back(world, resources, ops):
    world.subscription("S-SAME", date(2027, 3, 15))
    world.subscription("S-PAY", date(2027, 3, 20))
    world.subscription("S-EARLY", date(2026, 12, 20), paid_at=moment(date(2026, 11, 20)))
    run_day(resources, NOTICE_DAY)
    world.update("S-PAY", paid_at=moment(date(2027, 1, 20)), invoice_number="INV-1")
    world.subscription("S-NEW", date(2027, 3, 25))
    run_day(resources, LATER)
    cycles = {r["subscription_id"]: r for r in rows(ops, "select * from renewals.renewal_cycles")}
    assert (cycles["S-SAME"]["changed_as_of"], cycles["S-SAME"]["last_run_id"]) == (NOTICE_DAY, f"views__{NOTICE_DAY}")
    assert (cycles["S-PAY"]["gate"], cycles["S-PAY"]["paid_on"], cycles["S-PAY"]["invoice_number"]) == (
        "paid",
        date(2027, 1, 20),
        "INV-1",
    )
    assert (cycles["S-PAY"]["first_seen_as_of"], cycles["S-PAY"]["changed_as_of"]) == (NOTICE_DAY, LATER)
    assert cycles["S-NEW"]["first_seen_as_of"] == LATER

    # a backfill of a day before S-EARLY paid sees it unpaid: it does not undo what the later runs saw
    run_day(resources, date(2026, 11, 10))
    (early,) = rows(
        ops, "select gate, paid_on, changed_as_of from renewals.renewal_cycles where subscription_id = 'S-EARLY'"
    )
    assert early == {"gate": "paid", "paid_on": date(2026, 11, 20), "changed_as_of": NOTICE_DAY}


def test_every_example_query_in_the_docs_runs(world, resources, ops):
    world.subscription("S-000042", date(2027, 3, 15))
    run_day(resources, NOTICE_DAY)
    queries = example_queries()
    assert len(queries) >= 8
    for source, query in queries:
        try:
            ops.execute(query).fetchall()
        except Exception as exc:  # name the query that broke
            raise AssertionError(f"{source}: example query failed: {exc}\n{query}") from exc


def test_every_table_and_column_of_the_schema_is_documented(ops):
    migrate(ops)
    documented = (PROJECT_ROOT / "docs" / "audit-schema.md").read_text()
    columns = ops.execute(
        """
        select c.table_name, c.column_name
        from information_schema.columns c
        join information_schema.tables t using (table_schema, table_name)
        where c.table_schema = 'renewals'
        order by 1, c.ordinal_position
        """
    ).fetchall()
    missing = [
        f"{table}.{column}"
        for table, column in columns
        if f"`renewals.{table}`" not in documented
        or not re.search(rf"`{re.escape(column)}`", _section(documented, f"`renewals.{table}`"))
    ]
    assert missing == []


def _section(text: str, title: str) -> str:
    """The part of the document from the heading naming ``title`` to the next heading."""
    match = re.search(rf"^#+ [^\n]*{re.escape(title)}[^\n]*$(.*?)(?=^#+ |\Z)", text, flags=re.M | re.S)
    return match.group(1) if match else ""
