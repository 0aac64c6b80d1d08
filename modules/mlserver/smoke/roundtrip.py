"""MLServer round trip: the model MLServer is configured to serve is served from the registry.

MLServer's repository names the one model it serves. When the registry has no version of it (a
fresh stack), this registers a demo model there: a scikit-learn LogisticRegression logged with
MLflow, its version tagged stackctl.demo=true. Then the model is loaded through MLServer's
repository API if it is not loaded yet (MLServer fetches it from the registry), and, when every
version of it is such a demo, a V2 inference request must return the demo's predictions. A model
someone else registered under that name is checked for readiness and metadata only.

Reads STACKCTL_SMOKE_CONTEXT (JSON: stack, instance, outputs, inputs); one line per step.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
import warnings

from stackctl_smoke import check, context, fail, run, step  # modules/_lib, on PYTHONPATH

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")

DEMO_TAG = "stackctl.demo"
# Two well separated clusters: class 0 near the origin, class 1 near (9, 8.5).
TRAIN_X1 = [0.0, 1.0, 2.0, 8.0, 9.0, 10.0]
TRAIN_X2 = [0.0, 0.5, 1.0, 8.0, 8.5, 9.0]
TRAIN_Y = [0, 0, 0, 1, 1, 1]
PROBE = {"x1": [0.5, 9.5, 1.5, 8.5], "x2": [0.2, 9.0, 0.0, 8.0]}
EXPECTED = [0, 1, 0, 1]


def http(method: str, url: str, body: dict | None = None, timeout: float = 120) -> tuple[int, str]:
    host = urllib.parse.urlsplit(url).hostname or ""
    # a corporate HTTP(S)_PROXY must not swallow requests to a server on this machine
    handlers = [urllib.request.ProxyHandler({})] if host in ("127.0.0.1", "localhost", "::1") else []
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.build_opener(*handlers).open(req, timeout=timeout) as resp:
            return resp.status, resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as err:
        return err.code, (err.read() if err.fp else b"").decode("utf-8", "replace")


def register_demo(registry: str, name: str, instance: str):
    import mlflow
    import mlflow.sklearn
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    mlflow.set_tracking_uri(registry)
    mlflow.set_experiment(f"stackctl-smoke-{instance}")
    frame = pd.DataFrame({"x1": TRAIN_X1, "x2": TRAIN_X2})
    model = LogisticRegression().fit(frame, TRAIN_Y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MLflow's hints about integer columns and pip
        with mlflow.start_run(run_name="stackctl-demo-model") as run_:
            info = mlflow.sklearn.log_model(model, name="model", input_example=frame.head(2))
        version = mlflow.register_model(info.model_uri, name, tags={DEMO_TAG: "true"})
    step(f"registered a demo model as {name} version {version.version} (run {run_.info.run_id})")
    return version


def main() -> None:
    ctx = context()
    url = ctx["outputs"]["inference_url"].rstrip("/")
    registry = ((ctx.get("inputs") or {}).get("model_registry") or {}).get("url")
    instance = ctx.get("instance") or "mlserver"
    if not registry:
        fail("context", "no model_registry url among the wired inputs")

    status, text = http("GET", f"{url}/v2")
    check(status == 200, "server metadata", f"GET /v2: HTTP {status} {text[:200]}")
    server = json.loads(text)
    status, text = http("POST", f"{url}/v2/repository/index", {})
    check(status == 200, "repository index", f"HTTP {status} {text[:300]}")
    index = json.loads(text)
    check(len(index) == 1, "repository index", f"expected the one configured model, got {index}")
    name, state = index[0]["name"], index[0]["state"]
    step(f"{server.get('name')} {server.get('version')} has model {name} ({state})")

    from mlflow import MlflowClient

    client = MlflowClient(registry)
    versions = client.search_model_versions(f"name = '{name}'")
    if not versions:
        versions = [register_demo(registry, name, instance)]
    demo = all(v.tags.get(DEMO_TAG) == "true" for v in versions)

    if state != "READY":
        status, text = http("POST", f"{url}/v2/repository/models/{name}/load", timeout=180)
        check(status == 200, "load", f"POST /v2/repository/models/{name}/load: HTTP {status} {text[-500:]}")
        step(f"loaded {name} from the registry through MLServer's repository API")
    status, text = http("GET", f"{url}/v2/models/{name}/ready")
    check(status == 200, "model ready", f"GET /v2/models/{name}/ready: HTTP {status} {text[:300]}")
    status, text = http("GET", f"{url}/v2/models/{name}")
    check(status == 200, "model metadata", f"HTTP {status} {text[:300]}")
    inputs = [t["name"] for t in json.loads(text).get("inputs", [])]

    if not demo:
        step(f"{name} is ready with inputs {inputs}; not a stackctl demo model, so inference is not checked")
        return
    check(inputs == list(PROBE), "model metadata", f"inputs {inputs}, the demo model takes {list(PROBE)}")
    request = {"inputs": [{"name": col, "shape": [len(vals)], "datatype": "FP64", "data": vals}
                          for col, vals in PROBE.items()]}
    status, text = http("POST", f"{url}/v2/models/{name}/infer", request)
    check(status == 200, "infer", f"POST /v2/models/{name}/infer: HTTP {status} {text[:500]}")
    outputs = json.loads(text).get("outputs", [])
    check(len(outputs) == 1, "infer", f"expected one output, got {text[:500]}")
    predictions = [int(p) for p in outputs[0]["data"]]
    check(predictions == EXPECTED, "infer", f"predicted {predictions} for {PROBE}, expected {EXPECTED}")
    step(f"V2 inference on {name}: predicted {predictions} as expected")


if __name__ == "__main__":
    run(main)
