"""Known-item queries simulated from an unlabeled corpus: an eval set with no labels and no LLM.

After Azzopardi, de Rijke & Balog, "Building simulated queries for known-item topics: an analysis using six
European languages", SIGIR 2007: choose the item a user wants back, then write the query that user might
type from memory of it. Here the item is a chunk, drawn uniformly without replacement; the relevant document
is the one it came from (more queries than chunks: each chunk is asked once before any is asked again).
Its query is either
- `terms`: k terms (k uniform in [min_terms, max_terms]) drawn without replacement from the chunk with
  probability proportional to tf x idf, the paper's discriminative term selection; with probability `noise`
  a term is drawn from the whole collection by document frequency instead (the paper's mix of the
  document's model with the background model), so a query can hold words the item lacks; or
- `sentence`: one sentence of the chunk, each word dropped with probability `noise` (a half-remembered line).
`mixed` draws the style per query. The same corpus, chunking, settings and seed give the same eval set.

Limits: the queries are made of the item's own words, so they measure lexical recall more than paraphrase
and flatter keyword retrieval; absolute scores say little about real users. Use them to rank configurations
(on SQuAD, the ranking they give agrees with the human questions': docs/benchmarks.md), not to report
quality. One document is relevant per query, so a duplicate or near-duplicate of it counts as a miss. There
are no reference answers: answer metrics are not scored, only retrieval. Stop words are English.
"""

from __future__ import annotations

import itertools
import math
import random
import re
from collections import Counter
from pathlib import Path
from typing import Literal, Mapping, get_args

from workbench.config import ChunkingConfig
from workbench.errors import ConfigError, DataError, EvalSetError
from workbench.indexes.sparse.bm25 import stopwords
from workbench.ingest.chunking import Chunk, chunk_documents, doc_id_of
from workbench.ingest.loaders import load_corpus
from workbench.lab.evalsets import EvalCase, EvalSet, Turn
from workbench.reasoners.sentences import split_sentences

Style = Literal["terms", "sentence", "mixed"]
STYLES = get_args(Style)
_WORD = re.compile(r"[^\W_]{2,}")


def build_known_item_set(
    corpus: str | Path,
    n: int,
    seed: int = 0,
    *,
    tenant: str = "acme",
    chunking: ChunkingConfig | None = None,
    style: Style = "mixed",
    noise: float = 0.2,
    min_terms: int = 3,
    max_terms: int = 6,
) -> EvalSet:
    """`n` known-item queries over `corpus` (any format `workbench ingest` reads), chunked as `chunking`."""
    if not 0 <= noise < 1:
        raise ConfigError(f"noise {noise}: give a probability in [0, 1)")
    if not 1 <= min_terms <= max_terms:
        raise ConfigError(f"terms {min_terms}..{max_terms}: need 1 <= min_terms <= max_terms")
    chunks = chunk_documents(load_corpus(corpus), chunking or ChunkingConfig(), "tenant", tenant)
    terms = [_terms(c.text) for c in chunks]
    frequency = Counter(t for ts in terms for t in set(ts))
    usable = [i for i, ts in enumerate(terms) if len(set(ts)) >= min_terms]
    if n < 1:
        raise ConfigError(f"n {n}: ask for one query or more")
    if not usable:
        raise EvalSetError(f"{corpus}: no chunk holds {min_terms} or more distinct terms (stop words aside) to query for")
    rng = random.Random(seed)
    items: list[int] = []
    while len(items) < n:  # each chunk once before any twice: more queries than chunks ask again, in other words
        items += rng.sample(usable, len(usable))
    vocabulary = sorted(frequency)
    background = list(itertools.accumulate(frequency[t] for t in vocabulary))
    cases = []
    for number, i in enumerate(items[:n]):
        kind = style if style != "mixed" else rng.choice(("terms", "sentence"))
        query = _sentence_query(chunks[i], rng, noise) if kind == "sentence" else None
        if not query:  # terms, or a chunk with no sentence long enough to perturb
            kind, query = (
                "terms",
                _terms_query(
                    terms[i], frequency, len(chunks), rng, noise, rng.randint(min_terms, max_terms), vocabulary, background
                ),
            )
        cases.append(
            EvalCase(
                case_id=f"known-item-{seed}-{number}-{kind}",
                tenant=tenant,
                user_id=f"eval-known-item-{number}",
                turns=[Turn(question=query, relevant={doc_id_of(chunks[i].id): 1}, reference_contexts=[chunks[i].text])],
            )
        )
    return EvalSet(name=f"{Path(corpus).stem}-known-items-{seed}", cases=cases)


def _terms(text: str) -> list[str]:
    stop = stopwords()
    return [w for w in _WORD.findall(text.lower()) if w not in stop]


def _terms_query(
    chunk_terms: list[str],
    frequency: Counter,
    chunk_count: int,
    rng: random.Random,
    noise: float,
    k: int,
    vocabulary: list[str],
    background: list[int],
) -> str:
    tf = Counter(chunk_terms)
    weight = {t: c * math.log(chunk_count / frequency[t]) + 1e-6 for t, c in tf.items()}
    # Weighted sampling without replacement (Efraimidis & Spirakis): the k largest u ** (1 / w).
    ranked = sorted(weight, key=lambda t: (-(rng.random() ** (1 / weight[t])), t))
    picked = ranked[: min(k, len(ranked))]
    return " ".join(rng.choices(vocabulary, cum_weights=background)[0] if rng.random() < noise else t for t in picked)


def _sentence_query(chunk: Chunk, rng: random.Random, noise: float) -> str:
    sentences = [s for s in split_sentences(chunk.text) if len(s.split()) >= 5]
    if not sentences:
        return ""
    words = rng.choice(sentences).split()
    kept = [w for w in words if rng.random() >= noise]
    return " ".join(kept or words)


def rank_agreement(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    """Kendall's tau-b between two scorings of the same points (1: same order, -1: reversed), ties counted as
    scipy.stats.kendalltau counts them."""
    points = sorted(set(a) & set(b))
    if len(points) < 2:
        raise DataError("rank agreement needs at least two points scored on both sides")
    concordant = discordant = ties_a = ties_b = 0
    for p, q in itertools.combinations(points, 2):
        da, db = a[p] - a[q], b[p] - b[q]
        if da == 0 and db == 0:
            continue
        if da == 0:
            ties_a += 1
        elif db == 0:
            ties_b += 1
        elif (da > 0) == (db > 0):
            concordant += 1
        else:
            discordant += 1
    denominator = math.sqrt((concordant + discordant + ties_a) * (concordant + discordant + ties_b))
    return (concordant - discordant) / denominator if denominator else 0.0
