"""Benchmark: `stackctl up` / `down` of an aws stack against plain Terraform on the same root.

Both run against the same AWS endpoint: a moto server started here on 127.0.0.1, unless
AWS_ENDPOINT_URL already points somewhere. The baseline, measured in the same run, is what a user
would type by hand on the root stackctl renders: `terraform init` + `terraform apply -auto-approve`,
then `terraform destroy -auto-approve`, with the same variables, secrets and provider mirror. So the
ratio is stackctl's own cost: starting Python, validation, render, preflight (boto3, in parallel,
while `terraform init` runs), its one `apply -auto-approve` with the live view, the identity check,
the endpoints it prints, and the teardown verification after destroy.

The emulator is warmed first (`stackctl check`: moto loads its EC2 data on the first call, ~20 s),
and the two sides take turns going first, so neither always meets a colder emulator.

    python bench/aws_overhead.py [MANIFEST] [--rounds 2]

MANIFEST defaults to a GPU pool + MLflow on EC2 (stacks/aws-gpu.yaml adds RDS, whose create and
delete waits are ~80 s and ~60 s for both). Needs boto3, moto[server] and, offline, a provider
mirror in STACKCTL_PROVIDER_MIRROR. Prints medians and the ratios stackctl / baseline.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from timing import stackctl, timed

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

DEFAULT_STACK = """\
apiVersion: stackctl/v1
kind: Stack
metadata: {name: bench-aws}
target: {kind: aws, region: us-east-1, gpu: {type: a10g, count: 1}}
components:
  tracking: {use: mlflow}
"""


def baseline_root(manifest: str, home: Path) -> tuple[Path, dict[str, str]]:
    """The root stackctl renders, plus what running Terraform on it by hand needs in the environment."""
    from stackctl.render import render, secret_environment
    from stackctl.stack import load_stack

    stack = load_stack(Path(manifest))
    stack.resolve_values()
    root = render(stack, home / "baseline-root").root
    env = dict(secret_environment(stack))
    mirror = os.environ.get("STACKCTL_PROVIDER_MIRROR")
    if mirror:
        config = home / "mirror.tfrc"
        config.write_text(f'provider_installation {{\n  filesystem_mirror {{\n    path = "{mirror}"\n  }}\n}}\n')
        env["TF_CLI_CONFIG_FILE"] = str(config)
    return root, env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("manifest", nargs="?")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="stackctl-bench-aws-"))
    os.environ["STACKCTL_HOME"] = str(home / "stackctl-home")
    emulator = None
    if not os.environ.get("AWS_ENDPOINT_URL"):
        from tests import aws_emulator

        emulator = aws_emulator.start(home / "moto.log")
        os.environ.update(emulator.env(home))
        print(f"moto server on {emulator.url}")
    manifest = args.manifest
    if manifest is None:
        manifest = str(home / "bench-aws.yaml")
        Path(manifest).write_text(DEFAULT_STACK)
    times: dict[str, list[float]] = {"stackctl up": [], "baseline up": [], "stackctl down": [], "baseline down": []}
    def by_stackctl() -> None:
        times["stackctl up"].append(stackctl("up", manifest, "--yes", "--no-smoke"))
        times["stackctl down"].append(stackctl("down", manifest, "--yes"))

    def by_hand() -> None:
        root, env = baseline_root(manifest, home)  # rendered afresh: a user's clean checkout
        tf = ["terraform", f"-chdir={root}"]
        took = timed([*tf, "init", "-input=false", "-no-color"], env)
        took += timed([*tf, "apply", "-auto-approve", "-input=false", "-no-color"], env)
        times["baseline up"].append(took)
        times["baseline down"].append(timed([*tf, "destroy", "-auto-approve", "-input=false", "-no-color"], env))
        shutil.rmtree(root)

    try:
        stackctl("check", manifest)  # unmeasured: moto's first EC2 calls load its data
        for i in range(args.rounds):
            for side in (by_stackctl, by_hand) if i % 2 == 0 else (by_hand, by_stackctl):
                side()
            print(f"round {i + 1}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items()), flush=True)
    finally:
        if emulator is not None:
            emulator.process.terminate()
        shutil.rmtree(home, ignore_errors=True)

    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"\n{manifest if args.manifest else 'GPU pool + MLflow on EC2'}, {args.rounds} rounds, medians:")
    for verb in ("up", "down"):
        ratio = med[f"stackctl {verb}"] / med[f"baseline {verb}"]
        print(f"  {verb:<4} stackctl {med[f'stackctl {verb}']:7.2f}s   terraform by hand "
              f"{med[f'baseline {verb}']:7.2f}s   ratio {ratio:.2f}x")


if __name__ == "__main__":
    main()
