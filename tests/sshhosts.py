"""Real sshd test hosts in network namespaces: an air-gapped "cluster" this machine reaches over a bridge.

Each host is a network namespace with one veth on a Linux bridge in the root namespace (the bridge
holds the controller's address), its own 10.x address, `lo` up and no default route (no way out), and
its own `sshd -D -e` with its own host key, config, pid file and log. Hosts share this machine's file
system, so a host's "PATH" is a directory here: sessions run through a ForceCommand wrapper that sets
it (sshd sets PATH itself, and root's ~/.bashrc prepends pyenv, so SetEnv alone is not enough).

Names carry this process's pid (namespaces `stkssh-<pid><letter>-<host>`, temp dirs
`stkssh-<pid>-*`, links `sks<pid><letter>...`), so two runs side by side never clash,
and `sweep()` removes what a killed earlier run left behind (its pid is gone).
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

SSHD = "/usr/sbin/sshd"
NS_PREFIX = "stkssh-"
LINK = re.compile(r"^sks(\d+)[a-z]")  # sks<pid><cluster letter>b (bridge) | r<i> (root end of a veth)
LOCK = Path(tempfile.gettempdir()) / "stkssh.lock"  # subnet choice is one at a time across runs
_clusters = 0  # clusters made by this process: the letter in link names


def missing_tools() -> str | None:
    """Why these hosts cannot run here, or None."""
    if os.geteuid() != 0:
        return "ssh test hosts need root (network namespaces, a bridge, sshd)"
    for tool in (SSHD, "ip", "ssh", "ssh-keygen", "ssh-keyscan"):
        if not shutil.which(tool):
            return f"{tool} not found (Debian: apt-get install -y openssh-server iproute2)"
    return None


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, check=check, timeout=60)


@dataclass
class HostSpec:
    """What a test needs of one host: which python3 its PATH has, and which GPUs its stand-in nvidia-smi shows."""

    python: str = "system"  # "system" | "missing" | a version for a fake old python3, e.g. "3.8.10"
    gpus: list[str] | None = None  # nvidia-smi csv lines ("0, NVIDIA A100-SXM4-80GB, 81920 MiB, 535.129.03")


@dataclass
class Host:
    name: str
    address: str
    netns: str
    dir: Path
    log: Path  # sshd's stderr (-e): "Accepted publickey ..." per authentication
    port: int = 22
    user: str = "root"
    process: subprocess.Popen | None = None
    extra: list[subprocess.Popen] = field(default_factory=list)

    @property
    def host_key(self) -> str:
        """'ssh-ed25519 AAAA...' (the public host key, without its comment)."""
        return " ".join((self.dir / "ssh_host_ed25519_key.pub").read_text().split()[:2])

    def known_hosts_line(self) -> str:
        return f"{self.address} {self.host_key}\n"

    def listen(self, port: int) -> None:
        """Hold a TCP port open inside this host (a port-in-use case)."""
        code = ("import socket,time\ns=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
                f"s.bind(('0.0.0.0',{port}));s.listen();print('up',flush=True);time.sleep(3600)")
        proc = subprocess.Popen(["ip", "netns", "exec", self.netns, "python3", "-c", code], stdout=subprocess.PIPE)
        self.extra.append(proc)
        assert proc.stdout.readline().strip() == b"up"

    def accepted(self) -> int:
        """How many logins sshd accepted (each new connection authenticates once)."""
        return self.log.read_text(errors="replace").count("Accepted publickey")


class Cluster:
    """Hosts on one bridge, with a client key authorized on all and a known_hosts file naming them."""

    def __init__(self, specs: dict[str, HostSpec]):
        global _clusters
        self.pid = os.getpid()
        self.tag = f"{self.pid}{chr(ord('a') + _clusters % 26)}"
        _clusters += 1
        self.bridge = f"sks{self.tag}b"
        self.specs = specs
        self.hosts: dict[str, Host] = {}
        self.netns: list[str] = []
        self.links: list[str] = []
        self.dir = Path(tempfile.mkdtemp(prefix=f"{NS_PREFIX}{self.pid}-"))
        self.key = self.dir / "client_key"
        self.known_hosts = self.dir / "known_hosts"
        self.subnet: ipaddress.IPv4Network | None = None

    # ---- set up ----

    def start(self) -> Cluster:
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege separation directory
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "stkssh-client", "-f", str(self.key))
        with open(LOCK, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self.subnet = _free_subnet()
            sh("ip", "link", "add", self.bridge, "type", "bridge")
            self.links.append(self.bridge)
            sh("ip", "addr", "add", f"{self.controller}/24", "dev", self.bridge)
        sh("ip", "link", "set", self.bridge, "up")
        for index, (name, spec) in enumerate(self.specs.items()):
            self.hosts[name] = self._host(index, name, spec)
        self.known_hosts.write_text("".join(h.known_hosts_line() for h in self.hosts.values()))
        for host in self.hosts.values():
            _wait_port(host)
        return self

    @property
    def controller(self) -> str:
        return str(self.subnet.network_address + 1)

    def unused_address(self) -> str:
        """An address on the hosts' subnet that nobody has (ARP goes unanswered: no route to host)."""
        return str(self.subnet.network_address + 250)

    def _host(self, index: int, name: str, spec: HostSpec) -> Host:
        netns = f"{NS_PREFIX}{self.tag}-{name}"
        root_end, host_end = f"sks{self.tag}r{index}", f"sks{self.tag}h{index}"
        address = str(self.subnet.network_address + 10 + index)
        sh("ip", "netns", "add", netns)
        self.netns.append(netns)
        sh("ip", "link", "add", root_end, "type", "veth", "peer", "name", host_end)
        self.links.append(root_end)
        sh("ip", "link", "set", root_end, "master", self.bridge, "up")
        sh("ip", "link", "set", host_end, "netns", netns)
        inside = ("ip", "netns", "exec", netns, "ip")
        sh(*inside, "link", "set", host_end, "name", "eth0")
        sh(*inside, "addr", "add", f"{address}/24", "dev", "eth0")
        sh(*inside, "link", "set", "eth0", "up")
        sh(*inside, "link", "set", "lo", "up")  # no default route: the host reaches its subnet only
        hdir = self.dir / name
        hdir.mkdir()
        host = Host(name, address, netns, hdir, hdir / "sshd.log")
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"stkssh-{name}", "-f",
           str(hdir / "ssh_host_ed25519_key"))
        shutil.copy(f"{self.key}.pub", hdir / "authorized_keys")
        _write_session(hdir, spec)
        (hdir / "sshd_config").write_text(_sshd_config(hdir, address))
        with open(host.log, "ab") as log:
            host.process = subprocess.Popen(
                ["ip", "netns", "exec", netns, SSHD, "-D", "-e", "-f", str(hdir / "sshd_config")],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        return host

    # ---- clean up ----

    def stop(self) -> list[str]:
        """Kill every process, delete namespaces, links and files; return what could not be removed."""
        for host in self.hosts.values():
            for proc in [host.process, *host.extra]:
                if proc and proc.poll() is None:
                    proc.kill()
                    proc.wait(timeout=10)
        for netns in self.netns:
            _kill_inside(netns)
            sh("ip", "netns", "del", netns, check=False)
        for link in self.links:  # deleting a namespace deletes its veth pair; the bridge is ours to delete
            sh("ip", "link", "del", link, check=False)
        shutil.rmtree(self.dir, ignore_errors=True)
        return self.leftovers()

    def leftovers(self) -> list[str]:
        names = set(sh("ip", "netns", "list").stdout.split())
        left = [f"netns {n}" for n in self.netns if n in names]
        links = _links()
        left += [f"link {n}" for n in links if n.startswith(f"sks{self.tag}")]
        left += [f"dir {self.dir}"] if self.dir.exists() else []
        return left


def _sshd_config(hdir: Path, address: str) -> str:
    # SHLVL=1: bash sources ~/.bashrc for ssh commands only at shell level 1; root's here runs `pyenv init`,
    # whose rehash, run by parallel sessions, prints races into their stderr (and costs 0.3 s a command)
    return f"""\
ListenAddress {address}:22
HostKey {hdir}/ssh_host_ed25519_key
PidFile {hdir}/sshd.pid
AuthorizedKeysFile {hdir}/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
LogLevel INFO
ForceCommand {hdir}/session
SetEnv SHLVL=1
"""


def _write_session(hdir: Path, spec: HostSpec) -> None:
    """The host's PATH: bin/ (nvidia-smi, a fake python3, or a copy of /usr/bin without python3)."""
    bin_dir = hdir / "bin"
    bin_dir.mkdir()
    if spec.python == "system":
        path = f"{bin_dir}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    else:  # /usr/bin and /usr/sbin as symlinks, less every python
        for source in ("/usr/sbin", "/usr/bin"):
            for entry in os.scandir(source):
                if not entry.name.startswith("python") and not (bin_dir / entry.name).exists():
                    (bin_dir / entry.name).symlink_to(entry.path)
        path = str(bin_dir)
        if spec.python != "missing":
            _script(bin_dir / "python3", f'echo "Python {spec.python}"\n')
    if spec.gpus is not None:
        # no GPU exists here: this prints what `nvidia-smi --query-gpu=... --format=csv,noheader` would
        rows = "".join(f"{row}\n" for row in spec.gpus)
        _script(bin_dir / "nvidia-smi",
                'case "$*" in *--query-gpu=index,name,memory.total,driver_version*--format=csv,noheader*) ;;\n'
                '  *) echo "stand-in nvidia-smi: unexpected arguments: $*" >&2; exit 2;; esac\n'
                f"cat <<'EOF'\n{rows}EOF\n")
    _script(hdir / "session", f'PATH="{path}"; export PATH\nexec /bin/sh -c "$SSH_ORIGINAL_COMMAND"\n')


def _script(path: Path, body: str) -> None:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)


