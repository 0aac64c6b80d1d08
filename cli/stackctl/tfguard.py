"""Run Terraform so that it never outlives stackctl: `python -I -S tfguard.py LIFELINE_FD PID_FILE -- ARGV...`

stackctl holds the write end of a pipe (the lifeline) whose read end is LIFELINE_FD here. This guard
starts Terraform, relays its stdout/stderr to its own, and forwards SIGINT/SIGTERM to it. When the
lifeline reaches EOF (stackctl died, even by SIGKILL), it sends Terraform one SIGINT, Terraform's own
graceful stop (finish in-flight steps, save state, release the lock), and keeps draining its output
(dropped once stackctl's pipes are gone), so Terraform is never killed by SIGPIPE halfway.

While Terraform runs, PID_FILE holds its pid, its kernel start time, the command and the start time
(epoch), so the next stackctl can tell a live state-lock holder from a dead one. The file is removed
when Terraform exits. Standard library only: run by path with -I -S, it starts in a few milliseconds.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time

GRACE = 1.5  # seconds to keep relaying after Terraform exited (a provisioner's child may hold its pipes)


def _start_time(pid: int) -> str:
    try:
        raw = open(f"/proc/{pid}/stat").read()
    except OSError:
        return ""
    return raw[raw.rindex(")") + 2:].split()[19]


def _held_by_another(path: str) -> bool:
    """The file names a live Terraform (one that outlived its stackctl): leave it to name that one."""
    try:
        pid, start = open(path).read().split("\n")[:2]
    except (OSError, ValueError):
        return False
    return bool(pid.strip().isdigit() and start.strip() and _start_time(int(pid)) == start.strip())


def _write_pid_file(path: str, pid: int, argv: list[str]) -> None:
    command = next((a for a in argv[1:] if not a.startswith("-")), "run")
    tmp = f"{path}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(f"{pid}\n{_start_time(pid)}\n{command}\n{time.time():.0f}\n")
    os.replace(tmp, path)


def main(argv: list[str]) -> int:
    lifeline, pid_file, sep, *command = argv
    if sep != "--" or not command:
        print("usage: tfguard.py LIFELINE_FD PID_FILE -- ARGV...", file=sys.stderr)
        return 2
    lifeline_fd = int(lifeline)
    child: list[subprocess.Popen] = []
    pending: list[int] = []

    def forward(signum, _frame):  # SIGHUP (a closed terminal) becomes Terraform's graceful SIGINT
        sig = signal.SIGINT if signum == signal.SIGHUP else signum
        child[0].send_signal(sig) if child else pending.append(sig)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, forward)
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    child.append(proc)
    for sig in pending:
        proc.send_signal(sig)
    if pid_file != "-" and _held_by_another(pid_file):
        pid_file = "-"
    if pid_file != "-":
        _write_pid_file(pid_file, proc.pid, command)
    try:
        sel = selectors.DefaultSelector()
        outputs = {proc.stdout.fileno(): 1, proc.stderr.fileno(): 2}
        for fd in outputs:
            sel.register(fd, selectors.EVENT_READ)
        sel.register(lifeline_fd, selectors.EVENT_READ)
        orphaned, exited_at = False, None
        while outputs:
            events = sel.select(timeout=0.2)
            if proc.poll() is not None:  # a grandchild may hold the pipes: drain briefly, then go
                exited_at = exited_at or time.monotonic()
                if not events and time.monotonic() - exited_at > GRACE:
                    break
            for key, _ in events:
                fd = key.fd
                if fd == lifeline_fd:  # EOF (or anything): our stackctl is gone
                    sel.unregister(fd)
                    if not orphaned:
                        orphaned = True
                        proc.send_signal(signal.SIGINT)
                    continue
                data = os.read(fd, 65536)
                if not data:
                    sel.unregister(fd)
                    del outputs[fd]
                    continue
                if not orphaned:
                    try:
                        while data:
                            data = data[os.write(outputs[fd], data):]
                    except OSError:  # stackctl's end of the pipe is gone: stop Terraform gracefully
                        orphaned = True
                        proc.send_signal(signal.SIGINT)
        code = proc.wait()
    finally:
        if pid_file != "-":
            try:
                os.unlink(pid_file)
            except OSError:
                pass
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
