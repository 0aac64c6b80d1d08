"""YAML with source positions: load a document and remember the line of every key and item.

pydantic reports errors by path (`components.tracking.with.port`); this turns such a path back
into `file:line`, so every error points at the line to edit.

A manifest may come from anyone, so loading is bounded: the file's size, the nesting depth, and the
number of values aliases expand to (a "billion laughs" document is a few hundred bytes); a recursive
alias, a bad tag, invalid UTF-8 or a control character is a problem with its line, never a traceback.
Merge keys (`<<: *base`) follow YAML's rules: the mapping's own keys win, then the merged mappings
in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

try:
    from yaml._yaml import CParser
except ImportError:  # pragma: no cover - PyYAML without libyaml
    CParser = None

from .errors import ManifestError, Problem, quote, short

Path_ = tuple[str | int, ...]

MAX_BYTES = 1 << 20  # a manifest is a few KB; 1 MiB leaves room for generated ones
MAX_DEPTH = 64  # nesting levels; a manifest needs about 6
MAX_VALUES = 100_000  # values after alias expansion
MERGE_TAG = "tag:yaml.org,2002:merge"


@dataclass
class SourceDoc:
    path: Path
    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)  # path -> 1-based line
    texts: dict[Path_, str] = field(default_factory=dict)  # path -> source text of a non-string scalar

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


def field_path(loc) -> str:
    """`components.tracking.with.port`, `smoke.scenarios[0]`; each user-given name shortened."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{short(part)}" if out else short(part))
    return out


def load(path: Path, *, what: str = "file") -> SourceDoc:
    display = display_path(path)
    text = _read(path, display, what)
    node = _compose(text, display)
    if node is None:
        raise _error(display, 1, f"{what} is empty", "run `stackctl init` for a starting point")
    doc = SourceDoc(path=path, data=None)
    converter = _Converter(doc, display)
    doc.data = converter.convert(node, (), node.start_mark)
    if converter.problems:
        raise ManifestError(converter.problems, source=display)
    return doc


def _read(path: Path, display: str, what: str) -> str:
    try:
        with path.open("rb") as f:
            data = f.read(MAX_BYTES + 1)  # never more: the path may be /dev/zero or a pipe
        if len(data) > MAX_BYTES:
            size = path.stat().st_size
            raise _error(display, 1, f"{what} is {f'{size:,} bytes' if size > MAX_BYTES else 'too large'}; the limit "
                         f"is {MAX_BYTES:,} bytes (1 MiB)", "a manifest is a few KB: is this the right file?")
    except FileNotFoundError:
        raise ManifestError(
            [Problem(display, "", f"{what} not found", "check the path, or run `stackctl init` to create one")],
            source=display,
        ) from None
    except OSError as err:
        raise ManifestError([Problem(display, "", f"cannot read {what}: {err.strerror or err}",
                                     "check the path and its permissions")], source=display) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        column = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
        raise _error(display, line, f"not valid UTF-8: byte 0x{data[err.start]:02x} at column {column}",
                     "save the file as UTF-8") from None


def _compose(text: str, display: str):
    bad = yaml.reader.Reader.NON_PRINTABLE.search(text)  # before parsing: the same line from either parser
    if bad:
        raise _error(display, text.count("\n", 0, bad.start()) + 1,
                     f"the character {bad.group()!r} is not allowed in YAML",
                     "remove it: control characters such as NUL cannot appear in a manifest")
    loader = None
    try:
        loader = (_CLoader if CParser is not None else _PyLoader)(text)
        return loader.get_single_node()
    except _TooDeep as err:
        raise _error(display, err.line, f"nested more than {MAX_DEPTH} levels deep",
                     "a manifest needs a few levels; flatten the structure") from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        problem = f"{err.problem or 'invalid YAML'}" + (f" ({err.context})" if err.context else "")
        raise _error(display, mark.line + 1 if mark else 1, f"YAML syntax error: {short(problem, 200)}",
                     "fix the YAML syntax on that line") from None
    except yaml.YAMLError as err:
        raise ManifestError([Problem(display, "", f"YAML error: {short(err, 200)}", "fix the YAML syntax")],
                            source=display) from None
    finally:
        if loader is not None and hasattr(loader, "dispose"):
            loader.dispose()