def _links() -> list[str]:
    out = sh("ip", "-o", "link", "show").stdout
    return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if ":" in line]


def _free_subnet() -> ipaddress.IPv4Network:
    """A 10.x.y.0/24 that no address or route on this machine touches, starting from one the pid picks."""
    used = sh("ip", "-4", "-o", "addr", "show").stdout + sh("ip", "-4", "route", "show", "table", "all").stdout
    taken = [ipaddress.ip_network(m, strict=False) for m in re.findall(r"\b(\d+\.\d+\.\d+\.\d+(?:/\d+)?)", used)]
    start = os.getpid() * 7
    for step in range(200 * 256):
        n = (start + step) % (200 * 256)
        net = ipaddress.ip_network(f"10.{50 + n // 256}.{n % 256}.0/24")
        if not any(net.overlaps(t) for t in taken if t.prefixlen >= 8):
            return net
    raise RuntimeError("no free 10.x.y.0/24 subnet for ssh test hosts")


def _wait_port(host: Host, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if host.process.poll() is not None:
            raise RuntimeError(f"sshd of {host.name} exited: {host.log.read_text()[-2000:]}")
        if "Server listening" in host.log.read_text(errors="replace"):
            return
        time.sleep(0.05)
    raise RuntimeError(f"sshd of {host.name} did not start in {timeout}s: {host.log.read_text()[-2000:]}")


def _kill_inside(netns: str) -> None:
    for pid in sh("ip", "netns", "pids", netns, check=False).stdout.split():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep() -> list[str]:
    """Remove what killed earlier runs left: namespaces, links and temp dirs whose pid is gone."""
    removed = []
    for netns in sh("ip", "netns", "list").stdout.split():
        m = re.match(rf"^{NS_PREFIX}(\d+)", netns)
        if m and not _alive(int(m.group(1))):
            _kill_inside(netns)
            sh("ip", "netns", "del", netns, check=False)
            removed.append(f"netns {netns}")
    for link in _links():
        m = LINK.match(link)
        if m and not _alive(int(m.group(1))):
            sh("ip", "link", "del", link, check=False)
            removed.append(f"link {link}")
    for entry in Path(tempfile.gettempdir()).glob(f"{NS_PREFIX}*-*"):
        m = re.match(rf"^{NS_PREFIX}(\d+)-", entry.name)
        if m and entry.is_dir() and not _alive(int(m.group(1))):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(f"dir {entry}")
    return removed


@contextlib.contextmanager
def cluster(specs: dict[str, HostSpec]):
    """Hosts for the duration of a with-block; everything is removed on the way out, failure or not
    (and first, whatever a killed earlier run left)."""
    sweep()
    made = Cluster(specs)
    try:
        yield made.start()
    finally:
        made.stop()
