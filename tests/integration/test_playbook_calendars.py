"""Walk every playbook's calendar day by day, from before its first step to after its last,
for several gate histories, and compare each day's actions with the seeds' rules.

The expected actions come from small oracles written here from the written renewal processes (the seeds),
independently of the playbook files; facts (intent, payment, decline, contact) are recorded in
the warehouse on the day they happen, as they would be in real life.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

import pytest

from devenv.inprocess import run_day
from tests.conftest import moment

pytestmark = pytest.mark.slow  # minutes: in make test, not in make test-quick

R = date(2027, 6, 16)  # every subscription here renews on this day (a Wednesday)
NR, INTENT, PAID, DECLINED = "no_response", "intent_confirmed", "paid", "declined"
OPEN = (NR, INTENT)


@dataclass
class Case:
    """A subscription with a gate history: {day offset from R: facts recorded that day}."""

    subscription_id: str
    playbook: str
    fields: dict = field(default_factory=dict)
    history: dict[int, dict] = field(default_factory=dict)
    roles: tuple[str, ...] = ("primary", "billing")

    def fact_day(self, name: str) -> int | None:
        days = [offset for offset, facts in self.history.items() if name in facts]
        return min(days) if days else None

    def gate(self, offset: int) -> str:
        for gate, fact in ((PAID, "paid_at"), (DECLINED, "declined_at"), (INTENT, "intent_confirmed_at")):
            happened = self.fact_day(fact)
            if happened is not None and happened <= offset:
                return gate
        return NR


def first_business_day(year: int, month: int) -> date:
    day = date(year, month, 1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


NOTICE_DAY = (
    first_business_day(
        2027,
        4,
    )
    - R
).days  # two months before June: April


def membership(case: Case, offset: int) -> set[str]:
    g, tier, member_type = case.gate(offset), case.fields.get("tier"), case.fields.get("member_type")
    expected = set()
    if g in OPEN:
        expected |= {
            -180: {"bizdev_outreach"},
            -90: {"renewal_review"}
            | {
                "cosai_sponsor": {"checkin_call_sponsor"},
                "premier": {"checkin_call_sponsor_premier"},
                "high_value": {"checkin_call_sponsor_premier"},
                "high_contributing_individual": {"checkin_call_individual"},
            }.get(tier, set()),
            -14: {"risk_cta"},
            1: {"overdue_notice_1", "risk_cta_overdue"},
            15: {"overdue_notice_15"},
            30: {"overdue_notice_30"},
            60: {"overdue_notice_60", "risk_cta_termination"},
        }.get(offset, set())
    if g == NR:
        expected |= {
            -30: {"renewal_confirmation"},
            -15: {"renewal_reminder_15"},
            -1: {"renewal_reminder_1"},
            0: {"renewal_reminder_0"},
        }.get(offset, set())
        if offset == NOTICE_DAY:
            expected.add("renewal_notice")
    if g == INTENT:
        expected |= {
            -30: {"payment_reminder_30"},
            -15: {"payment_reminder_15"},
            -1: {"payment_reminder_1"},
            0: {"payment_reminder_0"},
        }.get(offset, set())
        if offset == case.fact_day("intent_confirmed_at"):
            expected.add("invoice_task")
    if g == PAID and offset == case.fact_day("paid_at"):
        expected |= {"receipt", "renewed_close_ctas"}
    if g == DECLINED and offset == 1:
        expected |= {
            "offboarding_start",
            "offboarding_thanks",
            "offboarding_group_notice",
            "offboarding_deactivation",
            "offboarding_reactivation",
            "offboarding_alert",
            "offboarding_close_ctas",
        }
        if member_type == "OP":
            expected.add("offboarding_handoff")
    return expected


def contract(case: Case, offset: int) -> set[str]:
    g = case.gate(offset)
    if g == NR and offset in (-60, -30, -7):
        return {{-60: "contract_acknowledgement", -30: "contract_reminder", -7: "contract_expiry_notice"}[offset]}
    if offset == 7 and g != PAID:
        return {"contract_appreciation"}
    return set()


SALES_CALL_DAYS = (1, 4, 5, 6, 7, 8, 10, 12, 15, 17, 19, 22, 24, 26)


def sales(case: Case, offset: int) -> set[str]:
    g = case.gate(offset)
    assigned = case.fields["assigned_offset"]
    n = offset - assigned + 1  # the hand-over is day 1
    contact = case.fact_day("last_contact_at")
    contacted = contact is not None and contact <= offset
    engaged = case.fields.get("in_negotiation", False)
    expected = set()
    if g in OPEN and n >= 1:
        if not contacted:
            if n in SALES_CALL_DAYS:
                expected.add(f"sales_call_day_{n}")
            expected |= {
                2: {"sales_no_activity_flag"},
                3: {"sales_followup_email"},
                14: {"sales_cancellation_email"},
            }.get(n, set())
        if n == 30 and not engaged:
            expected |= {"sales_move_out", "sales_move_out_notice"}
    if offset == 7 and g != PAID and case.fields.get("hosted_site"):
        expected.add("site_takedown_notice")
    return expected


def low_touch(case: Case, offset: int) -> set[str]:
    if case.gate(offset) not in OPEN:
        return set()
    return {
        -60: {"low_touch_notice_60"},
        -30: {"low_touch_notice_30"},
        -14: {"low_touch_risk"},
        -7: {"low_touch_notice_7"},
        1: {"low_touch_risk_overdue", "termination_notice"},
        30: {"low_touch_termination"},
    }.get(offset, set())


ORACLES: dict[str, Callable[[Case, int], set[str]]] = {
    "membership": membership,
    "contract": contract,
    "sales": sales,
    "low_touch": low_touch,
}

CASES = [
    # membership: no response at all; intent then payment; intent and never paying; paid early;
    # a decline (OP and TC); declined, then paid after all
    Case("M-SILENT", "membership", {"tier": "premier", "member_type": "TC"}),
    Case(
        "M-PAYS",
        "membership",
        {"tier": "cosai_sponsor", "member_type": "TC"},
        {-20: {"intent_confirmed_at"}, -5: {"paid_at", "invoice_number"}},
    ),
    Case(
        "M-PROMISES",
        "membership",
        {"tier": "high_contributing_individual", "member_type": "OP"},
        {-45: {"intent_confirmed_at"}},
    ),
    Case("M-EARLY", "membership", {"tier": "standard", "member_type": "TC"}, {-100: {"paid_at", "invoice_number"}}),
    Case("M-LEAVES-OP", "membership", {"tier": "high_value", "member_type": "OP"}, {-10: {"declined_at"}}),
    Case("M-LEAVES-TC", "membership", {"tier": "standard", "member_type": "TC"}, {-3: {"declined_at"}}),
    Case(
        "M-COMES-BACK",
        "membership",
        {"tier": "standard", "member_type": "OP"},
        {-10: {"declined_at"}, 5: {"paid_at", "invoice_number"}},
    ),
    # contract: silent; paid after the acknowledgement; declined before the expiry notice
    Case("C-SILENT", "contract"),
    Case("C-PAYS", "contract", history={-40: {"paid_at"}}),
    Case("C-DECLINES", "contract", history={-20: {"declined_at"}}),
    # sales: never reached (hosted site); contact on day 5; in negotiation and paying before expiry
    Case("SA-GHOST", "sales", {"assigned_offset": -40, "hosted_site": True}),
    Case("SA-TALKS", "sales", {"assigned_offset": -40, "hosted_site": True}, {-36: {"last_contact_at"}}),
    Case("SA-DEAL", "sales", {"assigned_offset": -35, "hosted_site": True, "in_negotiation": True}, {-2: {"paid_at"}}),
    # low-touch: never renews; pays before the risk CTA; pays ten days late
    Case("L-LAPSES", "low_touch"),
    Case("L-PAYS", "low_touch", history={-20: {"paid_at"}}),
    Case("L-LATE", "low_touch", history={10: {"paid_at"}}),
]


def record(world, case: Case, offset: int) -> None:
    """The facts of the day, as the warehouse would receive them."""
    when = moment(R + timedelta(days=offset))
    values = {}
    for name in case.history.get(offset, ()):
        values[name] = f"INV-{case.subscription_id}" if name == "invoice_number" else when
    if values:
        world.update(case.subscription_id, **values)


@pytest.mark.timeout(900)
def test_every_playbook_day_by_day(world, resources, ops):
    for case in CASES:
        fields = {key: value for key, value in case.fields.items() if key != "assigned_offset"}
        if "assigned_offset" in case.fields:
            fields["assigned_at"] = R + timedelta(days=case.fields["assigned_offset"])
        if case.playbook != "membership":
            fields.setdefault("tier", None)
            fields.setdefault("member_type", None)
        world.subscription(case.subscription_id, R, playbook=case.playbook, roles=case.roles, **fields)

    first, last = -185, 65
    mismatches = []
    for offset in range(first, last + 1):
        for case in CASES:
            record(world, case, offset)
        run = run_day(resources, R + timedelta(days=offset))
        actual = set(
            ops.execute(
                "select subscription_id, touchpoint from renewals.delivery_attempts where run_id = %s"
                " and outcome = 'sent'",
                (run.run_id,),
            ).fetchall()
        )
        expected = {(case.subscription_id, tp) for case in CASES for tp in ORACLES[case.playbook](case, offset)}
        if actual != expected:
            mismatches.append((offset, sorted(actual - expected), sorted(expected - actual)))
    days = last - first + 1
    print(f"walked {days} days x {len(CASES)} subscriptions; mismatching days: {len(mismatches)}")
    assert mismatches == [], "\n".join(f"day {o:+d}: unexpected {u}, missing {m}" for o, u, m in mismatches)
    # and nothing went out twice over the whole walk
    twice = ops.execute(
        "select subscription_id, touchpoint from renewals.delivery_attempts where outcome = 'sent'"
        " group by 1, 2 having count(*) > 1"
    ).fetchall()
    assert twice == []
