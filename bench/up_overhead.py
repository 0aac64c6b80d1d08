"""Benchmark: warm `stackctl up` / `down` of a stack against starting the same servers directly.

Baseline, measured in the same run: the same commands with the same environment (captured from
the supervisor during a first, unmeasured `up`) started with plain subprocess.Popen, as soon as the
components they need are healthy (as the DAG allows), waiting for the same health probes;
stopped with each component's stop signal to its process group, waiting for the ports to close.
Environments are warm for both.

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
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from timing import ratios, stackctl

from stackctl import paths
from stackctl.runtime import envs

REPO = Path(__file__).resolve().parent.parent


def status(manifest: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "stackctl.app", "status", manifest, "--json"],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def capture_components(manifest: str, capture_dir: Path, keep: Path) -> list[dict]:
    """Each component's resolved command, environment and health probe, as the supervisor launched it.

    The supervisor writes argv/env/cwd into STACKCTL_CAPTURE_DIR (a private temp dir, 0600 files:
    the environment holds secrets). The stack's modules are copied to `keep`, since `down` removes
    the workdir; paths under the workdir are rewritten to a fresh directory per baseline round.
    """
    info = status(manifest)
    workdir = Path(info["workdir"])
    shutil.copytree(workdir / "tf" / "modules", keep / "tf" / "modules")
    validate = json.loads(subprocess.run([sys.executable, "-m", "stackctl.app", "validate", manifest, "--json"],
                                         capture_output=True, text=True, check=True).stdout)
    comps = []
    for inst in info["components"]:
        spec = json.loads((workdir / "run" / inst / "spec.json").read_text())
        launch = json.loads((capture_dir / f"{inst}.json").read_text())
        providers = sorted({w["from"] for w in validate["wires"] if w["to"] == inst})
        comps.append({"instance": inst, "spec": spec, "launch": launch, "needs": providers,
                      "workdir": str(workdir), "envs_dir": str(paths.envs_dir()),
                      "env_key": envs.env_key(spec.get("requirements", []))})
    return comps


def _rebase(value: str, comp: dict, root: Path, envs_dir: Path | None = None) -> str:
    value = value.replace(comp["workdir"], str(root))
    return value.replace(comp["envs_dir"], str(envs_dir)) if envs_dir is not None else value


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


def build_envs_by_hand(comps: list[dict], envs_dir: Path) -> None:
    """Cold baseline: `uv venv` + `uv pip install` of each component's pins, 3 at a time like stackctl."""
    from uv import find_uv_bin

    uv = find_uv_bin()
    wanted = {}
    for c in comps:
        if c["spec"].get("requirements"):
            wanted[c["env_key"]] = c["spec"]["requirements"]

    def build(item):
        key, reqs = item
        target = envs_dir / key
        subprocess.run([uv, "venv", "--quiet", "--relocatable", "--python", sys.executable, str(target)], check=True)
        subprocess.run([uv, "pip", "install", "--quiet", "--python", str(target / "bin" / "python"), *reqs],
                       check=True)

    with ThreadPoolExecutor(3) as pool:
        list(pool.map(build, wanted.items()))


