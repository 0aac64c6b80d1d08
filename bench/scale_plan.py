"""Benchmark: `stackctl plan` of a 200-component stack, against Terraform planning the same root by hand.

The stack is built from the fixture catalog (tests/fixtures/catalog: components whose modules are
`terraform_data` only, so nothing runs and no provider is needed): groups of an object store, a
database, a tracker wired to both by `connect`, and a server wired to the tracker, 200 components in
all with 150 wires and 150 generated secrets. Each round starts from an empty stackctl home, as a CI
job does: stackctl validates, wires, allocates ports, generates secrets, renders, runs init and plan
and prints the summary.

Baseline, measured in the same run: `terraform init` + `terraform plan` typed by hand on a fresh
copy of the root stackctl rendered (same variables and secrets). So the ratio is what stackctl adds
to Terraform's own work on a root this size: everything above but Terraform's init and plan. The
time of validate + render alone (in-process, warm) is printed too, as the issue measured it. The two
sides take turns going first in each round (the machine's load drifts).

    python bench/scale_plan.py [--components 200] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from timing import timed

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "cli"))
CATALOG = REPO / "tests" / "fixtures" / "catalog"


def manifest(components: int) -> str:
    lines = ["apiVersion: stackctl/v1", "kind: Stack", "metadata: {name: scale}", "target: {kind: local}",
             "components:"]
    for g in range(components // 4):
        lines += [f"  store{g}: {{use: store}}",
                  f"  db{g}: {{use: db}}",
                  f"  tracker{g}: {{use: tracker, connect: {{object_store: store{g}, database: db{g}}}}}",
                  f"  server{g}: {{use: server, connect: {{model_registry: tracker{g}}}}}"]
    lines += [f"  extra{i}: {{use: db}}" for i in range(components % 4)]
    return "\n".join(lines) + "\n"


def validate_and_render(path: Path, out: Path) -> tuple[float, Path, dict[str, str]]:
    """In this process: load, validate, wire, resolve values and render into `out` (the baseline's root)."""
    from stackctl.render import render, secret_environment
    from stackctl.stack import load_stack

    started = time.perf_counter()
    stack = load_stack(path)
    stack.resolve_values()
    root = render(stack, out).root
    return time.perf_counter() - started, root, dict(secret_environment(stack))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--components", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="stackctl-bench-scale-"))
    os.environ["STACKCTL_MODULES_DIR"] = str(CATALOG)
    path = work / "scale.yaml"
    path.write_text(manifest(args.components))
    times: dict[str, list[float]] = {"stackctl plan": [], "terraform init + plan": [], "validate + render": []}
    def by_stackctl(i: int) -> None:
        os.environ["STACKCTL_HOME"] = str(work / f"home-{i}")
        times["stackctl plan"].append(timed([sys.executable, "-m", "stackctl.app", "plan", str(path)]))

    def by_hand(i: int) -> None:
        os.environ["STACKCTL_HOME"] = str(work / f"baseline-home-{i}")  # its own ports and secrets
        took, root, env = validate_and_render(path, work / f"baseline-root-{i}")
        times["validate + render"].append(took)
        tf = ["terraform", f"-chdir={root}"]
        took = timed([*tf, "init", "-input=false", "-no-color"], env)
        took += timed([*tf, "plan", "-input=false", "-no-color", "-lock-timeout=0s"], env)
        times["terraform init + plan"].append(took)
        shutil.rmtree(root)

    try:
        validate_and_render(path, work / "warm-root")  # unmeasured: imports, the catalog, the page cache
        for i in range(args.rounds):
            for side in (by_stackctl, by_hand) if i % 2 == 0 else (by_hand, by_stackctl):  # turns going first
                side(i)
            print(f"round {i + 1}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items()), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"\n{args.components} fixture components, {args.rounds} rounds, medians:")
    print(f"  plan  stackctl {med['stackctl plan']:6.2f}s   terraform init + plan by hand "
          f"{med['terraform init + plan']:6.2f}s   ratio {med['stackctl plan'] / med['terraform init + plan']:.2f}x")
    print(f"  (validate + render alone, in-process: {med['validate + render']:.2f}s)")


if __name__ == "__main__":
    main()
