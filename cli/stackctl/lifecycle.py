"""The stack lifecycle: plan, up, down, status, outputs, test. The CLI calls these; they print progress.

Every step that changes a stack holds the stack's lock; Terraform's own state lock backs it up.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from . import backends, paths, smoke, terraform
from . import secrets as secret_store
from .backends import forget_state
from .datatypes import Check
from .errors import InputError, Interrupted, SmokeFailed, StackctlError, TerraformError
from .progress import ApplyView, print_plan
from .redaction import MASK, Redactor
from .render import render, secret_environment
from .stack import Stack
from .workdir import Workdir

Confirm = Callable[[str], bool]


@dataclass
class Options:
    yes: bool = False
    tf_binary: str | None = None
    strict: bool = False  # preflight: UNKNOWN stops like NO
    confirm: Confirm | None = None  # None: no terminal to ask on
    tf_command: list[str] | None = None  # the Terraform found (find_terraform), once per command


def find_terraform(opts: Options) -> list[str]:
    """Find Terraform once, first: a missing one must stop a command before it changes anything."""
    if opts.tf_command is None:
        opts.tf_command = terraform.find_binary(opts.tf_binary)
    return opts.tf_command


def runner(stack: Stack, rendered_root: Path, opts: Options) -> terraform.Terraform:
    record = stack.workdir.load_record()
    mirror = os.environ.get("STACKCTL_PROVIDER_MIRROR") or (record.provider_mirror if record else None)
    return terraform.Terraform(rendered_root, find_terraform(opts), env=secret_environment(stack),
                               redact=stack.secrets, mirror_dir=mirror, private_dir=stack.workdir.root,
                               plugin_cache=paths.plugin_cache_dir())


def _notes(stack: Stack, console: Console) -> None:
    """What taking the lock settled after an earlier run that was killed (see Workdir.recover)."""
    for note in stack.workdir.notes:
        console.print(f"  note: {note}", markup=False)


def preflight(stack: Stack, console: Console) -> list[Check]:
    """Run and print the checks (OK / NO / UNKNOWN, with a fix for each that is not OK)."""
    return _print_checks(console, all_checks(stack))


def all_checks(stack: Stack) -> list[Check]:
    """The target's checks, then the state backend's (on every target), asked side by side."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="backend-check") as pool:
        backend = pool.submit(backends.preflight, stack)
        return stack.target.preflight(stack) + backend.result()


def _print_checks(console: Console, checks: list[Check]) -> list[Check]:
    for c in checks:
        mark = {"OK": "[green]OK[/]", "NO": "[red]NO[/]", "UNKNOWN": "[yellow]UNKNOWN[/]"}[c.status]
        fix = f" (fix: {escape(c.hint)})" if c.status != "OK" and c.hint else ""
        console.print(f"  {mark} {escape(c.name)}: {escape(c.detail)}{fix}")  # AWS messages are not markup
    return checks


def require_passed(checks: list[Check], console: Console | None = None, strict: bool = False) -> None:
    """Any NO stops here (exit 2); UNKNOWN is said out loud, and stops too with --strict."""
    failed = [c for c in checks if c.status == "NO" or (strict and c.status == "UNKNOWN")]
    if failed:
        raise InputError(f"preflight failed: {', '.join(c.name for c in failed)}",
                         "; ".join(dict.fromkeys(c.hint for c in failed if c.hint)) or None)
    unknown = [c.name for c in checks if c.status == "UNKNOWN"]
    if unknown and console is not None:
        console.print(f"  [yellow]not verified[/]: {', '.join(unknown)}; going on without them "
                      "(--strict stops on UNKNOWN)")


def _resolve(stack: Stack, console: Console):
    """stack.resolve_values(), saying so when an unreadable record had to be rebuilt."""
    record = stack.resolve_values()
    if stack.recovered:
        console.print(f"  [yellow]warning[/]: {escape(stack.recovered)}")
        stack.recovered = None
    return record


def _progress(stack: Stack):
    shown = Redactor(stack.secrets)  # a step may quote what the server printed
    return lambda instance, since: shown(stack.target.progress(stack, instance, since))


def _confirm(opts: Options, question: str) -> None:
    if opts.yes:
        return
    if opts.confirm is None:
        raise InputError(f"{question} needs confirmation and there is no terminal to ask on",
                         "pass --yes to proceed without asking")
    if not opts.confirm(question):
        raise InputError("cancelled; nothing was changed")


