"""The published JSON Schema of a playbook file (what editors validate the YAML with) is the
loader's own model: the committed file equals the model's schema, every shipped playbook passes
it and names it in its modeline, and a file the loader refuses the schema refuses too."""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml

from renewals.config import Settings
from renewals.playbooks import PlaybookError, load_playbooks
from renewals.playbooks.schema import SCHEMA_PATH, json_schema, json_schema_text

SHIPPED = sorted(Settings().playbook_dir.glob("*.yaml"))


def test_the_committed_schema_is_the_models_schema():
    assert SCHEMA_PATH.read_text() == json_schema_text(), "run `make playbook-schema` and commit the file"


@pytest.mark.parametrize("path", SHIPPED, ids=lambda path: path.name)
def test_every_shipped_playbook_passes_the_schema_and_names_it_for_editors(path):
    text = path.read_text()
    jsonschema.validate(yaml.safe_load(text), json.loads(SCHEMA_PATH.read_text()))
    assert text.startswith(f"# yaml-language-server: $schema={SCHEMA_PATH.name}\n")


@pytest.mark.parametrize(
    "change",
    [
        {"colour": "blue"},
        {"touchpoints": [{"key": "x", "due": {"days": -30}, "gates": ["maybe"], "to": ["primary"], "template": "t"}]},
        {"touchpoints": [{"key": "x", "due": {"days": -1000}, "gates": ["paid"], "to": ["primary"], "template": "t"}]},
        {"touchpoints": [{"key": "x", "due": {"days": 1}, "gates": ["paid"], "to": ["ceo"], "template": "t"}]},
    ],
)
def test_the_schema_refuses_what_the_loader_refuses(change, tmp_path):
    document = {"name": "trial", "touchpoints": [{"key": "x", "due": {"days": -30}, "gates": ["paid"]}]} | change
    (tmp_path / "trial.yaml").write_text(yaml.safe_dump(document))
    with pytest.raises(PlaybookError):
        load_playbooks(tmp_path)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, json_schema())
