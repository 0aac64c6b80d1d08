"""Benchmark: `terraform init` of the Nth aws stack side by side, against the first one (empty cache).

Stacks share one provider plugin cache (TF_PLUGIN_CACHE_DIR, under stackctl's cache dir). Each round
starts from an empty stackctl home, renders N aws stacks (different names, so different workdirs)
and runs stackctl's own init (lifecycle.runner(...).init(): the guard, the CLI config, the cache
lock) on each in turn. The cold figure is the first stack's init, which fills the cache; the
measured one is the Nth's. The ratio is Nth / cold, both from the same round.

The provider comes from a filesystem mirror laid out as `terraform providers mirror` writes one
(zip archives), which is what stackctl's hint tells offline users to make: built here once, from
STACKCTL_PROVIDER_MIRROR (or the machine's mirror), by zipping its directories. An unpacked mirror (a
plain directory per version, like /opt/tf-plugins) already lets Terraform link instead of unzip,
so cold and warm inits are alike there; its figures are printed too, for comparison.

    python bench/plugin_cache.py [--stacks 3] [--rounds 3]

Needs boto3 (rendering an aws root) and a mirror holding hashicorp/aws; no emulator, no network.
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

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

STACK = """\
apiVersion: stackctl/v1
kind: Stack
metadata: {{name: {name}}}
target: {{kind: aws, region: us-east-1}}
components:
  tracking: {{use: mlflow}}
"""


def packed(mirror: Path, work: Path) -> Path:
    """hashicorp/aws of `mirror` in the packed layout (HOST/NAMESPACE/TYPE/terraform-provider-TYPE_V_OS_ARCH.zip),
    the one `terraform providers mirror` writes. (That command cannot take its packages from a filesystem
    mirror, so the unpacked directories are zipped here, as the registry's own archives are.)"""
    import zipfile

    source = mirror / "registry.terraform.io" / "hashicorp" / "aws"
    if any(source.glob("*.zip")):
        return mirror
    out = work / "packed-mirror"
    dest = out / "registry.terraform.io" / "hashicorp" / "aws"
    dest.mkdir(parents=True)
    for platform_dir in sorted(source.glob("*/*")):  # VERSION/OS_ARCH
        version, platform = platform_dir.parent.name, platform_dir.name
        with zipfile.ZipFile(dest / f"terraform-provider-aws_{version}_{platform}.zip", "w",
                             zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
            for file in sorted(platform_dir.iterdir()):
                archive.write(file, file.name)
    return out


def round_of_inits(work: Path, stacks: int, mirror: Path) -> list[float]:
    """One empty home, `stacks` aws stacks rendered and initialised in turn: each init's seconds."""
    from stackctl.lifecycle import Options, runner
    from stackctl.render import render
    from stackctl.stack import load_stack

    home = Path(tempfile.mkdtemp(prefix="home-", dir=work))
    os.environ["STACKCTL_HOME"] = str(home)
    os.environ["STACKCTL_PROVIDER_MIRROR"] = str(mirror)
    took = []
    for i in range(stacks):
        path = home / f"cache-{i}.yaml"
        path.write_text(STACK.format(name=f"cache-{i}"))
        stack = load_stack(path)
        stack.resolve_values()
        tf = runner(stack, render(stack).root, Options())
        started = time.perf_counter()
        tf.init()
        took.append(time.perf_counter() - started)
    shutil.rmtree(home)
    return took


def measure(label: str, work: Path, mirror: Path, stacks: int, rounds: int) -> float:
    cold, nth = [], []
    for r in range(rounds):
        took = round_of_inits(work, stacks, mirror)
        cold.append(took[0])
        nth.append(took[-1])
        print(f"  {label} round {r + 1}: " + ", ".join(f"stack {i + 1} {t:.2f}s" for i, t in enumerate(took)),
              flush=True)
    ratio = statistics.median(nth) / statistics.median(cold)
    print(f"{label}: init of stack {stacks} {statistics.median(nth):.2f}s, of stack 1 (cold cache) "
          f"{statistics.median(cold):.2f}s, ratio {ratio:.2f}x (medians of {rounds})", flush=True)
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stacks", type=int, default=3, help="N: the stack whose init is measured (>= 2)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from tests.aws_emulator import provider_mirror

    given = provider_mirror()
    if given is None:
        sys.exit("no filesystem mirror holding hashicorp/aws: set STACKCTL_PROVIDER_MIRROR")
    for key, value in {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                       "AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_EC2_METADATA_DISABLED": "true",
                       "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}.items():
        os.environ[key] = value  # rendering resolves endpoints; nothing is called
    os.environ.pop("TF_PLUGIN_CACHE_DIR", None)
    work = Path(tempfile.mkdtemp(prefix="stackctl-bench-cache-"))
    try:
        zips = packed(Path(given), work)
        ratio = measure("packed mirror (zip archives)", work, zips, args.stacks, args.rounds)
        if zips != Path(given):
            measure(f"unpacked mirror {given}", work, Path(given), args.stacks, args.rounds)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\ninit of aws stack {args.stacks} / cold: {ratio:.2f}x (target <= 0.20x)")


if __name__ == "__main__":
    main()