def _says_where_interrupted(command: str, hint: str):
    """A Ctrl-C outside Terraform (which turns its own into Interrupted) still says what state it left."""
    def wrap(fn):
        @functools.wraps(fn)
        def run(stack: Stack, *args, **kwargs):
            try:
                return fn(stack, *args, **kwargs)
            except KeyboardInterrupt:
                record = stack.workdir.load_record()
                state = f"the stack is {record.state}" if record else "the stack was not created"
                raise Interrupted(f"stackctl {command} was interrupted between Terraform runs; {state}",
                                  hint.format(manifest=stack.loaded.doc.display)) from None
        return run
    return wrap


@_says_where_interrupted("plan", "run `stackctl plan {manifest}` again")
def plan(stack: Stack, console: Console, opts: Options) -> terraform.PlanResult:
    find_terraform(opts)
    with stack.workdir.lock("plan"):
        _notes(stack, console)
        record = _resolve(stack, console)
        stack.workdir.save_record(record)
        rendered = render(stack)
        tf = runner(stack, rendered.root, opts)
        tf.init()
        # shown, not applied (`up` plans afresh): no plan file, its summary read from plan's events
        result = tf.plan(replace=stack.target.replace_addresses(stack.target.drifted(stack)), save=False)
        print_plan(console, result)
        return result


@_says_where_interrupted("up", "run `stackctl up {manifest}` again")
def up(stack: Stack, console: Console, opts: Options, junit: Path | None = None,
       run_smoke: bool = True) -> smoke.SmokeReport | None:
    find_terraform(opts)  # before preflight, secrets and render
    with stack.workdir.lock("up"):
        stack.workdir.reserve_space()  # before anything is created: what `down` frees on a full disk
        console.print(f"[bold]stack {stack.name}[/] ({stack.target.kind}) — {len(stack.components)} components")
        _notes(stack, console)
        for note in stack.loaded.notes:
            console.print(f"  note: {note}", markup=False)
        record = _resolve(stack, console)
        overlap = not _removed(stack, record) and stack.loaded.manifest.backend.kind == backends.LOCAL
        if not overlap:
            require_passed(preflight(stack, console), console, opts.strict)
            _require_owner(stack, record)
            _retire_removed(stack, record, console, opts)
        tf = runner(stack, render(stack).root, opts)
        if overlap:
            _preflight_during_init(stack, record, console, opts, tf)
        record.provider_mirror = os.environ.get("STACKCTL_PROVIDER_MIRROR") or record.provider_mirror
        stack.workdir.save_record(record)  # once the checks passed: a stack they stopped is not recorded
        with _settling(stack, record, "`stackctl up`", " while building component environments",
                       _finish_hint(stack), "nothing was applied"):
            _prepare(stack, console)
        if not overlap:
            tf.init()
        drifted = stack.target.drifted(stack)
        if drifted:
            console.print(f"  drift: {', '.join(drifted)} stopped outside stackctl; restarting")
        replace = stack.target.replace_addresses(drifted)
        if opts.yes:
            _apply_in_one_run(stack, record, console, tf, replace)
        else:
            _plan_confirm_apply(stack, record, console, opts, tf, replace)
        record.state, record.note = "up", ""
        stack.applied(record)
        stack.workdir.save_record(record)
        try:
            if not run_smoke or not stack.loaded.manifest.smoke.enabled:
                return None
            return test(stack, console, opts, junit)
        finally:  # smoke tests passed or not: where to go next
            print_endpoints(stack, console, endpoints(stack, opts))


def _preflight_during_init(stack: Stack, record, console: Console, opts: Options, tf: terraform.Terraform) -> None:
    """The target's checks (boto3 calls on aws) run while `terraform init` does, and are judged first.

    Only where that is safe: init of a local backend asks nothing of the target and changes nothing
    but the rendered root's .terraform (a remote backend's init would trip over what preflight is
    checking, e.g. a missing state bucket, and say it less clearly), and no removed component has to
    be destroyed with the old root before rendering. Init runs to its end even when a check fails: a
    stopped init could leave a half-written provider in the shared plugin cache. So a failed check
    stops `up` with its own message, before any plan or apply and before the record is written, and
    leaves a complete init that the next `up` reuses; init's own failure is raised after the checks
    and the owner check passed.
    """
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="preflight")
    answers = pool.submit(all_checks, stack)  # init keeps the main thread: Ctrl-C reaches it
    try:
        tf.init()
        init_failed = None
    except TerraformError as err:
        init_failed = err
    finally:
        pool.shutdown(wait=False)  # interrupted: do not wait here for the checks' answers
    require_passed(_print_checks(console, answers.result()), console, opts.strict)
    _require_owner(stack, record)
    if init_failed is not None:
        raise init_failed


