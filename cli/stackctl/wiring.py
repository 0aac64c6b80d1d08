"""Resolve each component's required capabilities to a provider, and order the stack as a DAG.

A required capability is satisfied by an explicit `connect`, else by exactly one other instance
in the stack that provides it, else (optional requirements only) left unwired. Zero or several
candidates, and cycles, are errors that name the candidates and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter

from .catalog import Catalog, Contract, capabilities
from .errors import Problem, WiringError
from .manifest import INFRA_INSTANCE, LoadedManifest
from .targets import registry


@dataclass(frozen=True)
class Wire:
    consumer: str  # instance that requires the capability
    capability: str
    provider: str  # instance that provides it
    outputs: dict[str, str]  # capability field -> provider module output

    def variables(self) -> dict[str, str]:
        """Consumer module variable -> provider module output."""
        return {f"{self.capability}_{fld}": out for fld, out in self.outputs.items()}


@dataclass
class Wiring:
    order: list[str]  # instances, providers before consumers
    wires: list[Wire] = field(default_factory=list)
    depends_on: dict[str, list[str]] = field(default_factory=dict)

    def wires_into(self, instance: str) -> list[Wire]:
        return [w for w in self.wires if w.consumer == instance]


def base_contract(loaded: LoadedManifest, catalog: Catalog) -> Contract | None:
    """The target's base, instance `infra`, or None.

    A target with an infra module (aws: network, bucket, compute pool) always has it. A target that
    stands in with a component (local: seaweedfs) adds it only when a required capability it
    provides has no provider in the manifest, so the same components work on every target.
    """
    kind = loaded.manifest.target.kind
    infra = catalog.infra(kind)
    if infra is not None:
        return infra
    name = registry.target_class(kind).base_component
    if name is None or name not in catalog:
        return None
    comps = [s for s in loaded.manifest.components.values() if s.use in catalog]
    provided = {cap for s in comps for cap in catalog[s.use].provides}
    needed = {cap for s in comps for cap, req in catalog[s.use].requires.items()
              if not req.optional and cap not in s.connect}
    return catalog[name] if (needed - provided) & set(catalog[name].provides) else None


def contracts_of(loaded: LoadedManifest, catalog: Catalog) -> dict[str, Contract]:
    """Instance -> contract, with the target's base (if any) as instance `infra`, first."""
    base = base_contract(loaded, catalog)
    out = {INFRA_INSTANCE: base} if base is not None else {}
    out.update({inst: catalog[spec.use] for inst, spec in loaded.manifest.components.items()})
    return out


def resolve(loaded: LoadedManifest, catalog: Catalog) -> Wiring:
    """Wire the manifest's components; the target's base module provides what no component does."""
    comps = loaded.manifest.components
    contracts = contracts_of(loaded, catalog)
    providers: dict[str, list[str]] = {}
    for inst, spec in comps.items():
        for cap in catalog[spec.use].provides:
            providers.setdefault(cap, []).append(inst)
    base = contracts.get(INFRA_INSTANCE)

    wires, problems = [], []
    for inst, spec in comps.items():
        contract = catalog[spec.use]
        for cap, req in contract.requires.items():
            fld = f"components.{inst}"
            if cap in spec.connect:
                provider = spec.connect[cap]
                if cap not in catalog[comps[provider].use].provides:
                    problems.append(Problem(loaded.where("components", inst, "connect", cap), f"{fld}.connect.{cap}",
                                            f"{provider} ({comps[provider].use}) does not provide {cap}",
                                            _candidates_hint(cap, providers, inst, catalog)))
                    continue
            else:
                candidates = [p for p in providers.get(cap, []) if p != inst]
                if not candidates and base is not None and cap in base.provides:
                    candidates = [INFRA_INSTANCE]
                if len(candidates) == 1:
                    provider = candidates[0]
                elif not candidates:
                    if req.optional:
                        continue
                    problems.append(Problem(loaded.where("components", inst), fld,
                                            f"{spec.use} requires {cap} ({capabilities()[cap].description}) "
                                            "and nothing in the stack provides it",
                                            _candidates_hint(cap, providers, inst, catalog)))
                    continue
                else:
                    problems.append(Problem(loaded.where("components", inst), fld,
                                            f"{cap} is ambiguous: {', '.join(candidates)} all provide it",
                                            f"add `connect: {{{cap}: {candidates[0]}}}` to {inst}"))
                    continue
            outputs = contracts[provider].provides[cap]
            wires.append(Wire(inst, cap, provider, dict(outputs)))
    if problems:
        raise WiringError(problems, source=loaded.doc.display)

    graph: dict[str, set[str]] = {inst: set(spec.depends_on) for inst, spec in comps.items()}
    if base is not None and base.kind == "infra":  # every module sits on an infra base (network, pool)
        for inst in comps:
            graph[inst].add(INFRA_INSTANCE)
    if base is not None:
        graph[INFRA_INSTANCE] = set()
    for w in wires:
        graph[w.consumer].add(w.provider)
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as err:
        cycle = err.args[1]
        raise WiringError([Problem(loaded.where("components", cycle[0]), f"components.{cycle[0]}",
                                   f"wiring cycle: {' -> '.join(cycle)}",
                                   "remove a depends_on or connect so the components form a DAG")],
                          source=loaded.doc.display) from None
    return Wiring(order=order, wires=wires, depends_on={i: list(s.depends_on) for i, s in comps.items()})


