"""The lab: `eval`, `sweep`, `build-evalset`, `schedule`, `replay`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer

from workbench.cli.options import (
    DEMO_CORPUS,
    ConfigOpt,
    ExperimentOpt,
    HomeOpt,
    TrackingOpt,
    load_config,
    open_workspace,
    printable,
)
from workbench.config import AgentConfig
from workbench.errors import UsageError

commands = typer.Typer()


@commands.command("eval")
def eval_(
    config: Optional[Path] = ConfigOpt,
    home: Optional[Path] = HomeOpt,
    corpus: Path = typer.Option(DEMO_CORPUS, help="Corpus to index: SQuAD .json, BEIR folder, JSONL, CSV or folder."),
    evalset: Optional[Path] = typer.Option(None, help="Eval set JSONL (default: the questions of a SQuAD/BEIR corpus)."),
    tenant: str = typer.Option("acme", help="Tenant the corpus is ingested under and the questions asked as."),
    article: Optional[list[str]] = typer.Option(None, help="SQuAD only: evaluate on these articles (repeatable)."),
    limit: Optional[int] = typer.Option(None, min=1, help="Evaluate the first N cases."),
    judge: Optional[str] = typer.Option(
        None, help="LLM judge for ragas's LLM metrics, provider:model (e.g. openai:gpt-4o-mini)."
    ),
    backends: str = typer.Option(
        "local",
        help="local: the workspace's index; aws: the deployed Pinecone index and "
        "DynamoDB state (PINECONE_HOST, STATE_TABLE, ...) against an exported run.",
    ),
    run: Optional[str] = typer.Option(None, "--run", help="--backends aws: the exported run to compare with."),
    promoted: Optional[str] = typer.Option(None, "--promoted", help="--backends aws: the run promoted under this name."),
    repeats: int = typer.Option(
        1,
        min=1,
        max=100,
        help="Evaluate every question N times (sharing index and cache); latency intervals come from the repeats.",
    ),
    traces: bool = typer.Option(True, "--traces/--no-traces", help="Log every evaluated question as an MLflow trace."),
    as_json: bool = typer.Option(False, "--json", help="Print only JSON on stdout (notes go to stderr)."),
    tracking_uri: Optional[str] = TrackingOpt,
    experiment: str = ExperimentOpt,
) -> None:
    """Evaluate one configuration and log the run to MLflow, every figure with its 95% interval; or, with --backends aws,
    what is deployed against its run."""
    from workbench.lab import tracking
    from workbench.lab.evalsets import DatasetSpec
    from workbench.lab.evaluate import evaluate

    ws = open_workspace(home)
    spec = DatasetSpec(corpus=corpus, evalset=evalset, tenant=tenant, articles=article or None, limit=limit)
    experiment_id = tracking.connect(ws, tracking_uri, experiment)  # fail before the work, not after
    if backends == "aws":
        from workbench.lab.live import evaluate_live

        if config or (run is None) == (promoted is None):
            raise UsageError(
                "--backends aws evaluates an exported run's config: give --run RUN_ID or --promoted NAME, not --config"
            )
        typer.echo(
            json.dumps(evaluate_live(run or tracking.promoted_run(promoted, experiment_id), spec, ws, judge=judge), indent=2)
        )
        return
    if backends != "local" or run or promoted:
        raise UsageError("--backends is local or aws; --run and --promoted are for --backends aws")
    cfg = load_config(config)
    result = evaluate(cfg, spec, ws, judge=judge, repeats=repeats)
    run_id = tracking.log_evaluation(result, result.evalset.name, result.evalset.content_hash, traces=traces)
    shown = {
        k: round(v, 4)
        for k, v in result.metrics.items()
        if v == v and (not k.startswith("latency_") or k.startswith("latency_total"))
    }
    summary = {
        "run_id": run_id,
        "config_id": cfg.config_id,
        "questions": result.evalset.turn_count,
        "repeats": repeats,
        **shown,
        "not_run": result.not_run,
    }
    typer.echo(json.dumps(summary, indent=2) if as_json else _figures(summary))
    if result.not_run:
        typer.echo(f"not run (no --judge): {', '.join(result.not_run)}", err=as_json)


def _figures(summary: dict[str, Any]) -> str:
    """`metric  value  [95% interval]`, one per line, under the run's identity."""
    lines = [
        f"run {summary['run_id']}  config_id {summary['config_id']}  {summary['questions']} questions x {summary['repeats']} repeats"
    ]
    for key, value in summary.items():
        if isinstance(value, float) and not key.endswith(("_ci_low", "_ci_high")):
            low, high = summary.get(f"{key}_ci_low"), summary.get(f"{key}_ci_high")
            lines.append(
                f"  {key:42} {value:>10.4f}" + (f"  [{low:.4f}, {high:.4f}]" if low is not None and high is not None else "")
            )
    return "\n".join(lines)


