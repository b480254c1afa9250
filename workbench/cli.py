"""The `workbench` command line. Every command has --help; user mistakes print a fix, not a traceback."""

from __future__ import annotations

import json
import logging
import os
import sys
import uuid
from pathlib import Path
from typing import Any, Optional

import typer

from workbench.config import AgentConfig
from workbench.workspace import Workspace

app = typer.Typer(help="Agent Workbench: build, measure and ship event-driven RAG agents.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
config_app = typer.Typer(help="Show or validate a pipeline configuration.", no_args_is_help=True)
app.add_typer(config_app, name="config")

DEMO_CORPUS = Path("datasets/squad-v1.1-dev-24/dev-v1.1-first24.json")
DEMO_EVENTS = Path("datasets/demo/events.jsonl")

ConfigOpt = typer.Option(None, "--config", "-c", help="Pipeline config YAML (default: the embedded default).")
HomeOpt = typer.Option(None, "--home", help="Workspace folder for indexes, state and caches (default: $WORKBENCH_HOME or .workbench).")


class UserError(Exception):
    """A mistake in what the user asked for; printed as one message with the fix."""


def _load(config: Optional[Path]) -> AgentConfig:
    return AgentConfig.from_yaml(config) if config else AgentConfig()


def _workspace(home: Optional[Path]) -> Workspace:
    return Workspace(home) if home else Workspace.default()


@app.callback()
def _main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log every decision with its config_id.")) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s %(config_id)s %(correlation_id)s"
                        if verbose else "%(levelname)s %(name)s %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(_fill_log_fields)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # compare reads a table per run: no bar for each


def _fill_log_fields(record: logging.LogRecord) -> bool:
    """Give every record the fields the verbose format names. A filter on the handler runs after `extra` is
    merged, so a caller's `extra={"config_id": ...}` is kept, never refused as an overwrite."""
    record.__dict__.setdefault("config_id", "-")
    record.__dict__.setdefault("correlation_id", "-")
    return True


@config_app.command("show")
def config_show(config: Optional[Path] = ConfigOpt) -> None:
    """Print the full configuration as YAML, defaults included, with its config_id."""
    cfg = _load(config)
    typer.echo(f"# config_id: {cfg.config_id}\n{cfg.to_yaml()}", nl=False)


@config_app.command("validate")
def config_validate(path: Path = typer.Argument(..., help="Config YAML to check.")) -> None:
    """Check a config file; errors name the field and the bad value."""
    cfg = AgentConfig.from_yaml(path)
    typer.echo(f"{path}: valid (name={cfg.name}, config_id={cfg.config_id})")


@app.command()
def ingest(corpus: Path = typer.Argument(DEMO_CORPUS, help="JSONL, BEIR corpus.jsonl, CSV, SQuAD .json or a folder of .md/.txt."),
           config: Optional[Path] = ConfigOpt, home: Optional[Path] = HomeOpt,
           tenant: Optional[str] = typer.Option(None, help="Tenant for documents that carry none in their metadata."),
           limit: Optional[int] = typer.Option(None, help="Ingest only the first N documents.")) -> None:
    """Chunk, embed (cached) and index a corpus."""
    from workbench.ingest.pipeline import ingest as run_ingest

    report = run_ingest(corpus, _load(config), _workspace(home), tenant=tenant, limit=limit)
    typer.echo(json.dumps(report.as_dict()))


@app.command()
def ask(question: str = typer.Argument(..., help="The user's message."),
        tenant: str = typer.Option(..., help="Tenant whose documents may be retrieved."),
        user: str = typer.Option("cli-user", help="User whose conversation state is used."),
        filter: Optional[str] = typer.Option(None, help='Extra metadata filter, Pinecone syntax, e.g. \'{"article": "Oxygen"}\'.'),
        config: Optional[Path] = ConfigOpt, home: Optional[Path] = HomeOpt,
        as_json: bool = typer.Option(False, "--json", help="Print the whole decision record as JSON.")) -> None:
    """Send one event through the loop and print the decision."""
    from workbench.events import parse_payload
    from workbench.loop import Agent

    try:
        flt = json.loads(filter) if filter else None
    except json.JSONDecodeError as exc:
        raise UserError(f"--filter is not valid JSON: {exc.msg}") from None
    parsed = parse_payload({"event_id": f"cli-{uuid.uuid4().hex}", "tenant": tenant, "user_id": user, "text": question})[0]
    if parsed.error:
        raise UserError(parsed.error)
    event = parsed.event
    decision = Agent.from_config(_load(config), _workspace(home)).handle(event, filter=flt)
    _print_decisions([decision], as_json)


@app.command("run-events")
def run_events(file: Path = typer.Argument(..., help="JSONL: one event or SNS/SQS envelope per line."),
               config: Optional[Path] = ConfigOpt, home: Optional[Path] = HomeOpt,
               as_json: bool = typer.Option(False, "--json", help="Print every decision as JSON.")) -> None:
    """Run a file of events; bad ones go to the dead-letter file with the reason."""
    summary = _run_file(file, _load(config), _workspace(home))
    _print_decisions(summary.decisions, as_json, summary.repeats)
    _print_summary(summary, _workspace(home), err=as_json)


@app.command()
def demo(home: Optional[Path] = HomeOpt, config: Optional[Path] = ConfigOpt,
         limit: Optional[int] = typer.Option(None, help="Ingest only the first N documents of the bundled SQuAD corpus.")) -> None:
    """Ingest the bundled SQuAD sample and answer the demo events, on the embedded default."""
    from workbench.ingest.pipeline import ingest as run_ingest
    from workbench.loop import Agent

    cfg, ws = _load(config), _workspace(home)
    agent = Agent.from_config(cfg, ws)
    report = run_ingest(DEMO_CORPUS, cfg, ws, tenant="acme", embedder=agent.embedder, index=agent.index, limit=limit)
    typer.echo(f"config {cfg.name} ({cfg.config_id}); ingested {report.documents} documents, "
               f"{report.written} chunks written, {report.unchanged} unchanged, in {report.seconds:.1f}s")
    summary = _run_file(DEMO_EVENTS, cfg, ws, agent)
    _print_decisions(summary.decisions, False, summary.repeats)
    _print_summary(summary, ws)


TrackingOpt = typer.Option(None, "--tracking-uri", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI or the local store in the workspace).")
ExperimentOpt = typer.Option("agent-workbench", "--experiment", help="MLflow experiment name.")


@app.command("eval")
def eval_(config: Optional[Path] = ConfigOpt, home: Optional[Path] = HomeOpt,
          corpus: Path = typer.Option(DEMO_CORPUS, help="Corpus to index: SQuAD .json, BEIR folder, JSONL, CSV or folder."),
          evalset: Optional[Path] = typer.Option(None, help="Eval set JSONL (default: the questions of a SQuAD/BEIR corpus)."),
          tenant: str = typer.Option("acme", help="Tenant the corpus is ingested under and the questions asked as."),
          article: Optional[list[str]] = typer.Option(None, help="SQuAD only: evaluate on these articles (repeatable)."),
          limit: Optional[int] = typer.Option(None, help="Evaluate the first N cases."),
          judge: Optional[str] = typer.Option(None, help="LLM judge for ragas's LLM metrics, provider:model (e.g. openai:gpt-4o-mini)."),
          backends: str = typer.Option("local", help="local: the workspace's index; aws: the deployed Pinecone index and "
                                       "DynamoDB state (PINECONE_HOST, STATE_TABLE, ...) against an exported run."),
          run: Optional[str] = typer.Option(None, "--run", help="--backends aws: the exported run to compare with."),
          promoted: Optional[str] = typer.Option(None, "--promoted", help="--backends aws: the run promoted under this name."),
          repeats: int = typer.Option(1, min=1, max=100, help="Evaluate every question N times (sharing index and cache); latency intervals come from the repeats."),
          traces: bool = typer.Option(True, "--traces/--no-traces", help="Log every evaluated question as an MLflow trace."),
          as_json: bool = typer.Option(False, "--json", help="Print only JSON on stdout (notes go to stderr)."),
          tracking_uri: Optional[str] = TrackingOpt, experiment: str = ExperimentOpt) -> None:
    """Evaluate one configuration and log the run to MLflow, every figure with its 95% interval; or, with --backends aws,
    what is deployed against its run."""
    from workbench.lab import tracking
    from workbench.lab.evalsets import DatasetSpec
    from workbench.lab.evaluate import evaluate

    ws = _workspace(home)
    spec = DatasetSpec(corpus=corpus, evalset=evalset, tenant=tenant, articles=article or None, limit=limit)
    experiment_id = tracking.connect(ws, tracking_uri, experiment)  # fail before the work, not after
    if backends == "aws":
        from workbench.lab.live import evaluate_live

        if config or (run is None) == (promoted is None):
            raise UserError("--backends aws evaluates an exported run's config: give --run RUN_ID or --promoted NAME, not --config")
        typer.echo(json.dumps(evaluate_live(run or tracking.promoted_run(promoted, experiment_id), spec, ws, judge=judge), indent=2))
        return
    if backends != "local" or run or promoted:
        raise UserError("--backends is local or aws; --run and --promoted are for --backends aws")
    cfg = _load(config)
    result = evaluate(cfg, spec, ws, judge=judge, repeats=repeats)
    run_id = tracking.log_evaluation(result, result.evalset.name, result.evalset.content_hash, traces=traces)
    shown = {k: round(v, 4) for k, v in result.metrics.items() if v == v and (not k.startswith("latency_") or k.startswith("latency_total"))}
    summary = {"run_id": run_id, "config_id": cfg.config_id, "questions": result.evalset.turn_count, "repeats": repeats,
               **shown, "not_run": result.not_run}
    typer.echo(json.dumps(summary, indent=2) if as_json else _figures(summary))
    if result.not_run:
        typer.echo(f"not run (no --judge): {', '.join(result.not_run)}", err=as_json)


def _figures(summary: dict[str, Any]) -> str:
    """`metric  value  [95% interval]`, one per line, under the run's identity."""
    lines = [f"run {summary['run_id']}  config_id {summary['config_id']}  {summary['questions']} questions x {summary['repeats']} repeats"]
    for key, value in summary.items():
        if isinstance(value, float) and not key.endswith(("_ci_low", "_ci_high")):
            low, high = summary.get(f"{key}_ci_low"), summary.get(f"{key}_ci_high")
            lines.append(f"  {key:42} {value:>10.4f}" + (f"  [{low:.4f}, {high:.4f}]" if low is not None and high is not None else ""))
    return "\n".join(lines)


@app.command()
def sweep(spec: Path = typer.Argument(..., help="Sweep spec YAML (see experiments/*.yaml)."), home: Optional[Path] = HomeOpt,
          jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="Evaluate N points (or trials) at a time."),
          search: str = typer.Option("grid", help="grid: every point of the spec; optuna: search its `search` section."),
          trials: Optional[int] = typer.Option(None, min=1, help="--search optuna: finished trials the study should have."),
          executor: str = typer.Option("process", help="process: local processes (-j); ray: Ray tasks."),
          address: Optional[str] = typer.Option(None, help="--executor ray: cluster to join (ray://HOST:10001, auto)."),
          storage: Optional[str] = typer.Option(None, help="--search optuna: study database URL (default: the workspace's optuna.db)."),
          tracking_uri: Optional[str] = TrackingOpt) -> None:
    """Run a grid or list of variations, or an Optuna search; finished points are skipped, so an interrupted sweep resumes."""
    from workbench.lab.sweep import SweepSpec, run_sweep

    parsed = SweepSpec.from_yaml(spec)
    if search == "optuna":
        from workbench.lab.search_optuna import run_search

        if trials is None:
            raise UserError("--search optuna needs --trials N")
        found = run_search(parsed, _workspace(home), trials=trials, tracking_uri=tracking_uri, jobs=jobs, executor=executor,
                           address=address, storage=storage)
        typer.echo(f"search parent run {found.parent_run_id} (study {found.study} in {found.storage}): {found.trials} trials "
                   f"finished; evaluated {len(found.ran)} now, {found.repeated} repeated, {len(found.invalid)} invalid; "
                   f"embedded {found.embedded} new texts; Pareto front: {', '.join(found.pareto)}")
        for reason in found.invalid:
            typer.echo(f"  invalid: {reason}")
        return
    if search != "grid" or trials is not None or storage is not None:
        raise UserError("--search is grid or optuna; --trials and --storage are for --search optuna")
    report = run_sweep(parsed, _workspace(home), tracking_uri=tracking_uri, jobs=jobs, executor=executor, address=address)
    typer.echo(f"sweep parent run {report.parent_run_id}: ran {len(report.ran)}, skipped {len(report.skipped)} "
               f"already finished, embedded {report.embedded} new texts")