def _prepare(stack: Stack, console: Console) -> None:
    """The target's preparation (on local: each component's environment); a failed build names its components."""
    from .runtime.envs import EnvError, env_path, is_ready

    try:
        stack.target.prepare(stack, console)
    except EnvError as err:
        broken = {i: c for i, c in stack.components.items()
                  if c.requirements() and not is_ready(env_path(c.requirements()))}
        if not broken:
            raise
        names = ", ".join(f"{i} ({c.contract.name})" for i, c in broken.items())
        files = ", ".join(sorted({str(c.contract.root / "component.yaml") for c in broken.values()}))
        raise EnvError(f"the environment of {names} could not be built: {err.message}",
                       f"check runtime.requirements in {files} (a name or version the package index does not have?) "
                       f"and that the index is reachable; then {_finish_hint(stack)}") from None


def _finish_hint(stack: Stack) -> str:
    display = stack.loaded.doc.display
    return f"run `stackctl up {display}` to finish, or `stackctl down {display}` to roll back"


def _plan_confirm_apply(stack: Stack, record, console: Console, opts: Options, tf: terraform.Terraform,
                        replace: list[str]) -> None:
    """Where a person confirms: `plan -out`, the summary, the question, then `apply` of that very plan."""
    result = tf.plan(replace=replace)
    print_plan(console, result)
    if not result.has_changes:
        terraform.discard_plan(result.path)
        return
    try:
        _confirm(opts, f"apply these changes to stack {stack.name}")
    except InputError:
        terraform.discard_plan(result.path)
        raise
    record.state, record.note = "applying", ""
    stack.outputs_read = None
    stack.workdir.save_record(record)
    with _settling(stack, record, "`stackctl up`", " while applying", _finish_hint(stack),
                   "the stack may be partly up"):
        with ApplyView(console, list(stack.wiring.order), "up", progress=_progress(stack)) as view:
            tf.notify = view.notice
            tf.apply(result.path, view.on_event)


def _apply_in_one_run(stack: Stack, record, console: Console, tf: terraform.Terraform, replace: list[str]) -> None:
    """With --yes: one `terraform apply -json -auto-approve` instead of `plan -out`, `show -json` and
    `apply PLAN` (three loads of the providers' schemas become one). Its plan half's events print the
    same summary as `plan`, and the live view opens only once that plan changes something: a stack
    that is up prints "No changes" and nothing more.

    The record says applying for the whole run (a run killed at any point then reads as interrupted);
    when the run ends, fails or is stopped before it changed anything, the record is put back as it was.
    """
    before = record.state, record.note
    _settle(stack, record, "applying", "")
    planned = terraform.PlannedChanges()
    view = ApplyView(console, list(stack.wiring.order), "up", progress=_progress(stack))
    tf.notify = view.notice
    held: list[dict[str, Any]] = []  # the plan half's events, for the view once it opens
    changing = False
    with contextlib.ExitStack() as shown:
        def plan_done() -> None:
            nonlocal changing
            result = planned.result()
            print_plan(console, result)
            if result.has_changes:
                changing = True
                stack.outputs_read = None
                shown.enter_context(view)
                for event in held:
                    view.on_event(event)

        def on_event(event: dict[str, Any]) -> None:
            if not planned.ended:
                of_plan = planned.feed(event)
                if of_plan:
                    held.append(event)
                if not planned.ended:
                    return
                plan_done()
                if of_plan:
                    return
            if changing:
                view.on_event(event)

        try:
            with _settling(stack, record, "`stackctl up`", " while applying", _finish_hint(stack),
                           "the stack may be partly up"):
                tf.apply(None, on_event, replace=replace)
                if planned.summarized and not planned.ended:
                    planned.ended = True
                    plan_done()
        except Interrupted as err:
            if changing:
                raise
            _settle(stack, record, *before)
            raise Interrupted("`stackctl up` was interrupted while Terraform planned; nothing was changed",
                              f"run `stackctl up {stack.loaded.doc.display}` again") from err
        except BaseException as err:
            if changing:
                raise
            _settle(stack, record, *before)
            if isinstance(err, TerraformError):
                err.hint = "fix the error above and run `stackctl up` again (nothing was changed)"
            raise


