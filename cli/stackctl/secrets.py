"""Secret values: generated ones kept outside the workdir, referenced ones resolved at run time.

Secrets reach Terraform only as TF_VAR_* in the runner's environment, and every value is added to
the stack's redaction (redaction.py) so logs, errors and --json never show it.
"""

from __future__ import annotations

import json
import os
import secrets as _random
from pathlib import Path

from . import paths
from .errors import InputError


def _store_path(stack: str) -> Path:
    return paths.secrets_home() / f"{stack}.json"


def generated(stack: str, key: str) -> str:
    """A random secret created once per stack and key, kept 0600 under <home>/secrets/."""
    return generated_all(stack, [key])[key]


def generated_all(stack: str, keys: list[str]) -> dict[str, str]:
    """`generated` for many keys at once: the store is read once and written once, with every new key
    (a 200-component stack has 150 generated secrets: one write each took 2 s)."""
    path = _store_path(stack)
    values = json.loads(path.read_text()) if path.is_file() else {}
    if values and path.stat().st_mode & 0o077:  # loosened by hand or by a copy: private again
        paths.private_dir(path.parent)
        path.chmod(0o600)
    missing = [k for k in keys if k not in values]
    if missing:
        values.update({k: _random.token_urlsafe(18) for k in missing})
        paths.private_dir(path.parent)  # <home> too: 0700
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(values, f)
        tmp.replace(path)
    return {k: values[k] for k in keys}


def forget(stack: str) -> None:
    _store_path(stack).unlink(missing_ok=True)


def resolve_ref(ref: str, where: str) -> str:
    scheme, _, name = ref.partition(":")
    if scheme == "env":
        value = os.environ.get(name)
        if value is None:
            raise InputError(f"{where}: secret {ref} is not set", f"export {name}=... before running stackctl")
        return value
    raise InputError(f"{where}: unknown secret scheme {scheme!r}", "use env:VARIABLE_NAME")