@commands.command()
def sweep(
    spec: Path = typer.Argument(..., help="Sweep spec YAML (see experiments/*.yaml)."),
    home: Optional[Path] = HomeOpt,
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="Evaluate N points (or trials) at a time."),
    search: str = typer.Option("grid", help="grid: every point of the spec; optuna: search its `search` section."),
    trials: Optional[int] = typer.Option(None, min=1, help="--search optuna: finished trials the study should have."),
    executor: str = typer.Option("process", help="process: local processes (-j); ray: Ray tasks."),
    address: Optional[str] = typer.Option(None, help="--executor ray: cluster to join (ray://HOST:10001, auto)."),
    storage: Optional[str] = typer.Option(None, help="--search optuna: study database URL (default: the workspace's optuna.db)."),
    tracking_uri: Optional[str] = TrackingOpt,
) -> None:
    """Run a grid or list of variations, or an Optuna search; finished points are skipped, so an interrupted sweep resumes."""
    from workbench.lab.sweep import SweepSpec, run_sweep

    parsed = SweepSpec.from_yaml(spec)
    if search == "optuna":
        from workbench.lab.search_optuna import run_search

        if trials is None:
            raise UsageError("--search optuna needs --trials N")
        found = run_search(
            parsed,
            open_workspace(home),
            trials=trials,
            tracking_uri=tracking_uri,
            jobs=jobs,
            executor=executor,
            address=address,
            storage=storage,
        )
        typer.echo(
            f"search parent run {found.parent_run_id} (study {found.study} in {found.storage}): {found.trials} trials "
            f"finished; evaluated {len(found.ran)} now, {found.repeated} repeated, {len(found.invalid)} invalid; "
            f"embedded {found.embedded} new texts; Pareto front: {', '.join(found.pareto)}"
        )
        for reason in found.invalid:
            typer.echo(f"  invalid: {printable(reason)}")
        return
    if search != "grid" or trials is not None or storage is not None:
        raise UsageError("--search is grid or optuna; --trials and --storage are for --search optuna")
    report = run_sweep(parsed, open_workspace(home), tracking_uri=tracking_uri, jobs=jobs, executor=executor, address=address)
    typer.echo(
        f"sweep parent run {report.parent_run_id}: ran {len(report.ran)}, skipped {len(report.skipped)} "
        f"already finished, embedded {report.embedded} new texts"
    )


