"""The ssh target's parsers: host facts output, nvidia-smi csv, and what OpenSSH prints when it fails.

The stderr samples are what OpenSSH 9.2 prints (captured from the netns test hosts, tests/sshhosts.py).
"""

from __future__ import annotations

import pytest

from stackctl.errors import InputError
from stackctl.targets.ssh import failures, hostfacts
from stackctl.targets.ssh.failures import Where
from stackctl.targets.ssh.hostfacts import Gpu
from stackctl.targets.ssh.preflight import Needs, gpu_check, host_checks
from stackctl.targets.ssh.transport import remote_path

FACTS = """\
== uname
Linux x86_64
== python3
/usr/bin/python3
Python 3.11.2
== disk
/root
Filesystem     1024-blocks     Used Available Capacity Mounted on
/dev/vda        103081248 40000000  59661756      41% /
== ports
LISTEN 0      128    10.56.73.10:22        0.0.0.0:*
LISTEN 0      4096   [::]:8080             [::]:*
LISTEN 0      10     127.0.0.53%lo:53      0.0.0.0:*
== gpus
0, NVIDIA A100-SXM4-80GB, 81920 MiB, 535.129.03
1, NVIDIA A100-SXM4-80GB, 81920 MiB, 535.129.03
rc=0
"""


def test_facts_parse_every_section():
    facts = hostfacts.parse(FACTS)
    assert (facts.system, facts.arch) == ("Linux", "x86_64")
    assert facts.python == "/usr/bin/python3" and facts.python_version == (3, 11, 2)
    assert facts.disk_dir == "/root" and facts.disk_free == 59661756 * 1024
    assert facts.ports == {22, 8080, 53}
    assert facts.nvidia_smi and [g.index for g in facts.gpus] == [0, 1]
    assert facts.gpus[0] == Gpu(0, "NVIDIA A100-SXM4-80GB", 81920, "535.129.03")


def test_facts_without_python_ss_or_nvidia_smi():
    text = ("== uname\nLinux aarch64\n== python3\n== disk\n/\n/dev/root 100 50 50 50% /\n== ports\nproc\n"
            "  sl  local_address rem_address   st tx_queue rx_queue\n"
            "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000\n"
            "   1: 0100007F:D2F0 0100007F:1F90 01 00000000:00000000 00:00000000 00000000\n"
            "   0: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A 0\n"
            "== gpus\nabsent\n")
    facts = hostfacts.parse(text)
    assert facts.arch == "aarch64" and facts.python is None and facts.disk_free == 50 * 1024
    assert facts.ports == {8080, 22}  # the established connection (state 01) is not a listener
    assert not facts.nvidia_smi and facts.gpus == []


def test_nvidia_smi_that_fails_is_an_error_not_zero_gpus():
    text = ("== gpus\nNVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\nrc=9\n")
    facts = hostfacts.parse(text)
    assert facts.nvidia_smi and facts.gpus == []
    assert "couldn't communicate with the NVIDIA driver" in facts.gpu_error


@pytest.mark.parametrize("line, gpu", [
    ("0, Tesla T4, 15360 MiB, 470.82.01", Gpu(0, "Tesla T4", 15360, "470.82.01")),
    ("3, NVIDIA H100 80GB HBM3, 81559 MiB, 550.54.15", Gpu(3, "NVIDIA H100 80GB HBM3", 81559, "550.54.15")),
    ("1, Weird, Name, With Commas, 1024 MiB, 1.0", Gpu(1, "Weird, Name, With Commas", 1024, "1.0")),
    ("0, [N/A], [N/A], 535.1", Gpu(0, "[N/A]", 0, "535.1")),
])
def test_nvidia_csv(line, gpu):
    assert hostfacts.nvidia_csv(line + "\n\n") == [gpu]


@pytest.mark.parametrize("text, version", [
    ("Python 3.10.12", (3, 10, 12)), ("Python 3.13.0rc1", (3, 13, 0)), ("Python 3.9", (3, 9)),
    ("pyenv: python3: command not found", None), ("", None),
])
def test_python_version(text, version):
    assert hostfacts.python_version(text) == version


WHERE = Where("gpu1", "10.0.0.11", 2222, "root", "/home/me/.ssh/known_hosts", ("/home/me/.ssh/id_ed25519",))
CHANGED = """\
@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @
@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!
The fingerprint for the ED25519 key sent by the remote host is
SHA256:rikcmTF0z23kq4kJI5TeGvJksqaBgFjugaMwn736l7U.
Offending ED25519 key in /home/me/.ssh/known_hosts:7
  remove with:
  ssh-keygen -f "/home/me/.ssh/known_hosts" -R "[10.0.0.11]:2222"
Host key for [10.0.0.11]:2222 has changed and you have requested strict checking.
Host key verification failed.
"""


def test_changed_host_key_warns_and_says_how_to_replace_it():
    err = failures.classify(CHANGED, WHERE)
    assert isinstance(err, failures.HostKeyChanged) and err.check == "host key"
    assert "WARNING" in err.message and "SHA256:rikcmTF0z23kq4kJI5TeGvJksqaBgFjugaMwn736l7U" in err.message
    assert "/home/me/.ssh/known_hosts line 7" in err.message
    assert "ssh-keygen -f /home/me/.ssh/known_hosts -R '[10.0.0.11]:2222'" in err.hint
    assert err.hint.startswith("verify")


