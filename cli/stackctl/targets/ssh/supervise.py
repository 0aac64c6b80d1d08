"""The supervisor, on a host: what `python -m stackctl.targets.ssh HOST_JSON start|stop SPEC_JSON` does.

What an ssh stack's process modules call instead of `python -m stackctl.runtime` (runtime.launcher):
it ships the runtime, uv and the component's wheels (only what the host lacks) and the component's
module dir, makes the spec's paths absolute under the host's directory, and runs the same
`python3 -m stackctl.runtime start|stop SPEC` there. The spec's secret variables (secret_names) go
over ssh's stdin with the runtime's environment, never on a command line or into a file. A component
asking for GPUs gets CUDA_VISIBLE_DEVICES for the ones it claimed there (gpus.py).
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path

from . import bundle, gpus, ship
from .transport import SshHost, Transport

# on the host: environment and secrets from stdin's first line, then the runtime in a child. stdin stays
# open while this machine's side lives (Transport.run hold_stdin): its EOF (Ctrl-C, a killed shim) is
# SIGINT to the runtime, which stops what it half started, so no start goes on alone holding its run dir.
RUN = """import json, os, signal, sys, threading
d = json.loads(sys.stdin.readline()); os.environ.update(d['env']); os.chdir(d['cwd'])
pid = os.fork()
if pid == 0:
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    os.execvp('python3', ['python3', '-m', 'stackctl.runtime', *sys.argv[1:]])
def watch():
    while os.read(0, 4096):
        pass
    os.kill(pid, signal.SIGINT)
threading.Thread(target=watch, daemon=True).start()
s = os.waitpid(pid, 0)[1]
sys.exit(os.WEXITSTATUS(s) if os.WIFEXITED(s) else 128 + os.WTERMSIG(s))
"""


class ShipHost:
    """ship.Host over a Transport."""

    def __init__(self, transport: Transport):
        self.transport, self.name = transport, transport.host.name

    def run(self, script: str, stdin: bytes | None = None) -> tuple[int, str, str]:
        result = self.transport.script(script, stdin=stdin, timeout=1800, check=False, what="shipping")
        return result.returncode, result.text, result.stderr

    def put_tree(self, local_dir: Path, remote_dir: str) -> None:
        self.transport.put_tree(local_dir, remote_dir)


def transport_for(conn: dict) -> Transport:
    host = SshHost(conn["name"], conn["address"], conn.get("user"), conn.get("port"), conn.get("identity_file"))
    return Transport(host, known_hosts=conn.get("known_hosts"))


def host_root(transport: Transport, directory: str) -> str:
    """The host's directory, absolute (a relative one is under the login's home)."""
    if directory.startswith("/"):
        return directory.rstrip("/")
    home = transport.run('printf %s "$HOME"', what="reading $HOME").text.strip()
    return f"{home}/{directory.removeprefix('~/')}".rstrip("/")


def supervise(conn: dict, command: str, spec: dict) -> int:
    transport = transport_for(conn)
    host = ShipHost(transport)
    root = host_root(transport, conn["directory"])
    reqs = spec.get("requirements") or []
    made = bundle.build(ship.host_facts(host), [reqs] if reqs else [], say=_say)
    if command == "start":  # a stop needs what its start shipped, nothing new
        # one ship at a time from here: staging hard-links the cached files, which tar (shipping them
        # to another host at the same moment) reads as "file changed as we read it"
        bundle.ship_cache().mkdir(parents=True, exist_ok=True)
        with bundle.locked(bundle.ship_cache() / "ship.lock"):
            report = ship.ship(host, made, root)
        if report.files_sent or report.envs_built:
            _say(f"shipped {report.files_sent} file(s) to {conn['name']}, built {len(report.envs_built)} env(s)")
    module = spec.get("module_dir")
    spec = _on_host(spec, root)
    if command == "start" and module:
        transport.put_tree(Path(module), spec["module_dir"])
    env = {**ship.host_env(made, root), **{k: os.environ[k] for k in spec.get("secret_names", []) if k in os.environ}}
    if conn.get("gpus") and command == "start":  # the process sees only the GPUs it holds
        env["CUDA_VISIBLE_DEVICES"] = gpus.claim(transport, root, spec["run_dir"], conn["gpus"])
    run = f"python3 -I -c {shlex.quote(RUN)} {shlex.quote(command)} {shlex.quote(json.dumps(spec))}"
    result = transport.run(run, stdin=json.dumps({"env": env, "cwd": root}).encode() + b"\n", timeout=1800,
                           check=False, what=f"{command} {spec['name']}", hold_stdin=True)
    if (command == "stop") == (result.returncode == 0) and conn.get("gpus"):  # stopped, or failed to start
        gpus.release(transport, root, spec["run_dir"])
    sys.stdout.write(result.text)
    sys.stderr.write(result.stderr + ("\n" if result.stderr and not result.stderr.endswith("\n") else ""))
    return result.returncode


def _on_host(spec: dict, root: str) -> dict:
    """The spec with its paths on the host: run dir and log under root, the module dir next to them."""
    out = dict(spec)
    for key in ("run_dir", "log_file"):
        out[key] = f"{root}/{spec[key]}"
    if spec.get("module_dir"):
        stack_dir = out["run_dir"].rsplit("/run/", 1)[0]
        out["module_dir"] = f"{stack_dir}/modules/{spec['name']}"
    return out


def _say(msg: str) -> None:
    print(msg, flush=True)