@app.command()
def compare(home: Optional[Path] = HomeOpt, tracking_uri: Optional[str] = TrackingOpt, experiment: str = ExperimentOpt,
            quality: str = typer.Option("ndcg_at_10", help="Quality metric for the Pareto front."),
            sweep_name: Optional[str] = typer.Option(None, "--sweep", help="Only the runs of this sweep."),
            baseline: Optional[str] = typer.Option(None, "--baseline", help="RUN_ID, promoted name or config name: paired tests of every run against it."),
            out: Path = typer.Option(Path("experiments/runs/compare.png"), help="Where to save the plot.")) -> None:
    """Table of runs with 95% intervals, the Pareto front of significant differences, paired tests against a baseline, a plot."""
    from workbench.lab import tracking
    from workbench.lab.compare import compare as compare_runs
    from workbench.lab.compare import search_objectives
    from workbench.lab.plots import plot_comparison

    experiment_id = tracking.connect(_workspace(home), tracking_uri, experiment)
    objectives = search_objectives(experiment_id, sweep_name) if sweep_name else None  # an Optuna search's own front
    found = compare_runs(experiment_id, quality, f"tags.sweep_name = '{sweep_name}'" if sweep_name else "", baseline, objectives)
    if found.frame.empty:
        raise UserError("no evaluation runs yet; run `workbench eval` or `workbench sweep experiments/topk_sweep.yaml`")
    typer.echo(found.text(quality))
    if objectives:
        typer.echo(f"pareto: the front of the search's objectives {', '.join(objectives)}")
    png = plot_comparison(found.frame, quality, out, found.baseline.run_id if found.baseline else None)
    run_id = tracking.log_comparison(found.frame, png, experiment_id, sweep_name, found.differences)
    typer.echo(f"plot: {png} (logged to MLflow run {run_id})")


