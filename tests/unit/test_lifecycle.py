"""The lifecycle on the fixture catalog: real Terraform, modules without servers, so it runs fast."""

from __future__ import annotations

import json

from tests.conftest import run_cli

from stackctl.workdir import Workdir

WITH_SECRET = "tracking: {use: tracker, with: {api_key: {secret: env:TRACKER_KEY}}}"

STACK = """\
apiVersion: stackctl/v1
kind: Stack
metadata: {name: life}
target: {kind: local}
components:
  storage: {use: store}
  tracking: {use: tracker}
  serving: {use: server}
"""


def test_up_without_terminal_needs_yes_and_changes_nothing(write, fixture_catalog):
    result = run_cli("up", str(write(STACK)), "--no-smoke")
    assert result.returncode == 2
    assert "needs confirmation and there is no terminal to ask on" in result.stderr
    assert "pass --yes" in result.stderr
    assert not (Workdir("life").tf_dir / "terraform.tfstate").exists()


def test_up_plan_second_up_removed_component_and_down(write, fixture_catalog, stackctl_home):
    path = write(STACK)
    plan = run_cli("plan", str(path), "--json")
    assert plan.returncode == 0, plan.stderr
    assert json.loads(plan.stdout)["summary"] == {"add": 3, "change": 0, "destroy": 0}

    up = run_cli("up", str(path), "--yes", "--no-smoke")
    assert up.returncode == 0, up.stderr
    assert "Plan: 3 to add, 0 to change, 0 to destroy." in up.stdout
    port = Workdir("life").load_record().ports["storage"]["port"]
    where = up.stdout[up.stdout.index("stack life is up: where to go"):].splitlines()  # the last lines of up
    assert where[1].split() == ["storage", "Test", "component", "store", f"http://127.0.0.1:{port}"], where
    assert where[-1] == "  keys and passwords (shown as ***): stackctl outputs stack.yaml --show-secrets"
    again = run_cli("up", str(path), "--yes", "--no-smoke", "--json")
    assert "No changes: the stack already matches its manifest." in again.stderr
    endpoints = json.loads(again.stdout)["endpoints"]
    assert {(e["instance"], e["output"], e["address"]) for e in endpoints} >= {
        ("storage", "endpoint", f"http://127.0.0.1:{port}")}
    assert all(not e["secret"] for e in endpoints)
    assert json.loads(run_cli("plan", str(path), "--json").stdout)["changes"] == []

    outputs = json.loads(run_cli("outputs", str(path), "--json").stdout)
    assert outputs["storage"]["secret_key"] == "***" and outputs["storage"]["bucket"] == "bucket-value"
    assert set(outputs) == {"storage", "tracking", "serving"}

    slim = write(STACK.replace("  serving: {use: server}\n", ""))
    shrunk = run_cli("up", str(slim), "--yes", "--no-smoke")
    assert shrunk.returncode == 0, shrunk.stderr
    assert "removing serving (no longer in the manifest)" in shrunk.stdout
    record = Workdir("life").load_record()
    assert set(record.components) == {"storage", "tracking"} and "serving" not in record.ports

    assert [r["name"] for r in json.loads(run_cli("ls", "--json").stdout)] == ["life"]
    down = run_cli("down", str(slim), "--yes")
    assert down.returncode == 0, down.stderr
    assert "stack life destroyed" in down.stdout
    assert not Workdir("life").root.exists()
    assert not (stackctl_home / "secrets" / "life.json").exists()


def test_missing_secret_reference_is_a_clear_input_error(write, fixture_catalog, monkeypatch):
    monkeypatch.delenv("TRACKER_KEY", raising=False)
    path = write(STACK.replace("tracking: {use: tracker}", WITH_SECRET))
    result = run_cli("render", str(path))
    assert result.returncode == 2
    assert "stack.yaml:7: secret env:TRACKER_KEY is not set" in result.stderr
    assert "export TRACKER_KEY=" in result.stderr


