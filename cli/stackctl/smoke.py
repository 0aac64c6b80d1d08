"""Smoke tests: the probes of each component's contract, run against a live stack.

Probes are http / tcp / command readiness checks (retried with backoff until their timeout) and
python round trips (run once). Every string in a probe is a jinja2 template over the component's
outputs and wired inputs. Everything a result shows is redacted (redaction.py): each secret, raw or
URL-encoded, becomes '***'.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from . import resources
from .catalog import SmokeProbe
from .redaction import Redactor

Status = Literal["passed", "failed", "skipped"]
TAIL_LINES = 20
EARLIER_FAILED = "an earlier probe of this component failed"
_HTTP_KEYS = {"url", "method", "expect_status", "expect_body", "headers"}
_TCP_KEYS = {"host", "port"}
# Contracts are shipped code, but a sandbox costs nothing and keeps templates to plain lookups.
_JINJA = ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False)


@dataclass
class SmokeTarget:
    instance: str
    component: str
    contract_dir: Path
    probes: list[SmokeProbe]
    outputs: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    python: str | None = None
    log_file: Path | None = None
    stack: str = ""
    skip_reason: str | None = None
    fail_reason: str | None = None  # fails the target before its probes (which are then skipped)
    context: dict[str, Any] = field(default_factory=dict)  # more context for scripts (scenarios)


@dataclass
class ProbeResult:
    instance: str
    name: str
    kind: str
    status: Status
    duration_s: float
    detail: str
    log_tail: str | None = None


@dataclass
class SmokeReport:
    stack: str
    results: list[ProbeResult]
    duration_s: float = 0.0

    @property
    def passed(self) -> bool:
        return not any(r.status == "failed" for r in self.results)

    @property
    def counts(self) -> dict[str, int]:
        counts = {"passed": 0, "failed": 0, "skipped": 0}
        for r in self.results:
            counts[r.status] += 1
        return counts


class _ProbeFailed(Exception):
    """A probe's final verdict (not retried)."""


class _Retry(Exception):
    """This attempt failed, but the service may just not be ready yet."""


def _render(value: Any, ctx: dict) -> Any:
    if isinstance(value, str):
        if "{{" not in value and "{%" not in value:
            return value
        try:
            return _JINJA.from_string(value).render(ctx)
        except jinja2.UndefinedError as err:
            have = ", ".join(sorted(ctx["outputs"])) or "none"
            raise _ProbeFailed(f"template {value!r}: {err.message} (outputs available: {have})") from None
        except jinja2.TemplateError as err:
            raise _ProbeFailed(f"template {value!r}: {err}") from None
    if isinstance(value, dict):
        return {k: _render(v, ctx) for k, v in value.items()}
    if isinstance(value, list):
        return [_render(v, ctx) for v in value]
    return value


def _default_name(kind: str, spec: Any) -> str:
    if kind == "http":
        return f"http {str(spec.get('method', 'GET')).upper()} {spec.get('url', '?')}"
    if kind == "tcp":
        return f"tcp {spec.get('host', '127.0.0.1')}:{spec.get('port', '?')}"
    if kind == "command":
        return "command " + shlex.join(str(a) for a in spec)
    return f"python {Path(str(spec)).name}"


def _tail(text: str, lines: int = TAIL_LINES) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def _log_tail(path: Path | None) -> str | None:
    if not path:
        return None
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 64 * 1024))  # the tail of a big log without reading it all
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return None
    return _tail(text) or None


# ---- one attempt of each kind: return on success, raise _Retry / _ProbeFailed otherwise ----


