"""Whether `terraform init` may be skipped: a fingerprint of everything init reads.

init reads the root's and its modules' configuration (module calls, required providers, the backend
block), the dependency lock file, the CLI config and the provider-installation settings, and writes
`.terraform/`. When none of that changed since the last successful init in the same workdir, running
it again only costs time (0.3 s with no provider, 1-1.5 s with the aws provider's cache links), so the
fingerprint of those inputs is kept in `.terraform/` after a successful init and compared before the
next. Any doubt (no stamp, a changed byte, a dangling provider link) means init runs.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

STAMP = "stackctl-init.sha256"
# the configuration init reads; tfvars and state are plan-time inputs, not init's
_CONFIG_SUFFIXES = (".tf", ".tf.json", ".terraform.lock.hcl")
# environment that changes what init installs or where (TF_CLI_ARGS* may add -backend-config, -upgrade)
_ENV_PREFIXES = ("TF_CLI_ARGS", "TF_CLI_CONFIG_FILE", "TF_PLUGIN_CACHE", "TF_DATA_DIR", "TF_WORKSPACE",
                 "TF_REGISTRY", "TF_PROVIDER")


def fingerprint(root: Path, command: Sequence[str], env: Mapping[str, str]) -> str:
    digest = hashlib.sha256()
    for part in command:  # a new Terraform version may lay out .terraform differently
        digest.update(f"cmd {part}\0".encode())
        if os.path.isabs(part) and os.path.isfile(part):
            info = os.stat(part)
            digest.update(f"{info.st_size} {info.st_mtime_ns}\0".encode())
    for name in sorted(k for k in env if k.startswith(_ENV_PREFIXES)):
        digest.update(f"env {name}={env[name]}\0".encode())
    config = env.get("TF_CLI_CONFIG_FILE")
    if config and os.path.isfile(config):
        digest.update(Path(config).read_bytes())
    for path in sorted(_config_files(root)):
        digest.update(f"file {path.relative_to(root)}\0".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _config_files(root: Path):
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != ".terraform"]
        for name in filenames:
            if name.endswith(_CONFIG_SUFFIXES):
                yield Path(dirpath, name)


def is_current(root: Path, stamp: str) -> bool:
    """The last successful init had these inputs, and what it installed is still there."""
    data = root / ".terraform"
    try:
        if (data / STAMP).read_text() != stamp:
            return False
    except OSError:
        return False
    return not _dangling_links(data / "providers")


def _dangling_links(providers: Path) -> bool:
    """A provider linked from a shared plugin cache that has since been cleaned."""
    for dirpath, dirnames, filenames in os.walk(providers):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            if path.is_symlink() and not path.exists():
                return True
    return False


def record(root: Path, stamp: str) -> None:
    path = root / ".terraform" / STAMP
    if path.parent.is_dir():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # like every file of the workdir
        with os.fdopen(fd, "w") as fh:
            fh.write(stamp)


def forget(root: Path) -> None:
    (root / ".terraform" / STAMP).unlink(missing_ok=True)