def test_secret_reference_reaches_terraform_but_no_file(write, fixture_catalog, stackctl_home):
    path = write(STACK.replace("tracking: {use: tracker}", WITH_SECRET))
    up = run_cli("up", str(path), "--yes", "--no-smoke", env={"TRACKER_KEY": "s3cr3t-value-xyz"})
    assert up.returncode == 0, up.stderr
    workdir = Workdir("life").root
    for f in workdir.rglob("*"):
        if f.is_file() and not f.name.endswith((".tfstate", ".tfstate.backup")):
            assert "s3cr3t-value-xyz" not in f.read_text(errors="ignore"), f
    assert run_cli("down", str(path), "--yes", env={"TRACKER_KEY": "s3cr3t-value-xyz"}).returncode == 0


SCENARIO = STACK + "smoke: {scenarios: [check-wiring]}\n"


def test_scenario_runs_after_components_with_the_whole_stack_as_context(write, fixture_catalog, tmp_path):
    path = write(SCENARIO)
    junit = tmp_path / "smoke.xml"
    up = run_cli("up", str(path), "--yes", "--junit", str(junit))
    assert up.returncode == 0, up.stdout + up.stderr
    assert "check-wiring" in up.stdout and "PASS 1. check [storage]" in up.stdout
    failed = run_cli("test", str(path), env={"CHECK_WIRING_FAIL": "1"})
    assert failed.returncode == 1
    assert "FAILED 1. check [storage]: *** context" in failed.stdout  # the secret it printed is masked
    assert run_cli("down", str(path), "--yes").returncode == 0


def test_scenario_needs_its_capabilities(write, fixture_catalog):
    path = write(SCENARIO.replace("  serving: {use: server}\n", "").replace("  tracking: {use: tracker}\n", ""))
    result = run_cli("validate", str(path))
    assert result.returncode == 2
    assert "smoke.scenarios[0]: check-wiring needs model_registry, which nothing in the stack provides" in result.stderr
    assert "add components that provide them: tracker" in result.stderr


def test_unknown_scenario_suggests(write, fixture_catalog):
    result = run_cli("validate", str(write(STACK + "smoke: {scenarios: [check-wirin]}\n")))
    assert result.returncode == 2
    assert "unknown scenario 'check-wirin'" in result.stderr and "did you mean check-wiring?" in result.stderr


def test_reap_destroys_only_stacks_past_their_ttl(write, fixture_catalog, stackctl_home):
    """metadata.ttl acts: `reap` lists (--dry-run), asks (--yes), destroys what expired, keeps the rest."""
    import time

    expiring = write(STACK.replace("name: life}", "name: brief, ttl: 1s}"), "brief.yaml")
    lasting = write(STACK.replace("name: life}", "name: lasting, ttl: 8h}"), "lasting.yaml")
    forever = write(STACK.replace("name: life}", "name: forever}"), "forever.yaml")
    for path in (expiring, lasting, forever):
        assert run_cli("up", str(path), "--yes", "--no-smoke").returncode == 0
    time.sleep(1.5)

    dry = run_cli("reap", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout) == {"brief": "would destroy"}
    assert Workdir("brief").exists()

    unconfirmed = run_cli("reap")
    assert unconfirmed.returncode == 2 and "pass --yes" in unconfirmed.stderr
    assert Workdir("brief").exists()

    reaped = run_cli("reap", "--yes")
    assert reaped.returncode == 0, reaped.stderr
    assert "brief: ttl 1s ran out" in reaped.stdout and "stack brief destroyed" in reaped.stdout
    assert not Workdir("brief").exists()
    assert sorted(r["name"] for r in json.loads(run_cli("ls", "--json").stdout)) == ["forever", "lasting"]
    assert "no stack is past its ttl" in run_cli("reap", "--yes").stdout
    for path in (lasting, forever):
        assert run_cli("down", str(path), "--yes").returncode == 0


