"""`stackctl schema` publishes the manifest's JSON Schema; `init` points new manifests at it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from tests.conftest import REPO, run_cli

from stackctl import yamlsrc

jsonschema = pytest.importorskip("jsonschema")  # a dependency of moto[server] in the dev extra


@pytest.fixture(scope="module")
def schema() -> dict:
    result = run_cli("schema")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_schema_is_described_and_written_as_manifests_are(schema):
    assert schema["title"] == "stackctl stack manifest (apiVersion stackctl/v1)"
    assert schema["$id"] == "urn:stackctl-ml:schema:stack:v1"
    jsonschema.Draft202012Validator.check_schema(schema)
    component = schema["$defs"]["ComponentSpec"]["properties"]
    assert "with" in component and "with_" not in component  # by alias
    assert schema["properties"]["metadata"]["description"] == "the stack's name, labels and ttl"


@pytest.mark.parametrize("stack", sorted((REPO / "stacks").glob("*.yaml")), ids=lambda p: p.name)
def test_bundled_stacks_are_valid_against_it(schema, stack: Path):
    # read as stackctl reads it: a key `on:` is the field on (YAML 1.1's safe_load would make it True)
    jsonschema.validate(yamlsrc.load(stack).data, schema)


def test_it_rejects_what_validate_rejects(schema):
    data = yaml.safe_load((REPO / "stacks" / "local.yaml").read_text())
    data["target"]["kind"] = "awz"
    data["metadata"]["name"] = "Bad_Name"
    data["components"]["tracking"]["uses"] = "x"
    errors = {e.json_path for e in jsonschema.Draft202012Validator(schema).iter_errors(data)}
    # $.target too: no member of the target union (one model per kind) matches
    assert errors == {"$.target", "$.target.kind", "$.metadata.name", "$.components.tracking"}


def test_schema_out_writes_the_same_document(tmp_path, schema):
    result = run_cli("schema", "--out", str(tmp_path / "s.json"))
    assert result.returncode == 0 and f"wrote {tmp_path / 's.json'}" in result.stdout
    assert json.loads((tmp_path / "s.json").read_text()) == schema


def test_init_writes_the_modeline_and_the_schema_beside_the_manifest(tmp_path, monkeypatch, schema):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "stacks").mkdir()
    result = run_cli("init", "demo", "-o", "stacks/demo.yaml")
    assert result.returncode == 0, result.stderr
    assert "wrote stacks/demo.yaml (and stacks/stackctl.schema.json, so editors check it as you type)" in result.stdout
    text = (tmp_path / "stacks" / "demo.yaml").read_text()
    assert text.splitlines()[0] == "# yaml-language-server: $schema=./stackctl.schema.json"
    assert json.loads((tmp_path / "stacks" / "stackctl.schema.json").read_text()) == schema
    jsonschema.validate(yaml.safe_load(text), schema)
