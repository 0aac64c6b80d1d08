"""GPUs on a host: a component that asks for N gets N that no other component on the host holds.

Claims are files `<host directory>/gpus/<index>` naming the claiming component's run dir, made under a
lock on the host. A claim lapses when its owner's run dir is gone (its stack is down) or its pid file
names a dead process; its own stop releases it. Stacks that share a host directory (the default,
~/.stackctl) therefore never share a GPU.
"""

from __future__ import annotations

import shlex

from ...errors import StackctlError
from . import hostfacts
from .transport import Transport

# argv: root, owner run dir, count (0: release), the host's GPU indices (comma-separated); prints the claimed
CLAIM = r"""
import fcntl, os, sys
root, owner, count, indices = sys.argv[1], sys.argv[2], int(sys.argv[3]), [i for i in sys.argv[4].split(",") if i]
d = os.path.join(root, "gpus")
os.makedirs(d, exist_ok=True)
def holder(i):
    try:
        return open(os.path.join(d, i)).read()
    except FileNotFoundError:
        return None
def held(run_dir):
    if not os.path.isdir(run_dir):
        return False
    try:
        pid = int(open(os.path.join(run_dir, "pid")).read().split()[0])
    except (OSError, ValueError, IndexError):
        return True  # starting: no pid yet
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
with open(os.path.join(d, ".lock"), "a") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    for i in os.listdir(d):
        h = holder(i)
        if i != ".lock" and (h == owner and not count or h not in (None, owner) and not held(h)):
            os.remove(os.path.join(d, i))
    mine = [i for i in indices if holder(i) == owner]
    free = [i for i in indices if holder(i) is None]
    if len(mine) + len(free) < count:
        others = sorted({holder(i) for i in indices} - {None, owner})
        sys.exit(f"{count} GPU(s) asked, {len(mine) + len(free)} free of {len(indices)}; held by: {', '.join(others)}")
    for i in free[:max(count - len(mine), 0)]:
        with open(os.path.join(d, i), "w") as f:
            f.write(owner)
        mine.append(i)
    print(",".join(sorted(mine[:count], key=int)))
"""


class GpuError(StackctlError):
    pass


def claim(transport: Transport, root: str, owner: str, count: int) -> str:
    """CUDA_VISIBLE_DEVICES for `count` GPUs of the host held by `owner` (a run dir) from now on."""
    indices = ",".join(str(g.index) for g in hostfacts.read(transport, root).gpus)
    result = _run(transport, root, owner, count, indices)
    if result.returncode != 0:
        raise GpuError(f"{transport.host.name}: {result.stderr.strip().splitlines()[-1]}",
                       "stop what holds them, ask for fewer (gpus: N), or place the component elsewhere (on: HOST)")
    return result.text.strip()


def release(transport: Transport, root: str, owner: str) -> None:
    _run(transport, root, owner, 0, "")


def _run(transport: Transport, root: str, owner: str, count: int, indices: str):
    args = " ".join(shlex.quote(a) for a in (CLAIM, root, owner, str(count), indices))
    return transport.run(f"python3 -I -c {args}", check=False, what="claiming GPUs")
