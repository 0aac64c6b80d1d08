"""Turn a pydantic ValidationError into Problems that read `file:line field: message` + a fix.

pydantic's own messages (`Input should be 'local', 'aws', ...`, `String should match pattern '^[a-z]...'`,
`... valid dictionary or instance of Target`) name its internals, not the user's YAML. Each error type
the models can raise is said here in words: what was given (shortened), what is expected, and a fix,
with "did you mean" for every closed set of names.
"""

from __future__ import annotations

import difflib
import re
import typing
from collections.abc import Callable, Iterable

from pydantic import BaseModel, ValidationError

from .errors import Problem, quote, short
from .yamlsrc import SourceDoc, field_path

ModelAt = Callable[[tuple], "type[BaseModel] | None"]  # the model that validates the mapping at a location
Patterns = dict[str, tuple[str, Callable[[str], str]]]  # regex -> (in words, value -> fix)
Explain = Callable[[dict, tuple], "tuple[str, str] | None"]  # a caller's own words for an error, or None


def suggest(word: str, choices: Iterable[str]) -> str | None:
    """'did you mean X?' for a near name, or None."""
    close = difflib.get_close_matches(str(word), sorted(set(map(str, choices))), n=1, cutoff=0.6)
    return f"did you mean {short(close[0])}?" if close else None


def keys_of(model: type[BaseModel] | None) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()] if model else []


def problems_from(err: ValidationError, doc: SourceDoc, prefix: tuple = (), model_at: ModelAt | None = None,
                  patterns: Patterns | None = None, tagged: Iterable[tuple] = (),
                  explain: Explain | None = None) -> list[Problem]:
    """`model_at(loc)` gives the model of the mapping at `loc` (for valid keys, descriptions and choices).

    `tagged`: locations of unions discriminated by a field (e.g. `target` by `kind`), whose member's tag
    pydantic puts into the location of every error inside it. `explain` is asked first."""
    explainer = _Explainer(doc, model_at or (lambda loc: None), patterns or {})
    problems = []
    for e in err.errors():
        e, loc = _at_tag(e, _untagged((*prefix, *(p for p in e["loc"] if not _is_union_tag(p))), tagged))
        message, hint = (explain and explain(e, loc)) or explainer(e, loc)
        problems.append(Problem(doc.where(loc), field_path(loc), message, hint))
    return problems


def _untagged(loc: tuple, tagged: Iterable[tuple]) -> tuple:
    for union in tagged:
        if loc[:len(union)] == union and len(loc) > len(union):
            return (*union, *loc[len(union) + 1:])
    return loc


def _at_tag(e: dict, loc: tuple) -> tuple[dict, tuple]:
    """A discriminated union's tag errors, said of the tag's own field (`target.kind`) like a Literal's."""
    if e["type"] not in ("union_tag_invalid", "union_tag_not_found"):
        return e, loc
    key = str(e["ctx"]["discriminator"]).strip("'")
    if e["type"] == "union_tag_not_found":
        return {**e, "type": "missing", "input": None}, (*loc, key)
    value = e["input"].get(key) if isinstance(e["input"], dict) else None
    return {**e, "type": "literal_error", "input": value, "ctx": {"expected": e["ctx"]["expected_tags"]}}, (*loc, key)


