"""The one YAML reader, for configs and sweep specs: a file is a mapping, or an error that names the file and says
what is wrong (missing, not UTF-8, not YAML, a duplicated key, empty, or not a mapping)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any


def read_yaml(path: Path, error: type[ValueError], hint: str) -> dict[str, Any]:
    """A YAML file's mapping, or `error` naming the file and what is wrong: missing (with `hint`), not UTF-8,
    not YAML, a duplicated key, or not a mapping at all (an empty file is not the default config)."""
    import yaml  # not at module level: the Lambda bundle reads JSON and carries no YAML parser

    if not path.is_file():
        raise error(f"{path}: no such file ({hint})")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(
            f"{path}: not UTF-8 text: byte {raw[exc.start : exc.start + 1]!r} at offset {exc.start}; save the file as UTF-8"
        ) from None
    try:
        data = yaml.load(text, Loader=_unique_key_loader())  # noqa: S506 - a SafeLoader subclass
    except _DuplicateKey as exc:
        raise error(f"{path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise error(f"{path}: not valid YAML: {where(exc)}") from None
    except RecursionError:
        raise error(f"{path}: nested too deeply to be read") from None
    if data is None:
        raise error(f"{path}: the file is empty ({hint})")
    if not isinstance(data, dict):
        raise error(f"{path}: expected a mapping of keys to values, got {type(data).__name__} {data!r:.40}")
    return data


class _DuplicateKey(ValueError):
    """A key given twice in one mapping: YAML would silently keep the last value."""


@cache
def _unique_key_loader() -> type:
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        def construct_mapping(self, node: Any, deep: bool = False) -> dict:
            first: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    seen = first.get(key)
                except TypeError:
                    continue  # unhashable: SafeLoader itself reports it
                line = key_node.start_mark.line + 1
                if seen is not None:
                    raise _DuplicateKey(f"line {line}: duplicate key {key!r} (first given at line {seen}); keep one")
                first[key] = line
            return super().construct_mapping(node, deep)

    return UniqueKeyLoader


def where(exc: Exception) -> str:
    """What PyYAML found wrong and where, without its snippets of the file: they quote the line as written, and a
    cut-off quote can hold a secret that no masking recognises any more."""
    found = []
    for what, mark in (
        (getattr(exc, "context", None), getattr(exc, "context_mark", None)),
        (getattr(exc, "problem", None), getattr(exc, "problem_mark", None)),
    ):
        if what:
            found.append(f"{what} (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else what)
    return "; ".join(found) or type(exc).__name__
