"""The checks on a run's params, called directly (no database needed for these)."""

from __future__ import annotations

import copy
from datetime import date

import pytest
from airflow.exceptions import ParamValidationError
from airflow.sdk.exceptions import AirflowFailException

from renewals.config import Settings
from renewals.manual_runs import ManualRunRefused, check_params, parse_ref
from renewals.playbooks import load_playbooks
from tests.dag_file import renewals_dag

RUN_DATE = date(2026, 12, 1)


@pytest.fixture(scope="module")
def playbooks():
    settings = Settings()
    return load_playbooks(settings.playbook_dir, settings.template_dir)


def refused(playbooks, **params) -> str:
    with pytest.raises(ManualRunRefused) as refusal:
        check_params(params, RUN_DATE, playbooks)
    return str(refusal.value)


def test_a_refusal_fails_the_task_without_a_retry():
    assert issubclass(ManualRunRefused, AirflowFailException)


def test_verdicts_in_a_dry_run_are_refused_naming_the_param_and_value(playbooks):
    message = refused(playbooks, dry_run=True, release_unknown=["S-1/renewal_reminder_15"])
    assert "release_unknown=['S-1/renewal_reminder_15']" in message and "dry_run" in message
    assert "confirm_unknown" in refused(playbooks, dry_run=True, confirm_unknown=["S-1/renewal_reminder_15"])


def test_a_future_as_of_is_refused_unless_previewed_or_explicitly_allowed(playbooks):
    message = refused(playbooks, as_of="2026-12-02")
    assert "as_of=2026-12-02" in message and "2026-12-01" in message and "allow_future_as_of" in message
    check_params({"as_of": "2026-12-02", "dry_run": True}, RUN_DATE, playbooks)
    check_params({"as_of": "2026-12-02", "allow_future_as_of": True}, RUN_DATE, playbooks)
    check_params({"as_of": "2026-11-01"}, RUN_DATE, playbooks)  # the past is what as_of is for


def test_malformed_or_unknown_refs_are_refused(playbooks):
    assert "'S-1' is not of the form SUBSCRIPTION_ID/TOUCHPOINT" in refused(playbooks, release_unknown=["S-1"])
    assert "confirm_unknown: '/renewal_reminder_15'" in refused(playbooks, confirm_unknown=["/renewal_reminder_15"])
    assert "'no_such_touchpoint', which no playbook defines" in refused(
        playbooks, release_unknown=["S-1/no_such_touchpoint"]
    )


def test_the_same_send_cannot_be_both_released_and_confirmed(playbooks):
    message = refused(
        playbooks, release_unknown=["S-1/renewal_reminder_15"], confirm_unknown=[" S-1 / renewal_reminder_15"]
    )
    assert "S-1/renewal_reminder_15 is in both" in message


def test_a_ref_splits_on_the_last_slash_and_is_trimmed_like_the_extract():
    ref = parse_ref("release_unknown", " A/B-7 / renewal_reminder_15 ")
    assert (ref.subscription_id, ref.touchpoint) == ("A/B-7", "renewal_reminder_15")


def test_the_form_refuses_what_a_schema_can_and_needs_no_verdicts():
    params = renewals_dag().params
    params.validate()  # the defaults are valid: the verdict lists are optional
    assert params["release_unknown"] is None and params["confirm_unknown"] is None
    for name, bad in (
        ("release_unknown", ["S-1"]),
        ("confirm_unknown", ["S-1/"]),
        ("subscription_id", "   "),
        ("as_of", "2026-02-30"),
    ):
        with pytest.raises(ParamValidationError):
            copy.deepcopy(params)[name] = bad  # setting a param validates it, as the trigger does
    assert "preview rows" in params.get_param("dry_run").description


@pytest.mark.parametrize(
    ("conf", "label"),
    [
        ({}, None),
        ({"dry_run": False, "subscription_id": None, "as_of": None, "release_unknown": None}, None),
        ({"dry_run": True}, "Dry run"),
        ({"subscription_id": " S-1 ", "as_of": "2026-11-02"}, "One member: S-1 · As of 2026-11-02"),
        ({"as_of": "2026-12-09", "allow_future_as_of": True}, "As of 2026-12-09 (future allowed)"),
        ({"release_unknown": ["S-1/x"], "confirm_unknown": ["S-2/y"]}, "Settles 2 unknown send(s)"),
    ],
)
def test_a_manual_run_is_labelled_with_what_it_is(conf, label):
    from renewals.run_labels import labelled_note, run_label

    assert run_label(conf) == label
    if label:
        assert labelled_note(label, None) == label
        assert labelled_note(label, "why") == f"{label} · why"
        assert labelled_note(label, labelled_note(label, "why")) == f"{label} · why", "a restarted run: one label"
