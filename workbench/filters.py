"""Metadata filters, written once in Pinecone's filter language and translated per backend.

Pinecone's language is the contract because it is what the exported Lambda speaks: a filter
that was evaluated against Chroma must mean the same thing after export. Supported:
`$eq $ne $in $nin $gt $gte $lt $lte $and $or`, with `{"field": value}` as shorthand for `$eq`
and several keys in one object meaning `$and`.
"""

from __future__ import annotations

from typing import Any

from workbench.errors import FilterError

COMPARISONS = {"$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin"}
LOGICAL = {"$and", "$or"}
Scalar = (str, int, float, bool)
MAX_DEPTH = 16  # $and/$or levels; deeper is no real filter, and past ~250 pydantic cannot even serialise it


def validate_filter(flt: Any, path: str = "filter", depth: int = 0) -> None:
    if not isinstance(flt, dict) or not flt:
        raise FilterError(f"{path}: expected a non-empty object, got {flt!r}")
    for key, value in flt.items():
        where = f"{path}.{key}"
        if key in LOGICAL:
            if not isinstance(value, list) or not value:
                raise FilterError(f"{where}: expected a non-empty list of filters, got {value!r}")
            if depth >= MAX_DEPTH:
                raise FilterError(f"{path}: {key} nested over {MAX_DEPTH} levels deep")
            for i, sub in enumerate(value):
                validate_filter(sub, f"{where}[{i}]", depth + 1)
        elif key.startswith("$"):
            raise FilterError(f"{where}: unknown operator {key!r}; use one of {sorted(COMPARISONS | LOGICAL)}")
        elif isinstance(value, dict):
            if not value:
                raise FilterError(f"{where}: empty condition")
            for op, operand in value.items():
                _validate_comparison(op, operand, f"{where}.{op}")
        else:
            _validate_comparison("$eq", value, where)


def checked_filter(flt: dict[str, Any] | None) -> dict[str, Any] | None:
    """For pydantic fields: validate a filter where it is declared (`Annotated[..., AfterValidator(checked_filter)]`)."""
    if flt is not None:
        validate_filter(flt)
    return flt


def _validate_comparison(op: str, operand: Any, where: str) -> None:
    if op not in COMPARISONS:
        raise FilterError(f"{where}: unknown operator {op!r}; use one of {sorted(COMPARISONS)}")
    if op in ("$in", "$nin"):
        if not isinstance(operand, list) or not operand or not all(_is_scalar(v) for v in operand):
            raise FilterError(f"{where}: expected a non-empty list of strings, numbers or booleans, got {operand!r}")
    elif op in ("$gt", "$gte", "$lt", "$lte"):
        if isinstance(operand, bool) or not isinstance(operand, (int, float)):
            raise FilterError(f"{where}: expected a number, got {operand!r}")
    elif not _is_scalar(operand):
        raise FilterError(f"{where}: expected a string, number or boolean, got {operand!r}")


def _is_scalar(value: Any) -> bool:
    return isinstance(value, Scalar) and value is not None


def combine(*filters: dict[str, Any] | None) -> dict[str, Any] | None:
    """AND together the filters that are set (tenant scope, config default, per-request)."""
    present = [f for f in filters if f]
    if not present:
        return None
    return present[0] if len(present) == 1 else {"$and": present}


def to_chroma(flt: dict[str, Any] | None) -> dict[str, Any] | None:
    """Translate a Pinecone filter to a Chroma `where` (one key per object, `$and` of two or more)."""
    if flt is None:
        return None
    validate_filter(flt)
    return _translate(flt)


def _translate(flt: dict[str, Any]) -> dict[str, Any]:
    clauses: list[dict[str, Any]] = []
    for key, value in flt.items():
        if key in LOGICAL:
            subs = [_translate(sub) for sub in value]
            clauses.append(subs[0] if len(subs) == 1 else {key: subs})
        elif isinstance(value, dict):
            clauses.extend({key: {op: operand}} for op, operand in value.items())
        else:
            clauses.append({key: {"$eq": value}})
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def matches(flt: dict[str, Any] | None, metadata: dict[str, Any]) -> bool:
    """Evaluate a filter against one metadata dict, with Pinecone's semantics (a missing field never matches)."""
    if flt is None:
        return True
    for key, value in flt.items():
        if key == "$and":
            ok = all(matches(sub, metadata) for sub in value)
        elif key == "$or":
            ok = any(matches(sub, metadata) for sub in value)
        else:
            conditions = value if isinstance(value, dict) else {"$eq": value}
            ok = key in metadata and all(_compare(op, metadata[key], arg) for op, arg in conditions.items())
        if not ok:
            return False
    return True


def _compare(op: str, actual: Any, expected: Any) -> bool:
    if op == "$eq":
        return actual == expected
    if op == "$ne":
        return actual != expected
    if op == "$in":
        return actual in expected
    if op == "$nin":
        return actual not in expected
    if isinstance(actual, bool) or not isinstance(actual, (int, float)):
        return False
    return {"$gt": actual > expected, "$gte": actual >= expected, "$lt": actual < expected, "$lte": actual <= expected}[op]
