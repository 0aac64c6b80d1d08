"""The host side of shipping: run on an ssh target's host as `python3 -I -c <this file> COMMAND ROOT`.

Standard library only, Python >= 3.10, and no network: the host may be air-gapped. ROOT is the
host's stackctl directory; ROOT/.ship/record.json holds {relpath: [sha256, size]} of every file
that arrived and was verified, so the controller can ask what is there and send only the rest.

    facts                  print this host's Python, implementation, machine and glibc (JSON)
    inventory ROOT         print the recorded files that are still present with their size (JSON)
    install ROOT INCOMING  stdin {relpath: {sha256, mode}}: verify INCOMING/relpath, move it to ROOT/relpath
    envs ROOT              stdin {runtime, uv, wheelhouse, requirements: [[req, ...], ...]}: build the
                           component envs offline with the shipped runtime; print {built, ready} (JSON)
"""

import fcntl
import hashlib
import json
import os
import platform
import shutil
import sys


def fail(msg):
    print(f"stackctl host: {msg}", file=sys.stderr)
    sys.exit(1)


def facts():
    glibc = os.confstr("CS_GNU_LIBC_VERSION") if "CS_GNU_LIBC_VERSION" in os.confstr_names else ""
    return {"python": f"{sys.version_info[0]}.{sys.version_info[1]}",
            "python_full": ".".join(map(str, sys.version_info[:3])), "implementation": sys.implementation.name,
            "machine": platform.machine(), "glibc": glibc.split()[1] if glibc.startswith("glibc ") else None}


def ship_dir(root):
    path = os.path.join(root, ".ship")
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path


def read_record(root):
    try:
        with open(os.path.join(ship_dir(root), "record.json")) as fh:
            return json.load(fh)
    except FileNotFoundError:
        return {}


def present(root, record):
    """The recorded files still on disk with their recorded size (a cheap check, not a re-hash)."""
    out = {}
    for rel, (sha, size) in record.items():
        try:
            if os.stat(os.path.join(root, rel)).st_size == size:
                out[rel] = [sha, size]
        except OSError:
            pass
    return out


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def inside(root, rel):
    path = os.path.normpath(os.path.join(root, rel))
    if os.path.isabs(rel) or not path.startswith(os.path.normpath(root) + os.sep):
        fail(f"refusing a path outside {root}: {rel}")
    return path


def install(root, incoming, wanted):
    try:
        with open(os.path.join(ship_dir(root), "lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # two ships to one host at once: one record, no lost update
            record = read_record(root)
            for rel, want in sorted(wanted.items()):
                src, dst = inside(incoming, rel), inside(root, rel)
                got = sha256(src)
                if got != want["sha256"]:
                    fail(f"{rel} arrived damaged: sha256 {got}, expected {want['sha256']}")
                os.chmod(src, want["mode"])
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                os.replace(src, dst)
                record[rel] = [got, os.stat(dst).st_size]
            tmp = os.path.join(ship_dir(root), "record.json.tmp")
            with open(tmp, "w") as fh:
                json.dump(record, fh, sort_keys=True)
            os.replace(tmp, os.path.join(ship_dir(root), "record.json"))  # a killed install never half-writes it
    finally:
        shutil.rmtree(incoming, ignore_errors=True)  # what was not moved into place is sent again next time
    return {"installed": len(wanted)}


def envs(root, job):
    # the same variables every runtime command on this host gets (see ship.host_env)
    os.environ.update({k: os.path.join(root, v) for k, v in job["environ"].items()})
    sys.path.insert(0, os.path.join(root, job["runtime"]))
    from stackctl.runtime import envs as runtime_envs

    built, ready = [], []
    for reqs in job["requirements"]:
        env = runtime_envs.env_path(reqs)
        (ready if runtime_envs.is_ready(env) else built).append(env.name)
        try:
            runtime_envs.ensure_env(reqs)
        except Exception as err:  # the runtime's own error: its message is meant for the user as is
            fail(str(err))
    return {"built": built, "ready": ready}


def main(argv):
    command, args = argv[0], argv[1:]
    if command == "facts":
        out = facts()
    elif command == "inventory":
        out = present(args[0], read_record(args[0]))
    elif command == "install":
        out = install(args[0], args[1], json.load(sys.stdin))
    elif command == "envs":
        out = envs(args[0], json.load(sys.stdin))
    else:
        fail(f"unknown command {command!r}")
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1:])
