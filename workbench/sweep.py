"""Sweeps: a grid or a list of variations over a base config, one MLflow run per point under one parent.

Resumable: a point whose config_id already has a finished run on the same dataset hash is skipped.
Points that share embedder, chunking and index settings share one index, and the embedding cache
means no text is embedded twice across points, runs or processes.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from workbench.config import AgentConfig, ConfigError
from workbench.evaluation.dataset import DatasetSpec
from workbench.redaction import mask_secrets
from workbench.workspace import Workspace
from workbench.yamlfile import read_yaml


class SweepSpecError(ValueError):
    """A sweep spec that cannot run; the message names the file, the point and the field."""


class SweepSpec(BaseModel):
    """Example (experiments/topk_sweep.yaml)::

        name: topk
        base: experiments/default.yaml      # or an inline mapping of config sections
        dataset: {corpus: datasets/squad-v1.1-dev-24/dev-v1.1-first24.json, articles: [Oxygen], limit: 20}
        grid: {retrieval.top_k: [3, 5, 10]}
        points: [{reasoner.max_sentences: 2}]   # optional: listed variations, added to the grid's
        repeats: 3                            # optional: each point evaluated 3 times (intervals over repeats for latency)
        traces: false                         # optional: no MLflow trace per question (they cost about a point's time)
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    base: Path | dict[str, Any] | None = None
    dataset: DatasetSpec
    grid: dict[str, list[Any]] = Field(default_factory=dict)
    points: list[dict[str, Any]] = Field(default_factory=list)
    judge: str | None = None
    metrics: list[str] | None = None
    repeats: int = Field(1, ge=1, le=100, description="evaluations of each point; they share the index and the cache")
    traces: bool = Field(True, description="log every evaluated question of every point as an MLflow trace")

    @model_validator(mode="after")
    def _has_points(self) -> "SweepSpec":
        if not self.grid and not self.points:
            raise ValueError("a sweep needs `grid` (option -> list of values) or `points` (list of overrides)")
        for key, values in self.grid.items():
            if not isinstance(values, list) or not values:
                raise ValueError(f"grid.{key}: expected a non-empty list of values, got {values!r}")
        return self

    @classmethod
    def from_yaml(cls, path: str | Path) -> "SweepSpec":
        path = Path(path)
        try:
            spec = cls.model_validate(read_yaml(path, SweepSpecError, "copy a sweep spec from experiments/"))
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise SweepSpecError(f"{path}: {problems}") from None
        if isinstance(spec.base, Path) and not spec.base.is_absolute():
            spec.base = spec.base if spec.base.exists() else path.parent / spec.base
        return spec

    def base_config(self) -> AgentConfig:
        if isinstance(self.base, Path):
            return AgentConfig.from_yaml(self.base)
        return AgentConfig.from_dict(self.base or {}, source="sweep base")

    def expand(self) -> list[AgentConfig]:
        """Every point as a validated config, named after what it changes; duplicates collapse."""
        base = self.base_config()
        keys = list(self.grid)
        variations = [dict(zip(keys, combo)) for combo in itertools.product(*self.grid.values())] if keys else []
        variations += self.points
        configs: dict[str, AgentConfig] = {}
        for n, overrides in enumerate(variations):
            label = ",".join(f"{k.split('.')[-1]}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in overrides.items())
            try:
                cfg = base.with_overrides(overrides)
            except ConfigError as exc:
                raise SweepSpecError(f"sweep {self.name!r} point {n} ({label}): {exc}") from None
            configs.setdefault(cfg.config_id, cfg.model_copy(update={"name": f"{self.name}[{label}]"}))
        return list(configs.values())

    @property
    def spec_hash(self) -> str:
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:12]


@dataclass
class SweepReport:
    parent_run_id: str
    ran: list[str] = field(default_factory=list)       # config_ids evaluated now
    skipped: list[str] = field(default_factory=list)   # config_ids already finished before
    run_ids: dict[str, str] = field(default_factory=dict)
    embedded: int = 0  # texts the model embedded during this sweep (the rest came from the cache)


