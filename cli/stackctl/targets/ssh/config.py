"""The ssh target's section of a manifest: the hosts by name, and the one `stackctl init` writes."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ..config import TargetConfig
from .transport import SshHost

HOST_NAME = r"^[a-z][a-z0-9_-]{0,62}$"  # what `on:` says and what check and status lines print


class HostConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    address: str = Field(min_length=1, description="IP address, DNS name or ~/.ssh/config alias")
    port: int | None = Field(None, ge=1, le=65535, description="SSH port; ~/.ssh/config or 22 when unset")
    user: str | None = Field(None, min_length=1, description="login user; ~/.ssh/config or yours when unset")
    identity_file: str | None = Field(None, min_length=1, description="private key, e.g. ~/.ssh/id_ed25519")
    directory: str = Field(".stackctl", min_length=1, description=(
        "where stackctl keeps the stack's files on the host (shipped environments, run dirs, logs); "
        "relative to the login's home unless absolute"))


class SshConfig(TargetConfig):
    kind: Literal["ssh"] = Field(description="where the stack runs: ssh is your own machines, over SSH")
    known_hosts: str | None = Field(None, min_length=1, description=(
        "known_hosts file the host keys are checked against (always checked); ~/.ssh/known_hosts when unset"))
    hosts: dict[str, HostConfig] = Field(min_length=1, description=(
        "host name (what components' `on:` says) -> how to reach it, e.g. gpu1: {address: 10.0.0.11}"))

    def ssh_hosts(self) -> dict[str, SshHost]:
        return {name: SshHost(name, h.address, h.user, h.port, h.identity_file) for name, h in self.hosts.items()}


# `stackctl init --target ssh`; {kinds} is every registered kind (a str.format template)
STARTER = """\
target:
  kind: ssh                    # {kinds}
  # known_hosts: ~/.ssh/known_hosts   # host keys are always verified (ssh-keyscan HOST >> it, then check)
  hosts:                       # name -> how to reach it; components say `on: NAME`
    cpu1: {{address: 10.0.0.12, user: root}}
    # gpu1: {{address: 10.0.0.11, user: root, identity_file: ~/.ssh/id_ed25519}}
components:                    # instance name -> catalog component (`stackctl catalog`)
  storage:
    use: seaweedfs             # S3-compatible object store
    on: cpu1
  tracking:
    use: mlflow                # tracking + registry; its object_store is wired to storage automatically
    on: cpu1
"""
