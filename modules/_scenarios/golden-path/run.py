"""Golden path across the whole platform, run once after `stackctl up`:

  1. object store     write a driver-stats dataset as parquet to S3 and read it back
  2. feature store    push the rows to Feast's online store (push source driver_stats_push)
  3. feature store    fetch them back with /get-online-features: they must equal what was written
  4. (local)          train a scikit-learn model on the features Feast returned
  5. tracking/registry log the run (params, metric, model) in MLflow and register a new version
                      under the name MLServer serves (not tagged stackctl.demo)
  6. model serving    load that version through MLServer's repository API, wait until ready
  7. model serving    V2 inference on held-out feature rows: predictions = the local model's
  8. monitoring       upload a drift report (training data vs the inference batch) to Evidently,
                      read the run back over its HTTP API and check a metric value

Every step prints `PASS <n>. <step> [<instance>] (<s>s)`; a failure prints `FAILED <n>. <step>
[<instance>]: <reason>`, the last 20 lines of that instance's log, and exits 1. Every run uses new
driver ids, a new MLflow run and model version and a new Evidently run, so running it again passes.
Reads STACKCTL_SMOKE_CONTEXT (stack, instance, outputs, inputs, providers, logs).
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import sys
import time
import urllib.error
import urllib.request
import uuid
import warnings
from collections import deque
from datetime import datetime, timezone

from stackctl_smoke import context  # modules/_lib, on PYTHONPATH

for var in ("MLFLOW_DISABLE_TELEMETRY", "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "DO_NOT_TRACK",
            "ITERATIVE_DO_NOT_TRACK"):
    os.environ.setdefault(var, "true")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")
# a corporate HTTP(S)_PROXY must not swallow requests to servers on this machine (requests, boto3, urllib)
for var in ("NO_PROXY", "no_proxy"):
    os.environ[var] = ",".join(filter(None, [os.environ.get(var), "127.0.0.1,localhost,::1"]))

N_ROWS, N_TRAIN = 200, 150
FEATURES = ["conv_rate", "acc_rate", "avg_daily_trips"]
VIEW, PUSH_SOURCE = "driver_hourly_stats", "driver_stats_push"  # the feast launcher's demo repo
DEMO_TAG = "stackctl.demo"


class StepFailed(Exception):
    pass


def need(ok: bool, reason: str) -> None:
    if not ok:
        raise StepFailed(reason)


def http(method: str, url: str, body: dict | None = None, timeout: float = 120) -> tuple[int, object]:
    """(status, parsed JSON or text); HTTP errors are returned, not raised."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, text = resp.status, resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as err:
        status, text = err.code, (err.read() if err.fp else b"").decode("utf-8", "replace")
    try:
        return status, json.loads(text) if text else None
    except ValueError:
        return status, text


def call(method: str, url: str, body: dict | None = None, timeout: float = 120):
    status, got = http(method, url, body, timeout)
    need(status == 200, f"{method} {url}: HTTP {status} {str(got)[:400]}")
    return got


class Scenario:
    def __init__(self, ctx: dict):
        self.ctx = ctx
        self.inputs = ctx.get("inputs") or {}
        self.providers = ctx.get("providers") or {}
        self.logs = ctx.get("logs") or {}
        self.n = 0

    def url(self, capability: str) -> str:
        url = (self.inputs.get(capability) or {}).get("url")
        need(bool(url), f"the stack provides no {capability} (no url among the scenario's inputs)")
        return url.rstrip("/")

    def step(self, title: str, capability: str | None, fn, *args):
        self.n += 1
        instance = self.providers.get(capability, "local") if capability else "local"
        started, chatter = time.monotonic(), io.StringIO()  # the libraries' own prints and logs
        try:
            with warnings.catch_warnings(), contextlib.redirect_stdout(chatter), contextlib.redirect_stderr(chatter):
                warnings.simplefilter("ignore")  # MLflow's and Evidently's hints
                result = fn(*args)
        except Exception as err:  # noqa: BLE001 - every failure is one line, then the log
            reason = str(err) if isinstance(err, StepFailed) else f"{type(err).__name__}: {err}"
            print(f"FAILED {self.n}. {title} [{instance}]: {reason}", flush=True)
            self.tail_log(instance)
            sys.stderr.write(chatter.getvalue())  # what the libraries said during the step, for debugging
            sys.exit(1)
        print(f"PASS {self.n}. {title} [{instance}] ({time.monotonic() - started:.1f}s)", flush=True)
        return result

    def tail_log(self, instance: str) -> None:
        path = self.logs.get(instance)
        if not path or not os.path.isfile(path):
            print(f"(no log file for {instance})", flush=True)
            return
        with open(path, errors="replace") as fh:
            lines = deque(fh, maxlen=20)
        print(f"--- last {len(lines)} lines of {path} ---", flush=True)
        print("".join(lines).rstrip("\n"), flush=True)


