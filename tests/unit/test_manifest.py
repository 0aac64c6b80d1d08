"""Broken manifests exit 2 with one-screen errors that name file:line, the field and the fix."""

from __future__ import annotations

import pytest
from tests.conftest import run_cli

GOOD = """\
apiVersion: stackctl/v1
kind: Stack
metadata:
  name: demo
target:
  kind: local
components:
  storage:
    use: store
  tracking:
    use: tracker
    with: {workers: 2}
"""


def _fails(path, *expected_lines: str, absent: tuple[str, ...] = ()):
    result = run_cli("validate", str(path))
    assert result.returncode == 2, result.stderr + result.stdout
    err = result.stderr
    assert "Traceback" not in err
    assert len(err.splitlines()) <= 24, err  # one screen
    for line in expected_lines:
        assert line in err, f"{line!r} not in:\n{err}"
    for line in absent:
        assert line not in err
    return err


def test_valid_manifest_passes(write, fixture_catalog):
    path = write(GOOD)
    result = run_cli("validate", str(path))
    assert result.returncode == 0, result.stderr
    assert "stack.yaml: valid — stack demo, 2 components, 1 wires, order: storage → tracking" in result.stdout


def test_broken_yaml_names_line(write, fixture_catalog):
    path = write(GOOD.replace("  tracking:\n", "  tracking: [\n"))
    _fails(path, "stack.yaml:", "YAML syntax error")


def test_empty_file(write, fixture_catalog):
    _fails(write(""), "stack.yaml:1: stack manifest is empty", "stackctl init")


