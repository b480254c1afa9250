"""Evaluate one configuration on one dataset: run every turn through the real loop, then score it.

The index for a config is built once per (corpus, embedder, chunking, index settings) in its own
folder under the workspace, so configurations that differ only downstream (top_k, prompt,
reasoner, filters) share it, and the embedding cache makes even a rebuild embed nothing new.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from workbench.config import AgentConfig
from workbench.evaluation.answer_metrics import JUDGED, OFFLINE, build_metrics, score_samples
from workbench.evaluation.ann import ExactSearch
from workbench.evaluation.cost import cost_per_million_events
from workbench.evaluation.dataset import DatasetSpec, EvalSet
from workbench.evaluation.ir import retrieval_metrics
from workbench.evaluation.judge import judge_cache, judge_summary
from workbench.evaluation.span_metrics import answer_tokens
from workbench.events import Event
from workbench.filters import combine
from workbench.ingest.chunking import doc_id_of
from workbench.loop import build_embedder
from workbench.protocols import Embedder, VectorIndex
from workbench.registry import BuildContext
from workbench.state import user_item
from workbench.sandbox import sandboxed_agent
from workbench.workspace import Workspace

STAGES = ("embed", "retrieve", "load_state", "build_prompt", "reason", "persist_state", "act", "total")


@dataclass
class EvalResult:
    config: AgentConfig
    evalset: EvalSet
    table: Any  # pandas.DataFrame, one row per turn
    metrics: dict[str, float]
    not_run: list[str]
    index_key: str
    index_path: Path
    embedded: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def index_key(config: AgentConfig, corpus: Path, tenant: str, articles: Sequence[str] | None) -> str:
    """Everything that changes what the index holds; nothing downstream of retrieval."""
    stat = corpus.stat() if corpus.is_file() else None
    ident = {"corpus": str(corpus.resolve()), "size": stat.st_size if stat else None, "mtime": stat.st_mtime_ns if stat else None,
             "tenant": tenant, "articles": sorted(articles or []), "embedder": config.embedder.model_dump(),
             "index": config.index.model_dump(), "chunking": config.retrieval.chunking.model_dump(),
             "tenant_field": config.retrieval.tenant_field}
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:12]


def open_index(config: AgentConfig, dataset: DatasetSpec, workspace: Workspace, embedder: Embedder,
               progress: bool = False) -> tuple[VectorIndex, str, Path]:
    """The index this config is evaluated on, built on first use and reused after."""
    from workbench.indexes.chroma import ChromaIndex
    from workbench.ingest.pipeline import ingest

    corpus = dataset.corpus_path()
    key = index_key(config, corpus, dataset.tenant, dataset.articles)
    folder = workspace.root / "indexes" / key
    index = ChromaIndex(folder, config.index, config.retrieval.tenant_field)
    ready = folder / "ready.json"
    if not ready.exists():
        report = ingest(corpus, config, workspace, tenant=dataset.tenant, embedder=embedder, index=index,
                        progress=progress, keep=_article_filter(dataset.articles))
        ready.write_text(json.dumps({"config_id": config.config_id, "corpus": str(corpus), **report.as_dict()}))
    return index, key, folder


def _article_filter(articles: Sequence[str] | None) -> Callable[[Any], bool] | None:
    if not articles:
        return None
    wanted = set(articles)
    return lambda doc: doc.metadata.get("article") in wanted


def evaluate(config: AgentConfig, dataset: DatasetSpec, workspace: Workspace | None = None, *, judge: str | None = None,
             metrics: Sequence[str] | None = None, embedder: Embedder | None = None, progress: bool = True) -> EvalResult:
    import pandas as pd
    from tqdm.auto import tqdm


    workspace = workspace or Workspace.default()
    evalset = dataset.load_evalset()
    embedder = embedder or build_embedder(BuildContext(config, workspace))
    before = getattr(embedder, "computed", 0)
    index, key, folder = open_index(config, dataset, workspace, embedder, progress)
    cache = judge_cache(workspace.judge_cache) if judge else None
    scorers = build_metrics(embedder, judge, metrics, judge_cache=cache)
    exact = ExactSearch(index)

    rows: list[dict[str, Any]] = []
    samples: list[dict[str, Any]] = []
    with sandboxed_agent(config, workspace, embedder=embedder, index=index) as agent:
        bar = tqdm(total=evalset.turn_count, desc=f"eval {config.name}", unit="q", disable=not progress)
        for case in evalset.cases:
            for t, turn in enumerate(case.turns):
                event = Event(event_id=f"{case.case_id}:{t}", tenant=case.tenant, user_id=case.user_id, text=turn.question)
                d = agent.handle(event, filter=case.filter)
                ranked = list(dict.fromkeys(doc_id_of(chunk) for chunk, _ in d.hits))
                sample = {"user_input": turn.question, "response": d.answer, "reference": turn.answers[0] if turn.answers else None,
                          "references": turn.answers,
                          "retrieved_contexts": list(d.contexts), "reference_contexts": turn.reference_contexts,
                          "retrieved_context_ids": ranked, "reference_context_ids": [k for k, g in turn.relevant.items() if g > 0]}
                row = {"case_id": case.case_id, "turn": t, "question": turn.question, "answer": d.answer,
                       "reference": sample["reference"], "retrieved": ranked, "relevant": sorted(turn.relevant),
                       "citations": list(d.citations), "declined": d.declined, "escalated": d.escalated,
                       "answer_tokens": len(answer_tokens(d.answer)),
                       "top_score": d.hits[0][1] if d.hits else math.nan,
                       **{f"latency_{s}_ms": d.latency_ms.get(s, 0.0) for s in STAGES},
                       "input_tokens": d.tokens.get("input_tokens", 0), "output_tokens": d.tokens.get("output_tokens", 0)}
                if turn.relevant:
                    row.update(retrieval_metrics(ranked, turn.relevant, config.retrieval.top_k))
                # The question's vector is in the embedding cache already: no second model call.
                row["ann_recall_at_k"] = exact.recall(embedder.embed([turn.question])[0], config.retrieval.top_k,
                                                      case.tenant, combine(config.retrieval.filter, case.filter))
                rows.append(row)
                samples.append(sample)
                bar.update()
        bar.close()
        item_bytes = [len(json.dumps([m.__dict__ for m in agent.state.load(c.tenant, user_item(c.user_id)).history])) for c in evalset.cases]

    for row, scores in zip(rows, score_samples(scorers, samples)):
        row.update(scores)
    table = pd.DataFrame(rows)
    aggregates = _aggregate(table, config, item_bytes, index.count())
    aggregates.update(judge_summary(table, [m for m in JUDGED if m in scorers], cache), answer_tokens=float(table["answer_tokens"].mean()))
    not_run = [m for m in JUDGED if m not in scorers]
    return EvalResult(config, evalset, table, aggregates, not_run, key, folder, getattr(embedder, "computed", 0) - before)


def _aggregate(table: Any, config: AgentConfig, item_bytes: list[int], index_vectors: int) -> dict[str, float]:
    quality = [c for c in table.columns if c.endswith(("_at_k", "_at_10")) or c in OFFLINE + JUDGED]
    out = {name: float(table[name].mean()) for name in quality if table[name].notna().any()}
    for stage in STAGES:
        col = table[f"latency_{stage}_ms"]
        for q in (50, 95, 99):
            out[f"latency_{stage}_p{q}_ms"] = float(col.quantile(q / 100))
    # The seed article's metric names, so dashboards built on them keep working.
    out["embedding_latency_ms"] = float(table["latency_embed_ms"].mean())
    out["vector_search_latency_ms"] = float(table["latency_retrieve_ms"].mean())
    out["llm_token_usage"] = float((table["input_tokens"] + table["output_tokens"]).mean())
    out["decline_rate"] = float(table["declined"].mean())
    out["escalation_rate"] = float(table["escalated"].mean())
    out.update(cost_per_million_events(
        config, mean_latency_ms=float(table["latency_total_ms"].mean()), mean_input_tokens=float(table["input_tokens"].mean()),
        mean_output_tokens=float(table["output_tokens"].mean()), mean_question_chars=float(table["question"].str.len().mean()),
        mean_item_bytes=sum(item_bytes) / max(len(item_bytes), 1), index_vectors=index_vectors))
    return out