def test_reap_reports_a_stack_whose_manifest_is_gone(write, fixture_catalog):
    """A stack it cannot destroy is named with the fix, the exit code says so, and it stays recorded."""
    import time

    path = write(STACK.replace("name: life}", "name: orphan, ttl: 1s}"), "orphan.yaml")
    assert run_cli("up", str(path), "--yes", "--no-smoke").returncode == 0
    manifest = path.read_text()
    path.unlink()
    time.sleep(1.5)
    result = run_cli("reap", "--yes")
    assert result.returncode == 1
    assert "orphan: not destroyed: its manifest" in result.stdout and "is gone" in result.stdout
    assert "could not reap orphan" in result.stderr
    assert Workdir("orphan").exists()
    path.write_text(manifest)
    assert run_cli("down", str(path), "--yes").returncode == 0


def python_only(tmp_path) -> dict[str, str]:
    """A machine with Python and nothing else: no terraform or tofu on PATH, no embedded fallback."""
    empty = tmp_path / "python-only-bin"
    empty.mkdir(exist_ok=True)
    return {"PATH": str(empty), "STACKCTL_TF_BINARY": "", "STACKCTL_NO_EMBEDDED_TF": "1"}


def test_without_terraform_up_plan_and_down_stop_before_changing_anything(write, fixture_catalog, stackctl_home,
                                                                        tmp_path):
    path = write(STACK)
    bare = python_only(tmp_path)
    for command in (("up", "--yes", "--no-smoke"), ("plan",)):
        result = run_cli(command[0], str(path), *command[1:], env=bare)
        assert result.returncode == 2, result.stdout + result.stderr
        assert "neither terraform nor tofu was found on PATH" in result.stderr
        assert "stackctl-ml[terraform]" in result.stderr  # the fix names the embedded one
        assert "disk space" not in result.stdout  # no preflight ran
        assert not Workdir("life").tf_dir.exists()  # nothing rendered
        assert not (stackctl_home / "secrets").exists()  # no secret generated
        assert Workdir("life").load_record() is None

    assert run_cli("up", str(path), "--yes", "--no-smoke").returncode == 0
    down = run_cli("down", str(path), "--yes", env=bare)
    assert down.returncode == 2 and "neither terraform nor tofu was found on PATH" in down.stderr
    assert Workdir("life").load_record().state == "up"  # not "destroying": nothing was started
    assert run_cli("down", str(path), "--yes").returncode == 0


def test_an_older_workdir_is_tightened_and_a_killed_run_is_reconciled(write, fixture_catalog, stackctl_home):
    """A workdir as an older stackctl (or a killed run) left it: 0644 state in 0755 dirs, a record saying
    applying, a saved plan in tmp/. `ls` shows the truth at once; the next command fixes all three."""
    import dataclasses
    import fcntl
    import os
    import stat

    path = write(STACK)
    assert run_cli("up", str(path), "--yes", "--no-smoke").returncode == 0
    wd = Workdir("life")
    wd.release_space()  # an older stackctl kept no disk reserve
    (wd.tf_dir / ".terraform" / "stackctl-init.sha256").unlink()  # nor an init stamp: its next init runs
    for dirpath, _dirnames, filenames in os.walk(stackctl_home):
        os.chmod(dirpath, 0o755)
        for name in filenames:
            os.chmod(os.path.join(dirpath, name), 0o644)
    wd.save_record(dataclasses.replace(wd.load_record(), state="applying"))
    (wd.root / "tmp" / "plan-killed").mkdir()
    (wd.root / "tmp" / "plan-killed" / "tfplan").write_bytes(b"secret plan")
    assert (wd.tf_dir / "terraform.tfstate").stat().st_mode & 0o077

    assert [r["state"] for r in json.loads(run_cli("ls", "--json").stdout)] == ["interrupted"]
    assert wd.load_record().state == "applying"  # ls only reads
    with open(wd.root / ".lock") as held:  # as a live `stackctl up` holds it
        fcntl.flock(held, fcntl.LOCK_EX)
        assert wd.busy()
        assert [r["state"] for r in json.loads(run_cli("ls", "--json").stdout)] == ["applying"]  # it is live
    assert not wd.busy()

    plan = run_cli("plan", str(path))
    assert plan.returncode == 0, plan.stderr
    assert "note: removed the temporary files (saved plans) of an earlier run that was killed" in plan.stdout
    assert "note: the last `stackctl up` stopped while applying (killed); run `stackctl up` to finish, " \
           "or `stackctl down` to roll back" in plan.stdout
    record = wd.load_record()
    assert record.state == "interrupted" and "stopped while applying" in record.note
    assert list((wd.root / "tmp").iterdir()) == []
    loose = [p for p in [stackctl_home, *stackctl_home.rglob("*")] if not p.is_symlink()
             and (p.stat().st_mode & 0o077 or (p.is_dir() and stat.S_IMODE(p.stat().st_mode) != 0o700))]
    assert loose == []
    assert stat.S_IMODE((wd.root / ".lock").stat().st_mode) == 0o600
    assert stat.S_IMODE((wd.tf_dir / "terraform.tfstate").stat().st_mode) == 0o600

    again = run_cli("up", str(path), "--yes", "--no-smoke")
    assert again.returncode == 0, again.stderr
    assert "killed" not in again.stdout  # nothing of this stack left to settle
    assert wd.load_record().state == "up" and wd.load_record().note == ""
    assert run_cli("down", str(path), "--yes").returncode == 0


