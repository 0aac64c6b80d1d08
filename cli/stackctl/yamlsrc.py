"""YAML with source positions: load a document and remember the line of every key and item.

pydantic reports errors by path (`components.tracking.with.port`); this turns such a path back
into `file:line`, so every error points at the line to edit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import ManifestError, Problem

Path_ = tuple[str | int, ...]


@dataclass
class SourceDoc:
    path: Path
    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)  # path -> 1-based line

    @property
    def display(self) -> str:
        return display_path(self.path)

    def line_of(self, loc: Path_) -> int:
        """Line of the deepest known prefix of `loc` (an unknown key points at its parent)."""
        loc = tuple(loc)
        while loc:
            if loc in self.lines:
                return self.lines[loc]
            loc = loc[:-1]
        return self.lines.get((), 1)

    def where(self, loc: Path_) -> str:
        return f"{self.display}:{self.line_of(loc)}"


def display_path(path: Path) -> str:
    """Relative to the working directory when under it: that is what a user typed."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def load(path: Path, *, what: str = "file") -> SourceDoc:
    display = display_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ManifestError(
            [Problem(display, "", f"{what} not found", "check the path, or run `stackctl init` to create one")],
            source=display,
        ) from None
    except (OSError, UnicodeDecodeError) as err:
        raise ManifestError([Problem(display, "", f"cannot read {what}: {err}")], source=display) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark else 1
        problem = f"{err.problem or 'invalid YAML'}" + (f" ({err.context})" if err.context else "")
        raise ManifestError(
            [Problem(f"{display}:{line}", "", f"YAML syntax error: {problem}", "fix the YAML syntax on that line")],
            source=display,
        ) from None
    except yaml.YAMLError as err:
        raise ManifestError([Problem(display, "", f"YAML error: {err}")], source=display) from None
    if node is None:
        raise ManifestError(
            [Problem(f"{display}:1", "", f"{what} is empty", "run `stackctl init` for a starting point")],
            source=display,
        )
    doc = SourceDoc(path=path, data=None)
    doc.data = _convert(node, (), doc.lines, display)
    return doc


def _convert(node: yaml.Node, loc: Path_, lines: dict[Path_, int], display: str) -> Any:
    lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node)
            if isinstance(key, (list, dict)) or key is None:
                raise ManifestError(
                    [Problem(f"{display}:{key_node.start_mark.line + 1}", ".".join(map(str, loc)),
                             "mapping keys must be plain names")], source=display)
            key = str(key)
            if key in out:
                raise ManifestError(
                    [Problem(f"{display}:{key_node.start_mark.line + 1}", ".".join(map(str, (*loc, key))),
                             "duplicate key", "remove one of the two entries")], source=display)
            lines[(*loc, key)] = key_node.start_mark.line + 1
            out[key] = _convert(value_node, (*loc, key), lines, display)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, (*loc, i), lines, display) for i, item in enumerate(node.value)]
    return _scalar(node)


def _scalar(node: yaml.Node) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        return None
    loader = yaml.SafeLoader("")  # resolves the scalar's tag exactly as yaml.safe_load would
    try:
        return loader.construct_object(node, deep=True)
    finally:
        loader.dispose()
