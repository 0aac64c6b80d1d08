"""The local target: components run as supervised processes on this machine, no provider needed.

Each module gets a `runtime` object (interpreter, run dir, log file, requirements); its
`terraform_data` provisioners call `python -m stackctl.runtime start|stop`.
"""

from __future__ import annotations

from ..base import Target
from .config import STARTER, LocalConfig
from .inventory import Inventory
from .preflight import Preflight
from .render import Render


class LocalTarget(Render, Preflight, Inventory, Target):
    kind = "local"
    clean_message = "no process left, every port closed"
    base_component = "seaweedfs"  # the object store a stack without one gets, so cloud manifests run here
    module_variables = ("runtime",)
    needs_runtime = True
    starter = STARTER
    config = LocalConfig


TARGET = LocalTarget