def run_sweep(spec: SweepSpec, workspace: Workspace | None = None, *, tracking_uri: str | None = None, jobs: int = 1,
              progress: bool = True, on_point_done: Callable[[str], None] | None = None) -> SweepReport:
    import mlflow

    from workbench import tracking
    from workbench.evaluation.runner import open_index
    from workbench.loop import build_embedder
    from workbench.registry import BuildContext

    workspace = workspace or Workspace.default()
    configs = spec.expand()
    evalset = spec.dataset.load_evalset()
    experiment_id = tracking.connect(workspace, tracking_uri)
    report = SweepReport(_parent_run(spec, evalset.content_hash, experiment_id))
    todo = []
    for cfg in configs:
        done = tracking.finished_run(cfg.config_id, evalset.content_hash, experiment_id, spec.repeats)
        if done:
            report.skipped.append(cfg.config_id)
            report.run_ids[cfg.config_id] = done
        else:
            todo.append(cfg)

    embedders: dict[Any, Any] = {}  # one loaded model per distinct embedder config

    def embedder_for(cfg: AgentConfig) -> Any:
        if cfg.embedder not in embedders:
            embedders[cfg.embedder] = build_embedder(BuildContext(cfg, workspace))
        return embedders[cfg.embedder]

    for cfg in todo:  # every distinct index is built here, once, before any fan-out
        open_index(cfg, spec.dataset, workspace, embedder_for(cfg), progress)
    args = [(cfg, spec, workspace, tracking_uri, report.parent_run_id, evalset.name, evalset.content_hash) for cfg in todo]
    if jobs > 1 and len(todo) > 1:
        # spawn, not fork: MLflow's and SQLite's open connections must not be shared with children.
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            for cfg, outcome in zip(todo, pool.map(_evaluate_point, args)):
                report.embedded += outcome[1]  # the workers' own models
                _done(report, cfg, outcome, on_point_done)
    else:
        for a in args:
            _done(report, a[0], _evaluate_point(a, embedder_for(a[0]), progress), on_point_done)
    report.embedded += sum(e.computed for e in embedders.values())  # this process's models
    mlflow.MlflowClient().set_terminated(report.parent_run_id, "FINISHED")
    return report


def _done(report: SweepReport, cfg: AgentConfig, outcome: tuple[str, int], hook: Callable[[str], None] | None) -> None:
    report.ran.append(cfg.config_id)
    report.run_ids[cfg.config_id] = outcome[0]
    if hook:
        hook(cfg.config_id)


def _parent_run(spec: SweepSpec, dataset_hash: str, experiment_id: str) -> str:
    """Reuse the parent of an interrupted sweep of the same spec, so a resumed sweep stays one tree."""
    import mlflow

    runs = mlflow.search_runs([experiment_id], output_format="list", max_results=1,
                              filter_string=f"tags.sweep_hash = '{spec.spec_hash}' and tags.dataset_hash = '{dataset_hash}'")
    if runs:
        return runs[0].info.run_id
    run = mlflow.MlflowClient().create_run(experiment_id, run_name=f"sweep:{spec.name}", tags={
        "sweep_hash": spec.spec_hash, "sweep_name": spec.name, "dataset_hash": dataset_hash, "workbench.kind": "sweep"})
    shown = json.dumps(mask_secrets(spec.model_dump(mode="json")), indent=2)  # an override may carry a secret URL
    mlflow.MlflowClient().log_text(run.info.run_id, shown, "sweep_spec.json")
    return run.info.run_id


def _evaluate_point(args: tuple, embedder: Any = None, progress: bool = False) -> tuple[str, int]:
    """Evaluate and log one point; in a worker process (embedder None) it connects and loads its own model."""
    cfg, spec, workspace, uri, parent, dataset_name, dataset_hash = args
    from workbench import tracking
    from workbench.evaluation.runner import evaluate

    if embedder is None:
        tracking.connect(workspace, uri)
    result = evaluate(cfg, spec.dataset, workspace, judge=spec.judge, metrics=spec.metrics, embedder=embedder, progress=progress,
                      repeats=spec.repeats)
    run_id = tracking.log_evaluation(result, dataset_name, dataset_hash, parent_run_id=parent, extra_tags={"sweep_name": spec.name},
                                     traces=spec.traces)
    return run_id, result.embedded