def _in_process(monkeypatch):
    """lifecycle calls in this process, with every Terraform command line they run recorded."""
    from rich.console import Console

    from stackctl import lifecycle
    from stackctl.terraform import Terraform

    runs: list[list[str]] = []
    real = Terraform._run

    def spy(self, args, **kwargs):
        runs.append(list(args))
        return real(self, args, **kwargs)

    monkeypatch.setattr(Terraform, "_run", spy)
    return lifecycle, runs, lambda: Console(record=True, force_terminal=False, width=200)


def _plan_lines(text: str) -> list[str]:
    """The plan summary `print_plan` wrote: its table and its Plan: line (or the No changes line)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(("component", "No changes")))
    end = next(i for i, line in enumerate(lines) if line.startswith(("Plan:", "No changes")))
    return lines[start:end + 1]


def test_up_confirmed_applies_its_saved_plan_and_up_yes_applies_in_one_run(write, fixture_catalog, monkeypatch):
    """A person confirms: plan -out, show -json, the question, apply PLAN. With --yes: one apply
    -auto-approve whose events print the same summary as `plan`, and "No changes" when up to date."""
    from stackctl.stack import load_stack

    lifecycle, runs, console = _in_process(monkeypatch)
    path = write(STACK)
    asked: list[str] = []
    shown = console()
    lifecycle.up(load_stack(path), shown, lifecycle.Options(confirm=lambda q: asked.append(q) or True),
                 run_smoke=False)
    assert asked == ["apply these changes to stack life"]
    assert [r[0] for r in runs[:4]] == ["init", "plan", "show", "apply"]
    assert "-auto-approve" not in runs[3] and runs[3][-1].endswith("tfplan")  # the plan that was shown
    assert "Plan: 3 to add, 0 to change, 0 to destroy." in shown.export_text()

    changed = write(STACK.replace("tracking: {use: tracker}", "tracking: {use: tracker, with: {greeting: hi}}"))
    planned = console()
    lifecycle.plan(load_stack(changed), planned, lifecycle.Options())
    runs.clear()
    applied = console()
    lifecycle.up(load_stack(changed), applied, lifecycle.Options(yes=True), run_smoke=False)
    # init's inputs (the root's module calls) are those of the last up: it is skipped
    assert [r[0] for r in runs] == ["apply"]
    assert "-auto-approve" in runs[0] and not any(a.endswith("tfplan") for a in runs[0])
    text = applied.export_text()
    assert _plan_lines(text) == _plan_lines(planned.export_text())
    assert "Plan: 0 to add, 1 to change, 0 to destroy." in _plan_lines(text)
    assert "tracking  ready after" in text
    assert Workdir("life").load_record().state == "up"

    again = console()
    lifecycle.up(load_stack(changed), again, lifecycle.Options(yes=True), run_smoke=False)
    text = again.export_text()
    assert _plan_lines(text) == ["No changes: the stack already matches its manifest."]
    assert not [line for line in text.splitlines() if line.split()[1:2] in (["ready"], ["unchanged"])]  # no view
    assert Workdir("life").load_record().state == "up"


def test_up_yes_that_fails_before_changing_anything_keeps_the_record(write, fixture_catalog, monkeypatch):
    """The one apply fails in its plan half: nothing changed, so the record keeps its state (not failed)."""
    import pytest

    from stackctl.errors import TerraformError
    from stackctl.stack import load_stack
    from stackctl.terraform import Terraform

    lifecycle, _runs, console = _in_process(monkeypatch)
    path = write(STACK)
    lifecycle.up(load_stack(path), console(), lifecycle.Options(yes=True), run_smoke=False)
    real = Terraform._run

    def bad_replace(self, args, **kwargs):  # an address Terraform refuses before it plans
        return real(self, [*args, "-replace=module.nope["] if args[0] == "apply" else args, **kwargs)

    monkeypatch.setattr(Terraform, "_run", bad_replace)
    with pytest.raises(TerraformError) as caught:
        lifecycle.up(load_stack(path), console(), lifecycle.Options(yes=True), run_smoke=False)
    assert "nothing was changed" in caught.value.hint
    record = Workdir("life").load_record()
    assert (record.state, record.note) == ("up", "")


def test_preflight_runs_during_init_and_a_failed_check_stops_before_any_plan(write, fixture_catalog, monkeypatch):
    """The checks run while `terraform init` does; a NO stops `up` with its own message before any plan
    or apply, init has finished (nothing half-written), and the next `up` goes on from there."""
    import threading
    import time

    import pytest

    from stackctl.datatypes import Check
    from stackctl.errors import InputError
    from stackctl.stack import load_stack
    from stackctl.targets.local import LocalTarget
    from stackctl.terraform import Terraform

    lifecycle, runs, console = _in_process(monkeypatch)
    spans: dict[str, list[float]] = {}
    real_run = Terraform._run

    def timed_run(self, args, **kwargs):
        started = time.monotonic()
        try:
            return real_run(self, args, **kwargs)
        finally:
            spans.setdefault(args[0], [started, time.monotonic()])

    def slow_no(self, stack):
        started = time.monotonic()
        assert threading.current_thread() is not threading.main_thread()
        time.sleep(1.0)
        spans["preflight"] = [started, time.monotonic()]
        return [Check("disk space", "NO", "0.1 GiB free", "free at least 2 GiB")]

    checks = LocalTarget.preflight
    monkeypatch.setattr(Terraform, "_run", timed_run)
    monkeypatch.setattr(LocalTarget, "preflight", slow_no)
    path = write(STACK)
    shown = console()
    with pytest.raises(InputError, match="preflight failed: disk space"):
        lifecycle.up(load_stack(path), shown, lifecycle.Options(yes=True), run_smoke=False)
    assert "NO disk space: 0.1 GiB free (fix: free at least 2 GiB)" in shown.export_text()
    assert set(spans) == {"init", "preflight"}  # no plan, no apply
    assert spans["preflight"][0] < spans["init"][1] and spans["init"][0] < spans["preflight"][1]  # overlapped
    wd = Workdir("life")
    assert (wd.tf_dir / ".terraform" / "modules" / "modules.json").is_file()  # a whole init, not half of one
    assert not (wd.tf_dir / "terraform.tfstate").exists()
    assert wd.load_record() is None  # a stack its checks stopped is not recorded (`ls` does not list it)

    monkeypatch.setattr(LocalTarget, "preflight", checks)
    monkeypatch.setattr(Terraform, "_run", real_run)  # the spy of _in_process, recording into `runs`
    runs.clear()
    again = console()
    lifecycle.up(load_stack(path), again, lifecycle.Options(yes=True), run_smoke=False)
    # the first up's init finished: this one needs none
    assert "OK disk space" in again.export_text() and [r[0] for r in runs] == ["apply"]
    assert wd.load_record().state == "up"
