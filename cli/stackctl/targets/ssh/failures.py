"""What OpenSSH prints when it fails, as one clear stackctl error with the fix (the only place it is read).

ssh exits 255 for its own failures; the message tells them apart. The fixes name the user's real files
and addresses, which `Where` carries (from `ssh -G`, so ~/.ssh/config aliases resolve as ssh resolves them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ...errors import InputError, StackctlError


@dataclass(frozen=True)
class Where:
    """The host as ssh resolved it, for messages: `name` is the manifest's, the rest from `ssh -G`."""

    name: str
    address: str  # the real hostname or IP after ~/.ssh/config
    port: int = 22
    user: str = ""
    known_hosts: str = "~/.ssh/known_hosts"
    identities: tuple[str, ...] = ()  # keys ssh offers (-i / IdentityFile); the agent's come first

    @property
    def key_host(self) -> str:
        """How known_hosts names the host: `addr`, or `[addr]:port` off port 22."""
        return self.address if self.port == 22 else f"[{self.address}]:{self.port}"

    @property
    def login(self) -> str:
        return f"{self.user}@{self.address}" if self.user else self.address


class SshError(StackctlError):
    """ssh could not run a command on a host (connection, host key, login); `check` says which step."""

    check = "reachable"

    def __init__(self, host: str, message: str, hint: str | None = None):
        self.host = host
        super().__init__(f"ssh {host}: {message}", hint)


class Unreachable(SshError):
    check = "reachable"


class HostKeyUnknown(SshError):
    check = "host key"


class HostKeyChanged(SshError):
    check = "host key"


class AuthFailed(SshError):
    check = "authenticated"


class SshConfigError(SshError, InputError):
    """The user's own ssh configuration (or an identity file the stack names) is broken."""

    check = "ssh config"


class SshTimeout(SshError):
    check = "reachable"


class RemoteCommandFailed(StackctlError):
    """The connection worked; the command on the host exited non-zero."""

    def __init__(self, host: str, what: str, returncode: int, stderr: str, hint: str | None = None):
        self.host, self.returncode, self.stderr = host, returncode, stderr
        tail = " | ".join(stderr.strip().splitlines()[-3:])
        super().__init__(f"ssh {host}: {what} exited {returncode}" + (f": {tail}" if tail else ""), hint)


_CONNECT = re.compile(r"ssh: connect to host (\S+) port (\d+): (.+)")
_RESOLVE = re.compile(r"ssh: Could not resolve hostname (\S+?): (.+)")
_CONFIG = re.compile(r"^(\S+): line (\d+): (.+)$", re.M)
_OFFENDING = re.compile(r"Offending \S+ key in (\S+?):(\d+)")
_DENIED = re.compile(r"^\S+: Permission denied \(", re.M)  # "root@10.0.0.11: Permission denied (publickey)."
_SENT_KEY = re.compile(r"(SHA256:[A-Za-z0-9+/=]+)")
_WHY = {
    "Connection refused": "nothing listens for ssh on that port (is sshd running? is the port right?)",
    "Connection timed out": "no answer (host down, wrong address, or a firewall dropping the port)",
    "No route to host": "no route to that address from here (wrong address, host down, or another network)",
    "Network is unreachable": "no route to that network from here",
}


# ssh's notes about the shared connection (sshd's MaxSessions reached: ssh falls back to its own
# connection), which are not the remote command's output
_NOISE = re.compile(r"^(mux_client_\w+: .*|ControlSocket .* already exists, disabling multiplexing)\r?$\n?", re.M)


def clean(stderr: str) -> str:
    """The remote command's stderr without ssh's multiplexing notes, and with \\n line ends."""
    return _NOISE.sub("", stderr).replace("\r\n", "\n")


def classify(stderr: str, where: Where, fingerprint: str | None = None) -> SshError | None:
    """The error ssh's stderr describes, or None when it is not one of ssh's own failures.

    `fingerprint` is the host's key as `ssh-keyscan | ssh-keygen -lf -` shows it (unknown host keys only).
    """
    name, kh = where.name, where.known_hosts
    if "REMOTE HOST IDENTIFICATION HAS CHANGED" in stderr:
        sent = _SENT_KEY.search(stderr)
        offending = _OFFENDING.search(stderr)
        at = f" ({offending.group(1)} line {offending.group(2)})" if offending else ""
        return HostKeyChanged(
            name, f"WARNING: the host key of {where.key_host} has changed since it was recorded{at}; "
                  f"it now sends {sent.group(1) if sent else 'another key'}. This may be an attack.",
            f"verify that fingerprint on the host itself (`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub`); "
            f"only if it matches: ssh-keygen -f {kh} -R '{where.key_host}', then add the new key")
    if "host key is known for" in stderr or "Host key verification failed" in stderr:
        got = f"the host sends {fingerprint}" if fingerprint else "its key could not be read with ssh-keyscan"
        return HostKeyUnknown(
            name, f"host key of {where.key_host} is not in {kh} ({got})",
            f"check that fingerprint on the host (`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub`), then: "
            f"ssh-keyscan -p {where.port} -H {where.address} >> {kh}")
    if _DENIED.search(stderr):
        offered = ", ".join(where.identities) or "the ssh-agent's keys"
        key = next((k for k in where.identities if not k.endswith(".pub")), "~/.ssh/id_ed25519")
        return AuthFailed(
            name, f"{where.login} did not accept the key (offered: {offered})",
            f"install the public key on the host: ssh-copy-id -i {key}.pub -p {where.port} {where.login} "
            f"(or append {key}.pub to ~{where.user or ''}/.ssh/authorized_keys there), or set identity_file "
            "for this host in the manifest")
    if m := _CONNECT.search(stderr):
        reason = m.group(3).strip()
        why = _WHY.get(reason, reason)
        return Unreachable(name, f"cannot connect to {m.group(1)} port {m.group(2)}: {reason}",
                           f"{why}; try `ssh -p {where.port} {where.login}` from here")
    if m := _RESOLVE.search(stderr):
        return Unreachable(name, f"unknown host name {m.group(1)!r} ({m.group(2).strip()})",
                           "fix the address in the manifest, or add a Host entry for it to ~/.ssh/config")
    if m := re.search(r"Can't open user config file (.+?): (.+)", stderr):
        return SshConfigError(name, f"cannot open ssh config {m.group(1)}: {m.group(2).strip()}",
                              "point to an existing file, or remove the option")
    if m := _CONFIG.search(stderr):
        return SshConfigError(name, f"your ssh config is invalid: {m.group(1)} line {m.group(2)}: {m.group(3)}",
                              f"fix line {m.group(2)} of {m.group(1)} (`ssh -G {where.address}` shows the problem)")
    if "Connection closed by" in stderr or "Connection reset" in stderr or "kex_exchange_identification" in stderr:
        return Unreachable(name, f"the connection was closed: {_last(stderr)}",
                           "sshd refused the session (MaxStartups, a firewall, or a ProxyJump host): try "
                           f"`ssh -v -p {where.port} {where.login}`")
    if stderr.lstrip().startswith("ssh:") or "ProxyJump" in stderr or "stdio forwarding failed" in stderr:
        return Unreachable(name, _last(stderr), f"try `ssh -v -p {where.port} {where.login}` to see why")
    return None


def _last(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(ssh printed nothing)"