def test_unknown_host_key_gives_the_fingerprint_and_the_keyscan_line():
    stderr = ("No ED25519 host key is known for [10.0.0.11]:2222 and you have requested strict checking.\n"
              "Host key verification failed.\n")
    err = failures.classify(stderr, WHERE, "SHA256:abc (ED25519)")
    assert isinstance(err, failures.HostKeyUnknown)
    assert "[10.0.0.11]:2222 is not in /home/me/.ssh/known_hosts (the host sends SHA256:abc (ED25519))" in str(err)
    assert err.hint.endswith("ssh-keyscan -p 2222 -H 10.0.0.11 >> /home/me/.ssh/known_hosts")


def test_permission_denied_names_the_key_and_how_to_install_it():
    err = failures.classify("root@10.0.0.11: Permission denied (publickey).\n", WHERE)
    assert isinstance(err, failures.AuthFailed) and err.check == "authenticated"
    assert "offered: /home/me/.ssh/id_ed25519" in err.message
    assert "ssh-copy-id -i /home/me/.ssh/id_ed25519.pub -p 2222 root@10.0.0.11" in err.hint


def test_a_remote_permission_error_is_not_an_ssh_failure():
    assert failures.classify("mkdir: cannot create directory '/opt/x': Permission denied\n", WHERE) is None


@pytest.mark.parametrize("stderr, detail", [
    ("ssh: connect to host 10.0.0.11 port 2222: Connection refused", "nothing listens for ssh"),
    ("ssh: connect to host 10.0.0.11 port 2222: Connection timed out", "no answer"),
    ("ssh: connect to host 10.0.0.11 port 2222: No route to host", "no route to that address"),
    ("ssh: Could not resolve hostname gpu-1: Name or service not known", "unknown host name 'gpu-1'"),
    ("ssh: Could not resolve hostname gpu-1: Temporary failure in name resolution", "unknown host name"),
    ("kex_exchange_identification: Connection closed by remote host\nConnection closed by 10.0.0.11 port 2222",
     "the connection was closed"),
    ("channel 0: open failed: connect failed: No route to host\nstdio forwarding failed\n"
     "Connection closed by UNKNOWN port 65535", "the connection was closed"),
])
def test_unreachable(stderr, detail):
    err = failures.classify(stderr + "\n", WHERE)
    assert isinstance(err, failures.Unreachable), stderr
    assert detail in str(err)
    assert "\n" not in err.message  # one line, then the fix


def test_the_users_config_errors_are_input_errors_naming_the_line():
    stderr = ("/home/me/.ssh/config: line 2: Bad configuration option: frobnicate\n"
              "/home/me/.ssh/config: terminating, 1 bad configuration options\n")
    err = failures.classify(stderr, WHERE)
    assert isinstance(err, failures.SshConfigError) and isinstance(err, InputError)
    assert "/home/me/.ssh/config line 2: Bad configuration option: frobnicate" in err.message
    missing = failures.classify("Can't open user config file /nope: No such file or directory\n", WHERE)
    assert isinstance(missing, failures.SshConfigError) and "/nope" in missing.message


def test_other_output_is_not_classified():
    assert failures.classify("tar: Error is not recoverable: exiting now\n", WHERE) is None


def test_remote_paths_keep_the_remote_home_and_quote_the_rest():
    assert remote_path("~/.stackctl/my env") == "\"$HOME\"'/.stackctl/my env'"
    assert remote_path("~") == '"$HOME"'
    assert remote_path("/opt/$(reboot)") == "'/opt/$(reboot)'"


def test_a_failed_login_answers_its_step_and_leaves_the_rest_unknown():
    err = failures.classify("root@10.0.0.11: Permission denied (publickey).\n", WHERE)
    checks = host_checks("gpu1", err, Needs())
    assert [(c.name, c.status) for c in checks] == [
        ("gpu1 reachable", "OK"), ("gpu1 host key", "OK"), ("gpu1 authenticated", "NO"),
    ]
    assert checks[2].hint == err.hint


def test_gpu_check_is_one_line_naming_each_host():
    found = {"gpu1": hostfacts.parse(FACTS), "cpu1": hostfacts.parse("== gpus\nabsent\n")}
    check = gpu_check(found, {"gpu1": 4, "cpu1": 1})
    assert check.status == "NO"
    assert check.detail == ("not enough GPUs: gpu1 asked 4, has 2 (2 x NVIDIA A100-SXM4-80GB 80 GiB); "
                            "cpu1 asked 1, has none (no nvidia-smi)")
    assert gpu_check(found, {"gpu1": 2}).status == "OK"


def test_ssh_multiplexing_notes_are_not_the_commands_stderr():
    stderr = ("mux_client_request_session: session request failed: Session open refused by peer\r\n"
              "ControlSocket /tmp/stackctl-ssh-0/8e7f65ce/fd0e already exists, disabling multiplexing\r\n"
              "real error\n")
    assert failures.clean(stderr) == "real error\n"


def test_a_facts_script_that_fails_after_login_is_unknown_not_unreachable():
    err = failures.RemoteCommandFailed("gpu1", "reading host facts", 2, "sh: 1: Syntax error")
    checks = host_checks("gpu1", err, Needs())
    assert [(c.name, c.status) for c in checks] == [
        ("gpu1 reachable", "OK"), ("gpu1 host key", "OK"), ("gpu1 authenticated", "OK"), ("gpu1 facts", "UNKNOWN"),
    ]
    assert checks[-1].detail == "ssh gpu1: reading host facts exited 2: sh: 1: Syntax error"
