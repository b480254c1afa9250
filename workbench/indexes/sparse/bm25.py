"""BM25 sparse vectors in the format of pinecone-text's `BM25Encoder`, with a tokenizer that downloads nothing.

Same mathematics as pinecone-text 0.11 (checked against it in tests/indexes/test_sparse_bm25.py):
- a token's index is mmh3(token) as an unsigned 32-bit integer;
- a document's value for a token is tf / (k1 * (1 - b + b * doc_len / avgdl) + tf) (saturated term frequency);
- a query's value is idf / sum(idf) with idf = log((n_docs + 1) / (df + 0.5)), df defaulting to 1 for unseen tokens.
The dot product of the two is BM25 up to a per-query constant. The tokenizer is a regex word split, lower-cased,
NLTK's English stop words removed (shipped: stopwords_en.txt) and the Snowball English stemmer: snowballstemmer, which
runs PyStemmer (the C build of the same algorithm, the same stems, 30x faster) when it is installed, as here and in
the bundle, and its own pure-Python build elsewhere.

Parameters are fitted per tenant and saved as JSON: `"bm25"` holds exactly pinecone-text's `get_params()`
(so `BM25Encoder().set_params(**params["bm25"])` loads them), next to the corpus fingerprint they were fitted on.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import quote

K1, B = 1.2, 0.75
# An identifier stored with every fitted parameter set (it names the module as it was first written).
TOKENIZER = "workbench.sparse.bm25: regex \\w+, lower case, NLTK English stop words, Snowball English stemmer"
_WORD = re.compile(r"\w+", re.UNICODE)


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    return frozenset((Path(__file__).parent / "stopwords_en.txt").read_text().split())


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    import snowballstemmer

    return snowballstemmer.stemmer("english")


def tokenize(text: str) -> list[str]:
    stop = stopwords()
    words = [w for w in _WORD.findall(text.lower()) if w not in stop and w.strip("_")]
    return _stemmer().stemWords(words)


def token_index(token: str) -> int:
    import mmh3

    return mmh3.hash(token, signed=False)


def term_frequencies(text: str) -> tuple[list[int], list[int]]:
    counts = Counter(token_index(t) for t in tokenize(text))
    return list(counts), list(counts.values())


@dataclass(frozen=True)
class BM25Params:
    n_docs: int
    avgdl: float
    doc_freq: dict[int, int] = field(repr=False)
    fingerprint: str = ""
    k1: float = K1
    b: float = B

    def to_json(self) -> dict[str, Any]:
        pairs = list(self.doc_freq.items())
        bm25 = {
            "avgdl": self.avgdl,
            "n_docs": self.n_docs,
            "doc_freq": {"indices": [i for i, _ in pairs], "values": [float(v) for _, v in pairs]},
            "b": self.b,
            "k1": self.k1,
            "lower_case": True,
            "remove_punctuation": True,
            "remove_stopwords": True,
            "stem": True,
            "language": "english",
        }
        return {"bm25": bm25, "tokenizer": TOKENIZER, "fingerprint": self.fingerprint}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "BM25Params":
        p = data["bm25"]
        df = {int(i): int(v) for i, v in zip(p["doc_freq"]["indices"], p["doc_freq"]["values"])}
        return cls(int(p["n_docs"]), float(p["avgdl"]), df, data.get("fingerprint", ""), float(p["k1"]), float(p["b"]))


def fingerprint(docs: Iterable[tuple[str, str]]) -> str:
    """Of (id, text) pairs, order-free: parameters fitted on another corpus are refitted, never reused."""
    digest = hashlib.sha256()
    for cid, text in sorted(docs):
        digest.update(f"{cid}\0{hashlib.sha256(text.encode()).hexdigest()}\n".encode())
    return digest.hexdigest()[:16]


def fit(texts: Iterable[str], fingerprint: str = "") -> BM25Params:
    """Document frequencies, document count and mean length; documents without a token are skipped, as in pinecone-text."""
    n_docs, total, df = 0, 0, Counter[int]()
    for text in texts:
        indices, tf = term_frequencies(text)
        if not indices:
            continue
        n_docs += 1
        total += sum(tf)
        df.update(indices)
    return BM25Params(n_docs, total / n_docs if n_docs else 1.0, dict(df), fingerprint)


def encode_document(params: BM25Params, text: str) -> dict[str, list]:
    indices, tf = term_frequencies(text)
    norm = params.k1 * (1.0 - params.b + params.b * (sum(tf) / params.avgdl))
    return {"indices": indices, "values": [t / (norm + t) for t in tf]}


def encode_query(params: BM25Params, text: str) -> dict[str, list]:
    indices, _ = term_frequencies(text)
    idf = [math.log((params.n_docs + 1) / (params.doc_freq.get(i, 1) + 0.5)) for i in indices]
    total = sum(idf)
    return {"indices": indices, "values": [v / total for v in idf] if total else [0.0] * len(idf)}


def scale(dense: Any, sparse: dict[str, list], alpha: float) -> tuple[list[float], dict[str, list]]:
    """Pinecone's convex combination (pinecone-text's hybrid_convex_scale): alpha * dense, (1 - alpha) * sparse."""
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
    return [float(v) * alpha for v in dense], {
        "indices": sparse["indices"],
        "values": [v * (1 - alpha) for v in sparse["values"]],
    }


def dot(a: dict[str, list], b: dict[str, list]) -> float:
    weights = dict(zip(a["indices"], a["values"]))
    return sum(weights.get(i, 0.0) * v for i, v in zip(b["indices"], b["values"]))


def params_path(folder: Path, tenant: str | None) -> Path:
    return folder / f"{quote(tenant or '', safe='') or '_all'}.json"


def save(params: BM25Params, path: Path) -> None:
    """Atomically: parallel sweep workers may fit the same tenant at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(params.to_json()))
    os.replace(tmp, path)


def load(path: Path) -> BM25Params:
    try:
        return BM25Params.from_json(json.loads(path.read_text()))
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{path}: no BM25 parameters for this tenant; ingest its corpus with "
            "retrieval.hybrid.method: sparse_dense and export again"
        ) from None
