"""Regressions from the hostile-manifest report: each case fails fast, with file:line and a fix.

The shapes that could exhaust memory (alias bombs, deep nesting) run in a child capped at 1 GB.
"""

from __future__ import annotations

import pytest
from tests.conftest import run_inprocess, run_limited
from tests.unit.test_manifest import GOOD, _fails
from tests.unit.test_manifest_fuzz import alias_bomb, nested


def _limited(tmp_path, text: str) -> str:
    path = tmp_path / "stack.yaml"
    path.write_text(text)
    code, output, seconds = run_limited(path)
    assert code == 2 and "Traceback" not in output, output[-2000:]
    assert seconds < 10 and len(output) < 2000, (seconds, output)
    return output


def test_billion_laughs_is_refused_quickly(tmp_path, fixture_catalog):
    out = _limited(tmp_path, alias_bomb())
    assert "stack.yaml:6: the document expands to more than 100,000 values through aliases (an alias bomb?)" in out
    assert "fix: use fewer aliases: each use copies the anchored value" in out


@pytest.mark.parametrize("text", ["labels: &r {a: *r}\n", "x: &r [1, *r]\n", "a: &r\n  b:\n    <<: *r\n"])
def test_recursive_alias(tmp_path, fixture_catalog, text):
    out = _limited(tmp_path, text)
    assert "recursive alias" in out and "stack.yaml:" in out


@pytest.mark.parametrize("kind", ["flow-seq", "flow-map", "block-seq", "block-map"])
def test_deep_nesting(tmp_path, fixture_catalog, kind):
    out = _limited(tmp_path, nested(1000, kind))
    line = {"block-seq": 65, "block-map": 64}.get(kind, 1)  # where the 65th level starts
    assert f"stack.yaml:{line}: nested more than 64 levels deep" in out


def test_nesting_through_alias_chains_is_bounded(write, fixture_catalog):
    chain = "a0: &a0 [1]\n" + "".join(f"a{i}: &a{i} [*a{i - 1}]\n" for i in range(1, 100))
    _fails(write(chain), "aliases nest the document more than 64 levels deep")


def test_merge_keys_follow_yaml(write, fixture_catalog):
    # tracking takes storage's `use`... then overrides it: its own keys win over the merged ones
    text = GOOD.replace("  storage:\n    use: store\n", "  storage: &base\n    use: store\n").replace(
        "  tracking:\n    use: tracker\n", "  tracking:\n    <<: *base\n    use: tracker\n")
    code, out, _ = run_inprocess(write(text))
    assert code == 0, out
    merged = text.replace("    <<: *base\n    use: tracker\n", "    <<: [{use: tracker}, *base]\n")
    code, out, _ = run_inprocess(write(merged))  # earlier merges win over later ones: `use` from the first
    assert code == 0, out
    code, out, _ = run_inprocess(write(merged.replace("{use: tracker}, *base", "*base, {use: tracker}")))
    assert code == 2 and "stack.yaml:12 components.tracking.with.workers: unknown input" in out  # store's


def test_merges_of_merges_are_flattened(write, fixture_catalog):
    text = GOOD.replace("  storage:\n    use: store\n", "  storage: &s\n    use: store\n").replace(
        "  tracking:\n    use: tracker\n", "  tracking:\n    <<: {<<: *s, use: tracker}\n")
    code, out, _ = run_inprocess(write(text))
    assert code == 0, out


def test_merge_bombs_and_chains_are_bounded(tmp_path, fixture_catalog):
    bomb = "m0: &m0 {a: 1}\n" + "".join(f"m{i}: &m{i} {{<<: [*m{i - 1}, *m{i - 1}], k{i}: 1}}\n" for i in range(1, 40))
    assert "values through merge keys" in _limited(tmp_path, bomb)
    chain = "m0: &m0 {a: 1}\n" + "".join(f"m{i}: &m{i} {{<<: *m{i - 1}}}\n" for i in range(1, 3000))
    assert "merge keys nest more than 64 levels deep" in _limited(tmp_path, chain)


