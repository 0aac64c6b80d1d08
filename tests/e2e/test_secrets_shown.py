"""What stackctl prints or writes never shows a secret, raw or URL-encoded: a real `up` of the fixture
component `leaky`, which prints its password (p@ss/w:rd+1 %: '@', '/', ':', '+', ' ' and '%' all change
under URL encoding) raw and encoded from its Terraform provisioner, its server's log and its smoke probe.

(a) Terraform's events and diagnostic, (b) the smoke output and JUnit, (c) `stackctl logs` (tail and
--json), (d) every --json payload (up, status, outputs, logs).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

pytestmark = pytest.mark.e2e

PASSWORD = "p@ss/w:rd+1 %"
FORMS = [PASSWORD, quote(PASSWORD, safe=""), quote(PASSWORD), quote_plus(PASSWORD)]
STACK = """\
apiVersion: stackctl/v1
kind: Stack
metadata: {name: leaky}
target: {kind: local}
components:
  db: {use: leaky, with: {password: {secret: env:LEAKY_PASSWORD}}}
"""


def stackctl(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stackctl.app", *args], capture_output=True, text=True,
                          env={**os.environ, "LEAKY_PASSWORD": PASSWORD, **env}, timeout=600, stdin=subprocess.DEVNULL)


def shown(run: subprocess.CompletedProcess) -> str:
    text = run.stdout + run.stderr
    leaked = [form for form in FORMS if form in text or json.dumps(form)[1:-1] in text]
    assert leaked == [], f"{leaked} shown in:\n{text[-4000:]}"
    return text


@pytest.mark.timeout(600)
def test_no_form_of_a_secret_is_shown_by_up_smoke_logs_or_json(write, fixture_catalog, stackctl_home, tmp_path):
    manifest = str(write(STACK))
    try:
        failed = stackctl("up", manifest, "--yes", "--json", LEAKY_FAIL="1")  # (a) the provisioner fails
        text = shown(failed)
        assert failed.returncode == 1, text
        assert "error: terraform apply failed" in text and "Output: connecting to postgresql://app:***@" in text
        assert "db  cannot connect to postgresql://app:***@" in text  # the live view's line, from the events
        assert json.loads(failed.stdout)["state"] == "failed"

        junit = tmp_path / "smoke.xml"
        smoke = stackctl("up", manifest, "--yes", "--json", "--junit", str(junit), LEAKY_SMOKE_EXIT="1")  # (b)
        text = shown(smoke)
        assert smoke.returncode == 1 and "1 smoke test(s) failed" in text, text
        assert "dsn ***" in text and "password *** userinfo *** path *** query ***" in text  # output, log tail
        assert json.loads(smoke.stdout)["state"] == "up"
        report = junit.read_text()
        assert "dsn ***" in report and not [form for form in FORMS if form in report]

        log = Path(stackctl_home / "stacks" / "leaky" / "logs" / "db.log").read_text()
        assert all(form in log for form in FORMS)  # the server did write them: stackctl must hide them
        tail = stackctl("logs", "leaky", "db")  # (c)
        assert tail.returncode == 0 and "password *** userinfo *** path *** query ***" in shown(tail)
        lines = stackctl("logs", "leaky", "db", "--json")  # (d)
        assert "password *** userinfo *** path *** query ***" in json.loads(shown(lines))["lines"]
        status = stackctl("status", "leaky", "--json")
        assert json.loads(shown(status))["components"]["db"]["state"] == "running"
        outputs = stackctl("outputs", "leaky", "--json")
        assert json.loads(shown(outputs))["db"]["dsn"] == "***"
    finally:
        down = stackctl("down", manifest, "--yes")
        assert down.returncode == 0, down.stdout + down.stderr
