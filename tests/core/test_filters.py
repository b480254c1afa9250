"""Filters are written in Pinecone's language; every operator is checked against a real Chroma collection."""

import re

import chromadb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.errors import FilterError
from workbench.filters import combine, matches, to_chroma, validate_filter

DOCS = [
    {"tenant": "acme", "article": "Oxygen", "year": 1774, "score": 0.9, "public": True},
    {"tenant": "acme", "article": "Oxygen", "year": 1800, "score": 0.4, "public": False},
    {"tenant": "acme", "article": "Warsaw", "year": 1596, "score": 0.7, "public": True},
    {"tenant": "beta", "article": "Apollo", "year": 1969, "score": 0.2, "public": True},
    {"tenant": "beta", "article": "Warsaw", "year": 1945, "score": 0.5, "public": False},
]


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    client = chromadb.PersistentClient(str(tmp_path_factory.mktemp("chroma")))
    col = client.create_collection("filters", configuration={"hnsw": {"space": "cosine"}}, embedding_function=None)
    col.add(ids=[f"d{i}" for i in range(len(DOCS))], embeddings=[[1.0, float(i), 0.5] for i in range(len(DOCS))], metadatas=DOCS)
    return col


def chroma_ids(col, flt) -> set[str]:
    return set(col.get(where=to_chroma(flt))["ids"])


def expected_ids(flt) -> set[str]:
    return {f"d{i}" for i, meta in enumerate(DOCS) if matches(flt, meta)}


@pytest.mark.parametrize(
    "flt, ids",
    [
        ({"article": "Oxygen"}, {"d0", "d1"}),
        ({"article": {"$eq": "Warsaw"}}, {"d2", "d4"}),
        ({"article": {"$ne": "Warsaw"}}, {"d0", "d1", "d3"}),
        ({"article": {"$in": ["Apollo", "Warsaw"]}}, {"d2", "d3", "d4"}),
        ({"article": {"$nin": ["Apollo", "Warsaw"]}}, {"d0", "d1"}),
        ({"year": {"$gt": 1800}}, {"d3", "d4"}),
        ({"year": {"$gte": 1800}}, {"d1", "d3", "d4"}),
        ({"year": {"$lt": 1774}}, {"d2"}),
        ({"year": {"$lte": 1774}}, {"d0", "d2"}),
        ({"public": True, "tenant": "acme"}, {"d0", "d2"}),
        ({"year": {"$gte": 1700, "$lt": 1900}}, {"d0", "d1"}),
        ({"$and": [{"tenant": "beta"}, {"score": {"$gt": 0.3}}]}, {"d4"}),
        ({"$or": [{"article": "Apollo"}, {"score": {"$gte": 0.9}}]}, {"d0", "d3"}),
        ({"$or": [{"$and": [{"tenant": "acme"}, {"public": False}]}, {"year": 1969}]}, {"d1", "d3"}),
        ({"$and": [{"article": "Oxygen"}]}, {"d0", "d1"}),
    ],
)
def test_every_operator_means_the_same_in_chroma(collection, flt, ids) -> None:
    assert chroma_ids(collection, flt) == ids
    assert expected_ids(flt) == ids  # the reference evaluator agrees, so the Pinecone double can use it


@pytest.mark.parametrize(
    "flt, message",
    [
        ({}, "non-empty object"),
        ({"year": {"$between": [1, 2]}}, "unknown operator '$between'"),
        ({"$not": {"year": 1}}, "unknown operator '$not'"),
        ({"year": {"$gt": "1800"}}, "filter.year.$gt: expected a number"),
        ({"article": {"$in": []}}, "non-empty list"),
        ({"article": {"$in": "Oxygen"}}, "non-empty list"),
        ({"article": {"$eq": ["a"]}}, "expected a string, number or boolean"),
        ({"$or": {"a": 1}}, "filter.$or: expected a non-empty list"),
        ({"$and": [{"a": 1}, {"b": {"$lt": None}}]}, "filter.$and[1].b.$lt: expected a number"),
        ({"article": {}}, "empty condition"),
    ],
)
def test_invalid_filters_say_where(flt, message) -> None:
    with pytest.raises(FilterError, match=re.escape(message)):
        validate_filter(flt)


def test_combine_ands_only_what_is_set() -> None:
    assert combine(None, None) is None
    assert combine({"a": 1}, None) == {"a": 1}
    assert combine({"a": 1}, {"b": 2}) == {"$and": [{"a": 1}, {"b": 2}]}


scalars = st.sampled_from(["Oxygen", "Warsaw", "Apollo", "acme", "beta"])
numbers = st.sampled_from([1596, 1774, 1800, 1945, 1969, 0.2, 0.5, 0.9])
leaf = st.one_of(
    st.builds(lambda v: {"article": v}, scalars),
    st.builds(lambda op, v: {"tenant": {op: v}}, st.sampled_from(["$eq", "$ne"]), scalars),
    st.builds(lambda op, v: {"year": {op: v}}, st.sampled_from(["$gt", "$gte", "$lt", "$lte"]), numbers),
    st.builds(lambda op, v: {"score": {op: v}}, st.sampled_from(["$gt", "$lte"]), numbers),
    st.builds(lambda op, vs: {"article": {op: vs}}, st.sampled_from(["$in", "$nin"]), st.lists(scalars, min_size=1, max_size=3)),
    st.builds(lambda v: {"public": v}, st.booleans()),
)
filters = st.recursive(
    leaf,
    lambda sub: st.builds(lambda op, xs: {op: xs}, st.sampled_from(["$and", "$or"]), st.lists(sub, min_size=1, max_size=3)),
    max_leaves=6,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flt=filters)
def test_random_filters_agree_with_the_reference(collection, flt) -> None:
    assert chroma_ids(collection, flt) == expected_ids(flt)
