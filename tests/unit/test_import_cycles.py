"""stackctl's own modules import each other without a cycle, so each layer can be read (and loaded) alone.

Counted: every `import` of a stackctl module, at module level or inside a function. A function-level
import still needs the other module at run time; it only moves a cycle's failure from import time to
the first call, and hides that two layers depend on each other. Not counted: imports under
`if TYPE_CHECKING:` (annotations only; never executed). Importing `a.b.c` also runs the packages `a`
and `a.b` (their __init__), so those are edges too, except a module's own enclosing packages, which are
always already loading when it is.
"""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

from tests.conftest import REPO

PACKAGE = REPO / "cli" / "stackctl"


def _name(path: Path, base: Path) -> str:
    parts = path.relative_to(base).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST):
    """Import nodes, skipping the bodies of `if TYPE_CHECKING:`."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            yield from (n for child in node.orelse for n in _imports_in(child))
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        yield from _imports(node)


def _imports_in(node: ast.AST):
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        yield node
    yield from _imports(node)


def graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    modules = {_name(p, root.parent): p for p in root.rglob("*.py")}
    edges: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in _imports(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, *([base] if base else [])])
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            for target in targets:
                parts = target.split(".")
                for i in range(1, len(parts) + 1):  # the module and the packages that hold it
                    dep = ".".join(parts[:i])
                    if dep in modules and dep != name and not name.startswith(dep + "."):
                        edges[name].add(dep)
    return edges


def cycle(edges: dict[str, set[str]]) -> list[str] | None:
    try:
        TopologicalSorter(edges).prepare()
    except CycleError as err:
        return err.args[1]
    return None


def test_stackctl_has_no_import_cycle():
    found = cycle(graph())
    assert found is None, f"import cycle: {' -> '.join(found)}"


def test_a_cycle_is_found_and_named(tmp_path):
    pkg = tmp_path / "stackctl"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import c\n"
                              "def f():\n    from .sub import b\n")
    (pkg / "c.py").write_text("from .a import f\n")  # a -> c only under TYPE_CHECKING: no cycle yet
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "b.py").write_text("from .. import c\n")
    assert cycle(graph(pkg)) is not None  # a -> sub.b (in a function) -> c -> a
    assert set(graph(pkg)["stackctl.a"]) == {"stackctl.sub", "stackctl.sub.b"}
    (pkg / "c.py").write_text("X = 1\n")
    assert cycle(graph(pkg)) is None