def make_dataset(first_driver: int):
    """N_ROWS drivers with random stats and a label that depends on them (learnable, a little noisy)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng()
    conv = rng.uniform(0, 1, N_ROWS).round(4)
    acc = rng.uniform(0, 1, N_ROWS).round(4)
    trips = rng.integers(1, 500, N_ROWS)
    score = 2.0 * conv + acc - trips / 500 + rng.normal(0, 0.1, N_ROWS)
    now = pd.Timestamp(datetime.now(timezone.utc)).floor("s")
    return pd.DataFrame({"driver_id": np.arange(first_driver, first_driver + N_ROWS, dtype="int64"),
                         "conv_rate": conv, "acc_rate": acc, "avg_daily_trips": trips.astype("int64"),
                         "event_timestamp": now, "label": (score > 1.0).astype("int64")})


def s3_round_trip(store: dict, key: str, frame):
    import boto3
    import pandas as pd

    for field in ("bucket", "access_key", "secret_key"):
        need(bool(store.get(field)), f"object_store input has no {field}")
    s3 = boto3.client("s3", endpoint_url=store.get("endpoint") or None, region_name=store.get("region"),
                      aws_access_key_id=store["access_key"], aws_secret_access_key=store["secret_key"])
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    s3.put_object(Bucket=store["bucket"], Key=key, Body=buf.getvalue())
    back = pd.read_parquet(io.BytesIO(s3.get_object(Bucket=store["bucket"], Key=key)["Body"].read()))
    need(back.equals(frame), f"s3://{store['bucket']}/{key} reads back different from what was written")
    return back


def push_features(url: str, frame) -> None:
    ts = [t.isoformat() for t in frame["event_timestamp"]]
    df = {"driver_id": frame["driver_id"].tolist(), **{f: frame[f].tolist() for f in FEATURES},
          "event_timestamp": ts, "created": ts}
    call("POST", f"{url}/push", {"push_source_name": PUSH_SOURCE, "to": "online", "df": df})


def online_features(url: str, frame):
    """The features Feast serves for the dataset's drivers; each must equal what was written."""
    import pandas as pd

    ids = frame["driver_id"].tolist()
    got = call("POST", f"{url}/get-online-features",
               {"features": [f"{VIEW}:{f}" for f in FEATURES], "entities": {"driver_id": ids}})
    cols = dict(zip(got["metadata"]["feature_names"], got["results"], strict=True))
    need(cols["driver_id"]["values"] == ids, "Feast returned the drivers in a different order")
    for f in FEATURES:
        missing = [d for d, s in zip(ids, cols[f]["statuses"], strict=True) if s != "PRESENT"]
        need(not missing, f"{f} not PRESENT for {len(missing)} drivers, e.g. {missing[:3]}")
    served = pd.DataFrame({f: cols[f]["values"] for f in FEATURES}).astype("float64")
    for f in FEATURES:  # Float32 features come back as the nearest float32
        bad = [(d, w, g) for d, w, g in zip(ids, frame[f], served[f], strict=True)
               if not math.isclose(w, g, rel_tol=1e-6, abs_tol=1e-6)]
        need(not bad, f"{f} differs for {len(bad)} drivers, e.g. (driver, written, served) {bad[:3]}")
    return served


