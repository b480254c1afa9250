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

from workbench.assembly import build_embedder
from workbench.config import AgentConfig
from workbench.errors import ConfigError, EvalSetError
from workbench.events import Event
from workbench.filters import combine
from workbench.ingest.chunking import doc_id_of
from workbench.lab.aws_usage import Usage, event_usage
from workbench.lab.evalsets import DatasetSpec, EvalCase, EvalSet, Turn
from workbench.lab.recorder import StageRecorder, StageSpan, charged, describe
from workbench.lab.sandbox import sandboxed_agent
from workbench.lab.scorers.ann import ExactSearch
from workbench.lab.scorers.judge import judge_cache, judge_summary
from workbench.lab.scorers.ragas_metrics import JUDGED, build_metrics, score_samples
from workbench.lab.scorers.retrieval import retrieval_metrics
from workbench.lab.scorers.span_metrics import answer_tokens
from workbench.lab.summary import STAGES, row_costs, summarize
from workbench.protocols import Embedder, VectorIndex
from workbench.registry import BuildContext
from workbench.state import user_item
from workbench.workspace import Workspace


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
    repeats: int = 1
    spans: list[list[StageSpan]] = field(default_factory=list)  # one list per table row


def index_key(config: AgentConfig, corpus: Path, tenant: str, articles: Sequence[str] | None) -> str:
    """Everything that changes what the index holds; nothing downstream of retrieval."""
    stat = corpus.stat() if corpus.is_file() else None
    ident = {
        "corpus": str(corpus.resolve()),
        "size": stat.st_size if stat else None,
        "mtime": stat.st_mtime_ns if stat else None,
        "tenant": tenant,
        "articles": sorted(articles or []),
        "embedder": config.embedder.model_dump(),
        "index": config.index.model_dump(),
        "chunking": config.retrieval.chunking.model_dump(),
        "tenant_field": config.retrieval.tenant_field,
    }
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:12]


def open_index(
    config: AgentConfig, dataset: DatasetSpec, workspace: Workspace, embedder: Embedder, progress: bool = False
) -> tuple[VectorIndex, str, Path]:
    """The index this config is evaluated on, built on first use and reused after."""
    from workbench.indexes.chroma import ChromaIndex
    from workbench.ingest.pipeline import ingest

    corpus = dataset.corpus_path()
    key = index_key(config, corpus, dataset.tenant, dataset.articles)
    folder = workspace.root / "indexes" / key
    index = ChromaIndex(folder, config.index, config.retrieval.tenant_field)
    ready = folder / "ready.json"
    # A server outlives the marker's meaning when it is wiped or replaced: there, the count must match too.
    if not ready.exists() or (config.index.host and index.count() != json.loads(ready.read_text())["chunks"]):
        report = ingest(
            corpus,
            config,
            workspace,
            tenant=dataset.tenant,
            embedder=embedder,
            index=index,
            progress=progress,
            keep=_article_filter(dataset.articles),
        )
        ready.write_text(json.dumps({"config_id": config.config_id, "corpus": str(corpus), **report.as_dict()}))
    return index, key, folder


def _article_filter(articles: Sequence[str] | None) -> Callable[[Any], bool] | None:
    if not articles:
        return None
    wanted = set(articles)
    return lambda doc: doc.metadata.get("article") in wanted


def evaluate(
    config: AgentConfig,
    dataset: DatasetSpec,
    workspace: Workspace | None = None,
    *,
    judge: str | None = None,
    metrics: Sequence[str] | None = None,
    embedder: Embedder | None = None,
    progress: bool = True,
    repeats: int = 1,
    live: tuple[Any, Any] | None = None,
) -> EvalResult:
    """Run every turn `repeats` times (each repeat with fresh conversation state, sharing the index and cache), then score.
    `live`: (index, state) of a deployed stack to evaluate instead of the local index (evaluation/live.py)."""
    import pandas as pd
    from tqdm.auto import tqdm

    if repeats < 1:
        raise ConfigError(f"repeats {repeats}: evaluate each question at least once (repeats >= 1)")
    workspace = workspace or Workspace.default()
    evalset = dataset.load_evalset()
    if not evalset.cases:
        raise EvalSetError(f"{dataset.evalset or dataset.corpus}: no questions to evaluate (check --article and --limit)")
    embedder = embedder or build_embedder(BuildContext(config, workspace))
    before = getattr(embedder, "computed", 0)
    index, key, folder = open_index(config, dataset, workspace, embedder, progress) if live is None else (live[0], "live", None)
    cache = judge_cache(workspace.judge_cache) if judge else None
    scorers = build_metrics(embedder, judge, metrics, judge_cache=cache)
    exact = ExactSearch(index) if live is None else None  # a deployed index pages out no vectors: no ANN recall
    parts = {} if live is None else {"state": live[1]}
    recorder = StageRecorder(embedder, _configured_tracer(config))

    rows: list[dict[str, Any]] = []
    samples: list[dict[str, Any]] = []
    usages: list[Usage] = []
    spans: list[list[StageSpan]] = []
    _warm_up(config, workspace, embedder, index, recorder, evalset.cases[0])
    bar = tqdm(total=evalset.turn_count * repeats, desc=f"eval {config.name}", unit="q", disable=not progress)
    for repeat in range(repeats):
        with sandboxed_agent(config, workspace, embedder=embedder, index=index, tracer=recorder, **parts) as agent:
            for case in evalset.cases:
                for t, turn in enumerate(case.turns):
                    row, sample, stages, usage = _ask(agent, recorder, exact, case, t, turn)
                    rows.append({"repeat": repeat, **row})
                    usages.append(usage)
                    samples.append(sample)
                    spans.append(stages)
                    bar.update()
    bar.close()

    for row, scores in zip(rows, score_samples(scorers, samples, embedder.model_id, str(workspace.root))):
        row.update(scores)
    table = pd.DataFrame(rows)
    usage = Usage.mean(usages)
    table["cost_per_1m_events"] = row_costs(table, config, usage, index.count())
    aggregates = summarize(table, config, usage, index.count())
    aggregates.update(
        judge_summary(table, [m for m in JUDGED if m in scorers], cache), answer_tokens=float(table["answer_tokens"].mean())
    )
    not_run = [m for m in JUDGED if m not in scorers]
    return EvalResult(
        config,
        evalset,
        table,
        aggregates,
        not_run,
        key,
        folder,
        getattr(embedder, "computed", 0) - before,
        repeats=repeats,
        spans=spans,
    )


