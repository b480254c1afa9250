"""Conflict-free replicated data types for agents that share state: G-Set, PN-Counter, LWW-Map.

Each merge is commutative, associative and idempotent (property-tested), so replicas that exchange
states in any order, any number of times, converge. `SharedState` keeps one CRDT in the state store and
merges on every write, so concurrent agents never lose each other's updates.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from workbench.errors import DataError, StaleWriteError
from workbench.protocols import StateStore
from workbench.types import Message


@dataclass
class GSet:
    """Grow-only set (e.g. obstacles discovered by a robot fleet)."""

    items: set[str] = field(default_factory=set)

    def add(self, item: str) -> None:
        self.items.add(item)

    def merge(self, other: "GSet") -> "GSet":
        return GSet(self.items | other.items)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "gset", "items": sorted(self.items)}


@dataclass
class PNCounter:
    """A counter each replica may increment and decrement (e.g. shared resource usage)."""

    p: dict[str, int] = field(default_factory=dict)
    n: dict[str, int] = field(default_factory=dict)

    def increment(self, replica: str, by: int = 1) -> None:
        target = self.p if by >= 0 else self.n
        target[replica] = target.get(replica, 0) + abs(by)

    @property
    def value(self) -> int:
        return sum(self.p.values()) - sum(self.n.values())

    def merge(self, other: "PNCounter") -> "PNCounter":
        return PNCounter(
            {k: max(self.p.get(k, 0), other.p.get(k, 0)) for k in self.p.keys() | other.p.keys()},
            {k: max(self.n.get(k, 0), other.n.get(k, 0)) for k in self.n.keys() | other.n.keys()},
        )

    def to_dict(self) -> dict[str, Any]:
        return {"type": "pncounter", "p": dict(sorted(self.p.items())), "n": dict(sorted(self.n.items()))}


@dataclass
class LWWMap:
    """Last-writer-wins map: each key keeps the value with the highest (timestamp, replica) stamp."""

    entries: dict[str, tuple[float, str, Any]] = field(default_factory=dict)

    def set(self, key: str, value: Any, timestamp: float, replica: str) -> None:
        self.entries = self.merge(LWWMap({key: (timestamp, replica, value)})).entries

    def get(self, key: str) -> Any:
        return self.entries[key][2] if key in self.entries else None

    def merge(self, other: "LWWMap") -> "LWWMap":
        merged = dict(self.entries)
        for key, entry in other.entries.items():
            mine = merged.get(key)
            # The replica id breaks timestamp ties, and the value breaks (time, replica) ties, so merge is deterministic.
            if mine is None or (entry[0], entry[1], json.dumps(entry[2], sort_keys=True)) > (
                mine[0],
                mine[1],
                json.dumps(mine[2], sort_keys=True),
            ):
                merged[key] = entry
        return LWWMap(merged)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "lwwmap", "entries": {k: list(v) for k, v in sorted(self.entries.items())}}


def from_dict(data: dict[str, Any]) -> GSet | PNCounter | LWWMap:
    kind = data.get("type")
    if kind == "gset":
        return GSet(set(data["items"]))
    if kind == "pncounter":
        return PNCounter(dict(data["p"]), dict(data["n"]))
    if kind == "lwwmap":
        return LWWMap({k: (float(v[0]), str(v[1]), v[2]) for k, v in data["entries"].items()})
    raise DataError(f"unknown CRDT type {kind!r}; expected gset, pncounter or lwwmap")


class SharedState:
    """One named CRDT of a tenant, stored through a `StateStore` (item `crdt#<name>`), merged on every write."""

    def __init__(self, store: StateStore, tenant: str, name: str, max_attempts: int = 20) -> None:
        self.store, self.tenant, self.key, self.max_attempts = store, tenant, f"crdt#{name}", max_attempts

    def read(self, empty: Any) -> Any:
        state = self.store.load(self.tenant, self.key)
        return from_dict(json.loads(state.history[-1].content)) if state.history else empty

    def update(self, local: Any) -> Any:
        """Merge `local` into the stored value; a lost race reloads and merges again (merge makes that safe)."""
        for _ in range(self.max_attempts):
            state = self.store.load(self.tenant, self.key)
            current = from_dict(json.loads(state.history[-1].content)) if state.history else local
            merged = current.merge(local)
            try:
                self.store.save(self.tenant, self.key, [Message("crdt", json.dumps(merged.to_dict()))], state.version)
                return merged
            except StaleWriteError:
                continue
        raise StaleWriteError(f"{self.tenant}#{self.key}: could not merge after {self.max_attempts} attempts")