def _settle(stack: Stack, record, state: str, note: str) -> None:
    record.state, record.note = state, note
    stack.workdir.save_record(record)


@contextlib.contextmanager
def _settling(stack: Stack, record, command: str, during: str, fix: str, partly: str):
    """Around Terraform changing the stack: the record never keeps saying applying/destroying (nothing
    holds the stack once we are gone); an interrupt or a failure says what state it left and the fix."""
    try:
        yield
    except (Interrupted, KeyboardInterrupt) as err:
        _settle(stack, record, "interrupted", f"{command} was interrupted{during}; {fix}")
        if isinstance(err, Interrupted):
            err.hint = fix
            raise
        raise Interrupted(f"{command.strip('`')} was interrupted{during}; {partly}", fix) from None
    except TerraformError as err:
        err.hint = f"{partly}: {fix}"
        _settle(stack, record, "failed", f"{command} failed{during}; {fix}")
        raise
    except BaseException:
        _settle(stack, record, "failed", f"{command} stopped{during}; {fix}")
        raise


def _require_owner(stack: Stack, record) -> None:
    """A stack is changed only by the identity (e.g. AWS account) that created it."""
    if not record.identity:
        record.identity = stack.target.identity(stack)
        return
    why = stack.target.owner_mismatch(stack, record.identity)
    if why:
        raise InputError(f"{why}; refusing to change it",
                         "use the credentials of the account that created the stack (AWS_PROFILE=...)")


def _removed(stack: Stack, record) -> list[str]:
    """Instances deployed from an older manifest that is no longer theirs, while the old root still exists."""
    if not (stack.workdir.tf_dir / "main.tf").exists():
        return []
    return [i for i in record.components if i not in stack.components]


def _retire_removed(stack: Stack, record, console: Console, opts: Options) -> None:
    """Destroy instances dropped from the manifest with the old root, while their config still exists.

    (Terraform runs destroy-time provisioners only from configuration: re-rendering first would
    orphan the dropped component's process.)
    """
    removed = _removed(stack, record)
    if not removed:
        return
    console.print(f"  removing {', '.join(removed)} (no longer in the manifest)")
    tf = runner(stack, stack.workdir.tf_dir, opts)
    with ApplyView(console, removed, "down", progress=_progress(stack)) as view:
        tf.destroy(view.on_event, targets=[f"module.{i}" for i in removed])
    for inst in removed:
        record.ports.pop(inst, None)


def outputs(stack: Stack, opts: Options) -> dict[str, dict[str, Any]]:
    """Per instance, its module outputs (secrets included: callers mask them). Read once per command
    (the smoke tests, the endpoints and --json all need them); an apply forgets them."""
    if stack.outputs_read is None:
        _require_up(stack.workdir)
        tf = runner(stack, stack.workdir.tf_dir, opts)
        local = stack.loaded.manifest.backend.kind == backends.LOCAL
        raw = tf.outputs(stack.workdir.tf_dir / "terraform.tfstate" if local else None)
        stack.outputs_read = {inst: dict(raw[inst]["value"]) for inst in stack.components if inst in raw}
    return stack.outputs_read


def sensitive_outputs(stack: Stack) -> dict[str, set[str]]:
    return {inst: {o for o, s in c.contract.outputs().items() if s} for inst, c in stack.components.items()}


def masked(stack: Stack, values: dict[str, dict[str, Any]], show_secrets: bool = False) -> dict[str, dict[str, Any]]:
    if show_secrets:
        return values
    hidden = sensitive_outputs(stack)
    return {inst: {k: (MASK if k in hidden.get(inst, ()) else v) for k, v in outs.items()}
            for inst, outs in values.items()}