def test_missing_file(fixture_catalog, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run_cli("validate", "nope.yaml")
    assert result.returncode == 2
    assert "nope.yaml: stack manifest not found" in result.stderr


def test_unknown_key_suggests(write, fixture_catalog):
    path = write(GOOD.replace("  tracking:\n    use: tracker", "  tracking:\n    uses: tracker"))
    _fails(path, "stack.yaml:11 components.tracking.uses: unknown key", "did you mean use?")


def test_unknown_top_level_key(write, fixture_catalog):
    _fails(write(GOOD + "smok: {timeout: 1m}\n"), "stack.yaml:13 smok: unknown key", "did you mean smoke?")


def test_unknown_component_suggests(write, fixture_catalog):
    _fails(write(GOOD.replace("use: tracker", "use: trackr")),
           "stack.yaml:11 components.tracking.use: unknown component 'trackr'", "did you mean tracker?")


def test_wrong_type(write, fixture_catalog):
    _fails(write(GOOD.replace("workers: 2", "workers: two")),
           "stack.yaml:12 components.tracking.with.workers: must be an integer, got 'two'")


def test_below_minimum(write, fixture_catalog):
    _fails(write(GOOD.replace("workers: 2", "workers: 0")), "components.tracking.with.workers: must be >= 1")


def test_unknown_input_suggests(write, fixture_catalog):
    _fails(write(GOOD.replace("workers: 2", "worker: 2")),
           "stack.yaml:12 components.tracking.with.worker: unknown input", "did you mean workers?")


def test_secret_literal_rejected(write, fixture_catalog):
    _fails(write(GOOD.replace("workers: 2", "api_key: hunter22")),
           "components.tracking.with.api_key: secrets are references, never literals",
           absent=("hunter22",))


def test_unsupported_target(write, fixture_catalog):
    """A kind not in the registry (targets/registry.py) is not a target yet: the kinds that are."""
    _fails(write(GOOD.replace("kind: local", "kind: gcp")),
           "stack.yaml:6 target.kind: got 'gcp'; expected one of local, aws", "fix: use one of: local, aws")


def test_bad_target_kind(write, fixture_catalog):
    _fails(write(GOOD.replace("kind: local", "kind: mars")),
           "stack.yaml:6 target.kind: got 'mars'; expected one of local, aws", "fix: use one of: local, aws")


def test_bad_stack_name(write, fixture_catalog):
    _fails(write(GOOD.replace("name: demo", "name: Demo_Stack")),
           "stack.yaml:4 metadata.name: got 'Demo_Stack'; expected a DNS label: lower-case letters, digits and '-', "
           "starting with a letter, at most 63 characters", "fix: rename it, e.g. demo-stack")


def test_wrong_api_version(write, fixture_catalog):
    _fails(write(GOOD.replace("stackctl/v1", "stackctl/v9")),
           "stack.yaml:1 apiVersion: got 'stackctl/v9'; expected stackctl/v1", "fix: did you mean stackctl/v1?")


def test_not_a_mapping(write, fixture_catalog):
    _fails(write("- just\n- a list\n"), "a stack manifest is a mapping")


def test_no_components(write, fixture_catalog):
    _fails(write(GOOD.split("components:")[0] + "components: {}\n"),
           "stack.yaml:7 components: is empty; it needs at least 1",
           "fix: add one: instance name -> catalog component, e.g. `tracking: {use: mlflow}` (see `stackctl catalog`)")


def test_several_problems_reported_at_once(write, fixture_catalog):
    err = _fails(write(GOOD.replace("use: store", "use: stor").replace("workers: 2", "workers: -1")),
                 "(2 problems)")
    assert "did you mean store?" in err


def test_connect_to_unknown_instance(write, fixture_catalog):
    _fails(write(GOOD + "    connect: {object_store: storag}\n"),
           "components.tracking.connect.object_store: no component instance named 'storag'", "did you mean storage?")


def test_duplicate_key(write, fixture_catalog):
    _fails(write(GOOD + "  storage:\n    use: store\n"), "stack.yaml:13 components.storage: duplicate key")


@pytest.mark.parametrize("ttl", ["8h", "30m", "2d"])
def test_ttl_accepted(write, fixture_catalog, ttl):
    path = write(GOOD.replace("  name: demo\n", f"  name: demo\n  ttl: {ttl}\n"))
    assert run_cli("validate", str(path)).returncode == 0


def test_bad_ttl(write, fixture_catalog):
    _fails(write(GOOD.replace("  name: demo\n", "  name: demo\n  ttl: soon\n")),
           "stack.yaml:5 metadata.ttl: got 'soon'; expected a duration like 30m, 8h or 2d",
           "fix: write a whole number and a unit (s, m, h or d), e.g. `ttl: 8h`")


def test_unavailable_backend_is_rejected(write, fixture_catalog):
    _fails(write(GOOD.replace("target:", "backend: {kind: gcs, bucket: b}\ntarget:")),
           "stack.yaml:5 backend.kind: the gcs state backend is not available in this version of stackctl")


def test_s3_backend_needs_a_valid_bucket_and_a_region(write, fixture_catalog):
    _fails(write(GOOD.replace("target:", "backend: {kind: s3}\ntarget:")),
           "stack.yaml:5 backend.bucket: the s3 backend needs a bucket",
           "backend.region: the s3 backend needs a region")
    _fails(write(GOOD.replace("target:", "backend: {kind: s3, bucket: No_Such, region: us-east-1}\ntarget:")),
           "backend.bucket: not a valid S3 bucket name")


def test_unavailable_target_is_rejected_clearly(write, fixture_catalog):
    """A target no bundled component supports yet: validation names the component and its targets."""
    _fails(write(GOOD.replace("kind: local", "kind: aws")), "store has no module for target 'aws'",
           "store supports: local")


def test_a_field_of_another_target_names_it_and_the_fix(write, fixture_catalog):
    """`target` is one model per kind: gpu and allow_from are aws fields, not silently taken on local."""
    _fails(write(GOOD.replace("kind: local", "kind: local\n  gpu: {type: t4}\n  allow_from: [10.0.0.0/8]")),
           "stack.yaml:7 target.gpu: kind local takes no field gpu (it is an aws field)",
           "stack.yaml:8 target.allow_from: kind local takes no field allow_from (it is an aws field)",
           "fix: remove it or set kind: aws")


def test_errors_inside_a_target_model_keep_their_place(write, fixture_catalog):
    _fails(write(GOOD.replace("kind: local", "kind: aws\n  region: 3\n  regoin: us-east-1\n  gpu: {count: 0}")),
           "stack.yaml:7 target.region: YAML read 3 as a number; this field is text",
           "stack.yaml:8 target.regoin: unknown key", "fix: did you mean region?",
           "stack.yaml:9 target.gpu.type: is required",
           "stack.yaml:9 target.gpu.count: got 0 (a number); must be at least 1",
           absent=("target.aws", "AwsConfig"))


def test_a_missing_kind_lists_the_kinds(write, fixture_catalog):
    _fails(write(GOOD.replace("  kind: local\n", "  {}\n").replace("target:\n  {}", "target: {}")),
           "stack.yaml:5 target.kind: is required",
           "fix: add `kind:` under target (where the stack runs: local or aws or ssh)")
