"""Start, stop and inspect one supervised server process for the local target.

Terraform's local-exec provisioners call this (see docs/components.md). The process runs detached
in its own process group (so stop reaches every child), logs to `log_file`, and is tracked by
`run_dir/pid`: the pid on the first line, the kernel's start time of that pid on the second, so a
recycled pid is never mistaken for ours. No secret is in the spec; secrets arrive through the
supervisor's own environment, which the process inherits (minus Terraform's TF_VAR_* variables,
which hold every secret of the stack). Everything here is private to the user: run and log dirs
0700, pid/spec/lock/log files 0600, and the server runs with umask 077, so its own data files (e.g.
SeaweedFS's, which hold the S3 keys) are too.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import RuntimeFailure
from ..paths import socket_parent
from .envs import ensure_env

PID_FILE = "pid"
SPEC_FILE = "spec.json"
PROGRESS_FILE = "progress"  # the step a start or stop is at, for stackctl's live view (see read_progress)
LOCK_FILE = ".supervisor.lock"
LOG_TAIL_LINES = 30
UNSHARE = ["--user", "--map-user=1000", "--map-group=1000", "--"]
UMASK = 0o077
# How often a start probes health and a stop checks the group and the ports: each wait between
# dependent components costs half of it on average, and a refused connect costs microseconds.
POLL = 0.05
Say = Callable[[str], None]


class SupervisorError(RuntimeFailure):
    """A start or stop that failed; the message is meant for the user as is."""

    default_hint = ("its log (the last lines above; all of it: `stackctl logs STACK COMPONENT`) says why; fix "
                    "that and run the stackctl command again (`stackctl down` rolls the stack back)")


class SpecError(SupervisorError):
    """The spec a Terraform module passed is malformed: a bug in that module, not in the user's manifest."""

    exit_code = 2
    default_hint = ("the spec comes from the component's Terraform module (its local-exec provisioner's "
                    "jsonencode(...)): fix the module, then run `stackctl up` again")