def test(stack: Stack, console: Console, opts: Options, junit: Path | None = None) -> smoke.SmokeReport:
    """Each component's own probes, then the manifest's scenarios (only when the components pass)."""
    _resolve(stack, console)
    values = outputs(stack, opts)
    secrets = _all_secrets(stack, values)
    targets = []
    for inst in stack.wiring.order:
        comp = stack.components[inst]
        wired = {w.capability: {fld: values.get(w.provider, {}).get(out) for fld, out in w.outputs.items()}
                 for w in stack.wiring.wires_into(inst)}
        targets.append(smoke.SmokeTarget(
            instance=inst, component=comp.contract.name, contract_dir=comp.contract.root,
            probes=comp.contract.smoke_for(stack.target.module_kind),
            outputs=values.get(inst, {}), inputs=wired,
            python=stack.target.smoke_python(stack, inst), log_file=stack.workdir.log_file(inst),
            stack=stack.name, skip_reason=stack.target.smoke_skip_reason(stack, inst),
            fail_reason=stack.target.smoke_fail_reason(stack, inst),
            context=stack.target.smoke_context(stack, inst)))
    console.print("[bold]smoke tests[/]")
    try:
        with _private_tmp(stack.workdir.tmp_dir, "smoke-"):  # what probes leave in temp (MLflow's model dirs)
            return _smoke(stack, console, values, secrets, targets, junit)
    except KeyboardInterrupt:
        record = stack.workdir.load_record()
        raise Interrupted(f"the stack is {record.state if record else 'up'}; smoke tests were interrupted",
                          f"run `stackctl test {stack.loaded.doc.display}` to run them again") from None


@contextlib.contextmanager
def _private_tmp(parent: Path, prefix: str):
    """TMPDIR (for the probes' processes and our own tempfile) in a 0700 dir of the stack, removed after."""
    parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = tempfile.mkdtemp(prefix=prefix, dir=parent)
    saved = os.environ.get("TMPDIR"), tempfile.tempdir
    os.environ["TMPDIR"], tempfile.tempdir = path, path
    try:
        yield Path(path)
    finally:
        if saved[0] is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved[0]
        tempfile.tempdir = saved[1]
        shutil.rmtree(path, ignore_errors=True)


def _smoke(stack: Stack, console: Console, values, secrets, targets, junit: Path | None) -> smoke.SmokeReport:
    budget = stack.loaded.manifest.smoke.timeout_seconds
    report = smoke.run_smoke(targets, secrets=secrets, overall_timeout=budget)
    names = stack.loaded.manifest.smoke.scenarios
    if names:
        skip = stack.target.smoke_skip_reason(stack, None) or (
            None if report.passed else "a component's own smoke test failed")
        scenarios = [_scenario_target(stack, name, values, skip, console) for name in names]
        more = smoke.run_smoke(scenarios, secrets=secrets, overall_timeout=max(1.0, budget - report.duration_s))
        report = smoke.SmokeReport(stack.name, report.results + more.results, report.duration_s + more.duration_s)
    smoke.render_table(report, console)
    if junit:
        smoke.write_junit(report, junit)
    if not report.passed:
        raise SmokeFailed(f"{report.counts.get('failed', 0)} smoke test(s) failed on stack {stack.name}",
                          "see the failures above; `stackctl status` shows each component and its log")
    return report


def _scenario_target(stack: Stack, name: str, values: dict[str, dict[str, Any]], skip: str | None,
                     console: Console) -> smoke.SmokeTarget:
    """A scenario sees every capability of the stack, which instance provides it, and their logs."""
    from .catalog import SmokeProbe
    from .runtime import envs

    scenario = stack.catalog.scenarios[name]
    providers = {cap: inst for inst in stack.wiring.order for cap in stack.components[inst].contract.provides}
    capabilities = {cap: {fld: values.get(inst, {}).get(out)
                          for fld, out in stack.components[inst].contract.provides[cap].items()}
                    for cap, inst in providers.items()}
    python = None if scenario.requirements else sys.executable
    if skip is None and scenario.requirements:
        if not envs.is_ready(envs.env_path(scenario.requirements)):
            console.print(f"  building the environment of scenario {name} (first run only)…")
        python = str(envs.ensure_env(scenario.requirements) / "bin" / "python")
    return smoke.SmokeTarget(
        instance=name, component="scenario", contract_dir=scenario.root,
        probes=[SmokeProbe(name=scenario.title, python=scenario.script, timeout=scenario.timeout)],
        outputs=values, inputs=capabilities, python=python, stack=stack.name, skip_reason=skip,
        context={"providers": providers, "logs": {i: str(stack.workdir.log_file(i)) for i in stack.components}})


