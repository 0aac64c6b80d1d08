"""Evidently round trip: create a project through the API (RemoteWorkspace), run a data drift report
on two small frames (one column shifted, one not), upload it as a run, read the run back through
the API and check its drift values, then delete the project.

Reads STACKCTL_SMOKE_CONTEXT (JSON: stack, instance, outputs, inputs); one line per step.
"""

from __future__ import annotations

import json
import os
import urllib.parse
import urllib.request
import uuid

from stackctl_smoke import check, context, fail, run, step  # modules/_lib, on PYTHONPATH

os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("ITERATIVE_DO_NOT_TRACK", "true")


def get_json(url: str):
    host = urllib.parse.urlsplit(url).hostname or ""
    # a corporate HTTP(S)_PROXY must not swallow requests to a server on this machine
    handlers = [urllib.request.ProxyHandler({})] if host in ("127.0.0.1", "localhost", "::1") else []
    with urllib.request.build_opener(*handlers).open(url, timeout=30) as resp:
        return json.loads(resp.read())


def main() -> None:
    ctx = context()
    url = ctx["outputs"]["ui_url"].rstrip("/")
    instance = ctx.get("instance") or "evidently"

    import pandas as pd
    from evidently import Report
    from evidently.presets import DataDriftPreset
    from evidently.ui.workspace import RemoteWorkspace

    ws = RemoteWorkspace(url)  # checks /api/version answers as "Evidently UI"
    token = uuid.uuid4().hex[:8]
    project = ws.create_project(f"stackctl-smoke-{instance}-{token}", description="stackctl smoke test")
    step(f"created project {project.name} ({project.id})")

    try:
        n = 120
        reference = pd.DataFrame({"shifted": [float(i % 10) for i in range(n)],
                                  "stable": [float(i % 7) for i in range(n)]})
        current = pd.DataFrame({"shifted": [float(i % 10) + 50.0 for i in range(n)],
                                "stable": [float(i % 7) for i in range(n)]})
        snapshot = Report([DataDriftPreset()]).run(current, reference)
        ref = ws.add_run(project.id, snapshot, include_data=False, name=f"smoke-{token}")
        step(f"uploaded a data drift report as run {ref.id}")

        listed = get_json(f"{url}/api/projects/{project.id}/snapshots")
        check([s["id"] for s in listed] == [str(ref.id)], "list runs",
              f"project lists {[s['id'] for s in listed]}, expected [{ref.id}]")
        stored = get_json(f"{url}/api/projects/{project.id}/{ref.id}/download?report_format=json")
        metrics = {m["config"]["type"].rsplit(":", 1)[-1] + ":" + str(m["config"].get("column", "")): m["value"]
                   for m in stored.get("metrics", [])}
        drifted = metrics.get("DriftedColumnsCount:")
        check(drifted == {"count": 1.0, "share": 0.5}, "read run",
              f"DriftedColumnsCount is {drifted}, expected 1 of 2 columns; metrics: {sorted(metrics)}")
        shifted, stable = metrics.get("ValueDrift:shifted"), metrics.get("ValueDrift:stable")
        check(isinstance(shifted, float) and shifted < 0.05, "read run", f"p-value of the shifted column is {shifted}")
        check(isinstance(stable, float) and stable > 0.05, "read run", f"p-value of the stable column is {stable}")
        step(f"read the run back: 1 of 2 columns drifted (p-values {shifted:.2g} and {stable:.2g})")
    finally:
        ws.delete_project(project.id)

    if any(p.id == project.id for p in ws.list_projects()):
        fail("delete project", f"{project.id} is still listed")
    step(f"deleted project {project.id}")


if __name__ == "__main__":
    run(main)
