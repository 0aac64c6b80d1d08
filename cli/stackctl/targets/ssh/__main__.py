"""python -m stackctl.targets.ssh HOST_JSON start|stop SPEC_JSON: an ssh stack's process modules'
launcher (runtime.launcher), in place of `python -m stackctl.runtime start|stop SPEC_JSON`."""

from __future__ import annotations

import json
import sys

from ...errors import StackctlError
from .supervise import supervise


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[1] not in ("start", "stop"):
        print("usage: python -m stackctl.targets.ssh HOST_JSON start|stop SPEC_JSON", file=sys.stderr)
        return 2
    try:
        return supervise(json.loads(argv[0]), argv[1], json.loads(argv[2]))
    except StackctlError as err:
        print(f"stackctl ssh {argv[1]}: {err.message}" + (f" (fix: {err.hint})" if getattr(err, "hint", None) else ""),
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # the host's side sees its stdin close and stops what it half started
        print(f"stackctl ssh {argv[1]}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
