"""CRDT laws by property test, and two agents converging through the real state store."""

import threading

from hypothesis import given, settings
from hypothesis import strategies as st

from workbench.state.crdt import GSet, LWWMap, PNCounter, SharedState, from_dict
from workbench.state.sqlite import SQLiteStateStore

replicas = st.sampled_from(["a", "b", "c"])
gsets = st.builds(GSet, st.sets(st.text(max_size=3), max_size=5))
counters = st.builds(
    PNCounter,
    st.dictionaries(replicas, st.integers(0, 50), max_size=3),
    st.dictionaries(replicas, st.integers(0, 50), max_size=3),
)
entries = st.tuples(st.integers(0, 5).map(float), replicas, st.one_of(st.integers(0, 3), st.text(max_size=2)))
maps = st.builds(LWWMap, st.dictionaries(st.sampled_from(["x", "y", "z"]), entries, max_size=3))
crdts = st.one_of(st.tuples(gsets, gsets, gsets), st.tuples(counters, counters, counters), st.tuples(maps, maps, maps))


@settings(max_examples=300)
@given(triple=crdts)
def test_merge_is_commutative_associative_idempotent(triple) -> None:
    a, b, c = triple
    assert a.merge(b).to_dict() == b.merge(a).to_dict()
    assert a.merge(b).merge(c).to_dict() == a.merge(b.merge(c)).to_dict()
    assert a.merge(a).to_dict() == a.to_dict()
    assert from_dict(a.to_dict()).to_dict() == a.to_dict()


def test_counter_and_map_semantics() -> None:
    c = PNCounter()
    c.increment("a", 3)
    c.increment("b", -1)
    assert c.value == 2
    m = LWWMap()
    m.set("door", "open", 1.0, "a")
    m.set("door", "closed", 0.5, "b")  # older write loses
    assert m.get("door") == "open"


def test_two_agents_updating_concurrently_converge(tmp_path) -> None:
    store = SQLiteStateStore(tmp_path / "shared.db", ttl_days=30)

    def agent(name: str) -> None:
        """A replica: local CRDTs, merged into the shared ones after every change."""
        discovered, used = GSet(), PNCounter()
        for i in range(40):
            discovered.add(f"{name}-obstacle-{i}")
            used.increment(name)
            SharedState(store, "acme", "obstacles").update(discovered)
            SharedState(store, "acme", "usage").update(used)

    threads = [threading.Thread(target=agent, args=(n,)) for n in ("robot-a", "robot-b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    obstacles = SharedState(store, "acme", "obstacles").read(GSet())
    assert len(obstacles.items) == 80  # every discovery of both agents survived the races
    assert SharedState(store, "acme", "usage").read(PNCounter()).value == 80  # 40 uses each, each counted once
    assert SharedState(store, "other", "usage").read(PNCounter()).value == 0  # another tenant's item of the same name