def _all_secrets(stack: Stack, values: dict[str, dict[str, Any]]) -> list[str]:
    hidden = sensitive_outputs(stack)
    derived = [str(v) for inst, outs in values.items() for k, v in outs.items() if k in hidden.get(inst, ())]
    return stack.secrets + derived


def redactor(stack: Stack, opts: Options) -> Redactor:
    """What hides every secret of the stack known here: its resolved secret inputs and, once it is up, its
    sensitive outputs (a database URL). For what a command prints or writes beyond Terraform's events."""
    if not any(c.secret_values for c in stack.components.values()) and _recorded(stack):
        with contextlib.suppress(StackctlError, OSError):  # status, logs: a secret not set here is not shown
            stack.resolve_values()
    try:
        values = outputs(stack, opts)
    except (StackctlError, OSError):  # not up (yet), or its state cannot be read: the inputs are what there is
        values = {}
    return Redactor(_all_secrets(stack, values))


def _recorded(stack: Stack) -> bool:
    try:
        return stack.workdir.load_record() is not None
    except InputError:  # unreadable: the command that reads it says so
        return False


def _is_address(output: str, value: Any) -> bool:
    """An output a person or a client connects to: a URL or an endpoint (empty on AWS: the default)."""
    return (output.endswith("url") or output.endswith("endpoint")) and bool(value)


def endpoints(stack: Stack, opts: Options) -> list[dict[str, Any]]:
    """Per instance, in wiring order, each address it serves and what it is; secret ones (a database URL
    with its password) are masked."""
    try:
        values = outputs(stack, opts)
    except StackctlError:
        return []
    hidden = sensitive_outputs(stack)
    shown = Redactor(_all_secrets(stack, values))  # an address that is not secret may still hold one
    out = []
    for inst in stack.wiring.order:
        contract = stack.components[inst].contract
        for output, value in values.get(inst, {}).items():
            if _is_address(output, value):
                secret = output in hidden.get(inst, ())
                out.append({"instance": inst, "component": contract.name, "what": contract.title,
                            "output": output, "address": MASK if secret else shown(str(value)),
                            "secret": secret})
    return out


def print_endpoints(stack: Stack, console: Console, found: list[dict[str, Any]]) -> None:
    if not found:
        return
    ref = stack.loaded.doc.display
    console.print(f"[bold]stack {stack.name} is up[/]: where to go")
    width = max(len(e["instance"]) for e in found)
    what = max(len(e["what"]) for e in found)
    for e in found:
        console.print(f"  {e['instance'].ljust(width)}  {e['what'].ljust(what)}  {e['address']}", markup=False,
                      highlight=False)
    if any(sensitive_outputs(stack).values()):
        console.print(f"  keys and passwords (shown as {MASK}): "
                      f"stackctl outputs {ref} --show-secrets", markup=False, highlight=False)


def status(stack: Stack, opts: Options) -> dict[str, Any]:
    record = stack.workdir.load_record()
    if record is None:
        return {"stack": stack.name, "state": "absent", "components": {}}
    try:
        values = outputs(stack, opts) if record.state in ("up", "failed", "applying", "interrupted") else {}
    except StackctlError:
        values = {}
    hidden = sensitive_outputs(stack)
    comps = {}
    for inst in stack.wiring.order:
        info = {"component": stack.components[inst].contract.name}
        info.update(stack.target.component_status(stack, inst))
        urls = [v for k, v in values.get(inst, {}).items() if k not in hidden.get(inst, ()) and _is_address(k, v)]
        info["url"] = urls[0] if urls else None
        comps[inst] = info
    shown = stack.workdir.shown(record)  # a killed up/down shows as interrupted, not applying
    return {"stack": stack.name, "state": shown.state, "note": shown.note, "target": record.target,
            "manifest": record.manifest_path, "workdir": str(stack.workdir.root), "components": comps}


