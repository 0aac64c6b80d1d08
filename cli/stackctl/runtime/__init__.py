"""What the local target's Terraform calls: a small process supervisor and cached component envs."""

from .envs import ensure_env
from .supervisor import Spec, SpecError, SupervisorError, process_status, start, stop

__all__ = ["Spec", "SpecError", "SupervisorError", "ensure_env", "process_status", "start", "stop"]
