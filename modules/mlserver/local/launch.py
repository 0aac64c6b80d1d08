"""Run MLServer for stackctl: write its settings, ask the registry about the model, exec mlserver.

    launch.py --dir DIR --registry URL --model-name NAME --model-version V
              --http-port P --grpc-port G -- mlserver start DIR

DIR/settings.json is the server (HOST, the two allocated ports, no separate metrics server,
no inference worker pool). DIR/models/NAME/model-settings.json is the one model: the MLflow runtime
loading models:/NAME/V, which MLflow resolves through the registry (MLFLOW_TRACKING_URI) and
downloads through it. MLServer loads models at startup only when the registry has that version:
one it cannot load would stop the server, and a fresh stack's registry is empty. Otherwise the
model stays known but unloaded until POST /v2/repository/models/NAME/load. Then this process
becomes mlserver (exec), so the supervisor's signals reach it directly.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

REGISTRY_TIMEOUT = 60  # seconds to wait for an unreachable registry before giving up
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def log(message: str) -> None:
    print(f"launch.py: {message}", file=sys.stderr, flush=True)


def write_json(path: str, data: dict) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp"
    with open(tmp, "w") as fh:
        json.dump(data, fh, indent=2)
    os.replace(tmp, path)


def registry_get(registry: str, endpoint: str, params: dict) -> dict | None:
    """GET an MLflow REST endpoint: its JSON, or None when the registry says it does not exist."""
    url = f"{registry}/api/2.0/mlflow/{endpoint}?{urllib.parse.urlencode(params)}"
    headers = {}
    if os.environ.get("MLFLOW_TRACKING_TOKEN"):
        headers["Authorization"] = f"Bearer {os.environ['MLFLOW_TRACKING_TOKEN']}"
    elif os.environ.get("MLFLOW_TRACKING_USERNAME"):
        pair = f"{os.environ['MLFLOW_TRACKING_USERNAME']}:{os.environ.get('MLFLOW_TRACKING_PASSWORD', '')}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    host = urllib.parse.urlsplit(registry).hostname or ""
    opener = urllib.request.build_opener(*([urllib.request.ProxyHandler({})] if host in LOOPBACK else []))
    deadline, last = time.monotonic() + REGISTRY_TIMEOUT, ""
    while time.monotonic() < deadline:
        try:
            with opener.open(urllib.request.Request(url, headers=headers), timeout=10) as resp:
                return json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as err:
            body = err.read().decode("utf-8", "replace")
            if err.code == 404 and "RESOURCE_DOES_NOT_EXIST" in body:
                return None
            last = f"HTTP {err.code}: {body[:300]}"
            if 400 <= err.code < 500 and err.code != 429:
                break  # a wrong request or credentials: waiting will not help
        except (urllib.error.URLError, OSError, ValueError) as err:
            last = str(getattr(err, "reason", None) or err)
        time.sleep(1)
    raise RuntimeError(f"the model registry at {registry} did not answer {endpoint}: {last}")


def version_ready(registry: str, name: str, version: str) -> str | None:
    """The registry version that models:/NAME/VERSION resolves to now, if it is READY."""
    if version == "latest":
        found = registry_get(registry, "model-versions/search",
                             {"filter": f"name = '{name}'", "max_results": 1000}) or {}
        ready = [v for v in found.get("model_versions", []) if v.get("status") == "READY"]
        return max((v["version"] for v in ready), key=int, default=None)
    found = registry_get(registry, "model-versions/get", {"name": name, "version": version})
    mv = (found or {}).get("model_version", {})
    return version if mv.get("status") == "READY" else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", required=True)
    parser.add_argument("--registry", required=True)
    parser.add_argument("--model-name", required=True)
    parser.add_argument("--model-version", required=True)
    parser.add_argument("--host", required=True)
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--grpc-port", type=int, required=True)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        log("needs the mlserver command after --")
        return 2
    registry, name = args.registry.rstrip("/"), args.model_name

    # Model downloads land in TMPDIR (the run directory's tmp/): start it empty.
    tmp = os.environ.get("TMPDIR")
    if tmp:
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp, exist_ok=True)

    try:
        served = version_ready(registry, name, args.model_version)
    except RuntimeError as err:
        log(str(err))
        return 1
    uri = f"models:/{name}/{args.model_version}"
    if served:
        log(f"{uri} is version {served} in the registry: loading it at startup")
    else:
        log(f"{uri} is not in the registry yet: starting without it; after registering it, "
            f"POST /v2/repository/models/{name}/load")

    write_json(os.path.join(args.dir, "settings.json"), {
        "host": args.host,
        "http_port": args.http_port,
        "grpc_port": args.grpc_port,
        "metrics_endpoint": None,  # else a metrics server on a fixed port (8082)
        "parallel_workers": 0,  # inference in the server process: no worker pool per model
        "debug": False,
        "load_models_at_startup": bool(served),
    })
    models = os.path.join(args.dir, "models")
    shutil.rmtree(models, ignore_errors=True)  # a renamed model must not linger in the repository
    write_json(os.path.join(models, name, "model-settings.json"), {
        "name": name,
        "implementation": "mlserver_mlflow.MLflowRuntime",
        "parameters": {"uri": uri},
    })

    # MLflow's HTTP client (requests) honours HTTP(S)_PROXY: keep a loopback registry off it.
    for var in ("NO_PROXY", "no_proxy"):
        have = [h for h in os.environ.get(var, "").split(",") if h]
        os.environ[var] = ",".join(have + [h for h in ("127.0.0.1", "localhost") if h not in have])
    sys.stdout.flush()
    os.execv(command[0], command)


if __name__ == "__main__":
    sys.exit(main())