class _Explainer:
    def __init__(self, doc: SourceDoc, model_at: ModelAt, patterns: Patterns):
        self.doc, self.model_at, self.patterns = doc, model_at, patterns

    def __call__(self, e: dict, loc: tuple) -> tuple[str, str]:
        kind, value, ctx = e["type"], e.get("input"), e.get("ctx") or {}
        given = self.given(value, loc)
        name = loc[-1] if loc else "value"
        if kind == "extra_forbidden":
            valid = keys_of(self.model_at(loc[:-1]))
            return "unknown key", suggest(str(name), valid) or (
                f"remove it; valid keys here: {', '.join(valid)}" if valid else "remove it")
        if kind == "missing":
            return "is required", self.add_hint(loc)
        if kind == "literal_error":
            choices = re.findall(r"'([^']*)'", ctx.get("expected", ""))
            expected = choices[0] if len(choices) == 1 else f"one of {', '.join(choices)}"
            return f"got {given}; expected {expected}", suggest(str(value), choices) or (
                f"write `{name}: {choices[0]}`" if len(choices) == 1 else f"use one of: {', '.join(choices)}")
        if kind == "string_pattern_mismatch":
            words, fix = self.patterns.get(ctx.get("pattern"), (f"text matching {ctx.get('pattern')}", None))
            return f"got {given}; expected {words}", fix(str(value)) if fix else "change it to that form"
        if kind == "string_type":
            return self.not_text(value, loc, given)
        if kind in ("int_type", "int_parsing", "int_from_float"):
            return f"got {given}; expected a whole number", f"write a number without quotes, e.g. `{name}: 1`"
        if kind in ("float_type", "float_parsing"):
            return f"got {given}; expected a number", f"write a number without quotes, e.g. `{name}: 1.5`"
        if kind in ("bool_type", "bool_parsing"):
            return f"got {given}; expected true or false", f"write `{name}: true` or `{name}: false`"
        if kind in ("dict_type", "model_type", "model_attributes_type"):
            keys = keys_of(self.model_at(loc))
            return f"got {given}; expected a mapping (indented `key: value` lines)", (
                f"write `{name}:` and under it indented keys: {', '.join(keys)}" if keys
                else f"write `{name}:` and under it indented `key: value` lines, or `{name}: {{}}`")
        if kind == "list_type":
            example = short(value) if isinstance(value, str) else "a, b"
            return f"got {given}; expected a list", f"write `{name}: [{example}]`, or one `- item` line per entry"
        if kind == "too_short":
            return (f"is empty; it needs at least {ctx.get('min_length', 1)}",
                    f"add one{': ' + self.description(loc) if self.description(loc) else ''}")
        if kind in _BOUNDS:
            limit = next(iter(ctx.values()), "")
            words, fix = _BOUNDS[kind]
            return f"got {given}; must be {words.format(limit)}", fix.format(limit)
        if "fix" in ctx:  # our own validators raise PydanticCustomError(type, expected, {"fix": ...})
            return f"got {given}; expected {e['msg']}", str(ctx["fix"])
        expected = _reworded(e["msg"].removeprefix("Value error, "))
        return f"got {given}; {expected}", self.add_hint(loc, "change it: ")

    def given(self, value, loc: tuple) -> str:
        """The value as the user wrote it, and what YAML made of it when that is a surprise."""
        text = short(self.doc.texts.get(loc, value))
        if value is None:
            return "nothing (null)"
        if isinstance(value, bool):
            return f"{text} (YAML reads it as a boolean)"
        if isinstance(value, (int, float)):
            return f"{text} (a number)"
        if isinstance(value, dict):
            return "a mapping"
        if isinstance(value, list):
            return "a list"
        return quote(value)

    def not_text(self, value, loc: tuple, given: str) -> tuple[str, str]:
        name = loc[-1] if loc else "value"
        line = "- " if isinstance(name, int) else f"{name}: "
        if value is None:
            return "is empty; expected text", f'give a value, e.g. `{line}"..."`, or remove the line'
        if isinstance(value, (bool, int, float)):
            text = short(self.doc.texts.get(loc, value))
            what = "a boolean" if isinstance(value, bool) else "a number"
            return f"YAML read {text} as {what}; this field is text", f'quote it: `{line}"{text}"`'
        return f"got {given}; expected text", f'write a single value: `{line}"..."`'

    def description(self, loc: tuple) -> str:
        fld = self.field(loc)
        return fld.description if fld is not None and fld.description else ""

    def field(self, loc: tuple):
        model = self.model_at(loc[:-1]) if loc else None
        if model is None:
            return None
        return next((f for n, f in model.model_fields.items() if (f.alias or n) == loc[-1]), None)

    def add_hint(self, loc: tuple, lead: str = "add ") -> str:
        fld, name = self.field(loc), loc[-1] if loc else "value"
        choices = typing.get_args(fld.annotation) if fld is not None and \
            typing.get_origin(fld.annotation) is typing.Literal else ()
        line = f"`{name}: {choices[0]}`" if len(choices) == 1 else f"`{name}:`"
        where = f" under {field_path(loc[:-1])}" if len(loc) > 1 else ""
        desc = self.description(loc)
        return f"{lead}{line}{where}" + (f" ({desc})" if desc else "")


_BOUNDS = {"greater_than_equal": ("at least {}", "use {} or more"),
           "greater_than": ("more than {}", "use more than {}"),
           "less_than_equal": ("at most {}", "use {} or less"),
           "less_than": ("less than {}", "use less than {}")}
_PHRASES = {"Input should be a valid ": "expected a ", "Input should be ": "expected ",
            "String should match pattern ": "expected text matching ", "Dictionary should have ": "expected ",
            "List should have ": "expected "}


def _reworded(msg: str) -> str:
    """The last resort for an error type not said above: pydantic's message without its phrasing."""
    for phrase, words in _PHRASES.items():
        if msg.startswith(phrase):
            return words + msg[len(phrase):]
    return msg[:1].lower() + msg[1:]


def _is_union_tag(part) -> bool:
    # pydantic adds union member names (e.g. 'function-after[...]') to locations: not user fields
    return isinstance(part, str) and ("[" in part or part.startswith("function-"))
