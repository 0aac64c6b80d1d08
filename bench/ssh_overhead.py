"""Benchmark: warm `stackctl up` / `down` of a two-host ssh stack against the same work by hand over ssh.

The hosts are real sshd hosts in network namespaces (tests/sshhosts.py; needs root). The stack is two
fixture `web` servers (tests/fixtures/catalog: python3 -m http.server behind its secret), one a host.
Warm: a first, unmeasured `up` ships the runtime to both hosts, as for a second stack there.

Baseline, measured in the same run: the same command (the spec's argv, as the supervisor ran it) started
on each host with plain `ssh HOST CMD` (a login each, no shared connection: what a person types),
detached in its own session, both hosts at once, then the same health probe from here; stopped with
`ssh HOST kill -TERM -PGID`, waiting for the ports to close.

    sudo python bench/ssh_overhead.py [--rounds 3]

Prints medians and the ratios stackctl / baseline for up and for down.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from timing import ratios, stackctl

from stackctl.targets.ssh.transport import SshHost, Transport

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from tests import sshhosts  # noqa: E402 -- the repo root is on the path only now
from tests.e2e.test_ssh_target import write_stack  # noqa: E402 -- the ssh tests' two-host stack

HOSTS = ("h1", "h2")
def ssh(cluster, host: str, command: str) -> str:
    """`ssh HOST COMMAND` as a person runs it: a login of its own (no ControlMaster)."""
    argv = ["ssh", "-i", str(cluster.key), "-o", f"UserKnownHostsFile={cluster.known_hosts}", "-o", "BatchMode=yes",
            "-o", "ControlPath=none", "-l", "root", cluster.hosts[host].address, command]
    return subprocess.run(argv, capture_output=True, text=True, check=True, stdin=subprocess.DEVNULL).stdout


def _healthy(url: str, timeout: float = 30) -> None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with opener.open(url, timeout=2) as resp:
                if 200 <= resp.status < 300:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    sys.exit(f"baseline: {url} not healthy within {timeout}s")


def _closed(address: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((address, port)) != 0


def baseline_up(cluster, specs: dict[str, dict], round_no: int) -> tuple[float, dict[str, int]]:
    """Start each host's command over ssh, detached in its own session; wait for its probe from here."""
    def start(host: str) -> int:
        spec = specs[host]
        run = cluster.dir / host / f"baseline-{round_no}"
        # the session leader says its pid (= its group's) on fd 3, then closes it: ssh returns at once
        lead = "echo $$ >&3; exec 3>&-; exec \"$@\""
        command = (f"mkdir -p {run} && cd {run} && WEB_TOKEN=bench setsid sh -c {shlex.quote(lead)} sh "
                   f"{shlex.join(spec['argv'])} 3>&1 >{run}/log 2>&1 </dev/null &")
        pgid = int(ssh(cluster, host, command).split()[0])
        _healthy(spec["health"]["http"])
        return pgid

    started = time.perf_counter()
    with ThreadPoolExecutor(len(specs)) as pool:
        pgids = dict(zip(specs, pool.map(start, specs), strict=True))
    return time.perf_counter() - started, pgids


def baseline_down(cluster, specs: dict[str, dict], pgids: dict[str, int]) -> float:
    def stop(host: str) -> None:
        ssh(cluster, host, f"kill -TERM -{pgids[host]}")
        while not all(_closed(cluster.hosts[host].address, p) for p in specs[host]["ports"]):
            time.sleep(0.05)

    started = time.perf_counter()
    with ThreadPoolExecutor(len(specs)) as pool:
        list(pool.map(stop, specs))
    return time.perf_counter() - started


def measure(rounds: int) -> dict[str, float]:
    home = Path(tempfile.mkdtemp(prefix="stackctl-bench-"))
    os.environ["STACKCTL_HOME"] = str(home)  # an isolated stack
    os.environ["STACKCTL_MODULES_DIR"] = str(REPO / "tests" / "fixtures" / "catalog")
    manifest = home / "stack.yaml"
    with sshhosts.cluster({h: sshhosts.HostSpec() for h in HOSTS}) as cluster:
        write_stack(cluster, manifest, name="sshbench")
        print("warming up: first `stackctl up` (ships the runtime to both hosts)")
        stackctl("up", str(manifest), "--yes", "--no-smoke")
        run = "stackctl/stacks/sshbench/run"
        specs = {h: json.loads((cluster.dir / h / run / f"kv{i + 1}" / "spec.json").read_text())
                 for i, h in enumerate(HOSTS)}  # the hosts share this file system: read them here
        stackctl("down", str(manifest), "--yes")

        times: dict[str, list[float]] = {"stackctl up": [], "baseline up": [], "stackctl down": [],
                                         "baseline down": []}
        for i in range(rounds):
            times["stackctl up"].append(stackctl("up", str(manifest), "--yes", "--no-smoke"))
            times["stackctl down"].append(stackctl("down", str(manifest), "--yes"))
            took, pgids = baseline_up(cluster, specs, i)
            times["baseline up"].append(took)
            times["baseline down"].append(baseline_down(cluster, specs, pgids))
            print(f"round {i + 1}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items()))
        for h in HOSTS:  # the shared connections stackctl keeps (ControlPersist) go with the hosts
            Transport(SshHost(h, cluster.hosts[h].address, "root", None, str(cluster.key)),
                      known_hosts=str(cluster.known_hosts)).close()
    shutil.rmtree(home, ignore_errors=True)  # the stack's record holds its secrets
    os.environ.pop("STACKCTL_HOME", None)

    return ratios(times, f"{len(HOSTS)} hosts, a component each, {rounds} warm rounds")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    reason = sshhosts.missing_tools()
    if reason:
        sys.exit(f"cannot make the test hosts: {reason}")
    measure(args.rounds)


if __name__ == "__main__":
    main()
