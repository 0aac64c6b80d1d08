"""The ssh transport, host facts and preflight against real sshd hosts in network namespaces.

No GPU exists on this machine, so GPU hosts carry a stand-in `nvidia-smi` on their PATH that prints
given GPUs exactly as `nvidia-smi --query-gpu=index,name,memory.total,driver_version --format=csv,noheader`
does; what is tested is that stackctl asks that question and reads the answer.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from tests import sshhosts
from tests.conftest import REPO
from tests.sshhosts import HostSpec

from stackctl.targets.ssh import failures
from stackctl.targets.ssh.preflight import Needs, preflight
from stackctl.targets.ssh.transport import SshHost, Transport

pytestmark = pytest.mark.e2e

A100 = "0, NVIDIA A100-SXM4-80GB, 81920 MiB, 535.129.03"
SSH_HOSTS = {"gpu1": HostSpec(gpus=[A100]), "cpu1": HostSpec(), "nopy": HostSpec(python="missing"),
             "oldpy": HostSpec(python="3.8.10")}


@pytest.fixture
def control_dir():
    """A fresh, short directory for connection sockets (pytest's tmp_path is too long for sun_path)."""
    path = Path(tempfile.mkdtemp(prefix="sks-cm-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def transport(cluster, name, *, address=None, port=None, key=None, known_hosts=None, **kw) -> Transport:
    """A transport as a stack would make one; -F /dev/null keeps root's own ~/.ssh/config out of the test."""
    host = cluster.hosts[name]
    if "control_dir" not in kw:  # the cluster's, removed with it (the default is shared by every run)
        kw["control_dir"] = cluster.dir / "cm"
        kw["control_dir"].mkdir(mode=0o700, exist_ok=True)
    return Transport(SshHost(name, address or host.address, user="root", port=port,
                             identity_file=str(key or cluster.key)),
                     known_hosts=str(known_hosts or cluster.known_hosts), config_file="/dev/null", **kw)


def fingerprint(host) -> str:
    out = subprocess.run(["ssh-keygen", "-lf", str(host.dir / "ssh_host_ed25519_key.pub")],
                         capture_output=True, text=True, check=True).stdout
    return out.split()[1]


def test_commands_scripts_and_copies_round_trip(ssh_cluster, control_dir, tmp_path):
    t = transport(ssh_cluster, "cpu1", control_dir=control_dir)
    try:
        assert t.run("echo hello; echo oops >&2").text == "hello\n"
        blob = bytes(range(256)) * 64
        out = t.script('printf "%s|%s\\n" "$1" "$2"; sha256sum | cut -d" " -f1', "two words", "$(x)", stdin=blob)
        assert out.text == f"two words|$(x)\n{hashlib.sha256(blob).hexdigest()}\n"
        with pytest.raises(failures.RemoteCommandFailed) as failed:
            t.run("echo no such thing >&2; exit 3", what="the probe")
        assert failed.value.returncode == 3
        assert str(failed.value) == "ssh cpu1: the probe exited 3: no such thing"

        src = tmp_path / "src"
        (src / "sub dir").mkdir(parents=True)
        (src / "a.txt").write_text("alpha\n")
        (src / "sub dir" / "b.bin").write_bytes(blob)
        dest = f"{ssh_cluster.dir}/copied/env one"
        t.put_tree(src, dest)
        assert t.read_file(f"{dest}/a.txt") == b"alpha\n"
        assert t.read_file(f"{dest}/sub dir/b.bin") == blob
        with pytest.raises(failures.RemoteCommandFailed, match="reading /nonexistent exited 1: .*No such file"):
            t.read_file("/nonexistent")
        with pytest.raises(failures.SshTimeout, match=r"^ssh cpu1: `sleep 30` did not finish in 1s\n  fix: "):
            t.run("sleep 30", timeout=1)
    finally:
        t.close()


def test_follow_streams_appended_lines_and_stops_its_tail(ssh_cluster, control_dir):
    t = transport(ssh_cluster, "cpu1", control_dir=control_dir)
    log = ssh_cluster.dir / "follow.log"
    log.write_text("".join(f"line {i}\n" for i in range(20)))
    host = ssh_cluster.hosts["cpu1"]
    try:
        with t.follow(str(log), lines=2) as stream:
            assert [stream.readline(), stream.readline()] == [b"line 18\n", b"line 19\n"]
            with open(log, "a") as f:
                f.write("appended\n")
            assert stream.readline() == b"appended\n"
            leaving = time.monotonic()
        assert time.monotonic() - leaving < 5, "follow() waited for its ssh to give up instead of ending tail"
        assert _tails(host) == [], "tail -F still runs on the host after follow() ended"
    finally:
        t.close()


def _tails(host, wait: float = 5) -> list[str]:
    deadline = time.monotonic() + wait
    while True:
        pids = subprocess.run(["ip", "netns", "pids", host.netns], capture_output=True, text=True).stdout.split()
        tails = [p for p in pids if Path(f"/proc/{p}/comm").exists() and
                 Path(f"/proc/{p}/comm").read_text().strip() == "tail"]
        if not tails or time.monotonic() > deadline:
            return tails
        time.sleep(0.1)


def test_ten_commands_share_one_login(ssh_cluster, control_dir):
    host = ssh_cluster.hosts["gpu1"]
    t = transport(ssh_cluster, "gpu1", control_dir=control_dir)
    before = host.accepted()
    try:
        for i in range(10):
            assert t.run(f"echo {i}").text == f"{i}\n"
        assert host.accepted() - before == 1, host.log.read_text()[-2000:]
        assert t.connected()
        sockets = _sockets(control_dir)
        assert len(sockets) == 1 and len(str(sockets[0])) < 108
    finally:
        t.close()
    assert not t.connected() and _sockets(control_dir) == []
    t.run("true")
    t.close()
    assert host.accepted() - before == 2  # a new master after close() logs in again


def _sockets(directory: Path) -> list[Path]:
    return [p for p in directory.iterdir() if stat.S_ISSOCK(p.lstat().st_mode)]


def test_more_parallel_commands_than_sshd_allows_sessions(ssh_cluster, control_dir):
    """sshd allows 10 sessions per connection (MaxSessions); the rest get connections of their own."""
    t = transport(ssh_cluster, "cpu1", control_dir=control_dir)
    try:
        with ThreadPoolExecutor(16) as pool:
            results = list(pool.map(lambda i: t.run(f"sleep 2; echo {i} >&2; echo {i}"), range(16)))
    finally:
        t.close()
    assert [(r.text, r.stderr) for r in results] == [(f"{i}\n", f"{i}\n") for i in range(16)]


def test_the_default_socket_directory_is_private_and_short(ssh_cluster):
    t = transport(ssh_cluster, "cpu1", control_dir=None)
    try:
        t.run("true")
        info = os.stat(t.control_dir)
        assert stat.S_IMODE(info.st_mode) == 0o700 and info.st_uid == os.getuid()
        assert stat.S_IMODE(os.stat(t.control_dir.parent).st_mode) == 0o700
        assert len(str(t.control_dir)) + 1 + 40 + 17 <= 104
    finally:
        t.close()
        shutil.rmtree(t.control_dir, ignore_errors=True)  # keyed by this run's key and known_hosts


def test_unreachable_and_refused(ssh_cluster):
    lost = transport(ssh_cluster, "cpu1", address=ssh_cluster.unused_address(), connect_timeout=2)
    with pytest.raises(failures.Unreachable) as err:
        lost.run("true")
    assert f"ssh cpu1: cannot connect to {ssh_cluster.unused_address()} port 22: " in err.value.message
    assert any(why in err.value.message for why in ("Connection timed out", "No route to host"))
    assert f"try `ssh -p 22 root@{ssh_cluster.unused_address()}`" in err.value.hint

    refused = transport(ssh_cluster, "cpu1", port=2222)
    with pytest.raises(failures.Unreachable) as err:
        refused.run("true")
    assert err.value.message.endswith("port 2222: Connection refused")
    assert "nothing listens for ssh on that port" in err.value.hint


def test_a_key_the_host_does_not_accept(ssh_cluster, tmp_path):
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    address = ssh_cluster.hosts["cpu1"].address
    with pytest.raises(failures.AuthFailed) as err:
        transport(ssh_cluster, "cpu1", key=other).run("true")
    assert str(err.value) == (
        f"ssh cpu1: root@{address} did not accept the key (offered: {other})\n"
        f"  fix: install the public key on the host: ssh-copy-id -i {other}.pub -p 22 root@{address} "
        f"(or append {other}.pub to ~root/.ssh/authorized_keys there), or set identity_file for this host "
        "in the manifest")


def test_an_unknown_host_key_is_refused_and_the_fix_works(ssh_cluster, tmp_path):
    host = ssh_cluster.hosts["cpu1"]
    known = tmp_path / "known_hosts"
    known.write_text("")
    t = transport(ssh_cluster, "cpu1", known_hosts=known)
    with pytest.raises(failures.HostKeyUnknown) as err:
        t.run("true")
    assert f"(the host sends {fingerprint(host)} (ED25519))" in err.value.message
    fix = f"ssh-keyscan -p 22 -H {host.address} >> {known}"
    assert err.value.hint.endswith(fix)
    subprocess.run(fix, shell=True, check=True, capture_output=True)  # what the user is told to run
    try:
        assert t.run("echo in").text == "in\n"
    finally:
        t.close()


def test_a_changed_host_key_warns_and_the_fix_works(ssh_cluster, tmp_path):
    host = ssh_cluster.hosts["cpu1"]
    impostor = tmp_path / "impostor"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(impostor)], check=True)
    known = tmp_path / "known_hosts"
    known.write_text(f"{host.address} {' '.join(Path(f'{impostor}.pub').read_text().split()[:2])}\n")
    t = transport(ssh_cluster, "cpu1", known_hosts=known)
    with pytest.raises(failures.HostKeyChanged) as err:
        t.run("true")
    assert err.value.message.startswith(f"ssh cpu1: WARNING: the host key of {host.address} has changed")
    assert f"it now sends {fingerprint(host)}" in err.value.message
    remove = f"ssh-keygen -f {known} -R '{host.address}'"
    assert remove in err.value.hint
    subprocess.run(remove, shell=True, check=True, capture_output=True)
    with pytest.raises(failures.HostKeyUnknown):  # removed: now unknown, not silently trusted
        t.run("true")


def test_the_users_broken_ssh_config(ssh_cluster, tmp_path, control_dir):
    config = tmp_path / "ssh_config"
    config.write_text("Host *\n  Frobnicate yes\n")
    t = Transport(SshHost("cpu1", ssh_cluster.hosts["cpu1"].address, identity_file=str(ssh_cluster.key)),
                  known_hosts=str(ssh_cluster.known_hosts), config_file=str(config), control_dir=control_dir)
    with pytest.raises(failures.SshConfigError) as err:
        t.run("true")
    assert err.value.exit_code == 2
    assert f"{config} line 2: Bad configuration option: frobnicate" in err.value.message


def test_preflight_over_all_hosts(ssh_cluster):
    ssh_cluster.hosts["gpu1"].listen(18080)
    hosts = {n: transport(ssh_cluster, n) for n in SSH_HOSTS}
    hosts["gone"] = transport(ssh_cluster, "cpu1", address=ssh_cluster.unused_address(), connect_timeout=2)
    try:
        checks = {c.name: c for c in preflight(hosts, Needs(directory=f"{ssh_cluster.dir}/not/yet",
                                                            ports={"gpu1": [18080, 18081]},
                                                            gpus={"gpu1": 2, "cpu1": 1}))}
    finally:
        for t in hosts.values():
            t.close()
    status = {name: c.status for name, c in checks.items()}
    for name in SSH_HOSTS:
        assert [status[f"{name} {s}"] for s in ("reachable", "host key", "authenticated", "os/arch")] == ["OK"] * 4
    assert status["gpu1 python3"] == status["cpu1 python3"] == "OK"
    assert checks["nopy python3"].status == "NO"
    assert checks["nopy python3"].detail == "no python3 on the PATH of ssh sessions"
    assert checks["oldpy python3"].status == "NO"
    assert checks["oldpy python3"].detail.endswith("is Python 3.8.10; components need >= 3.10")
    assert checks["gpu1 disk"].status == "OK" and f"free under {ssh_cluster.dir} " in checks["gpu1 disk"].detail
    assert (status["gpu1 port 18080"], status["gpu1 port 18081"]) == ("NO", "OK")
    assert checks["gpu1 port 18080"].detail == "something already listens on port 18080"
    assert (status["gone reachable"], status["gone host key"], status["gone authenticated"]) == \
        ("NO", "UNKNOWN", "UNKNOWN")
    assert "gone os/arch" not in status
    gpus = checks["gpus"]
    assert gpus.status == "NO"
    assert gpus.detail == ("not enough GPUs: gpu1 asked 2, has 1 (1 x NVIDIA A100-SXM4-80GB 80 GiB); "
                           "cpu1 asked 1, has none (no nvidia-smi)")
    assert gpus.hint


def test_gpus_read_from_the_stand_in_nvidia_smi_suffice(ssh_cluster):
    t = transport(ssh_cluster, "gpu1")
    try:
        checks = preflight({"gpu1": t}, Needs(gpus={"gpu1": 1}))
    finally:
        t.close()
    assert checks[-1].name == "gpus" and checks[-1].status == "OK"
    assert checks[-1].detail == "gpu1 asked 1, has 1 (1 x NVIDIA A100-SXM4-80GB 80 GiB)"


def test_a_killed_run_is_swept_and_a_finished_one_leaves_nothing(ssh_cluster):
    """Another run side by side (a child process) gets its own subnet; killed, its leftovers are swept,
    and the sweep leaves this live run's hosts alone."""
    code = ("import time\nfrom tests import sshhosts\n"
            "c = sshhosts.Cluster({'h': sshhosts.HostSpec()}).start(); print(c.dir, c.subnet, flush=True)\n"
            "time.sleep(600)")
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        made, subnet = child.stdout.readline().split()
        made = Path(made)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    pid = child.pid
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert made.is_dir() and f"stkssh-{pid}" in names
    sshd = subprocess.run(["ip", "netns", "pids", f"stkssh-{pid}a-h"], capture_output=True, text=True).stdout.split()
    assert sshd, "the killed run's sshd should still run (it is in its own session)"
    removed = sshhosts.sweep()
    assert f"netns stkssh-{pid}a-h" in removed and f"link sks{pid}ab" in removed and f"dir {made}" in removed
    assert f"stkssh-{pid}" not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    deadline = time.monotonic() + 10  # killed; reaped by init soon after
    while any(Path(f"/proc/{p}").exists() for p in sshd) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(Path(f"/proc/{p}").exists() for p in sshd)
    assert not made.exists()
    assert subnet != str(ssh_cluster.subnet)
    t = transport(ssh_cluster, "cpu1")
    try:
        assert t.run("echo alive").text == "alive\n"
    finally:
        t.close()

    with sshhosts.cluster({"h": HostSpec()}) as done:
        assert done.leftovers() != []
    assert done.leftovers() == []


def test_the_users_ssh_config_aliases_keys_and_proxyjump(ssh_cluster, tmp_path, control_dir):
    """No per-stack key or known_hosts: ssh's own config decides, as it does for `ssh gpu-alias`."""
    gpu1, cpu1 = ssh_cluster.hosts["gpu1"], ssh_cluster.hosts["cpu1"]
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    config = tmp_path / "ssh_config"
    config.write_text(f"""\
Host bastion
  HostName {cpu1.address}
Host gpu-alias
  HostName {gpu1.address}
  ProxyJump bastion
Host stranger
  HostName {gpu1.address}
  UserKnownHostsFile {empty}
Host *
  User root
  IdentityFile {ssh_cluster.key}
  UserKnownHostsFile {ssh_cluster.known_hosts}
""")
    jumped = Transport(SshHost("gpu1", "gpu-alias"), config_file=str(config), control_dir=control_dir)
    try:
        assert jumped.run("echo $SSH_CONNECTION").text.split()[0] == cpu1.address  # it came through the bastion
    finally:
        jumped.close()
    assert f"Accepted publickey for root from {cpu1.address}" in gpu1.log.read_text()

    with pytest.raises(failures.HostKeyUnknown) as err:
        Transport(SshHost("gpu1", "stranger"), config_file=str(config), control_dir=control_dir).run("true")
    assert f"host key of {gpu1.address} is not in {empty}" in err.value.message  # the real name, the real file
    assert err.value.hint.endswith(f"ssh-keyscan -p 22 -H {gpu1.address} >> {empty}")