def _error(display: str, line: int, message: str, hint: str) -> ManifestError:
    return ManifestError([Problem(f"{display}:{line}", "", message, hint)], source=display)


class _TooDeep(Exception):
    def __init__(self, line: int):
        self.line = line


@dataclass(frozen=True)
class _Alias:
    """Where an alias was used (the composer alone would hand back the anchored node itself)."""

    node: yaml.Node
    start_mark: Any


class _Composer(yaml.composer.Composer):
    """PyYAML's composer, bounding nesting (it recurses per level) and keeping each alias's own position."""

    _depth = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.get_event()
            if event.anchor not in self.anchors:
                raise yaml.composer.ComposerError(None, None, f"found undefined alias {short(event.anchor)}",
                                                  event.start_mark)
            return _Alias(self.anchors[event.anchor], event.start_mark)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _TooDeep(self.peek_event().start_mark.line + 1)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


class _PyLoader(_Composer, yaml.SafeLoader):
    """Pure-Python events, when PyYAML was built without libyaml."""


if CParser is not None:
    class _CLoader(_Composer, CParser, yaml.resolver.Resolver):
        """libyaml's events (a 1 MiB file parses in well under a second, not seven), composed in Python."""

        def __init__(self, stream):
            CParser.__init__(self, stream)
            yaml.resolver.Resolver.__init__(self)
            yaml.composer.Composer.__init__(self)