def _http(spec: dict, timeout: float) -> None:
    url, method = spec["url"], str(spec.get("method", "GET")).upper()
    expect = spec.get("expect_status", 200)
    expected = [int(s) for s in expect] if isinstance(expect, list) else [int(expect)]
    headers = {k: str(v) for k, v in spec.get("headers", {}).items()}
    req = urllib.request.Request(url, method=method, headers=headers)
    host = urllib.parse.urlsplit(url).hostname or ""
    # A corporate HTTP(S)_PROXY must not swallow probes of servers on this machine.
    handlers = [urllib.request.ProxyHandler({})] if host in ("127.0.0.1", "localhost", "::1") else []
    try:
        with urllib.request.build_opener(*handlers).open(req, timeout=timeout) as resp:
            status, body = resp.status, resp.read(1 << 20)
    except urllib.error.HTTPError as err:
        status, body = err.code, err.read(1 << 20) if err.fp else b""
    except (urllib.error.URLError, OSError) as err:
        raise _Retry(f"{method} {url}: {getattr(err, 'reason', None) or err}") from None
    text = body.decode("utf-8", "replace")
    if status not in expected:
        want = expected[0] if len(expected) == 1 else expected
        raise _Retry(f"got HTTP {status}, expected {want}; body: {text[:300].strip()!r}")
    if spec.get("expect_body") is not None and str(spec["expect_body"]) not in text:
        want = spec["expect_body"]
        raise _Retry(f"HTTP {status} but the body lacks {want!r}; body: {text[:300].strip()!r}")


def _tcp(spec: dict, timeout: float) -> None:
    host, port = spec.get("host", "127.0.0.1"), int(spec["port"])
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as err:
        raise _Retry(f"connect {host}:{port}: {err.strerror or err}") from None