@_says_where_interrupted("down", "run `stackctl down {manifest}` again")
def down(stack: Stack, console: Console, opts: Options) -> None:
    workdir = stack.workdir
    if not workdir.exists():
        console.print(f"stack {stack.name} is not up (no workdir at {workdir.root}); nothing to destroy")
        return
    find_terraform(opts)  # before the record says destroying
    workdir.release_space()  # first (the lock's recovery may write): on a full disk, the room down needs
    with workdir.lock("down"):
        _notes(stack, console)
        record = _resolve(stack, console)
        root = workdir.tf_dir
        if not (root / "main.tf").exists():
            render(stack)  # never rendered (e.g. an interrupted first up): render to destroy cleanly
        _require_owner(stack, record)
        _confirm(opts, f"destroy stack {stack.name} and everything in it")
        record.state, record.note = "destroying", ""
        workdir.save_record(record)
        again = f"run `stackctl down {stack.loaded.doc.display}` again to finish destroying"
        with _settling(stack, record, "`stackctl down`", "", again, "the stack is partly destroyed"):
            started = time.monotonic()
            with stack.target.stopping(stack):  # alongside init and destroy, not after them
                tf = runner(stack, root, opts)
                tf.init()
                with ApplyView(console, list(reversed(stack.wiring.order)), "down",
                               progress=_progress(stack)) as view:
                    tf.destroy(view.on_event)
            stack.target.sweep(stack, console.print)
            left = stack.target.leftovers(stack)
            if left:
                raise StackctlError("destroy finished but these are still there:\n"
                                    + "\n".join(f"  {x}" for x in left),
                                    f"stop them by hand; the workdir {workdir.root} is kept for inspection")
        state = forget_state(stack)
        shutil.rmtree(workdir.root)
        secret_store.forget(stack.name)
        console.print(f"stack {stack.name} destroyed in {time.monotonic() - started:.1f}s; "
                      f"{stack.target.clean_message}" + (f"; removed its state {state}" if state else ""))


def _require_up(workdir: Workdir) -> None:
    if not (workdir.tf_dir / "terraform.tfstate").exists() and not (workdir.tf_dir / ".terraform").exists():
        raise InputError(f"stack {workdir.name} has not been brought up", "run `stackctl up FILE` first")


def expired(records, now: float | None = None) -> list[tuple[Any, float]]:
    """(record, seconds past its TTL) for each of `records` whose metadata.ttl has run out."""
    from .manifest import duration_seconds

    now = time.time() if now is None else now
    return [(r, now - r.created_at - duration_seconds(r.ttl)) for r in records
            if r.ttl and now - r.created_at > duration_seconds(r.ttl)]


def reap(console: Console, opts: Options, dry_run: bool = False) -> dict[str, str]:
    """Destroy each stack past its TTL, as `down` would (verified). Returns stack -> what happened."""
    from .stack import load_stack
    from .workdir import all_records

    records, broken = all_records()
    results = {}
    for err in broken:  # its ttl cannot be read: say so every time, and let the others go
        console.print(f"  [red]{err.path.parent.name}: skipped[/]: {escape(err.message)} (fix: {escape(err.hint)})")
        results[err.path.parent.name] = f"failed: {err.message}"
    due = expired(records)
    if not due:
        console.print("no stack is past its ttl")
        return results
    for record, late in due:
        console.print(f"  {record.name}: ttl {record.ttl} ran out {late / 60:.0f}m ago ({record.target})")
    if dry_run:
        return {**results, **{record.name: "would destroy" for record, _late in due}}
    _confirm(opts, f"destroy {len(due)} expired stack(s): {', '.join(r.name for r, _late in due)}")
    for record, _late in due:
        path = Path(record.manifest_path)
        try:
            if not path.is_file():
                raise InputError(f"its manifest {path} is gone",
                                 f"restore it, then run `stackctl down {path} --yes`")
            stack = load_stack(path)
            if stack.name != record.name:
                raise InputError(f"{path} now names stack {stack.name}",
                                 f"restore the manifest of {record.name}, then run `stackctl down`")
            down(stack, console, Options(yes=True, tf_binary=opts.tf_binary))
            results[record.name] = "destroyed"
        except StackctlError as err:  # one stack that cannot go must not keep the others alive
            console.print(f"  [red]{record.name}: not destroyed[/]: {escape(err.message)}"
                          + (f" (fix: {escape(err.hint)})" if err.hint else ""))
            results[record.name] = f"failed: {err.message}"
    return results
