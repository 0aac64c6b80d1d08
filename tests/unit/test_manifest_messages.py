"""Every problem a bad manifest can produce is said in words, with a fix: never pydantic's phrasing.

The corpus puts each kind of wrong value at each field of a valid manifest, and drops each field.
"""

from __future__ import annotations

import copy

import pytest
import yaml
from tests.unit.test_manifest import GOOD

from stackctl.catalog import load_catalog
from stackctl.errors import ManifestError
from stackctl.stack import load_stack

RAW = ("Input should be", "String should match", "Dictionary should have", "valid dictionary or instance of",
       "Field required", "Value error", "Metadata", "ComponentSpec", "SmokeSettings", "Backend |")
FIELDS = [("apiVersion",), ("kind",), ("metadata",), ("metadata", "name"), ("metadata", "labels"),
          ("metadata", "labels", "team"), ("metadata", "ttl"), ("target",), ("target", "kind"), ("target", "region"),
          ("target", "endpoint"), ("target", "gpu"), ("target", "gpu", "count"), ("target", "gpu", "type"),
          ("target", "allow_from"), ("backend",), ("backend", "kind"), ("backend", "bucket"), ("components",),
          ("components", "tracking"), ("components", "tracking", "use"), ("components", "tracking", "version"),
          ("components", "tracking", "with"), ("components", "tracking", "with", "workers"),
          ("components", "tracking", "connect"), ("components", "tracking", "connect", "object_store"),
          ("components", "tracking", "depends_on"), ("smoke",), ("smoke", "timeout"), ("smoke", "enabled"),
          ("smoke", "scenarios"), ("components", "Bad-Name")]
WRONG = [None, True, 3.17, 0, -1, "awz", "Not A Name!", "", [], ["x"], {}, {"zz": 1}, "x" * 200]


def _corpus(base: dict | None = None, fields: list[tuple] = FIELDS):
    base = base or yaml.safe_load(GOOD)
    for loc in fields:
        for value in WRONG:
            data = copy.deepcopy(base)
            node = data
            for part in loc[:-1]:
                if not isinstance(node.get(part), dict):
                    node[part] = {}
                node = node[part]
            node[loc[-1]] = value
            yield f"{'.'.join(loc)}={value!r:.20}", data
        data = copy.deepcopy(base)
        node = data
        for part in loc[:-1]:
            node = node.get(part) if isinstance(node.get(part), dict) else {}
        node.pop(loc[-1], None)
        yield f"{'.'.join(loc)} dropped", data


def test_every_problem_is_in_words_with_a_fix(tmp_path, fixture_catalog):
    seen, cases = _problems_said(tmp_path, _corpus())
    assert cases > 300 and len(seen) > 25, (cases, sorted(seen))


def test_every_aws_target_problem_is_in_words_with_a_fix(tmp_path, fixture_catalog):
    """The same for the fields of the aws target's own model (on local they are another target's)."""
    base = yaml.safe_load(GOOD)
    base["target"] = {"kind": "aws", "region": "us-east-1"}
    seen, cases = _problems_said(tmp_path, _corpus(base, [f for f in FIELDS if f[:1] == ("target",)]))
    assert cases > 80 and any("an AWS region is letters" in s for s in seen), (cases, sorted(seen))


def _problems_said(tmp_path, corpus) -> tuple[set[str], int]:
    catalog = load_catalog()
    seen, cases = set(), 0
    for name, data in corpus:
        path = tmp_path / "stack.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        try:
            load_stack(path, catalog)
        except ManifestError as err:
            cases += 1
            for problem in err.problems:
                text = problem.render()
                assert problem.hint, f"{name}: no fix in {text}"
                assert not any(raw in text for raw in RAW), f"{name}: {text}"
                assert len(text) < 600, f"{name}: {text}"
                seen.add(problem.message.split(";")[-1])
    return seen, cases


@pytest.mark.parametrize("value", ["3.17", "1.10", "yes", "2"])
def test_number_for_text_keeps_what_was_written(write, fixture_catalog, value):
    path = write(GOOD.replace("    use: store\n", f"    use: store\n    version: {value}\n"))
    with pytest.raises(ManifestError) as err:
        load_stack(path, load_catalog())
    assert f'quote it: `version: "{value}"`' in str(err.value)