def _run(argv: list[str], env: dict, cwd: Path, timeout: float, cancel: threading.Event) -> tuple[int, str]:
    """Run argv with merged output; on timeout or cancel kill its whole process group."""
    proc = subprocess.Popen(argv, cwd=cwd if cwd.is_dir() else None, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    end = time.monotonic() + timeout
    while True:
        try:
            out, _ = proc.communicate(timeout=max(0.01, min(0.25, end - time.monotonic())))
            return proc.returncode, out.decode("utf-8", "replace")
        except subprocess.TimeoutExpired:
            if time.monotonic() < end and not cancel.is_set():
                continue  # slices keep Ctrl-C prompt; communicate() keeps the output read so far
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # grandchildren too, or they hold the pipe open
            except (ProcessLookupError, PermissionError, AttributeError):
                proc.kill()
            out, _ = proc.communicate()
            why = "cancelled" if cancel.is_set() else f"timed out after {timeout:.1f}s"
            tail = _tail(out.decode("utf-8", "replace"))
            raise _ProbeFailed(f"{why}; last output:\n{tail}".rstrip()) from None


# ---- running probes ----

def _run_probe(target: SmokeTarget, probe: SmokeProbe, deadline: float,
               cancel: threading.Event) -> tuple[str, bool, str]:
    """Returns (name, passed, detail); a probe's failure is a result, never an exception."""
    kind = probe.kind
    raw = getattr(probe, kind)
    name = probe.name or _default_name(kind, raw)
    ctx = {**target.context, "outputs": target.outputs, "inputs": target.inputs,
           "stack": target.stack, "instance": target.instance}
    try:
        spec = _render(raw, ctx)
        name = _render(probe.name, ctx) if probe.name else _default_name(kind, spec)
        attempt = _attempt_fn(kind, spec, target, ctx, cancel)
        if kind == "python":  # a round trip, not a readiness check: once, with the timeout
            return name, True, attempt(max(0.1, deadline - time.monotonic()))
        delay, attempts, start = 0.5, 0, time.monotonic()
        while True:
            attempts += 1
            remaining = deadline - time.monotonic()
            # network attempts are short so a hung connect cannot eat the whole budget
            budget = max(0.2, remaining if kind == "command" else min(10.0, remaining))
            try:
                return name, True, attempt(budget) or ""
            except _Retry as err:
                last = str(err)
            remaining = deadline - time.monotonic()
            if remaining <= 0 or cancel.wait(min(delay, remaining)):
                why = "cancelled" if cancel.is_set() else f"not ready within {time.monotonic() - start:.1f}s"
                return name, False, f"{why} ({attempts} attempt{'s' * (attempts != 1)}); last: {last}"
            delay = min(delay * 2, 5.0)
    except (_ProbeFailed, _Retry) as err:
        return name, False, str(err)


def _attempt_fn(kind: str, spec: Any, target: SmokeTarget, ctx: dict, cancel: threading.Event):
    if kind == "http":
        if not isinstance(spec, dict) or "url" not in spec or set(spec) - _HTTP_KEYS:
            raise _ProbeFailed(f"an http probe takes {sorted(_HTTP_KEYS)} and needs url; got {sorted(spec)}")
        return lambda t: _http(spec, t)
    if kind == "tcp":
        if not isinstance(spec, dict) or "port" not in spec or set(spec) - _TCP_KEYS:
            raise _ProbeFailed(f"a tcp probe takes host and port and needs port; got {sorted(spec)}")
        return lambda t: _tcp(spec, t)
    # modules/_lib holds stackctl_smoke, the helpers smoke scripts share (stackctl itself is not
    # installed in a component's environment)
    pythonpath = os.pathsep.join(p for p in (str(resources.modules_lib()), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": pythonpath,
           "STACKCTL_SMOKE_CONTEXT": json.dumps(ctx, default=str)}
    if kind == "command":
        argv = [str(a) for a in spec]

        def command(timeout: float) -> str:
            try:
                code, out = _run(argv, env, target.contract_dir, timeout, cancel)
            except OSError as err:
                raise _ProbeFailed(f"cannot run {argv[0]!r}: {err.strerror or err}") from None
            if code != 0:
                raise _Retry(f"exit {code}; last output:\n{_tail(out)}".rstrip())
            return ""
        return command
    # python: a script shipped inside the component's directory, run by the component's own env
    root = target.contract_dir.resolve()
    script = (root / spec).resolve()
    if Path(spec).is_absolute() or not script.is_relative_to(root):
        raise _ProbeFailed(f"python probe {spec!r} must be a path inside {root}")
    if not script.is_file():
        raise _ProbeFailed(f"python probe script {script} does not exist")
    argv = [target.python or sys.executable, str(script)]

    def python(timeout: float) -> str:
        try:
            code, out = _run(argv, env, root, timeout, cancel)
        except OSError as err:  # the component's env is missing or broken
            raise _ProbeFailed(f"cannot run {argv[0]}: {err.strerror or err}") from None
        if code != 0:
            raise _ProbeFailed(f"exit {code}; last output:\n{_tail(out)}".rstrip())
        return _tail(out, 1)  # a round trip's last line is a useful summary ("run 3 logged")
    return python


def _display_name(target: SmokeTarget, probe: SmokeProbe) -> str:
    """A probe's name with its template filled in from the outputs, as far as they allow."""
    raw = getattr(probe, probe.kind)
    ctx = {**target.context, "outputs": target.outputs, "inputs": target.inputs,
           "stack": target.stack, "instance": target.instance}
    try:
        return _render(probe.name, ctx) if probe.name else _default_name(probe.kind, _render(raw, ctx))
    except Exception:  # noqa: BLE001 -- outputs may be missing; the raw template still names the probe
        return probe.name or _default_name(probe.kind, raw)


def _run_target(target: SmokeTarget, overall_deadline: float | None, cancel: threading.Event,
                redact: Redactor, emit: Callable[[ProbeResult], None]) -> list[ProbeResult]:
    results: list[ProbeResult] = []
    failed = False
    if target.fail_reason and not target.skip_reason:
        failed = True
        results.append(ProbeResult(target.instance, "process", "process", "failed", 0.0, redact(target.fail_reason),
                                   redact(_log_tail(target.log_file))))
        emit(results[-1])
    for probe in target.probes:
        kind = probe.kind
        skip = target.skip_reason or (EARLIER_FAILED if failed else None)
        start = time.monotonic()
        log_tail = None
        if skip:
            status, name, detail = "skipped", _display_name(target, probe), skip
        elif overall_deadline is not None and start >= overall_deadline:
            status, name = "failed", probe.name or _default_name(kind, getattr(probe, kind))
            detail = "the overall smoke timeout ran out before this probe ran"
        else:
            deadline = start + probe.timeout
            if overall_deadline is not None:
                deadline = min(deadline, overall_deadline)
            try:
                name, ok, detail = _run_probe(target, probe, deadline, cancel)
                status = "passed" if ok else "failed"
            except Exception as err:  # noqa: BLE001 -- a bug or an odd spec must not take the other components down
                name = probe.name or _default_name(kind, getattr(probe, kind))
                status, detail = "failed", f"{type(err).__name__}: {err}"
        if status == "failed":
            failed = True
            log_tail = _log_tail(target.log_file)
        result = ProbeResult(target.instance, redact(name), kind, status, round(time.monotonic() - start, 3),
                             redact(detail), redact(log_tail))
        results.append(result)
        emit(result)
    return results


def run_smoke(targets: list[SmokeTarget], secrets: list[str],
              on_result: Callable[[ProbeResult], None] | None = None,
              overall_timeout: float | None = None, workers: int = 4) -> SmokeReport:
    """Run every target's probes (targets concurrently, probes of one target in order)."""
    redact = Redactor(secrets)
    start = time.monotonic()
    overall_deadline = start + overall_timeout if overall_timeout is not None else None
    cancel = threading.Event()
    lock = threading.Lock()

    def emit(result: ProbeResult) -> None:
        if on_result:
            with lock:  # callbacks usually print; one at a time
                on_result(result)

    results: list[ProbeResult] = []
    if targets:
        pool = ThreadPoolExecutor(max_workers=max(1, min(workers, len(targets))), thread_name_prefix="smoke")
        try:
            futures = [pool.submit(_run_target, t, overall_deadline, cancel, redact, emit) for t in targets]
            for fut in futures:  # report order = target order, whatever finished first
                results.extend(fut.result())
        except BaseException:
            cancel.set()  # Ctrl-C: stop the retry loops and kill running scripts, then re-raise
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown()
    stack = targets[0].stack if targets else ""
    return SmokeReport(stack, results, round(time.monotonic() - start, 3))


# ---- presenting results ----

_STYLE = {"passed": "green", "failed": "bold red", "skipped": "yellow"}


def _summary(report: SmokeReport) -> str:
    c = report.counts
    return (f"smoke: {c['passed']} passed, {c['failed']} failed, {c['skipped']} skipped"
            f" in {report.duration_s:.1f}s")


def render_table(report: SmokeReport, console) -> None:
    from rich.table import Table
    from rich.text import Text

    if console.is_terminal:
        table = Table(title=f"smoke tests: {report.stack}" if report.stack else "smoke tests")
        for col in ("component", "probe", "result", "time", "detail"):
            table.add_column(col, overflow="fold")
        for r in report.results:
            first = r.detail.splitlines()[0] if r.detail else ""
            table.add_row(Text(r.instance), Text(r.name), Text(r.status, style=_STYLE[r.status]),
                          f"{r.duration_s:.2f}s", Text(first))
        console.print(table)
    else:  # CI logs: one line a probe, nothing truncated, no box drawing
        for r in report.results:
            console.print(f"{r.status.upper():8} {r.instance}  {r.name}  {r.duration_s:.2f}s  "
                          f"{r.detail.splitlines()[0] if r.detail else ''}", markup=False, highlight=False)
    for r in report.results:
        if r.status != "failed":
            continue
        console.print(Text(f"\n{r.instance}: {r.name} failed", style="bold red"))
        console.print(Text(r.detail), markup=False, highlight=False)
        if r.log_tail:
            console.print(Text(f"-- last lines of {r.instance}'s log --", style="dim"))
            console.print(Text(r.log_tail), markup=False, highlight=False)
    console.print(Text(_summary(report), style="green" if report.passed else "bold red"))


# XML 1.0 cannot hold most control characters (ANSI colour codes in logs); parsers reject them.
_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml(text: str | None) -> str:
    return _XML_BAD.sub("", text or "")


def write_junit(report: SmokeReport, path: Path) -> None:
    c = report.counts
    counts = {"tests": str(len(report.results)), "failures": str(c["failed"]), "errors": "0",
              "skipped": str(c["skipped"]), "time": f"{report.duration_s:.3f}"}
    root = ET.Element("testsuites", counts)
    name = f"stackctl smoke {report.stack}".strip()
    suite = ET.SubElement(root, "testsuite", {"name": _xml(name), **counts})
    for r in report.results:
        case = ET.SubElement(suite, "testcase", {"classname": _xml(r.instance), "name": _xml(r.name),
                                                 "time": f"{r.duration_s:.3f}"})
        first = r.detail.splitlines()[0] if r.detail else r.status
        if r.status == "failed":
            log = f"\n\n-- last lines of {r.instance}'s log --\n{r.log_tail}" if r.log_tail else ""
            body = r.detail + log
            ET.SubElement(case, "failure", {"message": _xml(first), "type": r.kind}).text = _xml(body)
        elif r.status == "skipped":
            ET.SubElement(case, "skipped", {"message": _xml(first)})
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.indent(root)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def report_json(report: SmokeReport) -> list[dict]:
    return [asdict(r) for r in report.results]
