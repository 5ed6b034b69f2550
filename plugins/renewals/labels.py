"""Words for the codes people read (the console, staff emails): gates, cohorts, tiers, reasons, CTAs.

The audit schema keeps the codes (``no_response``, ``high_contributing_individual``); pages show
the label, with the code beside it where the data team needs it to write a query."""

from __future__ import annotations

TIER_LABELS = {  # the membership tiers, as members read them
    "cosai_sponsor": "CoSAI Sponsor",
    "premier": "Premier",
    "high_value": "High Value",
    "high_contributing_individual": "High Contributing Individual",
    "standard": "Standard",
}

LABELS = {
    **TIER_LABELS,
    # gates and cohorts
    "no_response": "No response yet",
    "intent_confirmed": "Intent to renew confirmed",
    "paid": "Paid",
    "declined": "Declined",
    "upcoming": "Upcoming",
    "awaiting_payment": "Awaiting payment",
    "overdue": "Overdue",
    "renewed": "Renewed",
    # playbooks and channels
    "membership": "Membership",
    "contract": "Contract",
    "sales": "Sales",
    "low_touch": "Low touch",
    "email": "Email to the member",
    "staff_email": "Email to staff",
    "cta": "CTA for staff",
    "record": "Recorded",
    # CTA types and stages whose words are not their code's
    "bizdev_opportunity": "BizDev opportunity",
    "checkin_call": "Check-in call",
    "renewal_calls": "Renewal calls",
    # staff notices named after their touchpoint
    "sales_no_activity_flag": "No activity logged since the hand-over",
    "sales_move_out_notice": "Moved out of the renewal queue",
    "offboarding_group_notice": "Offboarding",
    "offboarding_alert": "Member deactivation",
    # why not sent
    "superseded": "Superseded by a later message",
    "stale": "Too late to send",
    "opted_out": "Every recipient opted out",
    "no_recipient": "No recipient",
    "suppressed": "Every recipient suppressed",
    "gate_changed": "Gate changed before sending",
    "paused": "Automation paused",
    "cycle_changed": "Renewal date changed",
    "not_in_warehouse": "No longer in the warehouse",
    "held_by_approver": "Held by an approver",
    "approval_timed_out": "Held: no answer in time",
}


def label(code: object) -> str:
    """The label of a code; an unknown code as words ("moved_out" -> "Moved out")."""
    if code is None or code == "":
        return "—"
    text = str(code)
    return LABELS.get(text) or text.replace("_", " ").capitalize()
