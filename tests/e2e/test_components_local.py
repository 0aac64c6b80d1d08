"""The local modules of seaweedfs, postgres and mlflow, for real: a throwaway Terraform root calls
them with literal values, `terraform apply` starts real servers through the supervisor, the test
talks to them (S3, SQL, MLflow REST) and runs each contract's smoke probes, and `terraform destroy`
must leave no process and no open port behind."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from tests.conftest import REPO

from stackctl.catalog import load_contract
from stackctl.runtime import envs
from stackctl.runtime.supervisor import port_open, process_status
from stackctl.smoke import SmokeTarget, run_smoke
from stackctl.targets.local.render import LOOPBACK

pytestmark = pytest.mark.e2e

TERRAFORM = shutil.which("terraform") or shutil.which("tofu")
if TERRAFORM is None:
    pytest.skip("terraform (or tofu) is not installed", allow_module_level=True)


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:  # all bound at once, so the n ports differ
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def hcl(value) -> str:
    """Literal values only: JSON strings, numbers and lists are valid HCL."""
    return value.expr if isinstance(value, Ref) else json.dumps(value)


@dataclass(frozen=True)
class Ref:
    expr: str


@dataclass
class Component:
    instance: str
    component: str
    args: dict = field(default_factory=dict)
    secrets: dict = field(default_factory=dict)

    @property
    def contract(self):
        return load_contract(REPO / "modules" / self.component / "component.yaml")

    @property
    def requirements(self) -> list[str]:
        c = self.contract
        return [r.replace("{version}", c.version) for r in c.runtime.requirements]


class Root:
    """A throwaway root module in tmp: modules copied in (as stackctl renders them), state local."""

    def __init__(self, path: Path, components: list[Component]):
        self.path, self.components = path, {c.instance: c for c in components}
        self.env = {**os.environ, "TF_IN_AUTOMATION": "1"}
        blocks = []
        # the shared supervised-process module, where the components' ../../_lib/terraform sources look
        shutil.copytree(REPO / "modules" / "_lib" / "terraform", path / "_lib" / "terraform", dirs_exist_ok=True)
        for c in components:
            shutil.copytree(REPO / "modules" / c.component / "local", path / "modules" / c.component,
                            dirs_exist_ok=True)
            runtime = {"python": sys.executable, "run_dir": str(self.run_dir(c.instance)),
                       "log_file": str(path / "logs" / f"{c.instance}.log"), "requirements": c.requirements,
                       "address": LOOPBACK}
            lines = [f'  source = "./modules/{c.component}"', '  stack = "e2e"', f'  instance = "{c.instance}"',
                     "  runtime = {" + ", ".join(f"{k} = {hcl(v)}" for k, v in runtime.items()) + "}"]
            lines += [f"  {k} = {hcl(v)}" for k, v in c.args.items()]
            for name, value in c.secrets.items():
                blocks.append(f'variable "{c.instance}_{name}" {{\n  type = string\n  sensitive = true\n}}')
                lines.append(f"  {name} = var.{c.instance}_{name}")
                self.env[f"TF_VAR_{c.instance}_{name}"] = value
            blocks.append(f'module "{c.instance}" {{\n' + "\n".join(lines) + "\n}")
            blocks.append(f'output "{c.instance}" {{\n  value = module.{c.instance}\n  sensitive = true\n}}')
        (path / "main.tf").write_text("\n\n".join(blocks) + "\n")

    def run_dir(self, instance: str) -> Path:
        return self.path / "run" / instance

    def tf(self, *args: str, timeout: int = 900) -> str:
        proc = subprocess.run([TERRAFORM, f"-chdir={self.path}", *args, "-input=false", "-no-color"],
                              env=self.env, capture_output=True, text=True, timeout=timeout)
        assert proc.returncode == 0, f"terraform {args[0]} failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}"
        return proc.stdout

    def apply(self) -> dict:
        self.tf("init")
        self.tf("apply", "-auto-approve")
        out = json.loads(subprocess.run([TERRAFORM, f"-chdir={self.path}", "output", "-json"], env=self.env,
                                        capture_output=True, text=True, check=True).stdout)
        return {name: o["value"] for name, o in out.items()}

    def destroy(self) -> None:
        self.tf("destroy", "-auto-approve")

    def processes(self) -> dict[str, int]:
        return {i: process_status(self.run_dir(i))["pid"] for i in self.components}

    def ports(self, instance: str) -> list[int]:
        return json.loads((self.run_dir(instance) / "spec.json").read_text())["ports"]

    def smoke(self, outputs: dict, inputs: dict[str, dict] | None = None) -> None:
        targets = []
        for inst, c in self.components.items():
            targets.append(SmokeTarget(
                instance=inst, component=c.component, contract_dir=c.contract.root, probes=c.contract.smoke,
                outputs=outputs[inst], inputs=(inputs or {}).get(inst, {}), stack="e2e",
                python=str(envs.env_path(c.requirements) / "bin" / "python"),
                log_file=self.path / "logs" / f"{inst}.log"))
        report = run_smoke(targets, secrets=[])
        failed = [f"{r.instance} {r.name}: {r.detail}\n{r.log_tail or ''}" for r in report.results
                  if r.status != "passed"]
        assert not failed, "\n".join(failed)
        assert len(report.results) == sum(len(t.probes) for t in targets)


@pytest.fixture
def root_factory(tmp_path):
    """Make roots; whatever a test leaves running is destroyed at teardown, even on failure."""
    made: list[Root] = []

    def make(*components: Component) -> Root:
        root = Root(tmp_path / f"root{len(made)}", list(components))
        made.append(root)
        return root

    yield make
    for root in reversed(made):
        if any(process_status(root.run_dir(i))["state"] == "running" for i in root.components):
            subprocess.run([TERRAFORM, f"-chdir={root.path}", "destroy", "-auto-approve", "-input=false"],
                           env=root.env, capture_output=True, timeout=300)


def assert_down(root: Root, pids: dict[str, int], ports: list[int]) -> None:
    for inst, pid in pids.items():
        assert process_status(root.run_dir(inst))["state"] == "stopped", inst
        stat = Path(f"/proc/{pid}/stat")
        assert not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z", f"{inst} pid {pid} alive"
    assert [p for p in ports if port_open(p)] == []


def seaweedfs(instance: str = "store") -> Component:
    names = ["s3_port", "s3_grpc_port", "master_port", "master_grpc_port", "volume_port", "volume_grpc_port",
             "filer_port", "filer_grpc_port"]
    return Component(instance, "seaweedfs", dict(zip(names, free_ports(len(names)), strict=True)),
                     {"access_key": "AK" + secrets.token_hex(8).upper(), "secret_key": secrets.token_urlsafe(24)})


def postgres(instance: str = "db") -> Component:
    # a password with URL-special characters: the url output must encode it
    return Component(instance, "postgres", {"port": free_ports(1)[0]},
                     {"password": secrets.token_urlsafe(16) + "@:/%"})


def mlflow(store: str, db: str | None = None, instance: str = "tracking") -> Component:
    args = {"port": free_ports(1)[0]}
    for field_ in ("endpoint", "bucket", "region", "access_key", "secret_key"):
        output = "s3_endpoint" if field_ == "endpoint" else field_
        args[f"object_store_{field_}"] = Ref(f"module.{store}.{output}")
    if db:
        args["database_url"] = Ref(f"module.{db}.url")
    return Component(instance, "mlflow", args)


def store_inputs(out: dict) -> dict:
    return {"object_store": {"endpoint": out["s3_endpoint"], "bucket": out["bucket"], "region": out["region"],
                             "access_key": out["access_key"], "secret_key": out["secret_key"]}}


def env_python(c: Component, code: str, **env: str) -> str:
    python = envs.env_path(c.requirements) / "bin" / "python"
    proc = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout.strip()


def _pgrp(proc_dir: Path) -> int | None:
    try:
        return int(proc_dir.joinpath("stat").read_text().rsplit(")", 1)[1].split()[2])
    except (OSError, IndexError, ValueError):
        return None


def test_seaweedfs(root_factory):
    import boto3
    from botocore.exceptions import ClientError

    store = seaweedfs()
    root = root_factory(store)
    out = root.apply()["store"]
    pids, ports = root.processes(), root.ports("store")
    assert len(ports) == 8 and all(port_open(p) for p in ports)

    s3 = boto3.client("s3", endpoint_url=out["s3_endpoint"], region_name=out["region"],
                      aws_access_key_id=out["access_key"], aws_secret_access_key=out["secret_key"])
    assert "stack" in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    s3.put_object(Bucket="stack", Key="e2e/hello.txt", Body=b"hello")
    assert s3.get_object(Bucket="stack", Key="e2e/hello.txt")["Body"].read() == b"hello"
    wrong = boto3.client("s3", endpoint_url=out["s3_endpoint"], region_name=out["region"],
                         aws_access_key_id=out["access_key"], aws_secret_access_key="wrong")
    with pytest.raises(ClientError):
        wrong.get_object(Bucket="stack", Key="e2e/hello.txt")
    # the secret is in no argv or spec; the identities file is private
    spec = (root.run_dir("store") / "spec.json").read_text()
    assert out["secret_key"] not in spec and out["secret_key"] not in Path(f"/proc/{pids['store']}/cmdline").read_text()
    assert (root.run_dir("store") / "s3.json").stat().st_mode & 0o777 == 0o600
    # nothing of it outside its own directories: weed's gRPC sockets (hard-coded under /tmp) are in
    # its private /tmp, and glog writes no files to /tmp
    assert any((root.run_dir("store") / "data").iterdir())  # the data directory is the one it was given
    private = {p.name for p in (root.run_dir("store") / "tmp").iterdir() if not p.is_symlink()}
    assert {f"seaweedfs-master-grpc-{p}.sock" for p in ports} & private
    assert not [p for p in ports if Path(f"/tmp/seaweedfs-master-grpc-{p}.sock").exists()
                or Path(f"/tmp/seaweedfs-filer-grpc-{p}.sock").exists()]
    group = {d.name for d in Path("/proc").iterdir() if d.name.isdigit() and _pgrp(d) == pids["store"]}
    assert not [p for p in Path("/tmp").glob("weed.*") if p.name.rsplit(".", 1)[-1] in group]

    root.smoke({"store": out})
    root.destroy()
    assert_down(root, pids, ports)
    assert not (root.run_dir("store") / "s3.json").exists()
    assert not [p for p in (root.run_dir("store") / "tmp").iterdir() if p.is_symlink()]


def test_postgres_runs_unprivileged(root_factory):
    db = postgres()
    root = root_factory(db)
    out = root.apply()["db"]
    pids, ports = root.processes(), root.ports("db")
    uid_map = Path(f"/proc/{pids['db']}/uid_map").read_text().split()
    if os.geteuid() == 0:
        assert uid_map[:2] == ["1000", "0"], uid_map  # root outside, uid 1000 inside its user namespace

    row = env_python(db, "import os, psycopg2; c = psycopg2.connect(os.environ['URL']); cur = c.cursor(); "
                         "cur.execute('select current_database(), current_user, 1'); print(cur.fetchone())",
                     URL=out["url"])
    assert row == "('stack', 'stack', 1)"
    assert db.secrets["password"] not in (root.run_dir("db") / "spec.json").read_text()

    root.smoke({"db": out})
    root.destroy()
    assert_down(root, pids, ports)


def test_mlflow_with_seaweedfs(root_factory):
    root = root_factory(seaweedfs(), mlflow("store"))
    out = root.apply()
    pids, ports = root.processes(), root.ports("store") + root.ports("tracking")
    url = out["tracking"]["tracking_url"]
    with urllib.request.urlopen(f"{url}/health", timeout=10) as resp:
        assert resp.status == 200
    assert (root.run_dir("tracking") / "mlflow.db").is_file()  # SQLite when no database is wired

    root.smoke(out, {"tracking": store_inputs(out["store"])})
    root.destroy()
    assert_down(root, pids, ports)


def test_mlflow_with_seaweedfs_and_postgres(root_factory):
    db = postgres()
    root = root_factory(seaweedfs(), db, mlflow("store", db="db"))
    out = root.apply()
    pids = root.processes()
    ports = root.ports("store") + root.ports("db") + root.ports("tracking")
    assert not (root.run_dir("tracking") / "mlflow.db").exists()
    argv = Path(f"/proc/{pids['tracking']}/cmdline").read_text()
    assert db.secrets["password"] not in argv  # the database URL is not in argv

    root.smoke(out, {"tracking": store_inputs(out["store"])})
    tables = env_python(db, "import os, psycopg2; c = psycopg2.connect(os.environ['URL']); cur = c.cursor(); "
                            "cur.execute(\"select count(*) from runs\"); print(cur.fetchone()[0])",
                        URL=out["db"]["url"])
    assert int(tables) >= 1  # the smoke run landed in Postgres
    root.destroy()
    assert_down(root, pids, ports)
