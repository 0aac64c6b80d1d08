"""Smoke probes against real servers on 127.0.0.1: no mocks."""

from __future__ import annotations

import io
import json
import socket
import sys
import threading
import time
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from rich.console import Console

from stackctl.catalog import SmokeProbe
from stackctl.smoke import (
    EARLIER_FAILED,
    SmokeTarget,
    render_table,
    report_json,
    run_smoke,
    write_junit,
)

SECRET = "s3cr3t-Value-42"


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        routes = {"/ok": (200, "healthy"), "/bad": (503, "down for maintenance"), "/created": (201, "")}
        status, body = routes.get(self.path.split("?")[0], (404, "no such page"))
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args):  # keep pytest output clean
        pass


def _serve(port: int = 0) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server


@pytest.fixture
def server():
    srv = _serve()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def _free_port() -> int:
    """A port nothing listens on (bound and released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def probe(**spec) -> SmokeProbe:
    return SmokeProbe.model_validate(spec)


def target(probes, tmp_path: Path, **kw) -> SmokeTarget:
    kw.setdefault("outputs", {})
    kw.setdefault("inputs", {})
    return SmokeTarget(instance=kw.pop("instance", "tracking"), component="mlflow", contract_dir=tmp_path,
                       probes=probes, stack="demo", **kw)


def one(t: SmokeTarget, secrets=(), **kw):
    report = run_smoke([t], list(secrets), **kw)
    return report, report.results


# ---- http ----

def test_http_passes_on_200_and_expected_body(server, tmp_path):
    t = target([probe(http={"url": "{{ outputs.url }}/ok", "expect_body": "healthy"})], tmp_path,
               outputs={"url": server})
    report, [r] = one(t)
    assert report.passed and r.status == "passed", r.detail
    assert r.name == f"http GET {server}/ok" and r.kind == "http" and r.instance == "tracking"
    assert report.counts == {"passed": 1, "failed": 0, "skipped": 0}


def test_http_status_list_and_inputs_templating(server, tmp_path):
    t = target([probe(http={"url": "{{ inputs.model_registry.url }}/created", "expect_status": [200, 201]})],
               tmp_path, inputs={"model_registry": {"url": server}})
    _, [r] = one(t)
    assert r.status == "passed", r.detail


def test_http_wrong_status_names_got_and_expected(server, tmp_path):
    t = target([probe(http={"url": f"{server}/bad"}, timeout=1)], tmp_path)
    report, [r] = one(t)
    assert not report.passed and r.status == "failed"
    assert "got HTTP 503" in r.detail and "expected 200" in r.detail
    assert "down for maintenance" in r.detail


def test_http_missing_body_fails(server, tmp_path):
    t = target([probe(http={"url": f"{server}/ok", "expect_body": "ready"}, timeout=0.5)], tmp_path)
    _, [r] = one(t)
    assert r.status == "failed" and "lacks 'ready'" in r.detail


def test_http_retries_until_a_late_server_is_up(tmp_path):
    port = _free_port()
    started = []
    timer = threading.Timer(1.0, lambda: started.append(_serve(port)))
    timer.start()
    try:
        t = target([probe(http={"url": f"http://127.0.0.1:{port}/ok"}, timeout=15)], tmp_path)
        _, [r] = one(t)
        assert r.status == "passed", r.detail
        assert 0.9 <= r.duration_s < 8
    finally:
        timer.join()
        for srv in started:
            srv.shutdown()
            srv.server_close()


def test_timeout_is_respected_and_fails_fast(tmp_path):
    port = _free_port()
    t = target([probe(http={"url": f"http://127.0.0.1:{port}/ok"}, timeout=1.5)], tmp_path)
    start = time.monotonic()
    _, [r] = one(t)
    elapsed = time.monotonic() - start
    assert r.status == "failed"
    assert 1.4 <= elapsed < 3.5, elapsed
    assert "not ready within" in r.detail and "attempts" in r.detail and "refused" in r.detail.lower()


def test_overall_timeout_caps_a_long_probe_timeout(tmp_path):
    t = target([probe(tcp={"port": _free_port()}, timeout=60)], tmp_path)
    start = time.monotonic()
    _, [r] = one(t, overall_timeout=1)
    assert r.status == "failed" and time.monotonic() - start < 3


# ---- tcp and command ----

def test_tcp_pass_and_closed_port(server, tmp_path):
    port = int(server.rsplit(":", 1)[1])
    closed = _free_port()
    t_ok = target([probe(tcp={"host": "127.0.0.1", "port": "{{ outputs.port }}"})], tmp_path,
                  outputs={"port": port}, instance="up")
    t_bad = target([probe(tcp={"port": closed}, timeout=0.5)], tmp_path, instance="down")
    report = run_smoke([t_ok, t_bad], [])
    ok, bad = report.results
    assert (ok.instance, ok.status, ok.name) == ("up", "passed", f"tcp 127.0.0.1:{port}")
    assert (bad.instance, bad.status) == ("down", "failed")
    assert f"127.0.0.1:{closed}" in bad.detail
    assert report.counts == {"passed": 1, "failed": 1, "skipped": 0}


def test_command_probe(tmp_path):
    ok = probe(command=[sys.executable, "-c", "import sys; sys.exit(0)"])
    bad = probe(command=[sys.executable, "-c", "print('not yet'); raise SystemExit(3)"], timeout=0.5)
    report = run_smoke([target([ok], tmp_path, instance="a"), target([bad], tmp_path, instance="b")], [])
    assert [r.status for r in report.results] == ["passed", "failed"]
    assert "exit 3" in report.results[1].detail and "not yet" in report.results[1].detail


# ---- python round trips ----

CHECK_CONTEXT = """
import json, os
ctx = json.loads(os.environ["STACKCTL_SMOKE_CONTEXT"])
assert ctx["outputs"]["tracking_url"] == "http://x", ctx
assert ctx["inputs"]["object_store"]["bucket"] == "b1", ctx
assert (ctx["stack"], ctx["instance"]) == ("demo", "tracking"), ctx
print("round trip ok")
"""


def test_python_probe_reads_context_and_passes(tmp_path):
    (tmp_path / "smoke").mkdir()
    (tmp_path / "smoke" / "roundtrip.py").write_text(CHECK_CONTEXT)
    t = target([probe(python="smoke/roundtrip.py")], tmp_path, outputs={"tracking_url": "http://x"},
               inputs={"object_store": {"bucket": "b1"}})
    _, [r] = one(t)
    assert r.status == "passed", r.detail
    assert r.name == "python roundtrip.py" and r.detail == "round trip ok"


def test_python_probe_failure_shows_its_output(tmp_path):
    (tmp_path / "rt.py").write_text("import sys\nprint('registered model v1')\n"
                                    "print('read back nothing', file=sys.stderr)\nsys.exit(2)\n")
    _, [r] = one(target([probe(python="rt.py")], tmp_path))
    assert r.status == "failed"
    assert "exit 2" in r.detail and "registered model v1" in r.detail and "read back nothing" in r.detail


def test_python_probe_timeout_kills_it(tmp_path):
    (tmp_path / "slow.py").write_text("import time\nprint('started', flush=True)\ntime.sleep(30)\n")
    start = time.monotonic()
    _, [r] = one(target([probe(python="slow.py", timeout=1)], tmp_path))
    assert r.status == "failed" and "timed out" in r.detail and "started" in r.detail
    assert time.monotonic() - start < 5


def test_python_probe_must_stay_inside_the_component(tmp_path):
    _, [r] = one(target([probe(python="../elsewhere.py")], tmp_path / "sub"))
    assert r.status == "failed" and "must be a path inside" in r.detail


# ---- redaction ----

def test_secrets_are_redacted_in_detail_table_junit_and_log(tmp_path, server):
    (tmp_path / "leak.py").write_text(
        "import json, os\nctx = json.loads(os.environ['STACKCTL_SMOKE_CONTEXT'])\n"
        "print('connecting with', ctx['outputs']['secret_key'])\nraise SystemExit(1)\n")
    log = tmp_path / "tracking.log"
    log.write_text("".join(f"line {i}\n" for i in range(30)) + f"auth failed for key {SECRET}\n")
    probes = [probe(http={"url": f"{server}/ok?key={{{{ outputs.secret_key }}}}"}), probe(python="leak.py")]
    t = target(probes, tmp_path, outputs={"secret_key": SECRET}, log_file=log)
    report, [http_r, py_r] = one(t, secrets=[SECRET])
    assert http_r.status == "passed" and http_r.name == f"http GET {server}/ok?key=***"
    assert py_r.status == "failed"
    assert "connecting with ***" in py_r.detail and SECRET not in py_r.detail
    assert "auth failed for key ***" in py_r.log_tail
    assert len(py_r.log_tail.splitlines()) == 20 and "line 10" not in py_r.log_tail.splitlines()

    for terminal in (True, False):
        buf = io.StringIO()
        render_table(report, Console(file=buf, force_terminal=terminal, width=200))
        shown = buf.getvalue()
        assert SECRET not in shown and "***" in shown and "auth failed for key ***" in shown

    junit = tmp_path / "out" / "junit.xml"
    write_junit(report, junit)
    text = junit.read_text()
    assert SECRET not in text and "connecting with ***" in text
    assert SECRET not in json.dumps(report_json(report))


def test_url_encoded_secret_is_redacted_in_every_form_in_detail_log_table_and_junit(tmp_path):
    from urllib.parse import quote, quote_plus

    secret = "p@ss/w:rd+1 %"
    forms = [secret, quote(secret, safe=""), quote(secret), quote_plus(secret)]
    (tmp_path / "s.py").write_text(
        "import urllib.parse as u\ns = " + repr(secret) + "\n"
        "print('raw', s); print('postgresql://u:' + u.quote(s, safe='') + '@db/x')\n"
        "print('https://h/' + u.quote(s)); print('https://h/?pw=' + u.quote_plus(s)); raise SystemExit(1)\n")
    log = tmp_path / "db.log"
    log.write_text("".join(f"{f}\n" for f in forms))
    report, [r] = one(target([probe(python="s.py")], tmp_path, log_file=log), secrets=[secret])
    assert r.detail.splitlines()[1:] == ["raw ***", "postgresql://u:***@db/x", "https://h/***", "https://h/?pw=***"]
    assert r.log_tail.splitlines() == ["***"] * 4
    buf = io.StringIO()
    render_table(report, Console(file=buf, force_terminal=False, width=200))
    write_junit(report, tmp_path / "junit.xml")
    for shown in (buf.getvalue(), (tmp_path / "junit.xml").read_text(), json.dumps(report_json(report))):
        assert not [f for f in forms if f in shown], shown


# ---- templating, skipping, ordering ----

def test_undefined_output_is_a_clear_failed_result(tmp_path):
    t = target([probe(http={"url": "{{ outputs.tracking_url }}/health"})], tmp_path, outputs={"other": 1})
    report, [r] = one(t)
    assert r.status == "failed" and not report.passed
    assert "tracking_url" in r.detail and "template" in r.detail and "outputs available: other" in r.detail
    assert r.duration_s < 1  # no retrying a contract bug


def test_skip_reason_skips_every_probe(tmp_path):
    t = target([probe(http={"url": "http://127.0.0.1:1/x"}), probe(python="rt.py")], tmp_path,
               skip_reason="the emulator has no GPU instances")
    report, results = one(t)
    assert [r.status for r in results] == ["skipped", "skipped"]
    assert all(r.detail == "the emulator has no GPU instances" for r in results)
    assert report.passed and report.counts["skipped"] == 2


def test_later_probes_are_skipped_after_a_failure(tmp_path, server):
    t = target([probe(tcp={"port": _free_port()}, timeout=0.5), probe(http={"url": f"{server}/ok"}),
                probe(name="custom", python="rt.py")], tmp_path)
    _, results = one(t)
    assert [r.status for r in results] == ["failed", "skipped", "skipped"]
    assert results[1].detail == EARLIER_FAILED and results[2].name == "custom"


def test_on_result_and_order_with_concurrent_components(tmp_path, server):
    seen = []
    probes = [probe(http={"url": f"{server}/ok"})] * 2
    targets = [target(probes, tmp_path, instance=f"c{i}") for i in range(5)]
    report = run_smoke(targets, [], on_result=seen.append)
    assert [r.instance for r in report.results] == [f"c{i}" for i in range(5) for _ in range(2)]
    assert sorted(r.instance for r in seen) == sorted(r.instance for r in report.results)
    assert report.passed


# ---- JUnit and JSON ----

def test_junit_parses_and_counts_match(tmp_path, server):
    ok = target([probe(http={"url": f"{server}/ok"})], tmp_path, instance="ok")
    bad = target([probe(http={"url": f"{server}/bad"}, timeout=0.3), probe(tcp={"port": 1})], tmp_path,
                 instance="bad", log_file=tmp_path / "bad.log")
    (tmp_path / "bad.log").write_text("\x1b[31mERROR\x1b[0m server crashed\n")  # ANSI: illegal in XML
    report = run_smoke([ok, bad], [])
    path = tmp_path / "junit.xml"
    write_junit(report, path)
    root = ET.parse(path).getroot()
    [suite] = root.findall("testsuite")
    assert suite.get("name") == "stackctl smoke demo"
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("3", "1", "1")
    assert float(suite.get("time")) >= 0
    cases = suite.findall("testcase")
    assert [(c.get("classname"), c.get("name")) for c in cases] == [
        ("ok", f"http GET {server}/ok"), ("bad", f"http GET {server}/bad"), ("bad", "tcp 127.0.0.1:1")]
    failure = cases[1].find("failure")
    assert "got HTTP 503" in failure.get("message") and "server crashed" in failure.text
    assert cases[2].find("skipped").get("message") == EARLIER_FAILED
    assert cases[0].find("failure") is None and cases[0].find("skipped") is None


def test_report_json(tmp_path, server):
    report = run_smoke([target([probe(http={"url": f"{server}/ok"})], tmp_path)], [])
    [row] = report_json(report)
    assert row["status"] == "passed" and row["instance"] == "tracking" and row["kind"] == "http"
    assert set(row) == {"instance", "name", "kind", "status", "duration_s", "detail", "log_tail"}
    json.dumps(row)
