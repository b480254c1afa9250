"""Real MiniLM embeddings of SQuAD sentences and questions for the ANN benchmark, cached on disk.

The index holds every sentence of every paragraph plus the questions not held out; the held-out
questions are the queries. Articles alternate between two tenants. Embedding ~21k texts takes minutes
on two cores, so the vectors are saved as .npy under `.workbench/benchmarks/` (git-ignored), keyed by
the model and the texts, and a rerun loads them.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_SENTENCE = re.compile(r"(?<=[.!?])\s+")


@dataclass
class AnnData:
    texts: list[str]  # the indexed texts
    vectors: np.ndarray  # (n, 384) unit rows, one per text
    tenants: list[str]  # tenant of each indexed row
    queries: np.ndarray  # (q, 384) unit rows
    query_tenants: list[str]


def load_texts(paths: list[Path], queries: int) -> tuple[list[str], list[str], list[str], list[str]]:
    """(corpus texts, their tenants, query texts, their tenants); every len//queries-th question is held out."""
    texts, tenants, questions, q_tenants = [], [], [], []
    article = 0
    for path in paths:
        for art in json.loads(path.read_text())["data"]:
            tenant = "tenant-a" if article % 2 == 0 else "tenant-b"
            article += 1
            for par in art["paragraphs"]:
                sentences = [s for s in _SENTENCE.split(par["context"]) if len(s) > 20]
                texts += sentences
                tenants += [tenant] * len(sentences)
                questions += [qa["question"] for qa in par["qas"]]
                q_tenants += [tenant] * len(par["qas"])
    step = max(len(questions) // queries, 1)
    held = set(range(0, len(questions), step)[:queries])
    texts += [q for i, q in enumerate(questions) if i not in held]
    tenants += [t for i, t in enumerate(q_tenants) if i not in held]
    return texts, tenants, [questions[i] for i in sorted(held)], [q_tenants[i] for i in sorted(held)]


def embed_cached(texts: list[str], cache_dir: Path, batch_size: int = 64) -> np.ndarray:
    from tqdm.auto import tqdm

    from workbench.embedders.minilm import MiniLMEmbedder

    key = hashlib.sha256(json.dumps([MiniLMEmbedder.model_id, texts]).encode()).hexdigest()[:16]
    path = cache_dir / f"minilm-{key}.npy"
    if path.exists():
        return np.load(path)
    model = MiniLMEmbedder(batch_size)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths batch together: less padding
    out = np.zeros((len(texts), model.dimension), dtype=np.float32)
    step = batch_size * 16
    for i in tqdm(range(0, len(order), step), desc="embed (cached after)", unit="batch"):
        idx = order[i : i + step]
        out[idx] = model.embed([texts[j] for j in idx])
    cache_dir.mkdir(parents=True, exist_ok=True)
    np.save(path, out)
    return out


def load(paths: list[Path], queries: int, cache_dir: Path) -> AnnData:
    texts, tenants, qtexts, qtenants = load_texts(paths, queries)
    vectors = embed_cached(texts + qtexts, cache_dir)
    return AnnData(texts, vectors[: len(texts)], tenants, vectors[len(texts) :], qtenants)