@app.command("gate")
def gate_(baseline: str = typer.Option(..., "--baseline", help="RUN_ID, promoted name (e.g. production) or config name."),
          metric: list[str] = typer.Option(..., "--metric", help="Metric that must not get worse (repeatable), e.g. ndcg_at_10, latency_total_p95_ms."),
          margin: list[float] = typer.Option(..., "--margin", help="How much worse is tolerated, in the metric's units: one for all, or one per --metric."),
          candidate: Optional[str] = typer.Option(None, "--candidate", help="RUN_ID or name (default: the latest evaluation run)."),
          alpha: float = typer.Option(0.05, min=0.001, max=0.5, help="One-sided error rate of each bound."),
          as_json: bool = typer.Option(False, "--json", help="Print the verdict as JSON."),
          home: Optional[Path] = HomeOpt, tracking_uri: Optional[str] = TrackingOpt, experiment: str = ExperimentOpt) -> None:
    """Non-inferiority gate for CI: exit 1 when a bound says the candidate may be worse than the baseline by more than the margin."""
    from workbench.lab import tracking
    from workbench.lab.gate import gate, log_gate
    from workbench.lab.paired import latest_run, load_run, resolve_run

    experiment_id = tracking.connect(_workspace(home), tracking_uri, experiment)
    base_id = resolve_run(baseline, experiment_id)
    cand_id = resolve_run(candidate, experiment_id) if candidate else latest_run(experiment_id, other_than=base_id)
    report = gate(load_run(base_id), load_run(cand_id), metric, margin, alpha)
    gate_run = log_gate(report, experiment_id, baseline)
    verdict = "pass" if report.passed else "fail"
    if as_json:
        typer.echo(json.dumps({"verdict": verdict, "baseline_run": base_id, "candidate_run": cand_id, "gate_run": gate_run,
                               "checks": report.frame().to_dict("records")}, indent=2))
    else:
        typer.echo(f"gate {verdict}: candidate {cand_id[:8]} against {baseline} ({base_id[:8]}), one-sided {1 - alpha:.0%} bounds\n"
                   + report.frame().round(4).to_string(index=False) + f"\n(logged to MLflow run {gate_run})")
    raise typer.Exit(0 if report.passed else 1)