class _Converter:
    """Node graph -> plain data, with lines; aliases are expanded within bounds, merge keys applied."""

    def __init__(self, doc: SourceDoc, display: str):
        self.doc, self.display = doc, display
        self.problems: list[Problem] = []
        self.count = 0
        self.active: set[int] = set()  # nodes being converted: an alias to one of them is recursive
        self.constructor = yaml.SafeLoader("")  # resolves scalars exactly as yaml.safe_load would

    def convert(self, node, loc: Path_, mark, alias=None) -> Any:
        if isinstance(node, _Alias):
            if id(node.node) in self.active:
                raise self._fatal(node.start_mark, "this alias refers to a value that contains it (a recursive "
                                  "alias)", "copy the values instead of referring to the enclosing anchor")
            return self.convert(node.node, loc, node.start_mark, alias or node.start_mark)
        self.count += 1
        if self.count > MAX_VALUES:
            raise self._fatal(alias or mark, f"the document expands to more than {MAX_VALUES:,} values"
                              + (" through aliases (an alias bomb?)" if alias else ""),
                              "use fewer aliases: each use copies the anchored value" if alias
                              else "a manifest has a few hundred values: is this the right file?")
        if len(loc) > MAX_DEPTH:
            raise self._fatal(alias or mark, f"aliases nest the document more than {MAX_DEPTH} levels deep",
                              "use fewer nested aliases")
        self.doc.lines.setdefault(loc, mark.line + 1)
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node, loc, mark)
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                return [self.convert(item, (*loc, i), _mark(item), alias) for i, item in enumerate(node.value)]
            return self.mapping(node, loc, alias)
        finally:
            self.active.discard(id(node))

    def mapping(self, node: yaml.MappingNode, loc: Path_, alias) -> dict:
        out: dict[str, Any] = {}
        for key_node, value_node, via in self.pairs(node, loc, ()):
            key = self.key(key_node, loc)
            if key is None:
                continue
            if key in out:
                if via is None:  # written twice; a merged key under an own (or earlier merged) one just yields
                    self.problem(_mark(key_node), (*loc, key), "duplicate key", "remove one of the two entries")
                continue
            self.doc.lines[(*loc, key)] = _mark(key_node).line + 1
            out[key] = self.convert(value_node, (*loc, key), _mark(value_node), alias or via)
        return out

    def pairs(self, node: yaml.MappingNode, loc: Path_, chain: tuple[int, ...], via=None) -> list[tuple]:
        """(key, value, merge mark or None) in YAML's order of precedence: own keys, then each merge, in order."""
        own, merged = [], []
        for key_node, value_node in node.value:
            if _target(key_node).tag != MERGE_TAG:
                own.append((key_node, value_node, via))
                continue
            for source in self.merge_sources(key_node, value_node, loc):
                if id(source) in self.active or id(source) in chain:
                    raise self._fatal(_mark(value_node), "this merge key refers to a mapping that contains it "
                                      "(a recursive alias)", "merge a mapping defined outside this one")
                if len(chain) >= MAX_DEPTH:
                    raise self._fatal(_mark(value_node), f"merge keys nest more than {MAX_DEPTH} levels deep",
                                      "merge the mappings you need directly: `<<: [*one, *two]`")
                merged += self.pairs(source, loc, (*chain, id(node)), via or _mark(value_node))
        if via is not None:  # merged keys count before they are deduplicated: merges can double per level
            self.count += len(own)
        if self.count > MAX_VALUES:
            raise self._fatal(via or _mark(node), f"the document expands to more than {MAX_VALUES:,} values through "
                              "merge keys", "merge fewer mappings: each merge copies the mapping's keys")
        return own + merged

    def merge_sources(self, key_node, value_node, loc: Path_) -> list[yaml.MappingNode]:
        target = _target(value_node)
        items = target.value if isinstance(target, yaml.SequenceNode) else [value_node]
        sources = [_target(item) for item in items]
        if all(isinstance(s, yaml.MappingNode) for s in sources):
            return sources
        self.problem(_mark(key_node), (*loc, "<<"), "a merge key `<<` takes a mapping or a list of mappings",
                     "write `<<: *anchor` (or `<<: [*one, *two]`) where each anchor names a mapping")
        return []

    def key(self, key_node, loc: Path_) -> str | None:
        target = _target(key_node)
        key = self.construct(target, loc, _mark(key_node)) if isinstance(target, yaml.ScalarNode) else None
        if key is _FAILED:
            return None
        if isinstance(key, (list, dict)) or key is None:
            self.problem(_mark(key_node), loc, "mapping keys must be plain names",
                         "write a name before the colon, e.g. `name: value`")
            return None
        # keys are names: `on:` is the field `on` (YAML 1.1 would read True), `1.10:` stays "1.10"
        return key if isinstance(key, str) else target.value

    def scalar(self, node: yaml.ScalarNode, loc: Path_, mark) -> Any:
        value = self.construct(node, loc, mark)
        if value is _FAILED:
            return None
        if not isinstance(value, str):
            self.doc.texts[loc] = node.value  # what was written: `1.10`, not the float 1.1
        return value

    def construct(self, node: yaml.ScalarNode, loc: Path_, mark) -> Any:
        try:
            return self.constructor.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, TypeError, OverflowError):
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            self.problem(mark, loc, f"{quote(node.value)} cannot be read as {short(tag)}",
                         f"remove the {short(tag)} tag, or give a value of that type")
            return _FAILED

    def problem(self, mark, loc: Path_, message: str, hint: str) -> None:
        self.problems.append(Problem(f"{self.display}:{mark.line + 1}", field_path(loc), message, hint))

    def _fatal(self, mark, message: str, hint: str) -> ManifestError:
        return _error(self.display, mark.line + 1, message, hint)


_FAILED = object()  # a scalar that its tag's constructor refused (already reported)


def _target(node):
    return node.node if isinstance(node, _Alias) else node


def _mark(node):
    return node.start_mark