def _candidates_hint(cap: str, providers: dict[str, list[str]], inst: str, catalog: Catalog) -> str:
    in_stack = [p for p in providers.get(cap, []) if p != inst]
    if in_stack:
        return f"connect it to one of: {', '.join(in_stack)}"
    offered = catalog.providers_of(cap)
    if offered:
        return f"add a component that provides {cap}: {', '.join(offered)}"
    return f"no catalog component provides {cap} yet"


def _scenario_edges(loaded: LoadedManifest, catalog: Catalog) -> list[tuple[str, list[tuple[str, str]]]]:
    """For each smoke scenario, the (provider instance, capability) pairs it exercises."""
    contracts = contracts_of(loaded, catalog)
    out = []
    for name in loaded.manifest.smoke.scenarios:
        needs = catalog.scenarios[name].requires
        out.append((name, [(inst, cap) for cap in needs for inst, contract in contracts.items()
                           if cap in contract.provides]))
    return out


def _node_id(name: str) -> str:
    return name.replace("-", "_")  # Mermaid ids cannot hold '-'


def mermaid(loaded: LoadedManifest, catalog: Catalog, wiring: Wiring) -> str:
    lines = ["flowchart LR"]
    contracts = contracts_of(loaded, catalog)
    for inst in wiring.order:
        lines.append(f'  {inst}["{inst}<br/>{contracts[inst].name}"]')
    for w in wiring.wires:
        lines.append(f"  {w.provider} -->|{w.capability}| {w.consumer}")
    for inst, deps in wiring.depends_on.items():
        for dep in deps:
            lines.append(f"  {dep} -.->|depends_on| {inst}")
    for name, edges in _scenario_edges(loaded, catalog):
        lines.append(f'  {_node_id(name)}{{{{"{name} (smoke scenario)"}}}}')
        lines += [f"  {provider} -.->|{cap}| {_node_id(name)}" for provider, cap in edges]
    return "\n".join(lines) + "\n"


def dot(loaded: LoadedManifest, catalog: Catalog, wiring: Wiring) -> str:
    contracts = contracts_of(loaded, catalog)
    lines = [f'digraph "{loaded.name}" {{', "  rankdir=LR;", "  node [shape=box];"]
    for inst in wiring.order:
        lines.append(f'  "{inst}" [label="{inst}\\n{contracts[inst].name}"];')
    for w in wiring.wires:
        lines.append(f'  "{w.provider}" -> "{w.consumer}" [label="{w.capability}"];')
    for inst, deps in wiring.depends_on.items():
        for dep in deps:
            lines.append(f'  "{dep}" -> "{inst}" [label="depends_on", style=dashed];')
    for name, edges in _scenario_edges(loaded, catalog):
        lines.append(f'  "{name}" [shape=hexagon, label="{name}\\n(smoke scenario)"];')
        lines += [f'  "{provider}" -> "{name}" [label="{cap}", style=dotted];' for provider, cap in edges]
    lines.append("}")
    return "\n".join(lines) + "\n"