@commands.command("build-evalset")
def build_evalset(
    source: Optional[Path] = typer.Argument(None, help="SQuAD .json or BEIR folder with queries.jsonl and qrels/."),
    out: Path = typer.Option(..., "--out", "-o", help="Eval set JSONL to write."),
    from_corpus: Optional[Path] = typer.Option(
        None,
        "--from-corpus",
        help="A corpus without questions (any format `ingest` reads): simulate known-item queries (docs/known_items.md).",
    ),
    n: int = typer.Option(200, "--n", min=1, help="--from-corpus: how many questions."),
    seed: int = typer.Option(0, help="--from-corpus: the same seed gives the same eval set."),
    style: str = typer.Option("mixed", help="--from-corpus: terms (tf-idf sampled), sentence (perturbed) or mixed."),
    noise: float = typer.Option(0.2, min=0.0, max=0.99, help="--from-corpus: share of query words not taken from the item."),
    llm: Optional[str] = typer.Option(
        None,
        "--llm",
        help="--from-corpus: have this chat model (provider:model, "
        "e.g. openai:gpt-4o-mini) write questions and answers with ragas (docs/llm.md).",
    ),
    multi_hop: float = typer.Option(0.5, min=0.0, max=1.0, help="--llm: share of multi-hop questions."),
    config: Optional[Path] = ConfigOpt,
    home: Optional[Path] = HomeOpt,
    tenant: str = typer.Option("acme", help="Tenant the questions are asked as."),
    limit: Optional[int] = typer.Option(None, min=1, help="Keep the first N questions."),
    split: str = typer.Option("test", help="BEIR qrels split."),
) -> None:
    """Build an eval set: from a corpus plus its questions (SQuAD or BEIR), or from any corpus alone (--from-corpus)."""
    from workbench.lab.evalsets import from_beir, from_squad

    if (source is None) == (from_corpus is None):
        raise UsageError("give either SOURCE (SQuAD or BEIR, with questions) or --from-corpus PATH (a corpus alone)")
    if llm is not None and from_corpus is None:
        raise UsageError("--llm writes questions about a corpus alone: give --from-corpus PATH")
    if llm is not None:
        from workbench.lab.llm_testset import build_llm_evalset
        from workbench.lab.scorers.judge import judge_cache

        evalset = build_llm_evalset(
            from_corpus,
            n,
            llm,
            seed=seed,
            tenant=tenant,
            chunking=load_config(config).retrieval.chunking,
            multi_hop=multi_hop,
            cache=judge_cache(open_workspace(home).judge_cache),
        )
    elif from_corpus is not None:
        from workbench.lab.known_item import STYLES, build_known_item_set

        if style not in STYLES:
            raise UsageError(f"--style {style!r}: choose one of {', '.join(STYLES)}")
        evalset = build_known_item_set(
            from_corpus, n, seed, tenant=tenant, chunking=load_config(config).retrieval.chunking, style=style, noise=noise
        )  # type: ignore[arg-type]
    else:
        evalset = from_beir(source, tenant, split, limit) if source.is_dir() else from_squad(source, tenant, limit)
    evalset = evalset.model_copy(update={"cases": evalset.cases[:limit]})
    evalset.save(out)
    typer.echo(f"{out}: {len(evalset.cases)} cases, hash {evalset.content_hash}")


@commands.command()
def schedule(
    notebook: Path = typer.Argument(Path("notebooks/02_evaluate.ipynb"), help="Notebook to execute with papermill."),
    param: Optional[list[str]] = typer.Option(
        None, "--param", "-p", help="key=value (YAML value), repeatable, e.g. -p limit=20."
    ),
    home: Optional[Path] = HomeOpt,
    tracking_uri: Optional[str] = TrackingOpt,
    out_dir: Path = typer.Option(Path("experiments/runs"), help="Where the executed, timestamped notebook goes."),
) -> None:
    """Run the evaluation notebook with parameters (for cron); the executed copy is attached to its MLflow runs."""
    import yaml

    from workbench.lab.schedule import run_notebook
    from workbench.yamlfile import where

    params = {}
    for item in param or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise UsageError(f"--param {item!r}: write it as key=value")
        try:
            params[key] = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise UsageError(f"--param {item!r}: the value is not YAML: {where(exc)}") from None
    executed, run_ids = run_notebook(notebook, params, open_workspace(home), out_dir, tracking_uri)
    typer.echo(f"executed notebook: {executed}\nattached to MLflow runs: {', '.join(run_ids) or '(none)'}")


@commands.command()
def replay(
    log: Path = typer.Argument(Path(".workbench/decisions.jsonl"), help="Decision log (JSONL) to replay."),
    config: Path = typer.Option(..., "--config", "-c", help="The configuration to replay with."),
    limit: Optional[int] = typer.Option(None, help="Replay the first N decisions."),
    home: Optional[Path] = HomeOpt,
    tracking_uri: Optional[str] = TrackingOpt,
    experiment: str = ExperimentOpt,
) -> None:
    """Re-run logged conversations with another config; report retrieval overlap, answer similarity, latency."""
    from workbench.lab import tracking
    from workbench.lab.replay import log_replay
    from workbench.lab.replay import replay as run_replay

    if not log.is_file():
        raise UsageError(f"{log}: no such decision log (the agent appends to .workbench/decisions.jsonl)")
    cfg, ws = AgentConfig.from_yaml(config), open_workspace(home)
    tracking.connect(ws, tracking_uri, experiment)
    result = run_replay(log, cfg, ws, limit)
    run_id = log_replay(result, cfg, log)
    typer.echo(json.dumps({"run_id": run_id, **{k: round(v, 4) for k, v in result.metrics.items()}}, indent=2))
