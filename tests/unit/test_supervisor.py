"""The local target's process supervisor, against tiny real HTTP servers (no mocks, no envs built)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stackctl.runtime import envs
from stackctl.runtime.supervisor import (
    Spec,
    SpecError,
    SupervisorError,
    port_open,
    probe,
    process_status,
    read_progress,
    start,
    stop,
    stop_recorded,
)

# A server with knobs: a health path, an optional child server on a second port (same process
# group), SIGTERM ignored, its environment dumped to a file.
SERVER = r'''
import http.server, json, os, signal, subprocess, sys
args = dict(a.split("=", 1) for a in sys.argv[1:])
print("server starting", flush=True)
if "env_file" in args:
    json.dump({"env": dict(os.environ), "euid": os.geteuid(), "cwd": os.getcwd()}, open(args["env_file"], "w"))
if "tmp_marker" in args:  # as servers that hard-code /tmp do
    open(os.path.join("/tmp", args["tmp_marker"]), "w").write("mine")
if args.get("ignore_term"):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
if "child_port" in args:
    subprocess.Popen([sys.executable, __file__, f"port={args['child_port']}",
                      f"ignore_term={args.get('ignore_term', '')}"])
if args.get("exit"):
    print("giving up on purpose", flush=True)
    sys.exit(int(args["exit"]))

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/health" else 404)
        self.end_headers()
    def log_message(self, *a):
        pass

http.server.HTTPServer(("127.0.0.1", int(args["port"])), Handler).serve_forever()
'''


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.fixture
def make_spec(tmp_path):
    script = tmp_path / "server.py"
    script.write_text(SERVER)
    made: list[Spec] = []

    def make(*extra: str, health_path: str = "/health", port: int | None = None, **fields) -> Spec:
        port = port or free_ports(1)[0]
        data = {
            "name": "web", "run_dir": str(tmp_path / "run" / "web"), "log_file": str(tmp_path / "logs" / "web.log"),
            "requirements": [], "argv": [sys.executable, str(script), f"port={port}", *extra], "env": {},
            "health": {"http": f"http://127.0.0.1:{port}{health_path}"}, "ports": [port], "timeout": 15,
            **fields,
        }
        spec = Spec.parse(json.dumps(data))
        made.append(spec)
        return spec

    yield make
    for spec in made:  # never leave a server behind, whatever the test did
        try:
            stop(spec, say=lambda _m: None)
        except SupervisorError:
            pass


def group_alive(pgid: int) -> bool:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z" and int(fields[2]) == pgid:
                return True
    return False


def test_start_is_idempotent_and_stop_frees_the_port(make_spec):
    spec = make_spec()
    said: list[str] = []
    start(spec, said.append)
    status = process_status(spec.run_dir)
    assert status["state"] == "running" and port_open(spec.ports[0])
    assert read_progress(spec.run_dir).startswith("healthy after ")  # the step, for stackctl's live view
    assert read_progress(spec.run_dir, since=time.time() + 60) is None  # a step older than the run: not shown
    assert (spec.run_dir / "pid").read_text().split()[0] == str(status["pid"])
    assert json.loads((spec.run_dir / "spec.json").read_text())["argv"] == spec.argv
    assert "server starting" in spec.log_file.read_text()

    start(spec, said.append)  # alive and healthy: left alone
    assert process_status(spec.run_dir)["pid"] == status["pid"]
    assert any("already running" in m for m in said)

    stop(spec, said.append)
    assert process_status(spec.run_dir) == {"state": "stopped", "pid": None}
    assert not port_open(spec.ports[0]) and not group_alive(status["pid"])
    stop(spec, said.append)  # stopping what is not running is fine
    assert said[-1] == "web: not running"


def test_a_health_with_http_and_tcp_needs_both(make_spec):
    port, child, closed = free_ports(3)
    http = f"http://127.0.0.1:{port}/health"
    spec = make_spec(f"child_port={child}", port=port, health={"http": http, "tcp": f"127.0.0.1:{child}"})
    start(spec, lambda _m: None)  # both pass
    assert probe({"http": http, "tcp": f"127.0.0.1:{closed}"}) == "Connection refused"
    assert probe({"http": http.replace("/health", "/nope"), "tcp": f"127.0.0.1:{child}"}) == "HTTP 404"


def test_health_timeout_shows_the_log_tail_and_cleans_up(make_spec):
    spec = make_spec(health_path="/not-there", timeout=2)
    with pytest.raises(SupervisorError) as err:
        start(spec, lambda _m: None)
    message = str(err.value)
    assert "failed for 2s (last: HTTP 404)" in message
    assert "server starting" in message and str(spec.log_file) in message
    assert process_status(spec.run_dir)["state"] == "stopped"
    assert not port_open(spec.ports[0])


def test_a_process_that_exits_fails_with_its_code_and_output(make_spec):
    spec = make_spec("exit=3")
    with pytest.raises(SupervisorError, match="exited with code 3 before it became healthy") as err:
        start(spec, lambda _m: None)
    assert "giving up on purpose" in str(err.value)


def test_the_log_tail_shows_only_this_start(make_spec):
    spec = make_spec("exit=3")
    spec.log_file.parent.mkdir(parents=True)
    spec.log_file.write_text("".join(f"old line {i}\n" for i in range(100)))
    with pytest.raises(SupervisorError) as err:
        start(spec, lambda _m: None)
    assert "old line" not in str(err.value)
    assert "old line 99" in spec.log_file.read_text()  # appended, not truncated


def test_stop_kills_the_whole_group_even_when_sigterm_is_ignored(make_spec):
    child_port = free_ports(1)[0]
    spec = make_spec(f"child_port={child_port}", "ignore_term=1", stop_timeout=1)
    spec = Spec.parse({**spec.raw, "ports": spec.ports + [child_port]})
    start(spec, lambda _m: None)
    deadline = time.monotonic() + 10
    while not port_open(child_port) and time.monotonic() < deadline:
        time.sleep(0.1)
    pid = process_status(spec.run_dir)["pid"]
    said: list[str] = []
    began = time.monotonic()
    stop(spec, said.append)
    assert time.monotonic() - began < 8
    assert any("sending SIGKILL" in m for m in said)
    assert not group_alive(pid)
    assert not port_open(spec.ports[0]) and not port_open(child_port)


def test_a_grace_caps_the_stop_timeout_when_the_data_goes_next(make_spec):
    """`down` deletes the data next: a server still busy after its stop signal gets `grace` seconds, not
    its own stop_timeout (30 s here), then SIGKILL; without a grace the spec's timeout holds."""
    spec = make_spec("ignore_term=1", stop_timeout=30)
    start(spec, lambda _m: None)
    pid = process_status(spec.run_dir)["pid"]
    said: list[str] = []
    began = time.monotonic()
    assert stop_recorded(spec.run_dir, said.append, grace=1.0) is True
    took = time.monotonic() - began
    assert 0.9 < took < 6, took
    assert "web: still running 1s after SIGTERM, sending SIGKILL" in said, said
    assert not group_alive(pid) and not port_open(spec.ports[0])
    assert json.loads((spec.run_dir / "spec.json").read_text())["stop_timeout"] == 30  # the spec is unchanged