def test_a_key_with_a_bad_tag_is_one_problem(write, fixture_catalog):
    err = _fails(write(GOOD.replace("workers: 2", "!!int two: 2")), "(1 problem)",
                 "stack.yaml:12 components.tracking.with: 'two' cannot be read as !!int")
    assert "plain names" not in err


def test_merged_value_errors_point_at_their_source_line(write, fixture_catalog):
    text = GOOD.replace("  storage:\n    use: store\n", "  storage:\n    use: store\n    with: &w {workerz: 1}\n")
    text = text.replace("    with: {workers: 2}\n", "    with:\n      <<: *w\n")
    _fails(write(text), "stack.yaml:10 components.storage.with.workerz: unknown input",
           "stack.yaml:10 components.tracking.with.workerz: unknown input", "did you mean workers?")


def test_merge_key_needs_a_mapping(write, fixture_catalog):
    _fails(write(GOOD.replace("    use: store\n", "    use: store\n    <<: 3\n")),
           "stack.yaml:10 components.storage.<<: a merge key `<<` takes a mapping or a list of mappings",
           "fix: write `<<: *anchor` (or `<<: [*one, *two]`) where each anchor names a mapping")


def test_bad_tag_names_its_line(write, fixture_catalog):
    _fails(write(GOOD.replace("workers: 2", "workers: !!int two")),
           "stack.yaml:12 components.tracking.with.workers: 'two' cannot be read as !!int",
           "fix: remove the !!int tag, or give a value of that type")


def test_invalid_utf8_names_line_and_column(tmp_path, fixture_catalog, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "stack.yaml").write_bytes(GOOD.encode().replace(b"name: demo", b"name: d\xffmo"))
    _fails("stack.yaml", "stack.yaml:4: not valid UTF-8: byte 0xff at column 10", "fix: save the file as UTF-8")


def test_nul_byte_names_its_line(write, fixture_catalog):
    _fails(write(GOOD.replace("kind: local", "kind: lo\0cal")),
           "stack.yaml:6: the character '\\x00' is not allowed in YAML")


def test_oversized_file(write, fixture_catalog):
    _fails(write(GOOD + "#" * (1 << 20)), f"stack.yaml:1: stack manifest is {len(GOOD) + (1 << 20):,} bytes; "
           "the limit is 1,048,576 bytes (1 MiB)")


def test_a_file_just_under_the_limit_is_answered_in_seconds(tmp_path, fixture_catalog):
    labels = "".join(f"    k{i}: v{i}\n" for i in range(70_000))[: (1 << 20) - len(GOOD) - 20].rsplit("\n", 1)[0]
    path = tmp_path / "stack.yaml"
    path.write_text(GOOD.replace("  name: demo\n", "  name: demo\n  labels:\n" + labels + "\n"))
    code, out, seconds = run_limited(path)
    assert code == 0 and "valid" in out, out[-2000:]
    assert seconds < 15, seconds  # ~3 s here, on a busy machine


def test_endless_file_is_not_read_whole(fixture_catalog):
    _fails("/dev/zero", "/dev/zero:1: stack manifest is too large; the limit is 1,048,576 bytes (1 MiB)")


def test_directory_is_not_a_manifest(tmp_path, fixture_catalog):
    _fails(tmp_path, f"{tmp_path}: cannot read stack manifest: Is a directory")


def test_many_problems_print_twenty_then_count(write, fixture_catalog):
    code, err, _ = run_inprocess(write(GOOD + "".join(f"k{i}: 1\n" for i in range(2473))))
    assert code == 2 and "stack.yaml is invalid (2473 problems):" in err
    assert err.count("unknown key") == 20 and "stack.yaml:32 k19: unknown key" in err
    assert err.rstrip().endswith("  … and 2453 more (fix these first)")
    assert len(err.splitlines()) == 42


