"""Hostile manifests: whatever the bytes, `stackctl validate` exits 0 or 2, with no traceback, a short
answer, in bounded time and memory.

The generators are mutations of a valid manifest (text and tree), YAML-ish noise, random bytes, and
the shapes that break YAML loaders: deep nesting, recursive aliases, alias bombs. Most cases run the
real entry point (`stackctl.app:main`) in-process; the ones that could eat the machine when a bound
is missing run in a child limited to 1 GB of address space.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import run_inprocess, run_limited
from tests.unit.test_manifest import GOOD

MAX_OUTPUT = 20_000  # bytes: one screen of problems, never the input echoed back
MAX_SECONDS = 5.0
RAW_PYDANTIC = ("Input should be", "String should match", "Dictionary should have", "valid dictionary or instance of")
# derandomized: the same cases on every run (a CI failure reproduces); no example database in the checkout
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
                database=None)


def assert_sane(code: int, output: str, seconds: float) -> None:
    assert code in (0, 2), f"exit {code}:\n{output[:3000]}"
    assert "Traceback" not in output, output[-3000:]
    assert len(output.encode()) < MAX_OUTPUT, f"{len(output)} bytes of output:\n{output[:2000]}"
    assert seconds < MAX_SECONDS, f"{seconds:.1f}s"
    for phrase in RAW_PYDANTIC:
        assert phrase not in output, output


def check(tmp: Path, content: bytes | str) -> str:
    path = tmp / "stack.yaml"
    path.write_bytes(content.encode("utf-8", "surrogatepass") if isinstance(content, str) else content)
    code, output, seconds = run_inprocess(path)
    assert_sane(code, output, seconds)
    return output


# ---- generators ----

YAMLISH = st.lists(st.sampled_from(list("abcz019 -_:{}[],&*!|>'\"#%@`?<\n\t.~") + ["  ", "\n  ", ": ", "<<"]),
                   max_size=120).map("".join)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**30, 10**30), st.floats(allow_nan=False),
                    st.text(max_size=80), st.sampled_from(["local", "aws", "awz", "stackctl/v1", "Stack", "3.17",
                                                           "store", "tracker", "10m", "8h", "-1", "", "~",
                                                           "eu_west", "us-east-1", "s3", "a10g", "mlflow", "x" * 70]))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.one_of(st.text(max_size=12), st.sampled_from(
        ["use", "with", "kind", "name", "version", "connect", "depends_on", "gpu", "count", "type", "region",
         "labels", "ttl", "timeout", "enabled", "scenarios", "bucket", "endpoint", "allow_from"])), inner,
        max_size=4)), max_leaves=12)
PATHS = [("apiVersion",), ("kind",), ("metadata",), ("metadata", "name"), ("metadata", "labels"), ("target",),
         ("target", "kind"), ("components",), ("components", "storage"), ("components", "tracking", "use"),
         ("components", "tracking", "with"), ("components", "tracking", "with", "workers"),
         ("components", "tracking", "version"), ("smoke",), ("backend",), ("target", "gpu"), ("target", "region"),
         ("target", "gpu", "type"), ("target", "gpu", "count"), ("target", "endpoint"), ("target", "allow_from"),
         ("backend", "kind"), ("backend", "bucket"), ("metadata", "ttl"), ("smoke", "scenarios"),
         ("components", "tracking", "connect"), ("components", "tracking", "depends_on")]


BUNDLED = sorted((Path(__file__).resolve().parents[2] / "stacks").glob("*.yaml"))


@st.composite
def tree_mutations(draw, base: str = GOOD) -> str:
    """A valid manifest with values replaced (or added) by something random: the validator's job."""
    data = yaml.safe_load(base)
    for _ in range(draw(st.integers(1, 3))):
        loc = draw(st.sampled_from(PATHS))
        node = data
        for part in loc[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[loc[-1]] = draw(VALUES)
    return yaml.safe_dump(data, allow_unicode=True)


@st.composite
def text_mutations(draw) -> str:
    """The valid manifest's text with a slice deleted, replaced or duplicated: the loader's job."""
    text = GOOD
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(text)))
        j = draw(st.integers(i, min(len(text), i + 40)))
        op = draw(st.sampled_from(["delete", "insert", "duplicate"]))
        if op == "delete":
            text = text[:i] + text[j:]
        elif op == "insert":
            text = text[:i] + draw(YAMLISH) + text[i:]
        else:
            text = text[:j] + text[i:j] + text[j:]
    return text


def nested(depth: int, kind: str) -> str:
    if kind == "flow-seq":
        return "[" * depth + "]" * depth
    if kind == "flow-map":
        return "{a: " * depth + "1" + "}" * depth
    if kind == "block-seq":
        return "".join("  " * i + "-\n" for i in range(depth)) + "  " * depth + "x\n"
    return "".join("  " * i + f"k{i}:\n" for i in range(depth)) + "  " * depth + "x\n"


def alias_bomb(levels: int = 9, width: int = 9) -> str:
    lines = ["a: &a [\"lol\"]"]
    for i in range(1, levels):
        lines.append(f"{chr(97 + i)}: &{chr(97 + i)} [{', '.join('*' + chr(96 + i) for _ in range(width))}]")
    return "\n".join(lines) + "\n"


# ---- properties ----

@FUZZ
@given(text=tree_mutations())
def test_tree_mutations(tmp_path_factory, fixture_catalog, text):
    check(tmp_path_factory.mktemp("t"), text)


@FUZZ
@given(text=st.sampled_from(BUNDLED).flatmap(lambda p: tree_mutations(p.read_text())))
def test_bundled_stack_mutations_with_the_real_catalog(tmp_path_factory, text):
    check(tmp_path_factory.mktemp("t"), text)


@FUZZ
@given(text=text_mutations())
def test_text_mutations(tmp_path_factory, fixture_catalog, text):
    check(tmp_path_factory.mktemp("t"), text)


@FUZZ
@given(text=YAMLISH)
def test_yamlish_noise(tmp_path_factory, fixture_catalog, text):
    check(tmp_path_factory.mktemp("t"), text)


@FUZZ
@given(data=st.binary(max_size=300) | st.builds(lambda b, i: GOOD.encode()[:i] + b + GOOD.encode()[i:],
                                                 st.binary(min_size=1, max_size=8), st.integers(0, len(GOOD))))
def test_random_bytes(tmp_path_factory, fixture_catalog, data):
    check(tmp_path_factory.mktemp("t"), data)


@settings(FUZZ, max_examples=12)
@given(depth=st.integers(1, 3000), kind=st.sampled_from(["flow-seq", "flow-map", "block-seq", "block-map"]))
def test_deep_nesting(tmp_path_factory, fixture_catalog, depth, kind):
    check(tmp_path_factory.mktemp("t"), GOOD + "extra: " + nested(depth, kind).replace("\n", "\n  "))


@pytest.mark.parametrize("text", [alias_bomb(), alias_bomb(levels=30, width=2), nested(5000, "flow-seq"),
                                  "labels: &r {a: *r}\n", "x: &r [*r, *r]\n", nested(2000, "block-seq")],
                         ids=["billion-laughs", "binary-bomb", "deep-5000", "recursive-map", "recursive-seq",
                              "deep-block"])
def test_hostile_shapes_fail_fast_in_bounded_memory(tmp_path, fixture_catalog, text):
    path = tmp_path / "stack.yaml"
    path.write_text(text)
    code, output, seconds = run_limited(path)
    assert code == 2, output[-3000:]
    assert_sane(code, output, seconds)
    assert "stack.yaml:" in output