def test_a_dead_process_is_detected_and_restarted(make_spec):
    child_port = free_ports(1)[0]  # the leader dies, its child lives on holding a port
    spec = make_spec(f"child_port={child_port}")
    spec = Spec.parse({**spec.raw, "ports": spec.ports + [child_port]})
    start(spec, lambda _m: None)
    pid = process_status(spec.run_dir)["pid"]
    deadline = time.monotonic() + 10
    while not port_open(child_port) and time.monotonic() < deadline:
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while process_status(spec.run_dir)["state"] == "running" and time.monotonic() < deadline:
        time.sleep(0.05)
    broken = process_status(spec.run_dir)  # judged as one: a live child does not make it running
    assert broken["state"] == "broken" and broken["pid"] == pid and len(broken["left"]) == 1
    assert port_open(child_port)
    said: list[str] = []
    start(spec, said.append)  # kills the leftover child first, or its port would be "in use"
    assert any(f"its main process {pid} is gone while 1 other process(es) of it still run" in m for m in said)
    status = process_status(spec.run_dir)
    assert status["state"] == "running" and status["pid"] != pid
    os.kill(status["pid"], signal.SIGKILL)  # this time the child goes too: stop the group, then check
    os.killpg(status["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 5
    while process_status(spec.run_dir)["state"] != "dead" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process_status(spec.run_dir) == {"state": "dead", "pid": status["pid"]}


def test_a_recycled_pid_is_not_ours(make_spec, tmp_path):
    spec = make_spec()
    spec.run_dir.mkdir(parents=True)
    (spec.run_dir / "pid").write_text(f"{os.getpid()}\n1\n")  # alive, but started at another time
    assert process_status(spec.run_dir)["state"] == "dead"
    stop(spec, lambda _m: None)  # must not signal the test process
    assert not (spec.run_dir / "pid").exists()


def test_a_changed_spec_restarts_the_process(make_spec):
    spec = make_spec()
    start(spec, lambda _m: None)
    pid = process_status(spec.run_dir)["pid"]
    changed = Spec.parse({**spec.raw, "env": {"GREETING": "hello"}})
    said: list[str] = []
    start(changed, said.append)
    assert any("configuration changed" in m for m in said)
    assert process_status(spec.run_dir)["pid"] != pid


def test_a_busy_port_is_refused_before_starting(make_spec):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        spec = make_spec(port=sock.getsockname()[1])
        with pytest.raises(SupervisorError, match="already in use"):
            start(spec, lambda _m: None)
    assert process_status(spec.run_dir)["state"] == "stopped"


def test_environment_placeholders_and_no_terraform_secrets(make_spec, tmp_path, monkeypatch):
    monkeypatch.setenv("TF_VAR_db_password", "hunter2")
    monkeypatch.setenv("PROVISIONER_SECRET", "for-the-server")
    spec = make_spec("env_file={run_dir}/env.json", env={"WHERE": "{run_dir}/x", "MOD": "{module}/launch.py"},
                     module_dir=str(tmp_path / "mod"))
    start(spec, lambda _m: None)
    seen = json.loads((spec.run_dir / "env.json").read_text())
    assert "TF_VAR_db_password" not in seen["env"]
    assert seen["env"]["PROVISIONER_SECRET"] == "for-the-server"
    assert seen["env"]["WHERE"] == f"{spec.run_dir}/x" and seen["env"]["MOD"] == f"{tmp_path}/mod/launch.py"
    assert seen["cwd"] == str(spec.run_dir)


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"), reason="needs root and unshare")
def test_unprivileged_runs_as_uid_1000_when_root(make_spec):
    spec = make_spec("env_file={run_dir}/env.json", unprivileged=True)
    start(spec, lambda _m: None)
    assert json.loads((spec.run_dir / "env.json").read_text())["euid"] == 1000
    pid = process_status(spec.run_dir)["pid"]
    assert Path(f"/proc/{pid}/uid_map").read_text().split()[:2] == ["1000", "0"]
    stop(spec, lambda _m: None)
    assert not port_open(spec.ports[0])


@pytest.mark.parametrize("change, message", [
    ({"surprise": 1}, "unknown spec keys: surprise"),
    ({"health": {"grpc": "x"}}, "health must be"),
    ({"argv": "python -m http.server"}, "argv must be a list"),
    ({"stop_signal": "SIGNOPE"}, "is not a signal name"),
    ({"argv": ["{env}/bin/python"]}, "{env} is used but the spec has no requirements"),
])
def test_bad_specs_are_explained(make_spec, change, message):
    with pytest.raises(SpecError, match=message.replace("{", r"\{").replace("}", r"\}")):
        start(Spec.parse({**make_spec().raw, **change}), lambda _m: None)


def test_the_command_line(make_spec):
    spec = make_spec()
    run = [sys.executable, "-m", "stackctl.runtime"]
    arg = json.dumps(spec.raw)
    out = subprocess.run([*run, "start", arg], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "web: healthy after" in out.stdout, out.stderr
    status = subprocess.run([*run, "status", str(spec.run_dir)], capture_output=True, text=True)
    assert json.loads(status.stdout)["state"] == "running"
    assert subprocess.run([*run, "stop", arg], capture_output=True).returncode == 0
    assert not port_open(spec.ports[0])

    bad = subprocess.run([*run, "start", '{"name": "x"}'], capture_output=True, text=True)
    assert bad.returncode == 2 and "needs run_dir, log_file, argv" in bad.stderr
    failing = make_spec("exit=4")
    failed = subprocess.run([*run, "start", json.dumps(failing.raw)], capture_output=True, text=True, timeout=60)
    assert failed.returncode == 1 and "exited with code 4" in failed.stderr
    assert subprocess.run([*run, "bogus", "{}"], capture_output=True).returncode == 2


def test_envs_are_cached_by_their_requirements(tmp_path, monkeypatch):
    monkeypatch.setenv("STACKCTL_ENVS_DIR", str(tmp_path / "envs"))
    assert envs.env_key(["a==1", "b==2"]) == envs.env_key(["b==2", "a==1"])
    assert envs.env_key(["a==1"]) != envs.env_key(["a==2"])
    said: list[str] = []
    env = envs.ensure_env([], said.append)
    assert (env / envs.READY).is_file() and (env / "bin" / "python").exists()
    assert said and "building environment" in said[0]
    began = time.monotonic()
    assert envs.ensure_env([]) == env
    assert time.monotonic() - began < 0.1  # ready: no build, no lock wait


def test_a_failed_env_build_leaves_nothing_that_looks_ready(tmp_path, monkeypatch):
    monkeypatch.setenv("STACKCTL_ENVS_DIR", str(tmp_path / "envs"))
    with pytest.raises(envs.EnvError, match="failed"):
        envs.ensure_env(["this is not a requirement!"])
    leftovers = [p.name for p in (tmp_path / "envs").iterdir() if not p.name.endswith(".lock")]
    assert leftovers == []


def test_two_processes_build_one_env_once(tmp_path):
    code = ("import sys; from stackctl.runtime import envs; "
            "envs.ensure_env([], lambda m: print(m, flush=True))")
    env = {**os.environ, "STACKCTL_ENVS_DIR": str(tmp_path / "envs")}
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sum("building environment" in o for o in outs) == 1


def test_every_component_gets_a_tmpdir_of_its_own_and_private_tmp_a_tmp_of_its_own(make_spec, tmp_path):
    import secrets

    marker = f"stackctl-test-{secrets.token_hex(6)}"
    env_file = tmp_path / "env.json"
    spec = make_spec(f"tmp_marker={marker}", f"env_file={env_file}", private_tmp=True)
    start(spec, lambda _m: None)
    assert json.loads(env_file.read_text())["env"]["TMPDIR"] == str(spec.run_dir / "tmp")
    assert (spec.run_dir / "tmp" / marker).read_text() == "mine"
    assert not Path("/tmp", marker).exists()  # nothing of a stack outside its own directories
    assert oct((spec.run_dir / "tmp").stat().st_mode & 0o777) == "0o700"
    stop(spec, lambda _m: None)
    assert sorted(p.name for p in (spec.run_dir / "tmp").iterdir()) == [marker]  # its links into /tmp are gone


def test_unix_sockets_get_a_parent_short_enough_for_their_path(make_spec, tmp_path):
    """A socket path has 108 bytes: a server's private socket dir goes under its tmp dir when that fits,
    else under /tmp (postgres' bootstrap and redis' socket failed with 'path too long' in deep homes)."""
    short = Spec.parse({**make_spec().raw, "run_dir": "/srv/s/run/db"})
    assert short.socket_parent == "/srv/s/run/db/tmp"
    deep = Spec.parse({**make_spec().raw, "run_dir": "/home/someone/" + "d" * 60 + "/run/db"})
    assert deep.socket_parent == "/tmp"
    env_file = tmp_path / "env.json"
    spec = make_spec(f"env_file={env_file}")
    start(spec, lambda _m: None)
    assert json.loads(env_file.read_text())["env"]["STACKCTL_SOCKET_DIR"] == spec.socket_parent
    stop(spec, lambda _m: None)
