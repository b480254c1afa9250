"""MLflow tracking: every evaluation is one run, findable by its config_id and dataset hash.

The default store is local (SQLite + file artifacts in the workspace): no server. Any tracking URI
works (`--tracking-uri` or $MLFLOW_TRACKING_URI), a remote MLflow server included.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from workbench.config import AgentConfig
from workbench.errors import TrackingError
from workbench.workspace import Workspace

log = logging.getLogger("workbench.tracking")

EXPERIMENT = "agent-workbench"
PROMOTED_TAG = "workbench.promoted"
PER_QUESTION = "per_question.json"
LIST_COLUMNS = ("retrieved", "relevant", "citations")


def tracking_uri(workspace: Workspace, uri: str | None = None) -> str:
    return uri or os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{workspace.mlflow_db.resolve()}"


def connect(workspace: Workspace, uri: str | None = None, experiment: str = EXPERIMENT) -> str:
    """Point MLflow at the store and make sure the experiment exists; returns the experiment id."""
    import mlflow

    uri = tracking_uri(workspace, uri)
    user_env = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(uri)
    # MLflow also exports the URI to the environment; undo that, or the next workspace in this process
    # (a notebook, a test) would silently log into this one's store.
    if user_env is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = user_env
    if uri.startswith("http"):
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
        os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")  # stdout carries JSON, not run links
    try:
        found = mlflow.get_experiment_by_name(experiment)
        if found is not None:
            experiment_id = found.experiment_id
        else:
            local = not uri.startswith(("http", "databricks"))
            artifacts = workspace.mlflow_artifacts.resolve().as_uri() if local else None
            experiment_id = mlflow.create_experiment(experiment, artifact_location=artifacts)
        mlflow.set_experiment(experiment_id=experiment_id)
        return experiment_id
    except Exception as exc:  # noqa: BLE001 - any transport or store error means the same thing to the user
        raise TrackingError(
            f"cannot use the MLflow tracking store at {uri}: {type(exc).__name__}: {str(exc)[:200]}. "
            "Start the server (`mlflow server`), fix --tracking-uri, or unset MLFLOW_TRACKING_URI "
            "to use the local store in the workspace."
        ) from None


def literal(value: str) -> str:
    """`value` as a string in an MLflow filter. MLflow's filters have no escapes, so a value holding one kind of
    quote is written in the other kind; one holding both cannot be searched for."""
    for quote in ("'", '"'):
        if quote not in value:
            return f"{quote}{value}{quote}"
    raise TrackingError(f"the name {value} holds both ' and \"; MLflow cannot search for it, so no run can be found by it")


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested config to dotted MLflow params; lists and dicts of values as JSON."""
    out: dict[str, str] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value and all(not k.startswith("$") for k in value):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value if isinstance(value, str) else json.dumps(value)
    return out


def log_evaluation(
    result: Any,
    dataset_name: str,
    dataset_hash: str,
    *,
    parent_run_id: str | None = None,
    extra_tags: dict[str, str] | None = None,
    traces: bool = True,
) -> str:
    """One MLflow run for one evaluation: params, tags, metrics with their intervals, config YAML, the per-question
    table (what compare, gate and diff read back), plots, and unless `traces` is off a trace per question."""
    import mlflow
    from mlflow.entities import Metric, Param

    from workbench.lab.plots import plot_run
    from workbench.lab.traces import log_traces

    cfg: AgentConfig = result.config
    tags = {
        "config_id": cfg.config_id,
        "config_name": cfg.name,
        "dataset": dataset_name,
        "dataset_hash": dataset_hash,
        "workbench.kind": "evaluation",
        "index_key": result.index_key,
        "index_path": str(result.index_path),
        "ragas_llm_metrics": "not run (no judge configured)" if result.not_run else "run",
        "repeats": str(result.repeats),
        **(extra_tags or {}),
    }
    if parent_run_id:
        tags["mlflow.parentRunId"] = parent_run_id
    with mlflow.start_run(run_name=cfg.name, tags=tags, nested=parent_run_id is not None) as run:
        metrics = {k: v for k, v in result.metrics.items() if v == v}  # NaN: not computed, not logged
        metrics |= {"questions": result.evalset.turn_count, "repeats": result.repeats}
        now = int(time.time() * 1000)
        mlflow.MlflowClient().log_batch(  # params and metrics in one store transaction
            run.info.run_id,
            metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()],
            params=[Param(k, v) for k, v in flatten(cfg.shown()).items()],  # secrets in URLs masked, here and in config.yaml
        )
        mlflow.log_text(cfg.to_yaml(), "config.yaml")
        table = result.table.assign(**{c: result.table[c].map(json.dumps) for c in LIST_COLUMNS})
        mlflow.log_table(redacted(table, cfg.privacy.redact, keep=("case_id",)), PER_QUESTION)  # compare pairs on case_id
        with tempfile.TemporaryDirectory() as tmp:
            for png in plot_run(result, Path(tmp)):
                mlflow.log_artifact(str(png), "plots")
        if traces:
            try:
                mlflow.set_tag("workbench.traces", str(log_traces(result, run.info.run_id, run.info.experiment_id)))
            except Exception as exc:  # noqa: BLE001 - a store without tracing must not cost the evaluation its run
                note = f"not written: {type(exc).__name__}: {str(exc)[:200]}"
                log.warning("run %s: traces %s", run.info.run_id, note)
                mlflow.set_tag("workbench.traces", note)
        return run.info.run_id


