"""Wiring: requires/provides resolved into a DAG; missing, ambiguous and cyclic wiring are errors."""

from __future__ import annotations

from tests.conftest import run_cli

HEAD = """\
apiVersion: stackctl/v1
kind: Stack
metadata: {name: demo}
target: {kind: local}
components:
"""


def test_auto_wiring_and_order(write, fixture_catalog):
    path = write(HEAD + "  serving: {use: server}\n  tracking: {use: tracker}\n  storage: {use: store}\n")
    result = run_cli("validate", str(path), "--json")
    assert result.returncode == 0, result.stderr
    import json

    data = json.loads(result.stdout)
    assert data["order"] == ["storage", "tracking", "serving"]
    assert {(w["from"], w["to"], w["capability"]) for w in data["wires"]} == {
        ("storage", "tracking", "object_store"), ("tracking", "serving", "model_registry")}


def test_missing_provider_names_catalog_candidates(write, fixture_catalog):
    result = run_cli("validate", str(write(HEAD + "  tracking: {use: tracker}\n")))
    assert result.returncode == 2
    assert "stack.yaml:6 components.tracking: tracker requires object_store" in result.stderr
    assert "add a component that provides object_store: store" in result.stderr


def test_optional_requirement_left_unwired(write, fixture_catalog):
    result = run_cli("validate", str(write(HEAD + "  tracking: {use: tracker}\n  s: {use: store}\n")), "--json")
    assert result.returncode == 0, result.stderr
    assert "database" not in result.stdout


def test_ambiguous_provider_names_candidates_and_fix(write, fixture_catalog):
    path = write(HEAD + "  a: {use: store}\n  b: {use: store}\n  tracking: {use: tracker}\n")
    result = run_cli("validate", str(path))
    assert result.returncode == 2
    assert "object_store is ambiguous: a, b all provide it" in result.stderr
    assert "add `connect: {object_store: a}` to tracking" in result.stderr


def test_explicit_connect_resolves_ambiguity(write, fixture_catalog):
    path = write(HEAD + "  a: {use: store}\n  b: {use: store}\n"
                 "  tracking: {use: tracker, connect: {object_store: b}}\n")
    result = run_cli("graph", str(path))
    assert result.returncode == 0, result.stderr
    assert "  b -->|object_store| tracking" in result.stdout
    assert "  a -->|object_store| tracking" not in result.stdout


def test_connect_to_wrong_provider(write, fixture_catalog):
    path = write(HEAD + "  d: {use: db}\n  s: {use: store}\n  tracking: {use: tracker, connect: {object_store: d}}\n")
    result = run_cli("validate", str(path))
    assert result.returncode == 2
    assert "components.tracking.connect.object_store: d (db) does not provide object_store" in result.stderr
    assert "connect it to one of: s" in result.stderr


def test_connect_capability_not_required(write, fixture_catalog):
    path = write(HEAD + "  s: {use: store}\n  tracking: {use: tracker, connect: {object_stor: s}}\n")
    result = run_cli("validate", str(path))
    assert result.returncode == 2
    assert "tracker does not require 'object_stor'" in result.stderr
    assert "did you mean object_store?" in result.stderr


def test_cycle_is_an_error(write, fixture_catalog):
    path = write(HEAD + "  s: {use: store, depends_on: [tracking]}\n  tracking: {use: tracker}\n")
    result = run_cli("validate", str(path))
    assert result.returncode == 2
    assert "wiring cycle:" in result.stderr
    assert "s -> tracking -> s" in result.stderr or "tracking -> s -> tracking" in result.stderr


def test_graph_dot(write, fixture_catalog):
    path = write(HEAD + "  s: {use: store}\n  tracking: {use: tracker}\n")
    result = run_cli("graph", str(path), "--format", "dot")
    assert result.returncode == 0
    assert '  "s" -> "tracking" [label="object_store"];' in result.stdout
    assert result.stdout.startswith('digraph "demo" {')


def test_graph_bad_format(write, fixture_catalog):
    result = run_cli("graph", str(write(HEAD + "  s: {use: store}\n")), "--format", "svg")
    assert result.returncode == 2
    assert "use --format mermaid or --format dot" in result.stderr


def test_graph_shows_what_a_smoke_scenario_exercises(write, fixture_catalog):
    path = write(HEAD + "  storage: {use: store}\n  tracking: {use: tracker}\n"
                 "smoke: {scenarios: [check-wiring]}\n")
    result = run_cli("graph", str(path))
    assert result.returncode == 0, result.stderr
    assert '  check_wiring{{"check-wiring (smoke scenario)"}}' in result.stdout
    assert "  storage -.->|object_store| check_wiring" in result.stdout
    assert "  tracking -.->|model_registry| check_wiring" in result.stdout
