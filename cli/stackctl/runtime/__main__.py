"""python -m stackctl.runtime start|stop|status SPEC_JSON  |  env REQUIREMENTS_JSON

One JSON argument, exactly as Terraform's jsonencode() writes it, so no shell quoting can break.
`status` also takes a run directory. Exit codes: 0 ok, 1 failed, 2 bad usage; the reason and its fix
on stderr, never a traceback.
"""

from __future__ import annotations

import json
import sys

from ..errors import RuntimeFailure, StackctlError
from .envs import ensure_env
from .supervisor import Spec, SpecError, health_of, process_status, start, stop

USAGE = "usage: python -m stackctl.runtime start|stop|status SPEC_JSON | env REQUIREMENTS_JSON"


def _say(msg: str) -> None:
    print(msg, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] not in ("start", "stop", "status", "env"):
        print(USAGE, file=sys.stderr)
        return 2
    command, arg = args
    try:
        if command == "env":
            reqs = json.loads(arg)
            if not isinstance(reqs, list) or not all(isinstance(r, str) for r in reqs):
                raise SpecError("env takes a JSON list of requirement strings")
            print(ensure_env(reqs, progress=lambda m: print(m, file=sys.stderr, flush=True)))
            return 0
        if command == "status":
            run_dir = arg if not arg.lstrip().startswith("{") else Spec.parse(arg).run_dir
            status = process_status(run_dir)
            if status["state"] == "running":  # what `stackctl status` shows of a component on another host
                status["health"] = health_of(run_dir)
            print(json.dumps(status))
            return 0
        spec = Spec.parse(arg)
        (start if command == "start" else stop)(spec, _say)
        return 0
    except json.JSONDecodeError as err:
        return _failed(command, SpecError(f"not JSON: {err}"))
    except KeyboardInterrupt:
        print(f"stackctl.runtime {command}: interrupted", file=sys.stderr, flush=True)
        return 130
    except StackctlError as err:  # EnvError, SupervisorError, SpecError: what went wrong and the fix
        return _failed(command, err)
    except OSError as err:  # e.g. a full disk: one line Terraform shows, not a traceback
        return _failed(command, RuntimeFailure(f"{err.strerror or err}: {err.filename or ''}",
                                               "check that file, its directory and the free space"))
    except Exception as err:  # noqa: BLE001 -- a bug: still one message in Terraform's diagnostic
        return _failed(command, RuntimeFailure(f"internal error: {type(err).__name__}: {err}",
                                               "this is a bug in stackctl's runtime: please report it"))


def _failed(command: str, err: StackctlError) -> int:
    usage = err.exit_code == 2
    print(f"stackctl.runtime {command}: {'bad argument: ' if usage else ''}{err}", file=sys.stderr, flush=True)
    return 2 if usage else 1


if __name__ == "__main__":
    sys.exit(main())
