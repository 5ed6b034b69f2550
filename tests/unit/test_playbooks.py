"""Playbooks as data: the shipped membership playbook matches the process table, and a
bad playbook file is refused with an error naming the file and the field."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from renewals.config import Settings
from renewals.decisions.gates import INTENT_CONFIRMED, NO_RESPONSE
from renewals.playbooks import Due, PlaybookError, load_playbooks


@pytest.fixture(scope="module")
def membership():
    settings = Settings()
    return load_playbooks(settings.playbook_dir, settings.template_dir)["membership"]


def test_shipped_playbooks_load_with_their_templates():
    settings = Settings()
    playbooks = load_playbooks(settings.playbook_dir, settings.template_dir)
    assert "membership" in playbooks
    for playbook in playbooks.values():
        for touchpoint in playbook.touchpoints:
            if touchpoint.channel == "email":
                for suffix in (".subject.txt", ".txt", ".html"):
                    assert (settings.template_dir / f"{touchpoint.template}{suffix}").is_file()


def test_membership_validation_rules(membership):
    rules = membership.validation_rules()
    assert set(rules["tiers"]) == {"cosai_sponsor", "premier", "high_value", "high_contributing_individual", "standard"}
    assert set(rules["member_types"]) == {"TC", "OP"}
    assert set(rules["requires"]) >= {"tier", "member_type"}


def test_renewal_notice_goes_out_in_the_notice_month_two_months_before(membership):
    notice = membership.touchpoint("renewal_notice")
    assert notice.due.anchor == "notice_month"
    assert notice.due.months_before == 2
    assert notice.due.days == 0
    assert notice.gates == (NO_RESPONSE,)
    assert set(notice.to) == {"primary", "billing"}
    assert notice.channel == "email"


def test_renewal_confirmation_asks_all_representatives_30_days_before(membership):
    confirmation = membership.touchpoint("renewal_confirmation")
    assert confirmation.due == Due(anchor="renewal_date", days=-30)
    assert confirmation.gates == (NO_RESPONSE,)
    assert set(confirmation.to) == {"primary", "billing", "committee", "pgb"}


@pytest.mark.parametrize(
    ("key", "days"), [("renewal_reminder_15", -15), ("renewal_reminder_1", -1), ("renewal_reminder_0", 0)]
)
def test_renewal_reminders_go_to_the_primary_contact_only(membership, key, days):
    reminder = membership.touchpoint(key)
    assert reminder.due == Due(anchor="renewal_date", days=days)
    assert reminder.gates == (NO_RESPONSE,)
    assert reminder.to == ("primary",)
    assert reminder.cc_teams == ()


@pytest.mark.parametrize(
    ("key", "days"),
    [("payment_reminder_30", -30), ("payment_reminder_15", -15), ("payment_reminder_1", -1), ("payment_reminder_0", 0)],
)
def test_payment_reminders_replace_the_renewal_reminders_once_intent_is_confirmed(membership, key, days):
    reminder = membership.touchpoint(key)
    assert reminder.due == Due(anchor="renewal_date", days=days)
    assert reminder.gates == (INTENT_CONFIRMED,)
    assert set(reminder.to) == {"primary", "billing"}


@pytest.mark.parametrize(
    ("key", "days"),
    [("overdue_notice_1", 1), ("overdue_notice_15", 15), ("overdue_notice_30", 30), ("overdue_notice_60", 60)],
)
def test_overdue_notices_copy_tc_op_staff(membership, key, days):
    notice = membership.touchpoint(key)
    assert notice.due == Due(anchor="renewal_date", days=days)
    assert set(notice.gates) == {NO_RESPONSE, INTENT_CONFIRMED}
    assert set(notice.to) == {"primary", "billing"}
    assert notice.cc_teams == ("tc_op",)


def test_a_paid_or_declined_member_gets_only_the_receipt_or_the_offboarding_thanks(membership):
    # Reminders stop at payment or decline; what follows is the receipt or the thank-you.
    for touchpoint in membership.touchpoints:
        if touchpoint.channel == "email" and {"paid", "declined"} & set(touchpoint.gates):
            assert (touchpoint.key, touchpoint.gates) in {("receipt", ("paid",)), ("offboarding_thanks", ("declined",))}


def test_customer_emails_form_one_sequence(membership):
    assert {touchpoint.sequence for touchpoint in membership.touchpoints if touchpoint.channel == "email"} == {
        "customer"
    }


def test_unknown_touchpoint_key_is_a_key_error(membership):
    with pytest.raises(KeyError, match="renewal_reminder_7"):
        membership.touchpoint("renewal_reminder_7")


# --- bad playbook files -----------------------------------------------------------------------

GOOD = """\
name: trial
touchpoints:
  - key: trial_notice
    due: {days: -30}
    gates: [no_response]
    to: [primary]
    template: trial/notice