@app.command("diff")
def diff_(run_a: str = typer.Argument(..., help="RUN_ID or name of the first run."), run_b: str = typer.Argument(..., help="RUN_ID or name of the second."),
          as_json: bool = typer.Option(False, "--json", help="Print the changed questions as JSON."),
          home: Optional[Path] = HomeOpt, tracking_uri: Optional[str] = TrackingOpt, experiment: str = ExperimentOpt) -> None:
    """The questions whose hits or answers changed between two evaluation runs, with their scores."""
    from workbench.lab import tracking
    from workbench.lab.paired import load_run, resolve_run
    from workbench.lab.rundiff import as_table, changed

    experiment_id = tracking.connect(_workspace(home), tracking_uri, experiment)
    a, b = (load_run(resolve_run(ref, experiment_id)) for ref in (run_a, run_b))
    records = changed(a, b)
    typer.echo(json.dumps(records, indent=2, ensure_ascii=False) if as_json else as_table(records, a, b))


@app.command()
def promote(run_id: str = typer.Argument(..., help="The evaluation run to promote."),
            name: str = typer.Option("production", help="Name that export takes (--promoted NAME)."),
            home: Optional[Path] = HomeOpt, tracking_uri: Optional[str] = TrackingOpt, experiment: str = ExperimentOpt) -> None:
    """Mark a run's configuration as the chosen one, by name."""
    from workbench.lab import tracking

    tracking.promote(run_id, name, tracking.connect(_workspace(home), tracking_uri, experiment))
    typer.echo(f"run {run_id} promoted as {name!r}")


