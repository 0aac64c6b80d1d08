"""The serving and monitoring components for real: MLServer serving a model from the MLflow registry
(SeaweedFS + MLflow + MLServer wired in one throwaway Terraform root), and the Evidently UI alone.
`terraform apply` starts real servers through the supervisor, each contract's smoke probes run, and
`terraform destroy` must leave no process and no open port behind.

The Terraform root, the seaweedfs/mlflow components and the checks are test_components_local's."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from tests.e2e.test_components_local import (  # root_factory: the fixture, used by name
    Component,
    Ref,
    Root,
    assert_down,
    free_ports,
    mlflow,
    root_factory,  # noqa: F401
    seaweedfs,
    store_inputs,
)

from stackctl.runtime import envs
from stackctl.runtime.supervisor import port_open
from stackctl.smoke import SmokeTarget, run_smoke

pytestmark = pytest.mark.e2e

MODEL = "stackctl-demo"  # the mlserver contract's default model_name
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
# the demo model the mlserver smoke registers: class 0 near the origin, class 1 near (9, 8.5)
PROBE = {"x1": [0.5, 9.5, 1.5, 8.5], "x2": [0.2, 9.0, 0.0, 8.0]}
EXPECTED = [0, 1, 0, 1]


def call(method: str, url: str, body: dict | None = None) -> tuple[int, object]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with NO_PROXY.open(req, timeout=120) as resp:
            status, text = resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        status, text = err.code, err.read().decode()
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def index(url: str) -> list[dict]:
    status, body = call("POST", f"{url}/v2/repository/index", {})
    assert status == 200, body
    return body


def infer(url: str) -> list[int]:
    request = {"inputs": [{"name": col, "shape": [len(vals)], "datatype": "FP64", "data": vals}
                          for col, vals in PROBE.items()]}
    status, body = call("POST", f"{url}/v2/models/{MODEL}/infer", request)
    assert status == 200, body
    return [int(p) for p in body["outputs"][0]["data"]]


def mlserver(registry: str, store: str | None = None, instance: str = "serving", **inputs) -> Component:
    port, grpc_port = free_ports(2)
    args = {"port": port, "grpc_port": grpc_port, "model_registry_url": Ref(f"module.{registry}.tracking_url"),
            **inputs}
    for field_ in ("endpoint", "bucket", "region", "access_key", "secret_key") if store else ():
        output = "s3_endpoint" if field_ == "endpoint" else field_
        args[f"object_store_{field_}"] = Ref(f"module.{store}.{output}")
    return Component(instance, "mlserver", args)


def smoke(root: Root, outputs: dict, instances: list[str], inputs: dict[str, dict]) -> None:
    """The smoke probes of some of the root's components (Root.smoke runs all of them)."""
    targets = []
    for inst in instances:
        c = root.components[inst]
        targets.append(SmokeTarget(
            instance=inst, component=c.component, contract_dir=c.contract.root, probes=c.contract.smoke,
            outputs=outputs[inst], inputs=inputs.get(inst, {}), stack="e2e",
            python=str(envs.env_path(c.requirements) / "bin" / "python"),
            log_file=root.path / "logs" / f"{inst}.log"))
    report = run_smoke(targets, secrets=[])
    failed = [f"{r.instance} {r.name}: {r.detail}\n{r.log_tail or ''}" for r in report.results if r.status != "passed"]
    assert not failed, "\n".join(failed)
    assert len(report.results) == sum(len(t.probes) for t in targets)


def environ(pid: int) -> list[bytes]:
    return Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")


def test_mlserver_serves_a_model_from_the_mlflow_registry(root_factory):  # noqa: F811
    # "serving" is wired as a stack wires it (the object store too); "pinned" serves version 1 with
    # no S3 keys at all: the model must come through the MLflow server's artifact proxy.
    root = root_factory(seaweedfs(), mlflow("store"), mlserver("tracking", store="store"),
                        mlserver("tracking", instance="pinned", model_version="1"))
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):  # keys of the machine's own
        root.env.pop(key, None)
    out = root.apply()
    pids = root.processes()
    ports = [p for inst in root.components for p in root.ports(inst)]
    url, pinned_url = out["serving"]["inference_url"], out["pinned"]["inference_url"]

    # A fresh stack's registry is empty: both came up healthy, the model known but not loaded.
    for u in (url, pinned_url):
        assert call("GET", f"{u}/v2/health/ready")[0] == 200
        assert [(m["name"], m["state"]) for m in index(u)] == [(MODEL, "UNAVAILABLE")]
    settings = json.loads((root.run_dir("pinned") / "mlserver" / "models" / MODEL / "model-settings.json").read_text())
    assert settings["parameters"]["uri"] == f"models:/{MODEL}/1"
    assert settings["implementation"] == "mlserver_mlflow.MLflowRuntime"

    # The S3 keys are in serving's environment only: never in its argv or spec, never in pinned's.
    secret = out["store"]["secret_key"]
    assert secret not in (root.run_dir("serving") / "spec.json").read_text()
    assert secret not in Path(f"/proc/{pids['serving']}/cmdline").read_text()
    assert f"AWS_SECRET_ACCESS_KEY={secret}".encode() in environ(pids["serving"])
    assert not [e for e in environ(pids["pinned"]) if e.startswith((b"AWS_ACCESS_KEY_ID=", b"AWS_SECRET_ACCESS_KEY="))]

    # The smoke registers the demo model in MLflow, has MLServer load it from the registry, infers.
    tracking = out["tracking"]["tracking_url"]
    smoke(root, out, ["serving"], {"serving": {"model_registry": {"url": tracking}, **store_inputs(out["store"])}})
    assert [(m["name"], m["state"]) for m in index(url)] == [(MODEL, "READY")]
    assert infer(url) == EXPECTED

    # pinned deploys the same version through the repository API, with no S3 credentials.
    status, body = call("POST", f"{pinned_url}/v2/repository/models/{MODEL}/load")
    assert status == 200, body
    assert infer(pinned_url) == EXPECTED

    # Restarted, pinned finds version 1 in the registry and loads it before it reports ready.
    root.tf("apply", "-auto-approve", "-replace=module.pinned.module.process.terraform_data.this")
    restarted = root.processes()["pinned"]
    assert restarted != pids["pinned"]
    assert [(m["name"], m["state"]) for m in index(pinned_url)] == [(MODEL, "READY")]
    assert infer(pinned_url) == EXPECTED

    root.destroy()
    assert_down(root, {**pids, "pinned": restarted}, ports)


def test_evidently(root_factory):  # noqa: F811
    monitoring = Component("monitoring", "evidently", {"port": free_ports(1)[0]})
    root = root_factory(monitoring)
    out = root.apply()["monitoring"]
    pids, ports = root.processes(), root.ports("monitoring")
    assert all(port_open(p) for p in ports)
    status, body = call("GET", f"{out['ui_url']}/api/version")
    assert status == 200 and body["application"] == "Evidently UI" and body["version"] == monitoring.contract.version
    assert b"DO_NOT_TRACK=true" in environ(pids["monitoring"])  # telemetry off

    root.smoke({"monitoring": out})  # a project, a drift report uploaded and read back, deleted
    assert (root.run_dir("monitoring") / "workspace").is_dir()  # the workspace is in the run directory
    root.destroy()
    assert_down(root, pids, ports)
