"""Benchmark: warm `stackctl up` / `down` of a stack against starting the same servers directly.

Baseline, measured in the same run: the same commands (each component's supervisor spec: argv,
environment, health probe) started with plain subprocess.Popen, in parallel per DAG level, each
level waiting for its health probes; stopped with a process-group SIGTERM, waiting for the ports
to close. Environments are warm for both (the first, unmeasured `up` builds them).

    python bench/up_overhead.py [stacks/local.yaml] [--rounds 3]

Prints medians and the ratios stackctl / baseline for up and for down.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def stackctl(*args: str) -> float:
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "stackctl.app", *args], capture_output=True, text=True,
                            stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        sys.exit(f"stackctl {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return time.perf_counter() - started


def status(manifest: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "stackctl.app", "status", manifest, "--json"],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def capture_components(manifest: str) -> list[dict]:
    """Each component's spec (written by the supervisor) and its live process environment.

    The environment is read from /proc while the stack is up (it holds the secrets Terraform passed
    to the provisioner); it stays in memory.
    """
    info = status(manifest)
    workdir = Path(info["workdir"])
    validate = json.loads(subprocess.run([sys.executable, "-m", "stackctl.app", "validate", manifest, "--json"],
                                         capture_output=True, text=True, check=True).stdout)
    depth: dict[str, int] = {}
    for inst in validate["order"]:
        providers = [w["from"] for w in validate["wires"] if w["to"] == inst]
        depth[inst] = 1 + max((depth[p] for p in providers), default=-1)
    comps = []
    for inst, comp in info["components"].items():
        spec = json.loads((workdir / "run" / inst / "spec.json").read_text())
        if spec.get("module_dir"):  # the workdir goes away on down: keep the launcher scripts
            kept = Path(tempfile.mkdtemp(prefix=f"module-{inst}-", dir=os.environ["STACKCTL_HOME"]))
            shutil.copytree(spec["module_dir"], kept, dirs_exist_ok=True)
            spec["module_dir"] = str(kept)
        env = dict(e.split("=", 1) for e in
                   Path(f"/proc/{comp['pid']}/environ").read_bytes().decode().split("\0") if "=" in e)
        comps.append({"instance": inst, "spec": spec, "env": env, "level": depth[inst]})
    return comps


def _expand(value: str, spec: dict, env_dir: str, run_dir: str) -> str:
    value = value.replace(spec["run_dir"], run_dir)  # a fresh data dir for the baseline
    return value.replace("{env}", env_dir).replace("{run_dir}", run_dir).replace("{module}", spec.get("module_dir", ""))


def _wait_healthy(health: dict, timeout: float, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"baseline: {proc.args[:3]} exited {proc.returncode}: {log.read_text()[-500:]}")
        try:
            if "http" in health:
                with urllib.request.urlopen(health["http"], timeout=2) as resp:
                    if 200 <= resp.status < 300:
                        return
            else:
                host, port = health["tcp"].rsplit(":", 1)
                with socket.create_connection((host, int(port)), timeout=2):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"baseline: {health} not healthy within {timeout}s")


def baseline_up(comps: list[dict], root: Path) -> tuple[float, list[subprocess.Popen]]:
    from stackctl.runtime import envs

    procs = []
    started = time.perf_counter()
    for level in sorted({c["level"] for c in comps}):
        batch = [c for c in comps if c["level"] == level]

        def start(c):
            spec = c["spec"]
            env_dir = str(envs.ensure_env(spec["requirements"]))
            run_dir = root / c["instance"]
            run_dir.mkdir(parents=True, exist_ok=True)
            argv = [_expand(a, spec, env_dir, str(run_dir)) for a in spec["argv"]]
            if spec.get("unprivileged") and os.geteuid() == 0:
                argv = ["unshare", "--user", "--map-user=1000", "--map-group=1000", "--", *argv]
            env = {**c["env"], **{k: _expand(v, spec, env_dir, str(run_dir)) for k, v in spec.get("env", {}).items()}}
            with open(run_dir / "log", "ab") as log:
                proc = subprocess.Popen(argv, env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                        start_new_session=True, cwd=run_dir)
            procs.append(proc)
            _wait_healthy(spec["health"], spec.get("timeout", 120), proc, run_dir / "log")

        try:
            with ThreadPoolExecutor(len(batch)) as pool:
                list(pool.map(start, batch))
        except RuntimeError as err:
            baseline_down(procs, [])
            sys.exit(f"{err}\n(the baseline replays each component's command with the environment read from "
                     "/proc; a launcher that replaces its own environment, e.g. postgres's, cannot be replayed)")
    return time.perf_counter() - started, procs


def baseline_down(procs: list[subprocess.Popen], ports: list[int]) -> float:
    started = time.perf_counter()
    for p in reversed(procs):
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    while any(_open(port) for port in ports):
        time.sleep(0.05)
    return time.perf_counter() - started


def _open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("manifest", nargs="?", default=str(REPO / "stacks" / "local.yaml"))
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="stackctl-bench-")
    os.environ.setdefault("STACKCTL_HOME", home)  # isolated stacks; envs stay in the shared cache

    print(f"warming up: first `stackctl up` of {args.manifest} (builds environments if needed)")
    stackctl("up", args.manifest, "--yes", "--no-smoke")
    comps = capture_components(args.manifest)
    ports = [int(p) for c in comps for p in c["spec"].get("ports", [])]
    stackctl("down", args.manifest, "--yes")

    times: dict[str, list[float]] = {"stackctl up": [], "baseline up": [], "stackctl down": [], "baseline down": []}
    for i in range(args.rounds):
        times["stackctl up"].append(stackctl("up", args.manifest, "--yes", "--no-smoke"))
        times["stackctl down"].append(stackctl("down", args.manifest, "--yes"))
        root = Path(tempfile.mkdtemp(prefix="baseline-", dir=home))
        took, procs = baseline_up(comps, root)
        times["baseline up"].append(took)
        times["baseline down"].append(baseline_down(procs, ports))
        print(f"round {i + 1}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items()))

    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"\n{len(comps)} components, {args.rounds} rounds, medians:")
    for k, v in med.items():
        print(f"  {k:14s} {v:7.2f}s")
    print(f"ratio up   (stackctl / baseline): {med['stackctl up'] / med['baseline up']:.2f}x")
    print(f"ratio down (stackctl / baseline): {med['stackctl down'] / med['baseline down']:.2f}x")
    if os.environ["STACKCTL_HOME"] == home:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