@app.command()
def ui(home: Optional[Path] = HomeOpt, port: int = typer.Option(5000, help="Port on 127.0.0.1.")) -> None:
    """Start the MLflow UI on the local store, on 127.0.0.1."""
    import subprocess

    from workbench.lab import tracking

    ws = _workspace(home)
    tracking.connect(ws)
    typer.echo(f"MLflow UI: http://127.0.0.1:{port}  (store {tracking.tracking_uri(ws)}; Ctrl-C stops it)")
    subprocess.run([sys.executable, "-m", "mlflow", "ui", "--host", "127.0.0.1", "--port", str(port),
                    "--backend-store-uri", tracking.tracking_uri(ws)], check=False)


@app.command("build-evalset")
def build_evalset(source: Optional[Path] = typer.Argument(None, help="SQuAD .json or BEIR folder with queries.jsonl and qrels/."),
                  out: Path = typer.Option(..., "--out", "-o", help="Eval set JSONL to write."),
                  from_corpus: Optional[Path] = typer.Option(None, "--from-corpus", help="A corpus without questions (any format "
                                                             "`ingest` reads): simulate known-item queries (docs/known_items.md)."),
                  n: int = typer.Option(200, "--n", min=1, help="--from-corpus: how many questions."),
                  seed: int = typer.Option(0, help="--from-corpus: the same seed gives the same eval set."),
                  style: str = typer.Option("mixed", help="--from-corpus: terms (tf-idf sampled), sentence (perturbed) or mixed."),
                  noise: float = typer.Option(0.2, min=0.0, max=0.99, help="--from-corpus: share of query words not taken from the item."),
                  config: Optional[Path] = ConfigOpt,
                  tenant: str = typer.Option("acme", help="Tenant the questions are asked as."),
                  limit: Optional[int] = typer.Option(None, help="Keep the first N questions."),
                  split: str = typer.Option("test", help="BEIR qrels split.")) -> None:
    """Build an eval set: from a corpus plus its questions (SQuAD or BEIR), or from any corpus alone (--from-corpus)."""
    from workbench.lab.evalsets import from_beir, from_squad

    if (source is None) == (from_corpus is None):
        raise UserError("give either SOURCE (SQuAD or BEIR, with questions) or --from-corpus PATH (a corpus alone)")
    if from_corpus is not None:
        from workbench.lab.known_item import STYLES, build_known_item_set

        if style not in STYLES:
            raise UserError(f"--style {style!r}: choose one of {', '.join(STYLES)}")
        evalset = build_known_item_set(from_corpus, n, seed, tenant=tenant, chunking=_load(config).retrieval.chunking,
                                       style=style, noise=noise)  # type: ignore[arg-type]
    else:
        evalset = from_beir(source, tenant, split, limit) if source.is_dir() else from_squad(source, tenant, limit)
    evalset = evalset.model_copy(update={"cases": evalset.cases[:limit]})
    evalset.save(out)
    typer.echo(f"{out}: {len(evalset.cases)} cases, hash {evalset.content_hash}")


