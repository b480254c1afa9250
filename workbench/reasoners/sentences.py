"""Sentences of a chunk and their vectors, as ingestion stores them for the extractive reasoner.

Ingestion embeds each chunk's sentences once and keeps them in the chunk's metadata (`sentence_vectors`,
float16, base64), so they travel with the chunk into Chroma, Pinecone and every hit, and answering a
question embeds no sentence. Ingestion and the reasoner split with the same function, so row i of the
stored vectors is sentence i of the chunk; a count that does not match means the chunk was stored by
another splitter, and the reasoner embeds its sentences instead.
"""

from __future__ import annotations

import base64
import re
from typing import Any, Sequence

SENTENCE_VECTORS = "sentence_vectors"
_BOUNDARY = re.compile(r"[.!?][\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")
# A full stop after these is not the end of a sentence ("Robert A. Millikan", "St. Louis", "U.S. Army").
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof st jr sr gen col lt sgt capt gov sen rep rev mt ft no nos vol fig inc ltd co corp vs "
    "e.g i.e u.s u.k u.n jan feb mar apr jun jul aug sep sept oct nov dec approx ca".split()
)


def split_sentences(text: str) -> list[str]:
    """Sentences of `text`, splitting at . ! ? before a capital or digit, but not after initials or abbreviations."""
    sentences, start = [], 0
    for match in _BOUNDARY.finditer(text):
        words = text[max(0, match.start() - 24) : match.start() + 1].split()
        word = words[-1].rstrip(".!?").lstrip("\"'([").lower() if words else ""
        if (len(word) == 1 and word.isalpha()) or word in _ABBREVIATIONS:
            continue
        sentences.append(text[start : match.end()].strip())
        start = match.end()
    sentences.append(text[start:].strip())
    return [s for s in sentences if s]


def encode_vectors(vectors: Any) -> str:
    """Rows of unit vectors as base64 float16 (2 bytes a dimension: a 384-d sentence costs 1 KB of metadata)."""
    import numpy as np

    return base64.b64encode(np.asarray(vectors, dtype="<f2").tobytes()).decode("ascii")


def decode_vectors(blob: str, rows: int, dimension: int) -> Any:
    """The stored rows as float32, or None when the blob does not hold `rows` x `dimension` values."""
    import numpy as np

    try:
        flat = np.frombuffer(base64.b64decode(blob, validate=True), dtype="<f2")
    except (ValueError, TypeError):
        return None
    return flat.reshape(rows, dimension).astype(np.float32) if flat.size == rows * dimension else None


def with_sentence_vectors(texts: Sequence[str], metadatas: Sequence[dict[str, Any]], embedder: Any) -> list[dict[str, Any]]:
    """Each chunk's metadata plus its sentences' vectors, embedded in one call (the cache skips known sentences)."""
    split = [split_sentences(t) for t in texts]
    flat = [s for sentences in split for s in sentences]
    vectors = embedder.embed(flat) if flat else []
    out, row = [], 0
    for meta, sentences in zip(metadatas, split):
        out.append({**meta, SENTENCE_VECTORS: encode_vectors(vectors[row : row + len(sentences)])})
        row += len(sentences)
    return out
