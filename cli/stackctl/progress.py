"""Progress of a Terraform apply/destroy, one line per component, driven by `-json` UI events.

A component is a top-level module instance of the rendered root (`module.<instance>`). On a terminal
the view is a rich Live table; elsewhere (CI, pipes) it prints one plain line per state change.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from stackctl.terraform import PlanResult, change_kind

ROOT = "(root)"  # resources of the root module itself
WAITING, CREATING, UPDATING, STARTING, DESTROYING = (
    "waiting",
    "creating",
    "updating",
    "starting",
    "destroying",
)
READY, DESTROYED, FAILED, INTERRUPTED, UNCHANGED = "ready", "destroyed", "failed", "interrupted", "unchanged"
FINAL = {READY, DESTROYED, FAILED, INTERRUPTED, UNCHANGED}
_BUSY = {"create": CREATING, "update": UPDATING, "delete": DESTROYING}
_ICONS = {
    READY: ("✓", "green"),
    DESTROYED: ("✓", "green"),
    FAILED: ("✗", "red"),
    INTERRUPTED: ("!", "yellow"),
    UNCHANGED: ("=", "dim"),
    WAITING: ("·", "dim"),
}
_SYMBOLS = {"create": "+", "update": "~", "delete": "-", "replace": "-/+"}
_SUPPRESSED = "output suppressed due to sensitive value"
_ELAPSED = re.compile(r": \d+s \(")  # "waiting for http …: 12s (pid 1)": the same step, a later second


def component_of(address: str) -> str:
    """'module.alpha.module.db.x.y' and 'module.alpha["k"]' -> 'alpha'; root resources -> ROOT."""
    match = re.match(r"module\.([^.\[]+)", address or "")
    return match.group(1) if match else ROOT


def _resource(event: dict[str, Any]) -> dict[str, Any]:
    return (event.get("hook") or event.get("change") or {}).get("resource") or {}


@dataclass
class _Row:
    name: str
    state: str = WAITING
    started: float | None = None
    finished: float | None = None
    output: str = ""  # latest provisioner output line, or the error
    pending: dict[str, int] = field(default_factory=dict)  # address -> completions still expected
    printed_step: str = ""  # plain mode: the last step printed
    deletes_only: bool = True
    spinner: Spinner = field(default_factory=lambda: Spinner("dots"))

    def elapsed(self, now: float) -> int:
        return 0 if self.started is None else round((self.finished or now) - self.started)


class ApplyView:
    """Feed it Terraform events (`on_event`); use it as a context manager around the run."""

    def __init__(self, console: Console, components: list[str], verb: str = "apply", clock=time.monotonic,
                 progress: Callable[[str, float], str | None] | None = None):
        """`progress(component, since)`: the step its start or stop is at (reported since the wall-clock
        time `since`), in the target's own words, shown instead of the provisioner output Terraform may hide."""
        self.console, self.verb, self.clock = console, verb, clock
        self.progress = progress
        self._since = time.time()
        self.rows = {name: _Row(name) for name in components}
        self.stopping = False
        self._live: Live | None = None
        self._width = max((len(n) for n in components), default=0)

    def __enter__(self) -> ApplyView:  # noqa: PYI034 -- typing.Self needs 3.11; we support 3.10
        if self.console.is_terminal:
            self._live = Live(console=self.console, get_renderable=self.render, refresh_per_second=8)
            self._live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self._live:
            self._live.__exit__(*exc)
            self._live = None

    def notice(self, text: str) -> None:
        """A message from the runner (e.g. "still stopping"); printed above the live table."""
        self.console.print(text, markup=False, highlight=False)

    def _detail(self, row: _Row) -> str:
        """The row's detail: the target's own progress while it works, else Terraform's last output."""
        if self.progress is not None and row.state not in FINAL and row.state != WAITING:
            step = self.progress(row.name, self._since)
            if step:
                return step[:120]
        return row.output

    def _print_steps(self) -> None:
        """Plain mode: a line when a component's step changes (not for each second of a wait)."""
        for row in self.rows.values():
            if self.progress is None or row.state in FINAL or row.state == WAITING:
                continue  # a finished row's state line says it all; its last output would repeat it
            step = self._detail(row)
            key = _ELAPSED.split(step)[0]
            if step and key != row.printed_step:
                row.printed_step = key
                self.console.print(f"{row.name.ljust(self._width)}  {step}", markup=False, highlight=False,
                                   soft_wrap=True)

    def on_event(self, event: dict[str, Any]) -> None:
        self._on_event(event)
        if self._live is None:
            self._print_steps()

    def _on_event(self, event: dict[str, Any]) -> None:
        kind, now = event.get("type"), self.clock()
        res = _resource(event)
        row = self._row(component_of(res.get("module") or res.get("addr", ""))) if res else None
        hook = event.get("hook") or {}
        if kind in ("apply_start", "apply_complete") and hook.get("action") == "read":
            return  # a data source read (e.g. an AMI lookup) is no progress of the component's own resources
        if kind == "planned_change" and row:
            action = event["change"].get("action")
            if action in ("create", "update", "delete", "replace"):
                row.pending[res["addr"]] = 2 if action == "replace" else 1
                row.deletes_only &= action == "delete"
        elif kind == "apply_start" and row:
            row.started = row.started or now
            self._set(row, _BUSY.get(hook.get("action"), CREATING))
        elif kind == "provision_start" and row and row.state != DESTROYING:
            self._set(row, STARTING)  # the local target starts its processes from provisioners
        elif kind == "provision_progress" and row:
            lines = [ln for ln in str(hook.get("output", "")).splitlines() if ln.strip()]
            if lines and not lines[-1].startswith("Executing: ") and _SUPPRESSED not in lines[-1]:
                row.output = lines[-1].strip()[:120]  # (not Terraform echoing the command, or hiding it)
        elif kind == "apply_complete" and row:
            row.pending[res["addr"]] = row.pending.get(res["addr"], 1) - 1
            if row.pending and all(n <= 0 for n in row.pending.values()):
                self._finish(row, now)
        elif kind in ("apply_errored", "provision_errored") and row:
            row.finished = now
            self._set(row, INTERRUPTED if self.stopping else FAILED)
        elif kind == "diagnostic" and (event.get("diagnostic") or {}).get("severity") == "error":
            diag = event["diagnostic"]
            if diag.get("address"):
                failed = self._row(component_of(diag["address"]))
                if not self.stopping:  # when stopping, errors are just the stop itself
                    failed.output = diag.get("summary", "")
                failed.finished = failed.finished or now
                self._set(failed, INTERRUPTED if self.stopping else FAILED)
        elif kind == "log" and "Interrupt received" in event.get("@message", ""):
            self.stopping = True
        elif kind == "change_summary" and (event.get("changes") or {}).get("operation") != "plan":
            for other in self.rows.values():  # the end: whatever is still open is done
                if other.state in FINAL:
                    continue
                if other.started or other.pending:
                    self._finish(other, now)
                else:
                    self._set(other, UNCHANGED)

    def _row(self, name: str) -> _Row:
        if name not in self.rows:  # a module we were not told about still gets a line
            self.rows[name] = _Row(name)
            self._width = max(self._width, len(name))
        return self.rows[name]

    def _finish(self, row: _Row, now: float) -> None:
        row.finished = now
        self._set(row, DESTROYED if row.deletes_only and row.pending else READY)

    def _set(self, row: _Row, state: str) -> None:
        if row.state == state or row.state in (FAILED, INTERRUPTED):
            return
        row.state = state
        if self._live is None:  # plain mode: one line per state change
            line = f"{row.name.ljust(self._width)}  {state}"
            if state in FINAL and row.started is not None:
                line += f" after {row.elapsed(self.clock())}s"
            if state in (FAILED, INTERRUPTED) and row.output:
                line += f": {row.output}"
            self.console.print(line, markup=False, highlight=False, soft_wrap=True)

    def render(self) -> Group:
        now = self.clock()
        done = sum(r.state in FINAL for r in self.rows.values())
        title = f"terraform {self.verb}: {done}/{len(self.rows)} components done"
        table = Table.grid(padding=(0, 2))
        for _ in range(4):
            table.add_column(no_wrap=True)
        table.add_column(no_wrap=True, overflow="ellipsis", style="dim")
        for row in self.rows.values():
            icon, style = _ICONS.get(row.state, (None, "cyan"))
            mark = Text(icon, style=style) if icon else row.spinner
            elapsed = f"{row.elapsed(now)}s" if row.started is not None else ""
            table.add_row(mark, row.name, Text(row.state, style=style), elapsed, self._detail(row))
        head = Text(title + (" (stopping...)" if self.stopping else ""), style="bold")
        return Group(head, table)


def print_plan(console: Console, plan: PlanResult, detail: bool = False) -> None:
    """Planned changes per component: + create, ~ update, - destroy, -/+ replace."""
    if not plan.has_changes:
        console.print("No changes: the stack already matches its manifest.")
        return
    counts: dict[str, dict[str, int]] = {}
    for address, actions in plan.changes:
        per = counts.setdefault(component_of(address), dict.fromkeys(_SYMBOLS, 0))
        kind = change_kind(actions)
        if kind in per:
            per[kind] += 1
    table = Table(show_edge=False, box=None, pad_edge=False)
    table.add_column("component")
    for kind, symbol in _SYMBOLS.items():
        table.add_column(f"{symbol} {'destroy' if kind == 'delete' else kind}", justify="right")
    for name, per in sorted(counts.items()):
        table.add_row(name, *(str(per[k]) if per[k] else "" for k in _SYMBOLS))
    console.print(table)
    if detail:
        for address, actions in plan.changes:
            console.print(
                f"  {_SYMBOLS.get(change_kind(actions), '?'):>3} {address}", markup=False, highlight=False
            )
    s = plan.summary
    console.print(f"Plan: {s['add']} to add, {s['change']} to change, {s['destroy']} to destroy.")