@app.command()
def schedule(notebook: Path = typer.Argument(Path("notebooks/02_evaluate.ipynb"), help="Notebook to execute with papermill."),
             param: Optional[list[str]] = typer.Option(None, "--param", "-p", help="key=value (YAML value), repeatable, e.g. -p limit=20."),
             home: Optional[Path] = HomeOpt, tracking_uri: Optional[str] = TrackingOpt,
             out_dir: Path = typer.Option(Path("experiments/runs"), help="Where the executed, timestamped notebook goes.")) -> None:
    """Run the evaluation notebook with parameters (for cron); the executed copy is attached to its MLflow runs."""
    import yaml

    from workbench.lab.schedule import run_notebook

    params = {}
    for item in param or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise UserError(f"--param {item!r}: write it as key=value")
        params[key] = yaml.safe_load(value)
    executed, run_ids = run_notebook(notebook, params, _workspace(home), out_dir, tracking_uri)
    typer.echo(f"executed notebook: {executed}\nattached to MLflow runs: {', '.join(run_ids) or '(none)'}")


@app.command()
def export(out: Path = typer.Option(..., "--out", "-o", help="Bundle folder to write, e.g. export/prod."),
           run: Optional[str] = typer.Option(None, "--run", help="Export the config of this MLflow run."),
           promoted: Optional[str] = typer.Option(None, "--promoted", help="Export the run promoted under this name."),
           config: Optional[Path] = typer.Option(None, "--config", "-c", help="Export this config file (no evaluation attached)."),
           force: bool = typer.Option(False, help="Replace an existing bundle."),
           home: Optional[Path] = HomeOpt, tracking_uri: Optional[str] = TrackingOpt, experiment: str = ExperimentOpt) -> None:
    """Write a Lambda + DynamoDB + Pinecone bundle (SAM) for a chosen configuration, and self-check it."""
    import mlflow

    from workbench.lab import tracking
    from workbench.deploy.bundle import export_bundle

    if sum(x is not None for x in (run, promoted, config)) != 1:
        raise UserError("choose exactly one of --run RUN_ID, --promoted NAME or --config FILE")
    metrics: dict[str, float] = {}
    index_path = None
    if config:
        cfg = AgentConfig.from_yaml(config)
    else:
        experiment_id = tracking.connect(_workspace(home), tracking_uri, experiment)
        run = run or tracking.promoted_run(promoted, experiment_id)
        cfg = tracking.config_of_run(run)
        data = mlflow.get_run(run).data
        metrics = data.metrics
        index_path = Path(data.tags["index_path"]) if "index_path" in data.tags else None
    report = export_bundle(cfg, out, run_id=run, metrics=metrics, force=force, index_path=index_path)
    typer.echo(f"bundle for {cfg.name} ({cfg.config_id}) written to {report.out}")
    for key, value in report.checks.items():
        typer.echo(f"  {key}: {value}")