def per_question(run_id: str) -> Any:
    """The per-question table of an evaluation run, list columns parsed back. Read from the run's own experiment:
    a run id names one run whichever experiment the command was pointed at (mlflow.load_table reads the active one)."""
    import mlflow

    client = mlflow.MlflowClient()
    try:
        table = client.load_table(client.get_run(run_id).info.experiment_id, PER_QUESTION, [run_id])
    except Exception as exc:  # noqa: BLE001 - a missing artifact surfaces as several MLflow exception types
        raise TrackingError(
            f"run {run_id}: no {PER_QUESTION} table ({type(exc).__name__}); is it a workbench evaluation run?"
        ) from None
    for column in (c for c in LIST_COLUMNS if c in table):
        table[column] = table[column].map(_listed)
    if "repeat" not in table:
        table["repeat"] = 0
    return table


def _listed(value: Any) -> list:
    import ast

    if isinstance(value, list):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return ast.literal_eval(value)  # runs logged before the table held JSON: Python reprs


def redacted(table: Any, kinds: list[str], keep: tuple[str, ...] = ()) -> Any:
    """A copy of `table` with every text cell redacted, but in the `keep` columns: questions, answers and references
    leave the machine. Identifiers are kept: a redacted id could collide with another and mix up questions."""
    from pandas.api.types import is_object_dtype, is_string_dtype

    from workbench.redaction import redact

    out = table.copy()
    for column in out.columns:
        if kinds and column not in keep and (is_object_dtype(out[column]) or is_string_dtype(out[column])):
            out[column] = out[column].map(lambda v: redact(v, kinds) if isinstance(v, str) else v)
    return out


def finished_run(config_id: str, dataset_hash: str, experiment_id: str, repeats: int = 1) -> str | None:
    """The run id of a finished evaluation of this config on this dataset, if there is one (sweeps resume on it).

    With repeats > 1 only a run of as many repeats counts; runs logged before repeats existed had one."""
    import mlflow

    wanted = f" and tags.repeats = '{repeats}'" if repeats > 1 else ""
    runs = mlflow.search_runs(
        [experiment_id],
        output_format="list",
        max_results=1,
        filter_string=f"tags.config_id = '{config_id}' and tags.dataset_hash = '{dataset_hash}' "
        f"and attributes.status = 'FINISHED'{wanted}",
    )
    return runs[0].info.run_id if runs else None


def config_of_run(run_id: str) -> AgentConfig:
    import mlflow

    try:
        text = mlflow.artifacts.load_text(f"runs:/{run_id}/config.yaml")
    except Exception as exc:  # noqa: BLE001 - a missing run surfaces as several MLflow exception types
        raise TrackingError(
            f"run {run_id}: no config.yaml artifact ({type(exc).__name__}); is it a workbench evaluation run?"
        ) from None
    import yaml

    return AgentConfig.from_dict(yaml.safe_load(text), source=f"run {run_id}")


def promote(run_id: str, name: str, experiment_id: str) -> None:
    """Mark `run_id` as the configuration called `name`; the tag moves, so one run holds a name at a time."""
    import mlflow

    client = mlflow.MlflowClient()
    config_of_run(run_id)  # refuse to promote something export could not use
    for run in mlflow.search_runs(
        [experiment_id], output_format="list", filter_string=f"tags.`{PROMOTED_TAG}` = {literal(name)}"
    ):
        client.delete_tag(run.info.run_id, PROMOTED_TAG)
    client.set_tag(run_id, PROMOTED_TAG, name)


def promoted_run(name: str, experiment_id: str) -> str:
    import mlflow

    runs = mlflow.search_runs([experiment_id], output_format="list", filter_string=f"tags.`{PROMOTED_TAG}` = {literal(name)}")
    if not runs:
        raise TrackingError(f"no run is promoted as {name!r}; promote one with `workbench promote RUN_ID --name {name}`")
    return runs[0].info.run_id


def log_comparison(frame: Any, plot: Path, experiment_id: str, sweep_name: str | None = None, differences: Any = None) -> str:
    """Attach the comparison table, the paired differences (with a baseline) and the plot to the sweep's parent run,
    or to a run of its own."""
    import mlflow

    client = mlflow.MlflowClient()
    parents = (
        mlflow.search_runs(
            [experiment_id],
            output_format="list",
            max_results=1,
            filter_string=f"tags.sweep_name = {literal(sweep_name)} and tags.`workbench.kind` = 'sweep'",
        )
        if sweep_name
        else []
    )
    run_id = (
        parents[0].info.run_id
        if parents
        else client.create_run(experiment_id, run_name="compare", tags={"workbench.kind": "comparison"}).info.run_id
    )
    client.log_artifact(run_id, str(plot), "comparison")
    client.log_table(run_id, frame, "comparison/runs.json")
    if differences is not None:
        client.log_table(run_id, differences, "comparison/differences.json")
    if not parents:
        client.set_terminated(run_id, "FINISHED")
    return run_id
