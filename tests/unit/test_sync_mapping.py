"""The staff systems' field mapping: the shipped file loads; a broken one is refused naming the field."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from renewals.config import Settings
from renewals.sync.events import ACTIVITY_KINDS
from renewals.sync.mapping import ACTIVITY_PLACEHOLDERS, MappingError, load_mapping

SHIPPED = Settings().sync_mapping_path


def broken(tmp_path: Path, change) -> Path:
    document = yaml.safe_load(SHIPPED.read_text())
    change(document)
    path = tmp_path / "mapping.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def test_the_shipped_mapping_loads():
    mapping = load_mapping(SHIPPED)
    assert mapping.salesforce.external_id_field == "Renewal_Key__c"
    assert mapping.hubspot.unique_property == "renewal_key"
    assert mapping.salesforce.activities.keys() == mapping.hubspot.notes.keys() == ACTIVITY_KINDS
    assert ACTIVITY_PLACEHOLDERS.keys() == ACTIVITY_KINDS, "every activity says what its records may name"


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda d: d["salesforce"]["cta_task"].update(Subject="{acount_name}"), "salesforce.cta_task.Subject"),
        (
            lambda d: d["salesforce"]["call_task"].update(Description="{message_subject}"),
            "salesforce.call_task.Description",
        ),
        (lambda d: d["salesforce"].update(external_id_field="Renewal Key"), "salesforce.external_id_field"),
        (lambda d: d["salesforce"]["opportunity"].update(Name="{account_name"), "salesforce.opportunity.Name"),
        (lambda d: d["hubspot"]["deal_stages"].update(renewed="closedwon"), "hubspot.deal_stages.renewed"),
        (lambda d: d["hubspot"]["associations"][1].update(object="tickets"), "hubspot.associations[1].object"),
        (lambda d: d["hubspot"]["associations"][0].pop("note_type_id"), "hubspot.associations[0].note_type_id"),
        (
            lambda d: d["salesforce"]["activities"]["member.answered"].update(Subject="{message_subject}"),
            "salesforce.activities.member.answered.Subject",
        ),
        (lambda d: d["hubspot"]["notes"].update({"cta.opened": {"hs_note_body": "x"}}), "hubspot.notes.cta.opened"),
        (lambda d: d["hubspot"].pop("task"), "hubspot.task"),
    ],
)
def test_a_broken_mapping_is_refused_naming_the_field(tmp_path, change, named):
    with pytest.raises(MappingError, match=re.escape(named)):
        load_mapping(broken(tmp_path, change))
