"""One error root for everything a user can cause or fix; the CLI catches it once.

Exit codes: 2 = invalid input or usage (the user must change something before retrying),
1 = an operation failed (Terraform, a server, a smoke test), 3 = stackctl's runtime could not build a
component's environment or run its process (RuntimeFailure), 130 = interrupted.
Standard library only: the runtime (runtime/), shipped to hosts with nothing but python3, raises these.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass

SHORT = 60  # characters of a user's value shown in a message
MAX_SHOWN = 20  # problems printed at once; the rest are counted


def short(value, limit: int = SHORT) -> str:
    """A user's value as text, cut to `limit` characters with an ellipsis (a 1 MB key is not echoed)."""
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def quote(value, limit: int = SHORT) -> str:
    """The value's repr, shortened: 'awz', 3.17, None, 'xxxx…' (a string keeps its closing quote)."""
    return repr(short(value, limit)) if isinstance(value, str) else short(repr(value), limit)


class StackctlError(Exception):
    """Root of all user-facing errors. `str(err)` is the full message, hint included."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  fix: {self.hint}"


class InputError(StackctlError):
    """Something the user gave us is wrong; nothing was changed."""

    exit_code = 2


@dataclass(frozen=True)
class Problem:
    """One finding in a file: where, what, and how to fix it."""

    location: str  # "stacks/pact.yaml:14"
    field: str  # "components.serving.with.replicas" ("" for the whole document)
    message: str
    hint: str | None = None

    def render(self) -> str:
        # the callers shorten what they echo; these caps only keep a missed case to one screen
        where = f"{self.location} {short(self.field, 160)}:" if self.field else f"{self.location}:"
        text = f"{where} {short(self.message, 400)}"
        return text + (f"\n    fix: {short(self.hint, 400)}" if self.hint else "")


class ManifestError(InputError):
    """A stack manifest (or a component contract) is invalid; lists every problem found."""

    def __init__(self, problems: list[Problem], source: str = "manifest"):
        self.problems = problems
        count = len(problems)
        head = f"{source} is invalid ({count} problem{'s' if count != 1 else ''}):"
        lines = [head, *("  " + p.render() for p in problems[:MAX_SHOWN])]
        if count > MAX_SHOWN:
            lines.append(f"  … and {count - MAX_SHOWN} more (fix these first)")
        super().__init__("\n".join(lines))


class CatalogError(InputError):
    """A component contract in modules/ is broken (a bug in stackctl or in a user's component)."""


class WiringError(ManifestError):
    """requires/provides cannot be resolved: missing, ambiguous or cyclic."""


class UnsupportedError(InputError):
    def __init__(self, feature: str, reason: str, hint: str | None = None):
        super().__init__(f"{feature} is not supported: {reason}", hint)


class LockError(StackctlError):
    """Another stackctl run is changing this stack right now."""


class TerraformError(StackctlError):
    """Terraform failed; carries its diagnostics (already free of secrets)."""

    def __init__(self, command: str, returncode: int, diagnostics: list[str], hint: str | None = None):
        self.command = command
        self.returncode = returncode
        self.diagnostics = diagnostics
        body = "\n".join("  " + d for d in diagnostics) if diagnostics else "  (no diagnostics)"
        super().__init__(f"terraform {command} failed (exit {returncode}):\n{body}", hint)


class ToolMissingError(StackctlError):
    exit_code = 2


class RuntimeFailure(StackctlError):
    """stackctl's runtime could not do its job on a machine: build a component's environment (EnvError),
    start or stop its process (SupervisorError), or read what it was asked (SpecError, exit 2: a module's bug)."""

    exit_code = 3
    default_hint: str | None = None  # each kind's usual fix, for raise sites that know no better one

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message, hint or self.default_hint)


class SmokeFailed(StackctlError):
    """One or more smoke tests failed; the results were already printed."""


class Interrupted(StackctlError):
    exit_code = 130


class FilesystemError(StackctlError):
    """The machine, not the input: a full disk, a read-only or forbidden directory."""


def from_os_error(err: OSError) -> FilesystemError:
    """One clear line for an OSError that reached the CLI: what, which file, and the fix for that errno."""
    from .paths import home  # errors is a leaf module: paths needs nothing of ours

    name = err.filename or f"a file under {home()}"
    where = os.path.dirname(str(err.filename)) if err.filename else str(home())
    code = err.errno
    if code in (errno.ENOSPC, errno.EDQUOT):
        return FilesystemError(f"no space left to write {name}",
                               f"free space on that file system (`df -h {where}`); `stackctl down` still works on a "
                               "full disk (each stack keeps a small reserve for it)")
    if code == errno.EROFS:
        return FilesystemError(f"{name} is on a read-only file system",
                               "remount it read-write, or set STACKCTL_HOME to a writable directory")
    if code in (errno.EACCES, errno.EPERM):
        return FilesystemError(f"permission denied: {name}",
                               "check its owner and mode, or set STACKCTL_HOME to a directory you own")
    return FilesystemError(f"{err.strerror or err}: {name}", "check that file and its directory")
