"""Which host each component runs on. The rule (docs/targets.md, "ssh"), in manifest order:

1. `on: HOST` wins.
2. A component that asks for GPUs (`gpus: N`) goes to the host with the most GPUs still free that has
   N free (ties: the host listed first); when none has, to the one with the most free, whose GPU
   check then fails naming every host and what it has.
3. Every other component goes to the host with the fewest components so far (ties: listed first).

Only rule 2 needs to know the hosts' GPUs; rules 1 and 3 follow from the manifest alone, so a
placement never changes between two runs of the same manifest on the same hosts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Ask:
    on: str | None = None
    gpus: int = 0


def needs_gpu_facts(asks: Mapping[str, Ask]) -> bool:
    return any(a.gpus and a.on is None for a in asks.values())


def place(asks: Mapping[str, Ask], hosts: list[str], gpus_of: Mapping[str, int] | None = None) -> dict[str, str]:
    """Instance -> host. `gpus_of` (host -> GPUs it has) is only read for rule 2."""
    placed = {inst: a.on for inst, a in asks.items() if a.on is not None}
    free = {h: (gpus_of or {}).get(h, 0) for h in hosts}
    for inst, host in placed.items():
        free[host] = free.get(host, 0) - asks[inst].gpus
    for inst, ask in asks.items():
        if inst in placed or not ask.gpus:
            continue
        fits = [h for h in hosts if free[h] >= ask.gpus] or hosts
        host = max(fits, key=lambda h: (free[h], -hosts.index(h)))
        placed[inst], free[host] = host, free[host] - ask.gpus
    count = {h: sum(1 for p in placed.values() if p == h) for h in hosts}
    for inst in asks:
        if inst not in placed:
            host = min(hosts, key=lambda h: (count[h], hosts.index(h)))
            placed[inst], count[host] = host, count[host] + 1
    return {inst: placed[inst] for inst in asks}


def gpus_asked(asks: Mapping[str, Ask], placement: Mapping[str, str]) -> dict[str, int]:
    """Host -> GPUs its components ask for, what the GPU check compares with what it has."""
    asked: dict[str, int] = {}
    for inst, ask in asks.items():
        if ask.gpus:
            asked[placement[inst]] = asked.get(placement[inst], 0) + ask.gpus
    return asked
