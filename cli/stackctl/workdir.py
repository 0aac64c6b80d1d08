"""A stack's workdir under stackctl's home: the rendered root, state, logs, run dirs, its record, its lock.

    <home>/stacks/<name>/stack.json     the record: manifest path and hash, target, ports, times
    <home>/stacks/<name>/tf/            the rendered Terraform root (and local state)
    <home>/stacks/<name>/run/<inst>/    each local component's pid file and data
    <home>/stacks/<name>/logs/<inst>.log
    <home>/stacks/<name>/run/terraform.pid  the running Terraform (pid, start time, command), see tfguard
    <home>/stacks/<name>/tmp/           Terraform's TMPDIR and saved plans; emptied by the next command

Everything is private to the user: directories 0700, files 0600 (the state and the plans hold the
stack's secrets). A workdir made by an older stackctl is tightened once, on the next command.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from . import backends, paths
from .errors import InputError, LockError, short

RESERVE_FILE = ".reserve"
RESERVE_BYTES = 8 * 2**20


class RecordError(InputError):
    """A stack's record (stack.json) cannot be read: truncated, edited by hand, or from another version."""

    def __init__(self, path: Path, reason: str):
        self.path = path
        super().__init__(
            f"the record of stack {path.parent.name} ({path}) is unreadable: {reason}",
            f"run `stackctl up MANIFEST` or `stackctl down MANIFEST` with the stack's manifest: either rebuilds "
            f"the record from the manifest and the Terraform state (the bad one is kept as {path.name}.bad)")


@dataclass
class StackRecord:
    name: str
    manifest_path: str
    manifest_sha256: str
    target: str
    backend: str = backends.LOCAL  # records written before the field existed
    identity: str = ""
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    ttl: str | None = None
    state: str = "rendered"  # rendered | applying | up | failed | interrupted | destroying
    note: str = ""  # why the state is what it is (an interrupt, a killed run), and what to run next
    ports: dict[str, dict[str, int]] = field(default_factory=dict)  # instance -> input -> port
    components: dict[str, str] = field(default_factory=dict)  # instance -> component
    provider_mirror: str | None = None  # STACKCTL_PROVIDER_MIRROR at `up`: later commands use it too


