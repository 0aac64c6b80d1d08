"""Commands, copies and file reads on one host through the user's own OpenSSH client.

The user's `ssh` (not a Python SSH library), so ~/.ssh/config (Host aliases, ProxyJump, ports, keys)
and ssh-agent work exactly as they do for `ssh`; a stack may override the key and the known_hosts file.
Never prompts (BatchMode), always verifies host keys (StrictHostKeyChecking=yes), and reuses one
connection per host (ControlMaster) so a stack of many components is not one handshake per command.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shlex
import shutil
import stat
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ...errors import FilesystemError, ToolMissingError
from .failures import RemoteCommandFailed, SshConfigError, SshTimeout, Where, classify, clean

PERSIST = "10m"  # an idle master stays this long: the Terraform run's many stackctl calls share it
SOCKET_MAX = 104  # sun_path is 108 bytes (104 on macOS); ssh adds ".XXXXXXXXXXXXXXXX" while it binds


@dataclass(frozen=True)
class SshHost:
    """One host as the manifest names it: `address` may be an IP, a DNS name or a ~/.ssh/config alias."""

    name: str
    address: str
    user: str | None = None
    port: int | None = None  # None: whatever ~/.ssh/config says (22 by default)
    identity_file: str | None = None


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: bytes
    stderr: str

    @property
    def text(self) -> str:
        return self.stdout.decode(errors="replace")


class Transport:
    def __init__(self, host: SshHost, *, known_hosts: str | None = None, config_file: str | None = None,
                 connect_timeout: int = 10, control_dir: Path | None = None):
        for tool in ("ssh", "ssh-keygen", "ssh-keyscan"):
            if not shutil.which(tool):
                raise ToolMissingError(f"{tool} not found; the ssh target uses your OpenSSH client",
                                       "install it (Debian/Ubuntu: apt-get install openssh-client)")
        self.host = host
        self.identity = _expand(host.identity_file)
        self.known_hosts = _expand(known_hosts)
        self.config_file = _expand(config_file)
        for label, path in (("identity_file", self.identity), ("ssh config", self.config_file)):
            if path and not os.path.exists(path):
                raise SshConfigError(host.name, f"{label} {path} does not exist",
                                     "fix the path in the manifest (ssh-keygen -t ed25519 makes a key)")
        self.connect_timeout = connect_timeout
        settings = f"{self.identity}|{self.known_hosts}|{self.config_file}"
        self.control_dir = control_dir or _private_dir(hashlib.sha256(settings.encode()).hexdigest()[:8])
        self._lock = threading.Lock()
        self._master = False  # this object has seen the shared connection up

    # ---- argv ----

    def options(self) -> list[str]:
        opts = ["-F", self.config_file] if self.config_file else []
        opts += ["-o", "BatchMode=yes", "-o", f"ConnectTimeout={self.connect_timeout}",
                 "-o", "StrictHostKeyChecking=yes", "-o", "ControlMaster=auto", "-o", f"ControlPersist={PERSIST}",
                 "-o", f"ControlPath={self.control_dir}/%C", "-o", "ServerAliveInterval=15",
                 "-o", "ServerAliveCountMax=4"]
        if self.identity:  # only this key: an agent holding many keys would exhaust MaxAuthTries first
            opts += ["-i", self.identity, "-o", "IdentitiesOnly=yes"]
        if self.known_hosts:
            opts += ["-o", f"UserKnownHostsFile={self.known_hosts}"]
        if self.host.port:
            opts += ["-p", str(self.host.port)]
        if self.host.user:
            opts += ["-l", self.host.user]
        return opts

    def argv(self, command: str) -> list[str]:
        return ["ssh", *self.options(), "--", self.host.address, command]

    # ---- commands ----

    def run(self, command: str, *, stdin: bytes | None = None, timeout: float = 60, check: bool = True,
            what: str | None = None, hold_stdin: bool = False) -> Result:
        """Run a shell command line on the host; ssh's own failures raise SshError, a command's exit >0
        raises RemoteCommandFailed when `check`. With `hold_stdin`, the command's stdin stays open after
        `stdin` until this call returns: its EOF tells the host that we are gone (interrupted, killed)."""
        self._ensure_master()
        return self._call(command, stdin, timeout, what or short(command), check, hold_stdin)

    def _call(self, command: str, stdin: bytes | None, timeout: float, what: str, check: bool,
              hold_stdin: bool = False) -> Result:
        read, write = os.pipe() if hold_stdin else (None, None)
        try:
            if hold_stdin:
                os.write(write, stdin or b"")  # small (an environment): the pipe's buffer holds it
                proc = subprocess.run(self.argv(command), stdin=read, capture_output=True, timeout=timeout)
            else:
                proc = subprocess.run(self.argv(command), input=stdin if stdin is not None else b"",
                                      capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise SshTimeout(self.host.name, f"{what} did not finish in {timeout:g}s",
                             "the host is slow or the connection hangs; try again, or raise the timeout") from None
        finally:
            for fd in (read, write):
                if fd is not None:
                    os.close(fd)
        result = Result(proc.returncode, proc.stdout, clean(proc.stderr.decode(errors="replace")))
        self._raise_for(result, what, check)
        return result

    def script(self, text: str, *args: str, stdin: bytes | None = None, timeout: float = 60,
               check: bool = True, what: str = "a script") -> Result:
        """A POSIX sh script with positional arguments ($1 ...), whatever the user's login shell is."""
        command = " ".join(shlex.quote(a) for a in ("sh", "-c", text, "sh", *args))
        return self.run(command, stdin=stdin, timeout=timeout, check=check, what=what)

    def put_tree(self, local: Path, remote: str, *, timeout: float = 600) -> None:
        """Copy a local directory's contents into `remote` (made if missing) in one tar stream."""
        if not Path(local).is_dir():
            raise FilesystemError(f"{local} is not a directory; cannot copy it to {self.host.name}",
                                  "check the path (a bug in stackctl if it made it)")
        self._ensure_master()
        command = f"mkdir -p {remote_path(remote)} && tar -xof - -C {remote_path(remote)}"
        # tar's complaints go to a file: a pipe nobody reads while it runs could fill and stall it
        with tempfile.TemporaryFile() as errors, subprocess.Popen(
                ["tar", "-C", str(local), "-cf", "-", "."], stdout=subprocess.PIPE, stderr=errors) as tar:
            try:
                proc = subprocess.run(self.argv(command), stdin=tar.stdout, capture_output=True, timeout=timeout)
            except subprocess.TimeoutExpired:
                tar.kill()
                raise SshTimeout(self.host.name, f"copying {local} did not finish in {timeout:g}s",
                                 "the link is slow: try again, or copy it by hand with scp") from None
            tar.stdout.close()
            if tar.wait() != 0:
                errors.seek(0)
                why = errors.read().decode(errors="replace").strip().splitlines()[-1:] or ["tar failed"]
                raise FilesystemError(f"could not read {local} to copy it to {self.host.name}: {why[0]}",
                                      "check that its files are readable")
        result = Result(proc.returncode, proc.stdout, clean(proc.stderr.decode(errors="replace")))
        self._raise_for(result, f"copying {local} to {remote}", True)

    def read_file(self, remote: str, *, timeout: float = 60) -> bytes:
        return self.run(f"cat -- {remote_path(remote)}", timeout=timeout, what=f"reading {remote}").stdout

    @contextlib.contextmanager
    def follow(self, remote: str, lines: int = 10) -> Iterator[IO[bytes]]:
        """The remote file's last lines, then what is appended (for `logs -f`), as a byte stream.

        tail runs until our side closes its stdin: a killed client over a shared connection would
        otherwise leave `tail -F` running on the host.
        """
        self._ensure_master()
        command = f"tail -n {int(lines)} -F {remote_path(remote)} & t=$!; cat >/dev/null; kill $t"
        proc = subprocess.Popen(self.argv(command), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        try:
            yield proc.stdout
        finally:
            proc.stdin.close()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            proc.stdout.close()
            proc.stderr.close()

    def _ensure_master(self) -> None:
        """Log in once before commands share the connection: a burst of first commands would each
        log in, and sshd drops logins past MaxStartups (10). A file lock, as other stackctl processes
        (Terraform runs several at once) share the connection too."""
        with self._lock:
            if self._master:
                return
            key = hashlib.sha256(f"{self.host.address}|{self.host.port}|{self.host.user}".encode()).hexdigest()
            with open(self.control_dir / f"{key[:16]}.lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                if not self.connected():
                    self._call("true", None, self.connect_timeout * 3 + 30, "logging in", True)
            self._master = True

    def connected(self) -> bool:
        """Whether a shared connection (master) to the host is up."""
        proc = subprocess.run(["ssh", *self.options(), "-O", "check", "--", self.host.address],
                              capture_output=True, timeout=30)
        return proc.returncode == 0

    def close(self) -> None:
        """Stop the shared connection (a no-op when there is none)."""
        with self._lock:
            self._master = False
        subprocess.run(["ssh", *self.options(), "-O", "exit", "--", self.host.address],
                       capture_output=True, timeout=30)

    # ---- failures ----

    def _raise_for(self, result: Result, what: str, check: bool) -> None:
        if result.returncode == 255:
            where = self.where()
            error = classify(result.stderr, where, self._fingerprint_if_unknown(result.stderr, where))
            if error:
                raise error
        if check and result.returncode != 0:
            raise RemoteCommandFailed(self.host.name, what, result.returncode, result.stderr)

    def where(self) -> Where:
        """The host as ssh resolves it (`ssh -G`: ~/.ssh/config applied), for messages."""
        proc = subprocess.run(["ssh", *self.options(), "-G", "--", self.host.address],
                              capture_output=True, text=True, timeout=30)
        seen: dict[str, list[str]] = {}
        for line in proc.stdout.splitlines():
            key, _, value = line.partition(" ")
            seen.setdefault(key, []).append(value)

        def one(key: str, default: str) -> str:
            return (seen.get(key) or [default])[0]

        if self.identity:
            keys = (self.identity,)
        else:
            keys = tuple(k for k in seen.get("identityfile", []) if os.path.exists(_tilde(k)))
        known = self.known_hosts or one("userknownhostsfile", "~/.ssh/known_hosts").split(" ")[0]
        port = one("port", "22")
        return Where(self.host.name, one("hostname", self.host.address), int(port) if port.isdigit() else 22,
                     one("user", self.host.user or ""), known, keys)

    def _fingerprint_if_unknown(self, stderr: str, where: Where) -> str | None:
        if "host key is known for" not in stderr:
            return None
        try:
            scan = subprocess.run(["ssh-keyscan", "-p", str(where.port), "-T", str(self.connect_timeout),
                                   where.address], capture_output=True, text=True, timeout=self.connect_timeout + 10)
            listed = subprocess.run(["ssh-keygen", "-lf", "-"], input=scan.stdout, capture_output=True,
                                    text=True, timeout=30)
        except subprocess.TimeoutExpired:
            return None
        # "256 SHA256:abc 10.0.0.11 (ED25519)" per key: name each by its type
        prints = [f"{p[1]} ({p[-1].strip('()')})" for p in (line.split() for line in listed.stdout.splitlines())
                  if len(p) >= 3]
        return ", ".join(prints) or None


def remote_path(path: str) -> str:
    """A path quoted for the remote shell, with a leading ~/ left to the remote $HOME."""
    if path == "~" or path.startswith("~/"):
        return '"$HOME"' + (shlex.quote(path[1:]) if len(path) > 1 else "")
    return shlex.quote(path)


def short(command: str, limit: int = 60) -> str:
    lines = command.strip().splitlines() or [""]
    cut = len(lines[0]) > limit or len(lines) > 1
    return f"`{lines[0][:limit]}{'…' if cut else ''}`"


def _expand(path: str | None) -> str | None:
    return os.path.expanduser(path) if path else None


def _tilde(path: str) -> str:
    """`~` as OpenSSH expands it: the password database's home, not $HOME."""
    import pwd

    return pwd.getpwuid(os.getuid()).pw_dir + path[1:] if path.startswith("~") else path


def _private_dir(name: str) -> Path:
    """<tmp>/stackctl-ssh-<uid>/<name>, mode 0700 and ours: control sockets are logins to the hosts."""
    base = tempfile.gettempdir()
    if len(base) > 40:  # a long TMPDIR (macOS) would push socket paths past sun_path
        base = "/tmp"
    root = Path(base) / f"stackctl-ssh-{os.getuid()}"
    for path in (root, root / name):
        path.mkdir(mode=0o700, exist_ok=True)
        info = os.lstat(path)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
            raise FilesystemError(f"{path} is not a directory of yours; ssh connection sockets go there",
                                  "remove it (another user may have made it), or set TMPDIR to a private directory")
        if info.st_mode & 0o077:
            os.chmod(path, 0o700)
    if len(str(root / name)) + 1 + 40 + 17 > SOCKET_MAX:
        raise FilesystemError(f"{root / name} is too long for ssh's connection sockets",
                              "set TMPDIR to a short directory, e.g. /tmp")
    return root / name
