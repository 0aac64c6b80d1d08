"""MLflow round trip: log a run (param, metric, artifact), register a model, read all of it back
through MLflow, load the model and predict, and find the artifact object in the object store.

Reads STACKCTL_SMOKE_CONTEXT (JSON: stack, instance, outputs, inputs); one line per step.
"""

from __future__ import annotations

import os
import uuid

from stackctl_smoke import check, context, run  # modules/_lib, on PYTHONPATH

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")


def main() -> None:
    ctx = context()
    url = ctx["outputs"]["tracking_url"]
    store = (ctx.get("inputs") or {}).get("object_store")
    instance = ctx.get("instance") or "mlflow"

    import mlflow
    import mlflow.pyfunc
    from mlflow import MlflowClient

    class Double(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input: list[float], params=None) -> list[float]:
            return [2 * x for x in model_input]

    mlflow.set_tracking_uri(url)
    client = MlflowClient(url)
    token = uuid.uuid4().hex
    model_name = f"stackctl-smoke-{instance}"
    mlflow.set_experiment(f"stackctl-smoke-{instance}")

    with mlflow.start_run(run_name=f"smoke-{token[:8]}") as run:
        run_id = run.info.run_id
        mlflow.log_param("token", token)
        mlflow.log_metric("accuracy", 0.875, step=1)
        mlflow.log_text(token, "smoke/token.txt")
        info = mlflow.pyfunc.log_model(name="model", python_model=Double(), pip_requirements=[],
                                       registered_model_name=model_name)
    print(f"logged run {run_id} (param, metric, artifact) and a model", flush=True)

    got = client.get_run(run_id)
    check(got.data.params.get("token") == token, "read run", f"param token is {got.data.params.get('token')}")
    history = [(m.step, m.value) for m in client.get_metric_history(run_id, "accuracy")]
    check(history == [(1, 0.875)], "read metric", f"accuracy history is {history}")
    print("read back the run's param and metric history", flush=True)

    text = mlflow.artifacts.load_text(f"runs:/{run_id}/smoke/token.txt")
    check(text == token, "read artifact", f"smoke/token.txt holds {text!r}")
    print("read back the artifact through the server", flush=True)

    versions = client.search_model_versions(f"name = '{model_name}' and run_id = '{run_id}'")
    check(len(versions) == 1, "model registry", f"{len(versions)} versions of {model_name} for this run")
    version = versions[0]
    check(version.status == "READY", "model registry", f"version {version.version} is {version.status}")
    print(f"registered {model_name} version {version.version} (READY)", flush=True)

    model = mlflow.pyfunc.load_model(f"models:/{model_name}/{version.version}")
    prediction = list(model.predict([1.0, 2.0, 3.0]))
    check(prediction == [2.0, 4.0, 6.0], "load model", f"predict([1.0, 2.0, 3.0]) returned {prediction}")
    print(f"loaded the model back and predicted {prediction} (model {info.model_id})", flush=True)

    if not store:
        print("no object_store in the context: artifact storage not checked directly", flush=True)
        return
    import boto3

    s3 = boto3.client("s3", endpoint_url=store.get("endpoint") or None, region_name=store.get("region"),
                      aws_access_key_id=store["access_key"], aws_secret_access_key=store["secret_key"])
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=store["bucket"])
            for o in page.get("Contents", [])]
    found = [k for k in keys if run_id in k and k.endswith("smoke/token.txt")]
    check(len(found) == 1, "object store", f"no object for run {run_id} in bucket {store['bucket']}")
    body = s3.get_object(Bucket=store["bucket"], Key=found[0])["Body"].read().decode()
    check(body == token, "object store", f"s3://{store['bucket']}/{found[0]} holds {body!r}")
    print(f"found the artifact in the object store: s3://{store['bucket']}/{found[0]}", flush=True)


if __name__ == "__main__":
    run(main)