def train(features, labels):
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=10.0, max_iter=1000).fit(features[:N_TRAIN], labels[:N_TRAIN])
    accuracy = float(model.score(features[:N_TRAIN], labels[:N_TRAIN]))
    need(accuracy >= 0.8, f"training accuracy {accuracy:.2f} < 0.8 on a learnable label")
    return model, accuracy


def served_model_name(serving_url: str) -> str:
    index = call("POST", f"{serving_url}/v2/repository/index", {})
    need(isinstance(index, list) and len(index) == 1, f"expected MLServer to serve one model, index: {index}")
    return index[0]["name"]


def log_and_register(sc: Scenario, model, features, accuracy: float, s3_uri: str):
    import mlflow
    import mlflow.sklearn
    from mlflow import MlflowClient

    name = served_model_name(sc.url("model_serving"))
    mlflow.set_tracking_uri(sc.url("experiment_tracking"))
    mlflow.set_registry_uri(sc.url("model_registry"))
    mlflow.set_experiment(f"stackctl-golden-path-{sc.ctx['stack']}")
    run_name = f"golden-path-{datetime.now(timezone.utc):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    with mlflow.start_run(run_name=run_name) as run:
        mlflow.log_params({"model": "LogisticRegression", "C": model.C, "rows": N_TRAIN,
                           "features": ",".join(FEATURES), "dataset": s3_uri})
        mlflow.log_metric("train_accuracy", accuracy)
        # explicit requirements: MLflow's inference of them imports the model in a subprocess (~5s)
        reqs = [f"mlflow=={mlflow.__version__}", *mlflow.sklearn.get_default_pip_requirements(include_cloudpickle=True)]
        info = mlflow.sklearn.log_model(model, name="model", input_example=features.head(3), pip_requirements=reqs)
    version = mlflow.register_model(info.model_uri, name, tags={"stackctl.scenario": "golden-path"})
    client = MlflowClient(sc.url("experiment_tracking"), sc.url("model_registry"))
    logged = client.get_run(run.info.run_id).data.metrics.get("train_accuracy")
    need(logged == accuracy, f"run {run.info.run_id} reads back train_accuracy {logged}, logged {accuracy}")
    got = client.get_model_version(name, version.version)
    need(got.tags.get(DEMO_TAG) is None and got.run_id == run.info.run_id,
         f"{name} v{version.version}: run {got.run_id}, tags {got.tags}")
    return name, int(version.version)


def deploy(url: str, name: str, version: int) -> None:
    call("POST", f"{url}/v2/repository/models/{name}/load", timeout=240)
    deadline = time.monotonic() + 120
    while (status := http("GET", f"{url}/v2/models/{name}/ready")[0]) != 200:
        need(time.monotonic() < deadline, f"{name} not ready 120s after load (HTTP {status})")
        time.sleep(1)
    meta = call("GET", f"{url}/v2/models/{name}")
    inputs = [t["name"] for t in meta.get("inputs", [])]
    need(inputs == FEATURES, f"{name} takes inputs {inputs}, version {version} was trained on {FEATURES}")


def infer(url: str, name: str, model, batch) -> list[int]:
    """V2 inference in batches of 10; each prediction must equal the local model's."""
    expected = [int(p) for p in model.predict(batch)]
    predictions: list[int] = []
    for start in range(0, len(batch), 10):
        part = batch.iloc[start:start + 10]
        request = {"inputs": [{"name": f, "shape": [len(part)], "datatype": "FP64", "data": part[f].tolist()}
                              for f in FEATURES]}
        outputs = call("POST", f"{url}/v2/models/{name}/infer", request).get("outputs", [])
        need(len(outputs) == 1, f"expected one output, got {outputs}")
        predictions += [int(p) for p in outputs[0]["data"]]
    need(len(predictions) == len(expected), f"{len(predictions)} predictions for {len(expected)} rows")
    diff = [i for i, (p, e) in enumerate(zip(predictions, expected, strict=True)) if p != e]
    need(not diff,
         f"served predictions differ from the local model's at rows {diff[:10]} (of {len(expected)})")
    return predictions