class Workdir:
    def __init__(self, name: str, root: Path | None = None):
        self.name = name
        self.root = root or paths.stack_workdir(name)
        self.notes: list[str] = []  # what taking the lock settled after a killed run (see recover)

    @property
    def tf_dir(self) -> Path:
        return self.root / "tf"

    @property
    def record_path(self) -> Path:
        return self.root / "stack.json"

    def run_dir(self, instance: str) -> Path:
        return self.root / "run" / instance

    @property
    def tmp_dir(self) -> Path:
        return self.root / "tmp"

    def log_file(self, instance: str) -> Path:
        return self.root / "logs" / f"{instance}.log"

    @property
    def reserve_path(self) -> Path:
        return self.root / RESERVE_FILE

    def reserve_space(self) -> None:
        """Set disk space aside (a ballast file) that `down` frees first, so a stack can be destroyed
        even once the disk has filled up: the record, Terraform's state and lock need a few blocks."""
        if self.reserve_path.is_file() and self.reserve_path.stat().st_blocks * 512 >= RESERVE_BYTES:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.reserve_path, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.posix_fallocate(fd, 0, RESERVE_BYTES)  # real blocks, not a sparse file
        finally:
            os.close(fd)

    def release_space(self) -> None:
        self.reserve_path.unlink(missing_ok=True)

    def exists(self) -> bool:
        return self.record_path.is_file()

    def load_record(self) -> StackRecord | None:
        """The record, None when there is none; RecordError (naming the file and the fix) when unreadable."""
        try:
            raw = self.record_path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            data = json.loads(raw)
            if not isinstance(data, dict):
                raise TypeError("not a JSON object")
            return StackRecord(**data)
        except (ValueError, TypeError) as err:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise RecordError(self.record_path, short(str(err), 120)) from None

    def set_aside_record(self) -> Path:
        """Move an unreadable record out of the way (kept for inspection) so a new one can be written."""
        aside = self.record_path.with_name(self.record_path.name + ".bad")
        self.record_path.replace(aside)
        return aside

    def save_record(self, record: StackRecord) -> None:
        record.updated_at = time.time()
        paths.private_dir(self.root)
        tmp = self.record_path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(json.dumps(asdict(record), indent=2, sort_keys=True))
        os.chmod(tmp, 0o600)  # a .tmp left by an older version keeps its mode through O_TRUNC
        tmp.replace(self.record_path)  # atomic: `stackctl ls` never reads half a record

    @contextlib.contextmanager
    def lock(self, command: str):
        """Exclusive, non-blocking: a second `up`/`down` of the same stack fails fast, naming the holder.

        Once held, what a killed run left is settled (see `recover`); its notes are in `self.notes`.
        """
        older = self.root.is_dir() and self.root.stat().st_mode & 0o077
        paths.private_dir(self.root)
        path = self.root / ".lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        os.fchmod(fd, 0o600)  # older versions made it 0644
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = Path(path).read_text().strip() or "another stackctl process"
                raise LockError(f"stack {self.name!r} is being changed right now by {holder}",
                                "wait for that run to finish; the lock is released when its process exits") from None
            os.ftruncate(fd, 0)
            os.write(fd, f"pid {os.getpid()} (stackctl {command}, since {time.strftime('%H:%M:%S')})".encode())
            if older:
                paths.tighten(self.root)  # made by a stackctl that wrote 0644 state in 0755 dirs
            self.notes = self.recover()
            yield
        finally:
            os.close(fd)  # closing releases the flock, also when the process dies

    def recover(self) -> list[str]:
        """With the lock held, settle what a killed or interrupted run left: remove its saved plans and
        temp files, and give a record still saying applying/destroying an honest state."""
        from .terraform import clean_legacy_plans, clean_stale

        notes = []
        if clean_stale(self.root):
            notes.append("removed the temporary files (saved plans) of an earlier run that was killed")
        legacy = clean_legacy_plans()
        if legacy:
            notes.append(f"removed {len(legacy)} saved plan(s) an older stackctl left in {legacy[0].parent}")
        try:
            record = self.load_record()
        except RecordError:  # unreadable: the command's Stack.record() rebuilds it and says so
            record = None
        if record is not None and record.state in ("applying", "destroying"):
            verb = "up" if record.state == "applying" else "down"
            record.note = (f"`stackctl {verb}` stopped while {record.state} (killed); run `stackctl {verb}` to "
                           "finish" + ("" if verb == "down" else ", or `stackctl down` to roll back"))
            record.state = "interrupted"
            self.save_record(record)
            notes.append(f"the last {record.note}")
        return notes

    def shown(self, record: StackRecord | None) -> StackRecord | None:
        """The record as `status`/`ls` should show it: applying/destroying with no stackctl holding the
        stack means that run was killed (the next plan/up/down writes this down, see `recover`)."""
        if record is None or record.state not in ("applying", "destroying") or self.busy():
            return record
        verb = "up" if record.state == "applying" else "down"
        return replace(record, state="interrupted",
                       note=f"a `stackctl {verb}` was killed while {record.state}; run `stackctl {verb}` to finish")

    def busy(self) -> bool:
        """True while a stackctl process holds this stack's lock."""
        try:
            fd = os.open(self.root / ".lock", os.O_RDONLY)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return False
        except BlockingIOError:
            return True
        finally:
            os.close(fd)


def all_workdirs() -> list[Workdir]:
    root = paths.stacks_home()
    if not root.is_dir():
        return []
    return [Workdir(p.name) for p in sorted(root.iterdir()) if (p / "stack.json").is_file()]


def all_records() -> tuple[list[StackRecord], list[RecordError]]:
    """Every stack's record; an unreadable one is returned as its error, so it cannot hide the others."""
    records, broken = [], []
    for wd in all_workdirs():
        try:
            record = wd.load_record()
        except RecordError as err:
            broken.append(err)
            continue
        if record is not None:
            records.append(record)
    return records, broken


def allocate_ports(count: int) -> list[int]:
    """Free TCP ports on 127.0.0.1, distinct from each other (all sockets held until all are found)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def port_is_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0