@app.command("pinecone-load")
def pinecone_load(run: str = typer.Option(..., "--run", help="MLflow run whose evaluated index to copy."),
                  host: str = typer.Option(..., "--host", help="Pinecone index data-plane URL."),
                  home: Optional[Path] = HomeOpt, tracking_uri: Optional[str] = TrackingOpt, experiment: str = ExperimentOpt) -> None:
    """Copy the evaluated Chroma collection of a run into Pinecone (PINECONE_API_KEY from the environment)."""
    import mlflow

    from workbench.lab import tracking
    from workbench.deploy.pinecone_loader import load_into_pinecone
    from workbench.indexes.chroma import ChromaIndex
    from workbench.indexes.pinecone import api_key, connect

    tracking.connect(_workspace(home), tracking_uri, experiment)
    cfg = tracking.config_of_run(run)
    index_path = Path(mlflow.get_run(run).data.tags["index_path"])
    if not index_path.exists():
        raise UserError(f"the evaluated index {index_path} is gone; re-run the evaluation to rebuild it")
    report = load_into_pinecone(ChromaIndex(index_path, cfg.index, cfg.retrieval.tenant_field), cfg, connect(host, api_key()))
    typer.echo(f"copied {report.vectors} vectors into namespaces {report.namespaces}")


dlq_app = typer.Typer(help="Show or re-queue dead letters of the local bus.", no_args_is_help=True)
app.add_typer(dlq_app, name="dlq")


@app.command()
def publish(file: Path = typer.Argument(..., help="JSONL: one event or SNS/SQS envelope per line."),
            home: Optional[Path] = HomeOpt) -> None:
    """Put every line of FILE on the local bus, as is (validation happens in the worker)."""
    from workbench.serve.bus import LocalBus

    if not file.is_file():
        raise UserError(f"{file}: no such events file")
    bus = LocalBus(_workspace(home).bus)
    lines = [line for line in file.read_bytes().splitlines() if line.strip()]
    for line in lines:
        bus.publish(line)
    typer.echo(f"published {len(lines)} messages; queue: {bus.counts()}")


@app.command()
def worker(config: Optional[Path] = ConfigOpt, home: Optional[Path] = HomeOpt,
           concurrency: int = typer.Option(1, "--concurrency", "-n", min=1, max=64, help="Worker threads."),
           visibility_timeout: float = typer.Option(30.0, min=1, max=43200, help="Seconds a received message stays invisible (a heartbeat extends it while it is handled)."),
           max_receives: int = typer.Option(5, min=1, max=1000, help="Receives before a message goes to the DLQ."),
           follow: bool = typer.Option(False, "--follow", help="Keep polling when the queue is empty (Ctrl-C stops).")) -> None:
    """Consume the local bus: each event handled once; failures retried, bad input dead-lettered."""
    from workbench.serve.bus import LocalBus
    from workbench.serve.worker import Worker

    ws = _workspace(home)
    bus = LocalBus(ws.bus, max_receives=max_receives)
    w = Worker(_delivery(_load(config), ws), bus, visibility_timeout=visibility_timeout)
    stats = w.run(concurrency, until_empty=not follow)
    typer.echo(f"processed {stats.processed}, duplicates {stats.duplicates}, dead-lettered {stats.dead_lettered}, "
               f"retried {stats.retried}; queue: {bus.counts()}")


@dlq_app.command("list")
def dlq_list(home: Optional[Path] = HomeOpt) -> None:
    """Dead letters with the reason each was rejected."""
    from workbench.serve.bus import LocalBus

    for letter in LocalBus(_workspace(home).bus).dead_letters():
        typer.echo(json.dumps(letter, ensure_ascii=False))


@dlq_app.command("redrive")
def dlq_redrive(ids: Optional[list[str]] = typer.Argument(None, help="Message ids (default: all)."),
                home: Optional[Path] = HomeOpt) -> None:
    """Put dead letters back on the queue with a fresh receive count."""
    from workbench.serve.bus import LocalBus

    typer.echo(f"re-queued {LocalBus(_workspace(home).bus).redrive(ids or None)} messages")