def monitor(sc: Scenario, reference, current, version: int) -> str:
    from evidently import Report
    from evidently.presets import DataDriftPreset
    from evidently.ui.workspace import RemoteWorkspace

    url = sc.url("monitoring")
    ws = RemoteWorkspace(url)
    title = f"stackctl golden path {sc.ctx['stack']}"
    project = next((p for p in ws.list_projects() if p.name == title), None) or ws.create_project(
        title, description="stackctl golden-path scenario: training data vs inference batches")
    snapshot = Report([DataDriftPreset()]).run(current, reference)
    ref = ws.add_run(project.id, snapshot, include_data=False,
                     name=f"model v{version} {datetime.now(timezone.utc):%Y-%m-%d %H:%M:%S}")
    listed = [s["id"] for s in call("GET", f"{url}/api/projects/{project.id}/snapshots")]
    need(str(ref.id) in listed, f"run {ref.id} is not among project {project.id}'s runs {listed}")
    stored = call("GET", f"{url}/api/projects/{project.id}/{ref.id}/download?report_format=json")
    values = {m["config"]["type"].rsplit(":", 1)[-1] + ":" + str(m["config"].get("column", "")): m["value"]
              for m in stored.get("metrics", [])}
    drifted = values.get("DriftedColumnsCount:")
    need(isinstance(drifted, dict) and isinstance(drifted.get("share"), float),
         f"run {ref.id} has no DriftedColumnsCount value; metrics: {sorted(values)[:10]}")
    for column in [*FEATURES, "prediction"]:
        need(isinstance(values.get(f"ValueDrift:{column}"), float), f"run {ref.id} has no ValueDrift of {column}")
    return f"{project.id}/{ref.id}"


def main() -> None:
    sc = Scenario(context())
    stack = sc.ctx["stack"]
    first_driver = int(uuid.uuid4().int % 10**9) + 10**9  # new drivers each run, never the demo's 1001-1005
    frame = make_dataset(first_driver)
    store = sc.inputs.get("object_store") or {}
    key = f"scenarios/golden-path/{stack}/{first_driver}/drivers.parquet"
    s3_uri = f"s3://{store.get('bucket')}/{key}"

    frame = sc.step("write the dataset to the object store and read it back", "object_store",
                    s3_round_trip, store, key, frame)
    sc.step("register and materialize the features (Feast push to the online store)", "feature_store",
            push_features, sc.url("feature_store"), frame)
    features = sc.step("fetch the training features from Feast", "feature_store",
                       online_features, sc.url("feature_store"), frame)
    model, accuracy = sc.step("train a scikit-learn model", None, train, features, frame["label"])
    name, version = sc.step("log the run and register the model in MLflow", "model_registry",
                            log_and_register, sc, model, features, accuracy, s3_uri)
    sc.step(f"serve {name} v{version} from the registry with MLServer", "model_serving",
            deploy, sc.url("model_serving"), name, version)
    batch = features.iloc[N_TRAIN:].reset_index(drop=True)
    predictions = sc.step(f"V2 inference on {len(batch)} rows equals the local model", "model_serving",
                          infer, sc.url("model_serving"), name, model, batch)
    reference = features.iloc[:N_TRAIN].assign(prediction=model.predict(features.iloc[:N_TRAIN]))
    current = batch.assign(prediction=predictions)
    sc.step("send the inference batch to Evidently and read the report back", "monitoring",
            monitor, sc, reference, current, version)
    print(f"golden path OK: {s3_uri} -> feast -> {name} v{version} -> mlserver -> evidently", flush=True)


if __name__ == "__main__":
    main()
