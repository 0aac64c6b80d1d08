"""The stackctl command line: Typer commands that parse flags, call the library, and print.

One error boundary (`main`): a StackctlError prints its message and exits with its code
(2 = invalid input, 1 = an operation failed); never a traceback for a user's mistake.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from . import __version__, resources
from .errors import InputError, StackctlError, from_os_error
from .redaction import Redactor
from .targets import registry

app = typer.Typer(
    name="stackctl",
    help="Declarative ML platform stacks: a YAML manifest in, a wired, smoke-tested stack out.\n\n"
    "Example: stackctl up --yes   (brings up the default stack, stacks/local.yaml)",
    no_args_is_help=True,
    rich_markup_mode="rich",
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

StackArg = Annotated[Optional[str], typer.Argument(
    metavar="[STACK]", help="Manifest file, or the name of a stack that is up. Default: the bundled stacks/local.yaml.",
    show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
StrictOpt = Annotated[bool, typer.Option("--strict", help="Preflight: stop on UNKNOWN (not verified) as on NO.")]
TfOpt = Annotated[Optional[str], typer.Option(
    "--tf-binary", envvar="STACKCTL_TF_BINARY",
    help="terraform or tofu binary to run (default: terraform on PATH, then tofu, then the embedded one).")]
JunitOpt = Annotated[Optional[Path], typer.Option(
    "--junit", help="Write smoke test results as JUnit XML to this file.")]


def _console(json_mode: bool) -> Console:
    # with --json, stdout carries only the JSON document; progress goes to stderr
    return Console(stderr=json_mode, highlight=False, soft_wrap=True)


def _out() -> Console:
    console = Console(highlight=False, soft_wrap=True)
    if not console.is_terminal:
        console.width = max(console.width, 200)  # piped or captured: keep URLs and paths whole
    return console


# What hides the secrets of the stack a command works on, once they are known: every --json payload and
# the error `main` prints go through it (Terraform's events, smoke results and logs are redacted at source).
_shown = Redactor()


def _hiding(redactor: Redactor) -> Redactor:
    global _shown
    _shown = redactor
    return redactor


def _emit_json(data) -> None:
    sys.stdout.write(json.dumps(_shown(json.loads(json.dumps(data, default=str))), indent=2, sort_keys=True)
                     + "\n")


def _stack_path(ref: Optional[str]) -> Path:
    if ref is None:
        return resources.default_stack()
    path = Path(ref)
    if path.suffix in (".yaml", ".yml") or (path.exists() and not path.is_dir()):
        return path
    if "/" not in ref:  # a stack's name: a folder ./NAME is not taken for its manifest
        from .workdir import Workdir

        record = Workdir(ref).load_record()
        if record is not None:
            return Path(record.manifest_path)
        bundled = resources.stacks_dir() / f"{ref}.yaml"
        if bundled.exists():
            return bundled
    if path.exists():
        return path  # a directory: loading it says it is not a manifest
    raise InputError(f"{ref}: no such manifest file, and no stack of that name is up",
                     "give a manifest path (e.g. stacks/local.yaml) or a name from `stackctl ls`")


def _load(ref: Optional[str]):
    from .stack import load_stack

    return load_stack(_stack_path(ref))


def _options(yes: bool, tf_binary: Optional[str], console: Console):
    from . import lifecycle

    interactive = sys.stdin.isatty() and console.is_terminal
    return lifecycle.Options(yes=yes, tf_binary=tf_binary,
                             confirm=(lambda q: typer.confirm(q + "?", default=False)) if interactive else None)


@app.command()
def init(
    name: Annotated[str, typer.Argument(help="Stack name (a DNS label).")] = "my-stack",
    out: Annotated[Path, typer.Option("--out", "-o", help="Manifest file to write.")] = Path("stack.yaml"),
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
    target: Annotated[str, typer.Option(
        "--target", "-t", help=f"One of: {', '.join(registry.kinds())}.")] = registry.DEFAULT,
):
    """Scaffold a stack manifest: SeaweedFS + MLflow on this machine, or MLflow on AWS (--target aws).

    Example: stackctl init demo -o demo.yaml && stackctl up demo.yaml --yes
    """
    from .scaffold import scaffold

    path, schema_path = scaffold(name, out, force, target)
    _out().print(f"wrote {path} (and {schema_path}, so editors check it as you type); "
                 f"next: stackctl validate {path}")


@app.command()
def schema(out: Annotated[Optional[Path], typer.Option(
        "--out", "-o", help="Write the schema to this file instead of stdout.")] = None):
    """Print the JSON Schema of stack manifests, for editors (yaml-language-server) and CI checks.

    Example: stackctl schema --out stackctl.schema.json
    """
    from .schema import schema_text, write_schema

    if out is None:
        sys.stdout.write(schema_text())
    else:
        _out().print(f"wrote {write_schema(out)}")


@app.command()
def catalog(json_out: JsonOpt = False):
    """List the component catalog: what each component provides and requires, per target.

    Example: stackctl catalog --json
    """
    from .catalog import load_catalog

    cat = load_catalog()
    if json_out:
        _emit_json([{"name": c.name, "title": c.title, "category": c.category, "version": c.version,
                     "provides": sorted(c.provides),
                     "requires": {k: {"optional": v.optional} for k, v in c.requires.items()},
                     "inputs": sorted(c.inputs), "targets": c.targets} for c in map(cat.__getitem__, cat.names())])
        return
    table = Table(title="stackctl catalog", caption="requires: ? = optional")
    for col in ("component", "provides", "requires", "targets"):
        table.add_column(col, no_wrap=col == "component")
    for name in cat.names():
        c = cat[name]
        reqs = ", ".join(k + ("?" if v.optional else "") for k, v in c.requires.items())
        table.add_row(name, "\n".join(c.provides), reqs, ", ".join(t for t in registry.kinds() if t in c.targets))
    _out().print(table)
    for target, base in sorted(cat.infras.items()):  # what a target provides on its own
        _out().print(f"target {target}: its base ({base.name}, instance `infra`) provides {', '.join(base.provides)}")


@app.command()
def validate(stack: StackArg = None, json_out: JsonOpt = False):
    """Check a manifest against the catalog and resolve its wiring; changes nothing.

    Example: stackctl validate stacks/local.yaml
    """
    s = _load(stack)
    if json_out:
        _emit_json({"valid": True, "stack": s.name, "target": s.target.kind, "order": s.wiring.order,
                    "wires": [{"from": w.provider, "to": w.consumer, "capability": w.capability}
                              for w in s.wiring.wires], "notes": s.loaded.notes})
    else:
        _out().print(f"{s.loaded.doc.display}: valid — stack {s.name}, {len(s.components)} components, "
                        f"{len(s.wiring.wires)} wires, order: {' → '.join(s.wiring.order)}")
        for note in s.loaded.notes:
            _out().print(f"  note: {note}", markup=False)


@app.command()
def graph(
    stack: StackArg = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="mermaid or dot.")] = "mermaid",
    json_out: JsonOpt = False,
):
    """Print the stack's wiring as a Mermaid (default) or Graphviz dot graph.

    Example: stackctl graph stacks/local.yaml --format dot | dot -Tsvg > stack.svg
    """
    from . import wiring

    if fmt not in ("mermaid", "dot"):
        raise InputError(f"--format {fmt!r} is not supported", "use --format mermaid or --format dot")
    s = _load(stack)
    text = (wiring.mermaid if fmt == "mermaid" else wiring.dot)(s.loaded, s.catalog, s.wiring)
    if json_out:
        _emit_json({"format": fmt, "graph": text})
    else:
        sys.stdout.write(text)


@app.command()
def render(
    stack: StackArg = None,
    out: Annotated[Optional[Path], typer.Option(
        "--out", "-o", help="Write the Terraform root here instead of the stack's workdir.")] = None,
    json_out: JsonOpt = False,
):
    """Render the stack's Terraform root module (plain Terraform you can run yourself).

    Example: stackctl render stacks/local.yaml --out ./tf && terraform -chdir=tf init
    """
    from .render import render as do_render

    s = _load(stack)
    with s.workdir.lock("render"):
        record = s.resolve_values()
        s.workdir.save_record(record)
        rendered = do_render(s, out)
    if json_out:
        _hiding(Redactor(s.secrets))
        _emit_json({"stack": s.name, "root": str(rendered.root),
                    "secret_variables": sorted(k for k in rendered.secret_env)})
    else:
        _out().print(f"rendered {s.name} into {rendered.root}")
        if rendered.secret_env:
            _out().print(f"  secrets are not written; to run terraform yourself, set: "
                            f"{', '.join(sorted(rendered.secret_env))}")


@app.command()
def check(stack: StackArg = None, strict: StrictOpt = False, json_out: JsonOpt = False):
    """Preflight: check that the target can take this stack before anything is provisioned.

    Each check answers OK, NO or UNKNOWN (could not be verified: access denied, throttled) with a
    fix. Any NO exits 2; UNKNOWN is reported, and exits 2 too with --strict. On aws: credentials,
    region, each instance type offered in the region's zones, vCPU quotas, the state bucket.
    Example: stackctl check stacks/aws-gpu.yaml
    """
    from . import lifecycle

    s = _load(stack)
    console = _console(json_out)
    checks = lifecycle.preflight(s, console)
    if json_out:
        _emit_json([c.__dict__ for c in checks])
    lifecycle.require_passed(checks, console, strict)


@app.command()
def plan(stack: StackArg = None, tf_binary: TfOpt = None, json_out: JsonOpt = False):
    """Show what `up` would change, without changing anything.

    Example: stackctl plan stacks/local.yaml
    """
    from . import lifecycle

    s = _load(stack)
    console = _console(json_out)
    result = lifecycle.plan(s, console, _options(False, tf_binary, console))
    if json_out:
        _hiding(Redactor(s.secrets))
        _emit_json({"stack": s.name, "changes": [{"address": a, "actions": act} for a, act in result.changes],
                    "summary": result.summary})


@app.command()
def up(stack: StackArg = None, yes: YesOpt = False, junit: JunitOpt = None, tf_binary: TfOpt = None,
       no_smoke: Annotated[bool, typer.Option("--no-smoke", help="Skip the smoke tests after apply.")] = False,
       strict: StrictOpt = False, json_out: JsonOpt = False):
    """Bring a stack up: validate, preflight, render, plan, apply, then smoke-test it.

    Running it again on a stack that is up changes nothing and re-runs the smoke tests.
    Example: stackctl up stacks/local.yaml --yes --junit smoke.xml
    """
    from . import lifecycle, smoke

    s = _load(stack)
    console = _console(json_out)
    report = None
    opts = _options(yes, tf_binary, console)
    opts.strict = strict
    try:
        report = lifecycle.up(s, console, opts, junit, run_smoke=not no_smoke)
    finally:
        # the secrets resolved on the way; with --json, the outputs too (read for the payload anyway)
        _hiding(lifecycle.redactor(s, opts) if json_out else Redactor(s.secrets))
        if json_out:
            state = s.workdir.load_record()
            _emit_json({"stack": s.name, "state": state.state if state else "absent",
                        "smoke": smoke.report_json(report) if report else None,
                        "endpoints": lifecycle.endpoints(s, opts) if state and state.state == "up" else []})


@app.command()
def test(stack: StackArg = None, junit: JunitOpt = None, tf_binary: TfOpt = None, json_out: JsonOpt = False):
    """Run the stack's smoke tests again.

    Example: stackctl test stacks/local.yaml --junit smoke.xml
    """
    from . import lifecycle, smoke
    from .errors import SmokeFailed

    s = _load(stack)
    console = _console(json_out)
    opts = _options(False, tf_binary, console)
    try:
        report = lifecycle.test(s, console, opts, junit)
    except SmokeFailed:
        _hiding(lifecycle.redactor(s, opts))
        if json_out:
            _emit_json({"stack": s.name, "passed": False})
        raise
    if json_out:
        _hiding(lifecycle.redactor(s, opts))
        _emit_json({"stack": s.name, "passed": report.passed, "results": smoke.report_json(report)})


@app.command()
def status(stack: StackArg = None, tf_binary: TfOpt = None, json_out: JsonOpt = False):
    """Show each component: state, URL, process id, uptime, log file (on aws: EC2/RDS state, resources).

    Example: stackctl status --json
    """
    from . import lifecycle

    s = _load(stack)
    opts = _options(False, tf_binary, Console())
    info = _hiding(lifecycle.redactor(s, opts))(lifecycle.status(s, opts))
    if json_out:
        _emit_json(info)
        return
    console = _out()
    note = f" ({info['note']})" if info.get("note") else ""  # e.g. how to finish an interrupted up
    console.print(f"stack {info['stack']}: {info['state']}{note}", markup=False)
    table = Table()
    hosts = any("host" in c for c in info["components"].values())  # a target with hosts (ssh) names them
    for col in ("component", "uses", *(("host",) if hosts else ()), "state", "health", "url", "pid", "uptime", "log"):
        table.add_column(col)
    for inst, c in info["components"].items():
        uptime = f"{c['uptime_s']:.0f}s" if c.get("uptime_s") else ""
        table.add_row(inst, c["component"], *((c.get("host") or "",) if hosts else ()), c.get("state", ""),
                      c.get("health") or "", c.get("url") or "", str(c.get("pid") or ""), uptime, c.get("log", ""))
    console.print(table)


@app.command()
def outputs(stack: StackArg = None, show_secrets: Annotated[bool, typer.Option(
        "--show-secrets", help="Show sensitive values instead of ***.")] = False,
            tf_binary: TfOpt = None, json_out: JsonOpt = False):
    """Print the stack's outputs (URLs, endpoints); secrets are masked unless --show-secrets.

    Example: stackctl outputs --json | jq -r .tracking.tracking_url
    """
    from . import lifecycle

    s = _load(stack)
    s.resolve_values()
    opts = _options(False, tf_binary, Console())
    values = lifecycle.masked(s, lifecycle.outputs(s, opts), show_secrets)
    if not show_secrets:  # a value not marked sensitive may still hold a secret (a URL with a password)
        values = _hiding(lifecycle.redactor(s, opts))(values)
    if json_out:
        _emit_json(values)
        return
    for inst, outs in values.items():
        for key, value in outs.items():
            Console(highlight=False).print(f"{inst}.{key} = {escape(str(value))}")


@app.command()
def down(stack: StackArg = None, yes: YesOpt = False, tf_binary: TfOpt = None, json_out: JsonOpt = False):
    """Destroy a stack, then verify no process of it is left and its ports are free.

    Example: stackctl down stacks/local.yaml --yes
    """
    from . import lifecycle

    s = _load(stack)
    console = _console(json_out)
    lifecycle.down(s, console, _options(yes, tf_binary, console))
    if json_out:
        _emit_json({"stack": s.name, "state": "destroyed", "leftovers": []})


@app.command()
def logs(
    stack: Annotated[str, typer.Argument(help="Manifest file, or the name of a stack that is up.")],
    component: Annotated[str, typer.Argument(help="Component instance name, e.g. tracking.")],
    lines: Annotated[int, typer.Option("--lines", "-n", help="How many lines from the end.")] = 100,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new lines until Ctrl-C.")] = False,
    json_out: JsonOpt = False,
):
    """Show a component's log (the server's own output, as the supervisor captured it).

    Example: stackctl logs local tracking -f
    """
    from .lifecycle import Options, redactor
    from .logs import follow as follow_more
    from .logs import read_log

    s = _load(stack)
    redact = _hiding(redactor(s, Options()))  # the server writes what it likes; we show it without secrets
    where, text = read_log(s, component, lines)
    text = redact(text)
    if json_out:
        _emit_json({"component": component, "log": where, "lines": text})
        return
    sys.stdout.write("".join(line + "\n" for line in text))
    if follow:
        follow_more(s, component, sys.stdout, redact)


@app.command()
def reap(yes: YesOpt = False, dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Only list the stacks past their ttl.")] = False,
         tf_binary: TfOpt = None, json_out: JsonOpt = False):
    """Destroy every stack on this machine past its metadata.ttl, each with a verified `down`.

    The clock starts when stackctl first recorded the stack (its first plan or up). Meant for cron or
    CI, e.g. hourly: stackctl reap --yes.
    Exits 1 if a stack could not be destroyed (the others still are).
    Example: stackctl reap --dry-run
    """
    from . import lifecycle
    from .errors import StackctlError

    console = _console(json_out)
    results = lifecycle.reap(console, _options(yes, tf_binary, console), dry_run)
    if json_out:
        _emit_json(results)
    failed = [name for name, what in results.items() if what.startswith("failed")]
    if failed:
        raise StackctlError(f"could not reap {', '.join(failed)}", "see the reasons above")


@app.command(name="ls")
def list_stacks(json_out: JsonOpt = False):
    """List the stacks stackctl knows on this machine.

    Example: stackctl ls --json
    """
    import time

    from .workdir import Workdir, all_records

    records, broken = all_records()
    records = [Workdir(r.name).shown(r) for r in records]  # a killed up shows as interrupted
    if json_out:
        _emit_json([r.__dict__ for r in records]
                   + [{"name": e.path.parent.name, "state": "unreadable", "error": e.message, "fix": e.hint}
                      for e in broken])
        return
    table = Table()
    for col in ("stack", "target", "state", "components", "age", "manifest"):
        table.add_column(col)
    for r in records:
        table.add_row(r.name, r.target, r.state, ", ".join(r.components), f"{(time.time() - r.created_at) / 60:.0f}m",
                      r.manifest_path)
    for e in broken:
        table.add_row(e.path.parent.name, "?", "unreadable", "", "", str(e.path))
    console = _out()
    console.print(table)
    for e in broken:
        console.print(f"[yellow]warning[/]: {escape(str(e))}")


@app.command()
def version(tf_binary: TfOpt = None, json_out: JsonOpt = False):
    """Print stackctl's version and the Terraform that commands would run (binary, or the embedded one).

    Example: stackctl version --json
    """
    from . import terraform

    try:
        tf, missing = terraform.describe(terraform.find_binary(tf_binary)), None
    except StackctlError as err:
        tf, missing = None, err
    if json_out:
        _emit_json({"stackctl": __version__, "terraform": tf,
                    "terraform_error": None if missing is None else str(missing)})
    else:
        print(f"stackctl {__version__}")
        print(f"terraform: {tf['text'] if tf else missing}")
    if missing is not None:
        sys.exit(missing.exit_code)


def main() -> None:
    # Typer handles usage errors (exit 2), --help and exits itself; our own errors surface here.
    try:
        try:
            app()
        except OSError as err:  # a full disk, a read-only home: the machine's state, said in one line
            raise from_os_error(err) from err
    except StackctlError as err:
        Console(stderr=True, highlight=False, soft_wrap=True).print(f"[red]error:[/] {escape(_shown(str(err)))}")
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        Console(stderr=True).print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