@app.command()
def replay(log: Path = typer.Argument(Path(".workbench/decisions.jsonl"), help="Decision log (JSONL) to replay."),
           config: Path = typer.Option(..., "--config", "-c", help="The configuration to replay with."),
           limit: Optional[int] = typer.Option(None, help="Replay the first N decisions."),
           home: Optional[Path] = HomeOpt, tracking_uri: Optional[str] = TrackingOpt, experiment: str = ExperimentOpt) -> None:
    """Re-run logged conversations with another config; report retrieval overlap, answer similarity, latency."""
    from workbench.lab import tracking
    from workbench.lab.replay import log_replay
    from workbench.lab.replay import replay as run_replay

    if not log.is_file():
        raise UserError(f"{log}: no such decision log (the agent appends to .workbench/decisions.jsonl)")
    cfg, ws = AgentConfig.from_yaml(config), _workspace(home)
    tracking.connect(ws, tracking_uri, experiment)
    result = run_replay(log, cfg, ws, limit)
    run_id = log_replay(result, cfg, log)
    typer.echo(json.dumps({"run_id": run_id, **{k: round(v, 4) for k, v in result.metrics.items()}}, indent=2))


def _run_file(file: Path, cfg: AgentConfig, ws: Workspace, agent: Any = None) -> Any:
    from workbench.serve.deadletter import DeadLetterFile
    from workbench.serve.file_runner import run_payloads

    if not file.is_file():
        raise UserError(f"{file}: no such events file")
    lines = [(f"{file}:{n}", line) for n, line in enumerate(file.read_bytes().splitlines(), 1) if line.strip()]
    delivery = _delivery(cfg, ws, agent)
    return run_payloads(delivery, lines, DeadLetterFile(ws.deadletter, cfg.privacy.redact), budget_s=cfg.deploy.timeout_s, progress=True, total=len(lines))


def _delivery(cfg: AgentConfig, ws: Workspace, agent: Any = None) -> Any:
    """The delivery core over the workspace's idempotency records and ledger."""
    from workbench.serve.delivery import Delivery
    from workbench.serve.idempotency import SQLitePersistenceLayer
    from workbench.serve.ledger import SQLiteLedger
    from workbench.loop import Agent

    return Delivery(agent or Agent.from_config(cfg, ws), SQLitePersistenceLayer(ws.idempotency), SQLiteLedger(ws.ledger))


def _print_decisions(decisions: list, as_json: bool, repeats: list[bool] | None = None) -> None:
    """`repeats`: which decisions were found, not made, this run (a duplicate event): `"duplicate"` in JSON."""
    repeats = repeats or [False] * len(decisions)
    if as_json:
        for d, repeat in zip(decisions, repeats):
            typer.echo(json.dumps({**d.to_dict(), "duplicate": repeat}, ensure_ascii=False))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("user", "question", "answer", "cited", "top hit", "ms", show_lines=True)
    for d, repeat in zip(decisions, repeats):
        top = f"{d.hits[0][0]} ({d.hits[0][1]:.2f})" if d.hits else "-"
        ms = "repeat" if repeat else f"{d.latency_ms['total']:.0f}"
        table.add_row(d.user_id, d.question, d.answer, ", ".join(d.citations), top, ms)
    Console(width=160).print(table)


def _print_summary(summary: Any, ws: Workspace, err: bool = False) -> None:
    """The tally of a run; on stderr when stdout carries JSON."""
    typer.echo(f"processed {summary.processed}, duplicates {summary.duplicates}, rejected {summary.rejected}"
               + (f" (dead letters in {ws.deadletter})" if summary.rejected else ""), err=err)
    for reason in summary.reasons:
        typer.echo(f"  rejected: {reason}", err=err)


def main() -> None:
    try:
        app()
    except (UserError, ValueError, RuntimeError, FileNotFoundError) as exc:  # config, corpus, filter, sweep, tracking, stores
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(2)
    except PermissionError as exc:  # a read-only workspace file or folder; the message names it
        typer.secho(f"error: {exc}; make it writable, or point --home at a writable workspace", fg=typer.colors.RED, err=True)
        sys.exit(2)
    except OSError as exc:  # a read-only file system, a full disk, a folder where a file belongs: the message names it
        typer.secho(f"error: {exc}; check that file, or point --home at a workspace that can be written", fg=typer.colors.RED, err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