def baseline_up(comps: list[dict], root: Path, keep: Path, envs_dir: Path | None = None
                ) -> tuple[float, list[subprocess.Popen]]:
    """Start every component with plain Popen as soon as the components it needs are healthy.

    With envs_dir (cold), first build every environment there by hand and run from those.
    """
    shutil.copytree(keep / "tf", root / "tf")
    procs: list[subprocess.Popen] = []
    healthy = {c["instance"]: threading.Event() for c in comps}
    failed = threading.Event()
    started = time.perf_counter()
    if envs_dir is not None:
        build_envs_by_hand(comps, envs_dir)

    def start(c):
        for need in c["needs"]:
            while not healthy[need].wait(0.1):
                if failed.is_set():
                    return
        launch = c["launch"]
        argv = [_rebase(a, c, root, envs_dir) for a in launch["argv"]]
        env = {k: _rebase(v, c, root, envs_dir) for k, v in launch["env"].items()}
        cwd = Path(_rebase(launch["cwd"], c, root, envs_dir))
        cwd.mkdir(parents=True, exist_ok=True)
        if env.get("TMPDIR"):  # the supervisor gives each server a private TMPDIR (run_dir/tmp) it creates
            Path(env["TMPDIR"]).mkdir(mode=0o700, parents=True, exist_ok=True)
        with open(cwd / "baseline.log", "ab") as log:
            proc = subprocess.Popen(argv, env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                    start_new_session=True, cwd=cwd)
        proc.stop_signal = getattr(signal, c["spec"].get("stop_signal", "SIGTERM"))  # as the supervisor does
        procs.append(proc)
        try:
            _wait_healthy(c["spec"]["health"], c["spec"].get("timeout", 120), proc, cwd / "baseline.log")
        except RuntimeError:
            failed.set()
            raise
        healthy[c["instance"]].set()

    try:
        with ThreadPoolExecutor(len(comps)) as pool:
            list(pool.map(start, comps))
    except RuntimeError as err:
        baseline_down(procs, [])
        sys.exit(str(err))
    return time.perf_counter() - started, procs


def baseline_down(procs: list[subprocess.Popen], ports: list[int]) -> float:
    started = time.perf_counter()
    for p in reversed(procs):
        try:
            os.killpg(p.pid, getattr(p, "stop_signal", signal.SIGTERM))
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


def measure(manifest: str, rounds: int = 3, cold: bool = False) -> dict[str, float]:
    """Medians of each timing over `rounds`, in seconds, plus the ratios stackctl / baseline."""
    home = Path(tempfile.mkdtemp(prefix="stackctl-bench-"))
    os.environ["STACKCTL_HOME"] = str(home)  # isolated stacks; envs stay in the shared cache
    capture, keep = home / "capture", home / "keep"
    capture.mkdir(mode=0o700)
    try:
        print(f"warming up: first `stackctl up` of {manifest} (builds environments if needed)")
        os.environ["STACKCTL_CAPTURE_DIR"] = str(capture)
        stackctl("up", manifest, "--yes", "--no-smoke")
        del os.environ["STACKCTL_CAPTURE_DIR"]
        comps = capture_components(manifest, capture, keep)
        ports = [int(p) for c in comps for p in c["spec"].get("ports", [])]
        stackctl("down", manifest, "--yes")

        times: dict[str, list[float]] = {"stackctl up": [], "baseline up": [], "stackctl down": [],
                                         "baseline down": []}
        shared_envs = os.environ.get("STACKCTL_ENVS_DIR")
        for i in range(rounds):
            if cold:
                os.environ["STACKCTL_ENVS_DIR"] = str(home / f"envs-stackctl-{i}")
            times["stackctl up"].append(stackctl("up", manifest, "--yes", "--no-smoke"))
            times["stackctl down"].append(stackctl("down", manifest, "--yes"))
            if shared_envs:
                os.environ["STACKCTL_ENVS_DIR"] = shared_envs
            cold_envs = home / f"envs-baseline-{i}" if cold else None
            took, procs = baseline_up(comps, home / f"baseline-{i}", keep, cold_envs)
            times["baseline up"].append(took)
            times["baseline down"].append(baseline_down(procs, ports))
            print(f"round {i + 1}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items()))
    finally:
        shutil.rmtree(home, ignore_errors=True)  # captured environments hold secrets
        os.environ.pop("STACKCTL_HOME", None)

    return ratios(times, f"{len(comps)} components, {rounds} {'cold' if cold else 'warm'} rounds")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("manifest", nargs="?", default=str(REPO / "stacks" / "local.yaml"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cold", action="store_true",
                        help="every round builds all environments anew, for stackctl and by hand for the baseline "
                             "(uv's download cache stays warm for both)")
    args = parser.parse_args()
    measure(args.manifest, args.rounds, args.cold)


if __name__ == "__main__":
    main()