def test_huge_key_and_value_are_shortened(write, fixture_catalog):
    err = _fails(write(GOOD + "? " + "k" * 1_000_000 + "\n: 1\n"), "stack.yaml:13 kkkkk", "…: unknown key")
    assert len(err) < 1000
    err = _fails(write(GOOD.replace("use: tracker", "use: " + "t" * 1_000_000)), "unknown component 'tttt")
    assert len(err) < 1000


def test_non_string_keys_are_names(write, fixture_catalog):
    code, out, _ = run_inprocess(write(GOOD.replace("  name: demo\n", "  name: demo\n  labels: {8080: a, 1.5: b}\n")))
    assert code == 0, out


def test_target_kind_did_you_mean(write, fixture_catalog):
    _fails(write(GOOD.replace("kind: local", "kind: awz")),
           "stack.yaml:6 target.kind: got 'awz'; expected one of local, aws",
           "fix: did you mean aws?")


def test_api_version_is_echoed(write, fixture_catalog):
    _fails(write(GOOD.replace("apiVersion: stackctl/v1", "apiVersion: v9")),
           "stack.yaml:1 apiVersion: got 'v9'; expected stackctl/v1", "fix: write `apiVersion: stackctl/v1`")


def test_number_for_text_says_quote_it(write, fixture_catalog):
    _fails(write(GOOD.replace("    use: store\n", "    use: store\n    version: 3.10\n")),
           "stack.yaml:10 components.storage.version: YAML read 3.10 as a number; this field is text",
           'fix: quote it: `version: "3.10"`')


def test_missing_field_says_what_to_add(write, fixture_catalog):
    _fails(write(GOOD.replace("  name: demo\n", "  labels: {}\n")),
           "stack.yaml:3 metadata.name: is required",
           "fix: add `name:` under metadata (DNS label; keys the stack's workdir and state)")
    _fails(write(GOOD.replace("kind: Stack\n", "")), "stack.yaml:1 kind: is required",
           "fix: add `kind: Stack` (the kind of document: a Stack)")


def test_aws_region_format_is_a_problem_not_a_traceback(write, fixture_catalog):
    _fails(write(GOOD.replace("kind: local", "kind: aws\n  region: eu_west")),
           "stack.yaml:7 target.region: got 'eu_west'; an AWS region is letters, digits and '-'",
           "did you mean eu-west-")


@pytest.mark.parametrize("libyaml", [True, False], ids=["libyaml", "pure-python"])
def test_both_parsers_give_the_same_answers(tmp_path, monkeypatch, libyaml):
    from stackctl import yamlsrc
    from stackctl.errors import ManifestError

    if not libyaml:
        monkeypatch.setattr(yamlsrc, "CParser", None)
    path = tmp_path / "stack.yaml"
    cases = {alias_bomb(): "stack.yaml:6: the document expands to more than 100,000 values through aliases",
             nested(1000, "flow-seq"): "stack.yaml:1: nested more than 64 levels deep",
             "a: &r {b: *r}\n": "stack.yaml:1: this alias refers to a value that contains it",
             "a: 1\nb: [\x07]\n": "stack.yaml:2: the character '\\x07' is not allowed in YAML",
             "a: 1\nb: [\n": "stack.yaml:3: YAML syntax error"}
    for text, expected in cases.items():
        path.write_text(text)
        with pytest.raises(ManifestError) as err:
            yamlsrc.load(path)
        assert expected in str(err.value).replace(str(tmp_path) + "/", "")
    path.write_text("base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  y: 3\nk: {8080: a}\n")
    doc = yamlsrc.load(path)
    assert doc.data == {"base": {"x": 1, "y": 2}, "m": {"x": 1, "y": 3}, "k": {"8080": "a"}}
    assert doc.line_of(("m", "x")) == 1 and doc.line_of(("m", "y")) == 4
