"""Corpus loaders: JSONL (id, title, text, metadata), BEIR corpus.jsonl, CSV, SQuAD JSON, a folder of .md/.txt."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from workbench.errors import CorpusError


@dataclass(frozen=True)
class Document:
    id: str
    text: str
    title: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


def load_corpus(path: str | Path) -> list[Document]:
    """Read any supported corpus format, chosen by what `path` is."""
    path = Path(path)
    if path.is_dir():
        docs = list(_folder(path))
    elif not path.exists():
        raise CorpusError(f"{path}: no such file or folder")
    elif path.suffix == ".jsonl":
        docs = list(_jsonl(path))
    elif path.suffix == ".csv":
        docs = list(_csv(path))
    elif path.suffix == ".json":
        docs = list(_squad(path))
    else:
        raise CorpusError(
            f"{path}: unsupported corpus format {path.suffix!r}; use .jsonl, .csv, SQuAD .json or a folder of .md/.txt"
        )
    if not docs:
        raise CorpusError(f"{path}: the corpus holds no documents")
    seen: set[str] = set()
    for doc in docs:
        if doc.id in seen:
            raise CorpusError(f"{path}: document id {doc.id!r} appears twice; ids must be unique")
        seen.add(doc.id)
    return docs


def _jsonl(path: Path) -> Iterator[Document]:
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise CorpusError(f"{path} line {n}: invalid JSON: {exc.msg}") from None
            where = f"{path} line {n}"
            doc_id = row.get("_id", row.get("id"))  # BEIR uses _id
            if doc_id is None or not isinstance(row.get("text"), str) or not row["text"].strip():
                raise CorpusError(f"{where}: needs an id (or BEIR _id) and a non-empty text, got keys {sorted(row)}")
            meta = row.get("metadata") or {}
            if not isinstance(meta, dict):
                raise CorpusError(f"{where}: metadata must be an object, got {meta!r}")
            yield Document(str(doc_id), row["text"], str(row.get("title") or ""), meta)


def _csv(path: Path) -> Iterator[Document]:
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {"id", "text"} - set(reader.fieldnames or [])
        if missing:
            raise CorpusError(f"{path}: CSV lacks column(s) {sorted(missing)}; found {reader.fieldnames}")
        for n, row in enumerate(reader, 2):
            if not (row["text"] or "").strip():
                raise CorpusError(f"{path} line {n}: empty text")
            meta = {k: v for k, v in row.items() if k not in ("id", "title", "text") and v not in (None, "")}
            yield Document(row["id"], row["text"], row.get("title") or "", meta)


def _squad(path: Path) -> Iterator[Document]:
    """A SQuAD paragraph is a document, id `<article>#<paragraph index>`, as in datasets/*/SOURCE.md."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        articles = data["data"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise CorpusError(f"{path}: not SQuAD JSON ({{'data': [{{'title', 'paragraphs'}}]}}): {exc}") from None
    for article in articles:
        title = article["title"]
        for i, para in enumerate(article["paragraphs"]):
            yield Document(f"{title}#{i}", para["context"], title.replace("_", " "), {"article": title})


def _folder(root: Path) -> Iterator[Document]:
    for file in sorted(p for p in root.rglob("*") if p.suffix in (".md", ".txt") and p.is_file()):
        text = file.read_text(encoding="utf-8")
        if text.strip():
            first = text.strip().splitlines()[0]
            title = first.lstrip("# ").strip() if first.startswith("#") else file.stem
            yield Document(file.relative_to(root).as_posix(), text, title, {"source": file.name})