"""


def write(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(dedent(text))
    return path


def templates(directory: Path, *names: str) -> Path:
    for name in names:
        for suffix in (".subject.txt", ".txt", ".html"):
            write(directory / Path(name).parent, Path(name).name + suffix, "x")
    return directory


def refused(directory: Path, template_dir: Path | None = None) -> str:
    with pytest.raises(PlaybookError) as error:
        load_playbooks(directory, template_dir)
    return str(error.value)


def test_a_good_playbook_loads(tmp_path):
    write(tmp_path / "playbooks", "trial.yaml", GOOD)
    template_dir = templates(tmp_path / "templates", "trial/notice")
    playbooks = load_playbooks(tmp_path / "playbooks", template_dir)
    touchpoint = playbooks["trial"].touchpoint("trial_notice")
    assert touchpoint.due == Due(anchor="renewal_date", days=-30)
    assert touchpoint.playbook == "trial"


def test_unknown_gate(tmp_path):
    write(tmp_path, "trial.yaml", GOOD.replace("[no_response]", "[no_response, maybe]"))
    message = refused(tmp_path)
    assert "trial.yaml" in message
    assert "trial_notice" in message
    assert "'gates'" in message
    assert "maybe" in message


def test_unknown_role(tmp_path):
    write(tmp_path, "trial.yaml", GOOD.replace("to: [primary]", "to: [primary, ceo]"))
    message = refused(tmp_path)
    assert "trial.yaml" in message
    assert "'to'" in message
    assert "ceo" in message


def test_unknown_anchor(tmp_path):
    write(tmp_path, "trial.yaml", GOOD.replace("{days: -30}", "{anchor: signup_date, days: -30}"))
    message = refused(tmp_path)
    assert "trial.yaml" in message
    assert "due.anchor" in message
    assert "signup_date" in message


def test_email_without_template(tmp_path):
    write(tmp_path, "trial.yaml", GOOD.replace("    template: trial/notice\n", ""))
    message = refused(tmp_path)
    assert "trial.yaml" in message
    assert "trial_notice" in message
    assert "'template'" in message


def test_email_without_recipients(tmp_path):
    write(tmp_path, "trial.yaml", GOOD.replace("    to: [primary]\n", ""))
    message = refused(tmp_path)
    assert "trial.yaml" in message
    assert "'to'" in message


def test_duplicate_touchpoint_key(tmp_path):
    duplicated = GOOD + GOOD.split("touchpoints:\n", 1)[1]
    write(tmp_path, "trial.yaml", duplicated)
    message = refused(tmp_path)
    assert "trial.yaml" in message
    assert "duplicate" in message
    assert "trial_notice" in message


def test_unknown_top_level_field(tmp_path):
    write(tmp_path, "trial.yaml", "colour: blue\n" + GOOD)
    message = refused(tmp_path)
    assert "trial.yaml" in message
    assert "colour" in message


def test_unknown_touchpoint_field(tmp_path):
    write(tmp_path, "trial.yaml", GOOD + "    subject: Hello\n")
    message = refused(tmp_path)
    assert "trial.yaml" in message
    assert "touchpoints[0]" in message
    assert "subject" in message


def test_missing_template_file(tmp_path):
    write(tmp_path / "playbooks", "trial.yaml", GOOD)
    template_dir = templates(tmp_path / "templates", "trial/notice")
    (template_dir / "trial" / "notice.html").unlink()
    message = refused(tmp_path / "playbooks", template_dir)
    assert "trial.yaml" in message
    assert "trial_notice" in message
    assert "notice.html" in message


def test_templates_are_not_checked_without_a_template_dir(tmp_path):
    write(tmp_path, "trial.yaml", GOOD)
    assert "trial" in load_playbooks(tmp_path)


def test_invalid_yaml(tmp_path):
    write(tmp_path, "trial.yaml", GOOD.replace("gates: [no_response]", "gates: [no_response"))
    message = refused(tmp_path)
    assert "trial.yaml" in message
    assert "YAML" in message


def test_touchpoint_key_used_by_two_playbooks(tmp_path):
    write(tmp_path, "a_trial.yaml", GOOD)
    write(tmp_path, "b_other.yaml", GOOD.replace("name: trial", "name: other"))
    message = refused(tmp_path)
    assert "b_other.yaml" in message
    assert "trial_notice" in message
    assert "'trial'" in message


def test_playbook_name_defined_twice(tmp_path):
    write(tmp_path, "a.yaml", GOOD)
    write(tmp_path, "b.yaml", GOOD.replace("trial_notice", "trial_notice_2"))
    message = refused(tmp_path)
    assert "b.yaml" in message
    assert "'trial'" in message


@pytest.mark.parametrize("days", ["-30.5", "'-30'", "true", "-1000"])
def test_due_days_must_be_a_whole_number_within_two_years(tmp_path, days):
    write(tmp_path, "trial.yaml", GOOD.replace("{days: -30}", f"{{days: {days}}}"))
    message = refused(tmp_path)
    assert "trial.yaml" in message
    assert "due.days" in message


def test_an_empty_directory_is_refused(tmp_path):
    message = refused(tmp_path)
    assert str(tmp_path) in message
