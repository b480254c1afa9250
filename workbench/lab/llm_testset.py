"""Questions and reference answers written by an LLM from the user's own corpus, with ragas's TestsetGenerator.

The corpus is chunked as `workbench ingest` chunks it, and every chunk is a node of ragas's knowledge graph, so
the reference contexts of a generated question are chunks with known ids: its relevance labels come with it, and
the IR metrics score it like a labelled question. The LLM extracts each chunk's named entities; chunks sharing
entities are linked. Single-hop questions are written from one chunk, multi-hop questions from a linked group.
Personas are given, not generated (ragas would summarise every document first, at an LLM call each).

Unlike known-item simulation (known_item.py) this costs LLM calls, about one per chunk and two per question, and
the questions read like a user's; the relevance labels are as good as the generator's grounding, so check a sample.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

from workbench.config import ChunkingConfig
from workbench.errors import ConfigError, EvalSetError
from workbench.ingest.chunking import chunk_documents, doc_id_of
from workbench.ingest.loaders import load_corpus
from workbench.lab.evalsets import EvalCase, EvalSet, Turn

_HOP = re.compile(r"^<\d+-hop>\n\n")
PERSONAS = [
    ("Newcomer", "Knows little of the subject and asks about the basic facts the documents state."),
    ("Analyst", "Compares facts across documents and asks how they relate."),
    ("Expert", "Knows the field and asks precise questions about specific details."),
]


def build_llm_evalset(
    corpus: str | Path,
    n: int,
    llm: str,
    *,
    seed: int = 0,
    tenant: str = "acme",
    chunking: ChunkingConfig | None = None,
    multi_hop: float = 0.5,
    cache: Any = None,
) -> EvalSet:
    """`n` questions over `corpus` by the chat model `llm` ("provider:model"), a `multi_hop` share of them multi-hop."""
    from ragas.embeddings import LangchainEmbeddingsWrapper
    from ragas.testset import TestsetGenerator
    from ragas.testset.graph import KnowledgeGraph, Node, NodeType
    from ragas.testset.persona import Persona
    from ragas.testset.synthesizers import MultiHopSpecificQuerySynthesizer, SingleHopSpecificQuerySynthesizer
    from ragas.testset.transforms import apply_transforms
    from ragas.testset.transforms.extractors.llm_based import NERExtractor
    from ragas.testset.transforms.relationship_builders import OverlapScoreBuilder

    from workbench.embedders.hashing import HashingEmbedder
    from workbench.lab import tiktoken_files
    from workbench.lab.scorers.judge import chat_model
    from workbench.lab.scorers.ragas_metrics import make_langchain_embeddings

    if n < 1 or not 0 <= multi_hop <= 1:
        raise ConfigError(f"n {n}, multi_hop {multi_hop}: ask for one question or more, and a share in [0, 1]")
    tiktoken_files.provide()
    chunks = chunk_documents(load_corpus(corpus), chunking or ChunkingConfig(), "tenant", tenant)
    if not chunks:
        raise EvalSetError(f"{corpus}: no text to write questions about")
    model = chat_model(llm, cache, role="--llm")
    graph = KnowledgeGraph(
        nodes=[Node(type=NodeType.CHUNK, properties={"page_content": c.text, "document_metadata": {"id": c.id}}) for c in chunks]
    )
    apply_transforms(graph, [NERExtractor(llm=model), OverlapScoreBuilder(new_property_name="entities_overlap")])
    linked = any(r.type == "entities_overlap" for r in graph.relationships)
    shares = [(SingleHopSpecificQuerySynthesizer(llm=model), 1 - multi_hop if linked else 1.0)]
    if linked and multi_hop > 0:
        shares.append((MultiHopSpecificQuerySynthesizer(llm=model), multi_hop))
    # ragas picks nodes and personas with `random`, and its embedding model goes unused with personas given
    generator = TestsetGenerator(
        llm=model,
        embedding_model=LangchainEmbeddingsWrapper(make_langchain_embeddings(HashingEmbedder())),
        knowledge_graph=graph,
        persona_list=[Persona(name=a, role_description=b) for a, b in PERSONAS],
    )
    state = random.getstate()
    random.seed(seed)
    try:
        testset = generator.generate(testset_size=n, query_distribution=[s for s in shares if s[1] > 0], raise_exceptions=True)
    finally:
        random.setstate(state)
    ids = {c.text: c.id for c in chunks}
    cases = []
    for number, sample in enumerate(testset.samples):
        row, kind = sample.eval_sample, "multi" if "multi_hop" in sample.synthesizer_name else "single"
        contexts = [_HOP.sub("", t, count=1) for t in row.reference_contexts or []]  # multi-hop ones open with "<1-hop>"
        found = [ids[t] for t in contexts if t in ids]
        if not found or not row.user_input:
            raise EvalSetError(
                f"generated question {number} ({row.user_input!r}) cites no chunk of {corpus}: ragas changed "
                "how it reports reference contexts"
            )
        cases.append(
            EvalCase(
                case_id=f"llm-{seed}-{number}-{kind}-hop",
                tenant=tenant,
                user_id=f"eval-llm-{number}",
                turns=[
                    Turn(
                        question=row.user_input,
                        answers=[row.reference] if row.reference else [],
                        relevant={doc_id_of(i): 1 for i in found},
                        reference_contexts=contexts,
                    )
                ],
            )
        )
    return EvalSet(name=f"{Path(corpus).stem}-llm-{seed}", cases=cases)