@dataclass(frozen=True)
class Spec:
    name: str
    run_dir: Path
    log_file: Path
    argv: list[str]
    requirements: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    health: dict[str, str] = field(default_factory=dict)
    ports: list[int] = field(default_factory=list)
    unprivileged: bool = False
    timeout: float = 120.0
    module_dir: str | None = None
    stop_timeout: float = 15.0  # grace period after stop_signal, then SIGKILL
    stop_signal: str = "SIGTERM"
    private_tmp: bool = False  # /tmp of its own (run_dir/tmp), for servers that hard-code /tmp paths
    secret_names: list[str] = field(default_factory=list)  # its secret variables (a remote launcher forwards them)
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def parse(cls, data: str | dict[str, Any]) -> Spec:
        if isinstance(data, str):
            try:
                data = json.loads(data)
            except json.JSONDecodeError as err:
                raise SpecError(f"the spec is not valid JSON: {err}") from None
        if not isinstance(data, dict):
            raise SpecError("the spec must be a JSON object")
        known = {f for f in cls.__dataclass_fields__ if f != "raw"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SpecError(f"unknown spec keys: {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        missing = [k for k in ("name", "run_dir", "log_file", "argv") if not data.get(k)]
        if missing:
            raise SpecError(f"the spec needs {', '.join(missing)}")
        argv, env, health = data["argv"], data.get("env") or {}, data.get("health") or {}
        if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
            raise SpecError("argv must be a list of strings")
        if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
            raise SpecError("env must map names to strings")
        if not isinstance(health, dict) or set(health) - {"http", "tcp"}:
            raise SpecError('health must be {"http": URL}, {"tcp": "HOST:PORT"} or both')
        stop_signal = data.get("stop_signal") or "SIGTERM"
        if not isinstance(getattr(signal, stop_signal, None), signal.Signals):
            raise SpecError(f"stop_signal {stop_signal!r} is not a signal name like SIGTERM")
        try:
            ports = [int(p) for p in data.get("ports") or []]
        except (TypeError, ValueError):
            raise SpecError("ports must be a list of integers") from None
        return cls(
            name=str(data["name"]), run_dir=Path(data["run_dir"]), log_file=Path(data["log_file"]),
            argv=argv, requirements=list(data.get("requirements") or []), env=env, health=health,
            ports=ports, unprivileged=bool(data.get("unprivileged")),
            timeout=float(data.get("timeout") or 120), module_dir=data.get("module_dir"),
            stop_timeout=float(data.get("stop_timeout") or 15), stop_signal=stop_signal,
            private_tmp=bool(data.get("private_tmp")), secret_names=list(data.get("secret_names") or []), raw=data,
        )

    def launch_key(self) -> tuple:
        """What makes a running process this spec's process (a change means restart)."""
        return (self.argv, sorted(self.env.items()), sorted(self.requirements), self.unprivileged, self.private_tmp)

    @property
    def tmp_dir(self) -> Path:
        """Every component's TMPDIR: a stack keeps nothing outside its own directories."""
        return self.run_dir / "tmp"

    @property
    def socket_parent(self) -> str:
        """Where a server makes the private directory of a unix socket (STACKCTL_SOCKET_DIR)."""
        return socket_parent(self.tmp_dir)


# --- process bookkeeping -----------------------------------------------------------------------

@dataclass(frozen=True)
class _Stat:
    state: str
    pgrp: int
    start: int


def _stat(pid: int) -> _Stat | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2:].split()  # the command name may contain spaces and ")"
    return _Stat(state=fields[0], pgrp=int(fields[2]), start=int(fields[19]))


def _alive(stat: _Stat | None) -> bool:
    return stat is not None and stat.state not in ("Z", "X")


def _read_pid(run_dir: Path) -> tuple[int, int | None] | None:
    try:
        lines = (run_dir / PID_FILE).read_text().split()
    except OSError:
        return None
    try:
        return int(lines[0]), (int(lines[1]) if len(lines) > 1 else None)
    except (IndexError, ValueError):
        return None


def _ours(pid: int, start: int | None) -> bool:
    stat = _stat(pid)
    return _alive(stat) and (start is None or stat.start == start)


def _group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of a process group: /proc, since PID 1 may not reap orphans."""
    members = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if _alive(stat) and stat.pgrp == pgid:
                members.append(int(entry.name))
    return members


def _reap(pid: int) -> None:
    """Reap our own child (a caller that started the process in-process), so it is not a zombie."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def health_of(run_dir: str | Path) -> str | None:
    """'ok', or why the recorded health probe fails; None when nothing was ever started here."""
    spec = _load_spec(Path(run_dir))
    if spec is None:
        return None
    return probe(spec.health) or "ok"


def process_status(run_dir: str | Path) -> dict[str, Any]:
    """state: running (its main process alive), stopped (never started, or stopped), dead (pid file, no
    process), broken (the main process is gone but others of its group live on, e.g. a server's worker
    still holding the port: the component is judged as one, so that is not running; `left` lists them)."""
    rec = _read_pid(Path(run_dir))
    if rec is None:
        return {"state": "stopped", "pid": None}
    pid, start = rec
    _reap(pid)
    if _ours(pid, start):
        return {"state": "running", "pid": pid}
    left = [] if _alive(_stat(pid)) else _group_members(pid)  # an alive pid here was recycled: not our group
    return {"state": "broken", "pid": pid, "left": left} if left else {"state": "dead", "pid": pid}


def describe_status(status: dict[str, Any]) -> str:
    """One line for a person: why a component that is not running is not."""
    if status["state"] == "broken":
        return (f"its main process {status['pid']} is gone while {len(status['left'])} other process(es) of it "
                f"still run ({', '.join(map(str, status['left'][:5]))})")
    if status["state"] == "dead":
        return f"its process {status['pid']} is gone"
    return status["state"]


@contextmanager
def _locked(run_dir: Path) -> Iterator[None]:
    with open(os.open(run_dir / LOCK_FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


# --- probes --------------------------------------------------------------------------------------

_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via http_proxy


def probe(health: dict[str, str], timeout: float = 3.0) -> str | None:
    """None when healthy (both probes pass, when both are given), else why not."""
    if "http" in health:
        try:
            with _NO_PROXY.open(health["http"], timeout=timeout) as resp:
                if not 200 <= resp.status < 300:
                    return f"HTTP {resp.status}"
        except urllib.error.HTTPError as err:
            return f"HTTP {err.code}"
        except (urllib.error.URLError, OSError) as err:
            return f"{getattr(err, 'reason', err)}"
    if "tcp" in health:
        host, _, port = health["tcp"].rpartition(":")
        try:
            with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout):
                pass
        except OSError as err:
            return err.strerror or str(err)
    return None


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((host, port)) == 0


def _describe(health: dict[str, str]) -> str:
    return " ".join(f"{k} {v}" for k, v in health.items()) or "no health probe"


def log_tail(log_file: Path, offset: int = 0, lines: int = LOG_TAIL_LINES) -> str:
    try:
        with open(log_file, "rb") as fh:
            fh.seek(offset)
            data = fh.read()
    except OSError:
        return ""
    return "\n".join(data.decode(errors="replace").splitlines()[-lines:])


# --- start / stop --------------------------------------------------------------------------------

def _substitute(value: str, env_dir: Path | None, spec: Spec) -> str:
    if "{env}" in value:
        if env_dir is None:
            raise SpecError("{env} is used but the spec has no requirements")
        value = value.replace("{env}", str(env_dir))
    if "{module}" in value:
        if not spec.module_dir:
            raise SpecError("{module} is used but the spec has no module_dir")
        value = value.replace("{module}", spec.module_dir)
    return value.replace("{run_dir}", str(spec.run_dir))


def _child_env(spec: Spec, env_dir: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_VAR_")}
    if env_dir is not None:
        env["VIRTUAL_ENV"] = str(env_dir)
        env["PATH"] = f"{env_dir / 'bin'}{os.pathsep}{env.get('PATH', os.defpath)}"
    env.pop("PYTHONHOME", None)
    env["TMPDIR"] = str(spec.tmp_dir)  # its temp files stay with its data, private
    env["STACKCTL_SOCKET_DIR"] = spec.socket_parent
    env.update({k: _substitute(v, env_dir, spec) for k, v in spec.env.items()})
    return env


def _argv(spec: Spec, env_dir: Path | None) -> list[str]:
    argv = [_substitute(a, env_dir, spec) for a in spec.argv]
    if spec.private_tmp:
        unshare = _unshare("private_tmp: true")
        ns = ["--mount", "--propagation", "private"] + ([] if os.geteuid() == 0 else ["--map-root-user"])
        argv = [unshare, *ns, "--", "/bin/sh", "-c", _PRIVATE_TMP, str(spec.tmp_dir), *argv]
    if spec.unprivileged and os.geteuid() == 0:
        if spec.private_tmp:
            raise SpecError("private_tmp and unprivileged cannot be combined")
        argv = [_unshare("unprivileged: true"), *UNSHARE, *argv]
    return argv


# In a mount namespace of its own, /tmp becomes the run dir's tmp/ (as systemd's PrivateTmp=), for
# servers that put sockets or logs under a hard-coded /tmp. What the outer /tmp held stays reachable
# through symlinks (the stack's own directories may live there), so only new entries land privately.
# $0 is the private dir; the outer /tmp is bound at its .outer first, while both paths still resolve.
_PRIVATE_TMP = """set -e
for old in "$0"/*; do [ -L "$old" ] && rm -f "$old"; done
mkdir -p "$0/.outer"
mount --bind /tmp "$0/.outer"
mount --rbind "$0" /tmp
for entry in /tmp/.outer/* /tmp/.outer/.[!.]*; do
  name=${entry##*/}
  [ -e "$entry" ] && [ ! -e "/tmp/$name" ] && [ "$name" != .outer ] && ln -s "$entry" "/tmp/$name"
done
exec "$@"
"""


def _unshare(why: str) -> str:
    unshare = shutil.which("unshare")
    if not unshare:
        raise SupervisorError(f"{why} needs `unshare`", "install util-linux (e.g. `apt-get install util-linux`)")
    return unshare


def _capture_for_benchmark(spec: Spec, argv: list[str], env: dict[str, str]) -> None:
    """bench/up_overhead.py replays each start without stackctl: it sets STACKCTL_CAPTURE_DIR to a
    private temp dir it deletes afterwards. The file holds secrets (the child's environment): 0600."""
    target = os.environ.get("STACKCTL_CAPTURE_DIR")
    if not target:
        return
    path = Path(target) / f"{spec.name}.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"argv": argv, "env": env, "cwd": str(spec.run_dir)}, fh)


class _Progress:
    """`say`, and the same words (without the name) in run_dir/progress: Terraform hides a provisioner's
    output when its configuration holds a sensitive value, so stackctl's view reads the step from here."""

    def __init__(self, spec: Spec, say: Say):
        self.spec, self.say, self._last = spec, say, 0.0

    def __call__(self, message: str) -> None:
        self.say(message)
        self.note(message.removeprefix(f"{self.spec.name}: "))

    def note(self, text: str, every: float = 0.0) -> None:
        """Write the step; with `every`, at most that often (a wait loop's elapsed time)."""
        now = time.monotonic()
        if every and now - self._last < every:
            return
        self._last = now
        try:
            _write_atomic(self.spec.run_dir / PROGRESS_FILE, text[:200] + "\n")
        except OSError:
            pass  # a view's nicety: never a reason for a start or stop to fail


def read_progress(run_dir: str | Path, since: float = 0.0) -> str | None:
    """The step a start or stop is at, if one was written after `since` (what an earlier run left is not)."""
    path = Path(run_dir) / PROGRESS_FILE
    try:
        if path.stat().st_mtime < since:
            return None
        return path.read_text().strip() or None
    except OSError:
        return None


def start(spec: Spec, say: Say = print) -> dict[str, Any]:
    """Make sure the spec's process runs and is healthy; idempotent."""
    for path in (spec.run_dir, spec.tmp_dir, spec.log_file.parent):
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        if path.stat().st_mode & 0o077:
            path.chmod(0o700)
    say = _Progress(spec, say)
    with _locked(spec.run_dir):
        status = process_status(spec.run_dir)
        if status["state"] == "running":
            old = _load_spec(spec.run_dir)
            if old is not None and old.launch_key() != spec.launch_key():
                say(f"{spec.name}: configuration changed, restarting pid {status['pid']}")
                _stop_locked(old, say)  # the old spec knows the old ports and stop signal
            else:
                _wait_healthy(spec, status["pid"], None, 0, already=True)
                say(f"{spec.name}: already running (pid {status['pid']}) and healthy")
                return process_status(spec.run_dir)
        elif status["state"] in ("dead", "broken"):  # what is left of a broken one goes with it
            say(f"{spec.name}: {describe_status(status)}; starting it again as a whole")
            if not _alive(_stat(status["pid"])):  # else the pid was recycled: its group is not ours
                _terminate_group(status["pid"], signal.SIGKILL, 0, spec, say)  # leftover children
            (spec.run_dir / PID_FILE).unlink(missing_ok=True)

        busy = [p for p in spec.ports if port_open(p)]
        if busy:
            raise SupervisorError(f"{spec.name}: port(s) {', '.join(map(str, busy))} already in use by "
                                  "another process", f"stop it (`ss -ltnp 'sport = :{busy[0]}'` names it), or give "
                                  "the component other ports in the manifest")
        env_dir = ensure_env(spec.requirements, progress=lambda m: say(f"{spec.name}: {m}")) \
            if spec.requirements else None
        argv, env = _argv(spec, env_dir), _child_env(spec, env_dir)
        _capture_for_benchmark(spec, argv, env)
        started = time.monotonic()
        proc, offset = _launch(spec, argv, env, say)
        try:
            _wait_healthy(spec, proc.pid, proc, offset, note=say.note)
        except KeyboardInterrupt:  # the caller is gone (ssh: its Ctrl-C): no half-started server stays
            _fail(spec, "start interrupted before it became healthy; stopped it", offset, proc.pid, proc)
        say(f"{spec.name}: healthy after {time.monotonic() - started:.1f}s (pid {proc.pid})")
        return process_status(spec.run_dir)


def _launch(spec: Spec, argv: list[str], env: dict[str, str], say: Say) -> tuple[subprocess.Popen, int]:
    fd = os.open(spec.log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.fchmod(fd, 0o600)  # a log made by an older version
    with os.fdopen(fd, "ab") as log:
        offset = log.seek(0, os.SEEK_END)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        log.write(f"--- stackctl: starting {spec.name} at {stamp}: {' '.join(argv)}\n".encode())
        log.flush()
        say(f"{spec.name}: starting {' '.join(argv)}")
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    cwd=spec.run_dir, env=env, start_new_session=True, close_fds=True,
                                    umask=UMASK)
        except OSError as err:
            raise SupervisorError(f"{spec.name}: cannot run {argv[0]}: {err.strerror or err}",
                                  "check that it exists and is executable; `stackctl up` rebuilds a component "
                                  "environment that was removed") from None
    stat = _stat(proc.pid)
    _write_atomic(spec.run_dir / PID_FILE, f"{proc.pid}\n{stat.start if stat else ''}\n")
    _write_atomic(spec.run_dir / SPEC_FILE, json.dumps(spec.raw, indent=2, sort_keys=True) + "\n")
    return proc, offset


def _wait_healthy(spec: Spec, pid: int, proc: subprocess.Popen | None, offset: int,
                  already: bool = False, note: Callable[..., None] | None = None) -> None:
    began = time.monotonic()
    deadline = began + spec.timeout
    settle = time.monotonic() + 1.0  # without a probe: alive for a second counts as started
    while True:
        code = proc.poll() if proc is not None else None
        if code is not None or (proc is None and not _alive(_stat(pid))):
            reason = f"exited with code {code}" if code is not None else "died"
            if spec.unprivileged and code is not None and os.geteuid() == 0 and "unshare" in log_tail(
                    spec.log_file, offset):
                reason += " (running it as an unprivileged user via `unshare --user` failed)"
            _fail(spec, f"{reason} before it became healthy", offset, pid, proc)
        why = probe(spec.health) if spec.health else (None if time.monotonic() > settle else "settling")
        if why is None:
            return
        if note is not None:
            note(f"waiting for {_describe(spec.health)}: {time.monotonic() - began:.0f}s (pid {pid})", every=1.0)
        if time.monotonic() > deadline:
            state = "is running but" if already else "started but"
            _fail(spec, f"{state} {_describe(spec.health)} failed for {spec.timeout:.0f}s (last: {why})",
                  offset, pid, proc if not already else None, kill=not already)
        time.sleep(POLL)


def _fail(spec: Spec, reason: str, offset: int, pid: int, proc: subprocess.Popen | None,
          kill: bool = True) -> None:
    if kill:  # leave no half-started server behind holding the ports
        _terminate_group(pid, signal.SIGTERM, 5, spec, lambda _m: None)
        (spec.run_dir / PID_FILE).unlink(missing_ok=True)
        if proc is not None:
            proc.poll()
    tail = log_tail(spec.log_file, offset)
    more = f"\n--- last lines of {spec.log_file}:\n{tail}" if tail else f" (log {spec.log_file} is empty)"
    raise SupervisorError(f"{spec.name}: {reason}{more}")


def _load_spec(run_dir: Path) -> Spec | None:
    try:
        return Spec.parse((run_dir / SPEC_FILE).read_text())
    except (OSError, SupervisorError):
        return None


def _terminate_group(pgid: int, sig: signal.Signals, grace: float, spec: Spec, say: Say) -> None:
    """Signal the whole process group, then SIGKILL what is left after `grace` seconds."""
    for current, wait in ((sig, grace), (signal.SIGKILL, 5.0)):
        if not _group_members(pgid):
            return
        try:
            os.killpg(pgid, current)
        except ProcessLookupError:
            return
        except PermissionError as err:
            raise SupervisorError(f"{spec.name}: cannot signal process group {pgid}: {err}",
                                  "it belongs to another user: stop it as that user (or root)") from None
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            _reap(pgid)
            if not _group_members(pgid):
                return
            time.sleep(POLL)
        if current != signal.SIGKILL:
            say(f"{spec.name}: still running {wait:.0f}s after {current.name}, sending SIGKILL")
    left = _group_members(pgid)
    if left:
        raise SupervisorError(f"{spec.name}: processes {left} survived SIGKILL",
                              f"one stuck in the kernel (`ps -o pid,stat,cmd -g {pgid}` shows state D) goes only "
                              "once its I/O returns, or with a reboot")


def stop(spec: Spec, say: Say = print) -> None:
    """Stop the whole process group and wait until its ports are closed; no-op when not running."""
    if not spec.run_dir.is_dir():
        say(f"{spec.name}: not running")
        return
    say = _Progress(spec, say)
    with _locked(spec.run_dir):
        _stop_locked(spec, say)


def stop_recorded(run_dir: str | Path, say: Say = print, grace: float | None = None) -> bool:
    """Stop whatever the spec recorded in run_dir started; True when a process had to be stopped.

    For processes Terraform no longer knows about: a start interrupted by Ctrl-C leaves its
    resource tainted, and Terraform runs no destroy-time provisioner for tainted resources.
    `grace` caps the spec's stop_timeout: when the data is about to be deleted, a server that is slow
    to stop after its own signal has nothing left to save.
    """
    spec = _load_spec(Path(run_dir))
    if spec is None or process_status(run_dir)["state"] not in ("running", "broken"):
        return False
    if grace is not None:
        spec = dataclasses.replace(spec, stop_timeout=min(spec.stop_timeout, grace))
    stop(spec, say)
    return True


def _stop_locked(spec: Spec, say: _Progress) -> None:
    rec = _read_pid(spec.run_dir)
    if rec is None:
        say(f"{spec.name}: not running")
        return
    pid, start = rec
    stat = _stat(pid)
    if _alive(stat) and start is not None and stat.start != start:
        say(f"{spec.name}: pid {pid} belongs to another process now; nothing to stop")
    else:
        say.note(f"stopping pid {pid} ({spec.stop_signal}, then SIGKILL after {spec.stop_timeout:.0f}s)")
        _terminate_group(pid, getattr(signal, spec.stop_signal), spec.stop_timeout, spec, say)
        say(f"{spec.name}: stopped (pid {pid})")
    (spec.run_dir / PID_FILE).unlink(missing_ok=True)
    _clear_private_tmp(spec)
    _wait_ports_closed(spec, 10.0)


def _clear_private_tmp(spec: Spec) -> None:
    """The links into the outer /tmp that _PRIVATE_TMP made mean nothing outside its namespace."""
    if not spec.private_tmp or not spec.tmp_dir.is_dir():
        return
    for entry in spec.tmp_dir.iterdir():
        if entry.is_symlink() and os.readlink(entry).startswith("/tmp/.outer/"):
            entry.unlink()
    with contextlib.suppress(OSError):
        (spec.tmp_dir / ".outer").rmdir()


def _wait_ports_closed(spec: Spec, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        busy = [p for p in spec.ports if port_open(p)]
        if not busy:
            return
        if time.monotonic() > deadline:
            raise SupervisorError(f"{spec.name}: port(s) {', '.join(map(str, busy))} still open after stop: "
                                  "another process is listening there",
                                  f"stop it (`ss -ltnp 'sport = :{busy[0]}'` names it) and run the command again")
        time.sleep(POLL)