def _ask(
    agent: Any, recorder: StageRecorder, exact: ExactSearch | None, case: EvalCase, t: int, turn: Turn
) -> tuple[dict, dict, list, Usage]:
    """One turn through the loop: its table row, its ragas sample, its stage spans, the AWS usage it would cost."""
    config = agent.config
    event = Event(event_id=f"{case.case_id}:{t}", tenant=case.tenant, user_id=case.user_id, text=turn.question)
    history = agent.state.load(case.tenant, user_item(case.user_id)).history
    d = agent.handle(event, filter=case.filter)
    usage = event_usage(
        config,
        case.tenant,
        event.event_id,
        d.to_dict(),
        history,
        agent.state.load(case.tenant, user_item(case.user_id)).history,
        len(event.model_dump_json()),
    )
    stages = recorder.take()
    describe(stages, d, config, case.filter, t)
    latency = charged(d.latency_ms, stages)
    ranked = list(dict.fromkeys(doc_id_of(chunk) for chunk, _ in d.hits))
    sample = {
        "user_input": turn.question,
        "response": d.answer,
        "reference": turn.answers[0] if turn.answers else None,
        "references": turn.answers,
        "retrieved_contexts": list(d.contexts),
        "reference_contexts": turn.reference_contexts,
        "retrieved_context_ids": ranked,
        "reference_context_ids": [k for k, g in turn.relevant.items() if g > 0],
    }
    row = {
        "case_id": case.case_id,
        "turn": t,
        "question": turn.question,
        "answer": d.answer,
        "reference": sample["reference"],
        "retrieved": ranked,
        "relevant": sorted(turn.relevant),
        "citations": list(d.citations),
        "declined": d.declined,
        "escalated": d.escalated,
        "answer_tokens": len(answer_tokens(d.answer)),
        "top_score": d.hits[0][1] if d.hits else math.nan,
        **{f"latency_{s}_ms": latency.get(s, 0.0) for s in STAGES},
        "replayed_ms": sum(s.replayed_ms for s in stages),
        "input_tokens": d.tokens.get("input_tokens", 0),
        "output_tokens": d.tokens.get("output_tokens", 0),
    }
    if turn.relevant:
        row.update(retrieval_metrics(ranked, turn.relevant, config.retrieval.top_k))
    # The question's vector is in the embedding cache already: no second model call. Without hybrid scoring the
    # loop's hits are the index's own top k for it under this filter: no second query either.
    row["ann_recall_at_k"] = (
        exact.recall(
            agent.embedder.embed([turn.question])[0],
            config.retrieval.top_k,
            case.tenant,
            combine(config.retrieval.filter, case.filter),
            found=None if config.retrieval.hybrid.enabled else [h for h, _ in d.hits],
        )
        if exact
        else math.nan
    )
    return row, sample, stages, usage


def _warm_up(
    config: AgentConfig, workspace: Workspace, embedder: Embedder, index: VectorIndex, recorder: StageRecorder, case: EvalCase
) -> None:
    """One untimed event through a throwaway agent: the first query of a process pays lazy initialisation (index
    files, SQLite, imports), which would otherwise be charged to whichever configuration is evaluated first."""
    with sandboxed_agent(config, workspace, embedder=embedder, index=index, tracer=recorder) as agent:
        agent.handle(
            Event(event_id="warm-up", tenant=case.tenant, user_id="warm-up", text=case.turns[0].question), filter=case.filter
        )
    recorder.take()


def _configured_tracer(config: AgentConfig) -> Any:
    """The OpenTelemetry tracer the config asks for, if any: an evaluation still exports its spans."""
    if config.observability.tracing == "none":
        return None
    from workbench.tracing import make_tracer

    return make_tracer(config.observability)
