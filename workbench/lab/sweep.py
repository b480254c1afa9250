"""Sweeps: a grid or a list of variations over a base config, one MLflow run per point under one parent.

Resumable: a point whose config_id already has a finished run on the same dataset hash is skipped.
Points that share embedder, chunking and index settings share one index, and the embedding cache
means no text is embedded twice across points, runs or processes. Where points run (this process, a pool of
processes, Ray tasks) is the executor's business: workbench/lab/executors.py.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from workbench.config import AgentConfig
from workbench.errors import ConfigError, SweepSpecError
from workbench.lab.evalsets import DatasetSpec
from workbench.lab.search_space import SearchSpec
from workbench.redaction import mask_secrets
from workbench.workspace import Workspace
from workbench.yamlfile import read_yaml


class SweepSpec(BaseModel):
    """Example (experiments/topk_sweep.yaml)::

    name: topk
    base: experiments/default.yaml      # or an inline mapping of config sections
    dataset: {corpus: datasets/squad-v1.1-dev-24/dev-v1.1-first24.json, articles: [Oxygen], limit: 20}
    grid: {retrieval.top_k: [3, 5, 10]}
    points: [{reasoner.max_sentences: 2}]   # optional: listed variations, added to the grid's
    repeats: 3                            # optional: each point evaluated 3 times (intervals over repeats for latency)
    traces: false                         # optional: no MLflow trace per question (about a third of a point's time)
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
    search: SearchSpec | None = None  # for `--search optuna`: objectives, sampler, space (see workbench/lab/search_optuna.py)

    @model_validator(mode="after")
    def _has_points(self) -> "SweepSpec":
        if not self.grid and not self.points and not (self.search and self.search.space):
            raise ValueError("a sweep needs `grid` (option -> list of values), `points` (list of overrides) or `search.space`")
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
            try:
                cfg = self.point_config(base, overrides)
            except ConfigError as exc:
                raise SweepSpecError(f"sweep {self.name!r} point {n} ({label(overrides)}): {exc}") from None
            configs.setdefault(cfg.config_id, cfg)
        return list(configs.values())

    def point_config(self, base: AgentConfig, overrides: dict[str, Any]) -> AgentConfig:
        """`base` with `overrides`, named after what they change; a ConfigError names the bad value."""
        return base.with_overrides(overrides).model_copy(update={"name": f"{self.name}[{label(overrides)}]"})

    @property
    def spec_hash(self) -> str:
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:12]


def label(overrides: dict[str, Any]) -> str:
    """`top_k=3,weight=0.5`: what a point changes, short enough for a run name."""
    return ",".join(f"{k.split('.')[-1]}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in overrides.items())


@dataclass(frozen=True)
class Point:
    """One configuration to evaluate and log under the sweep's parent run; what a worker process or Ray task gets."""

    config: AgentConfig
    spec: SweepSpec
    workspace: Workspace
    tracking_uri: str | None
    parent_run_id: str
    dataset_name: str
    dataset_hash: str
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)  # sent back from worker processes and Ray tasks: small
class Outcome:
    """What a point's evaluation reports back to the sweep."""

    run_id: str
    embedded: int  # texts the model embedded for this point (the rest came from the cache)
    metrics: dict[str, float]


@dataclass
class SweepReport:
    parent_run_id: str
    ran: list[str] = field(default_factory=list)  # config_ids evaluated now
    skipped: list[str] = field(default_factory=list)  # config_ids already finished before
    run_ids: dict[str, str] = field(default_factory=dict)
    embedded: int = 0  # texts the model embedded during this sweep (the rest came from the cache)


class SweepRun:
    """What the points of one sweep share: the store, the parent run, this process's models and its index builds."""

    def __init__(
        self, spec: SweepSpec, workspace: Workspace, tracking_uri: str | None, progress: bool, search: SearchSpec | None = None
    ) -> None:
        from workbench.lab import tracking

        self.spec, self.workspace, self.progress = spec, workspace, progress
        self.evalset = spec.dataset.load_evalset()
        self.experiment_id = tracking.connect(workspace, tracking_uri)
        self.tracking_uri = tracking.tracking_uri(workspace, tracking_uri)  # as resolved here: workers log to the same store
        self.parent_run_id = _parent_run(spec, self.evalset.content_hash, self.experiment_id, search)
        self.prepared = 0  # texts this process embedded building indexes
        self._embedders: dict[Any, Any] = {}  # one loaded model per distinct embedder config
        self._building = threading.Lock()

    def embedder_for(self, cfg: AgentConfig) -> Any:
        from workbench.assembly import build_embedder
        from workbench.registry import BuildContext

        if cfg.embedder not in self._embedders:
            self._embedders[cfg.embedder] = build_embedder(BuildContext(cfg, self.workspace))
        return self._embedders[cfg.embedder]

    def finished(self, cfg: AgentConfig) -> str | None:
        from workbench.lab import tracking

        return tracking.finished_run(cfg.config_id, self.evalset.content_hash, self.experiment_id, self.spec.repeats)

    def prepare(self, cfg: AgentConfig) -> None:
        """Build `cfg`'s index here, once, before it fans out: workers then open it (on this machine) and embed nothing."""
        from workbench.lab.executors import prepare

        with self._building:
            embedder = self.embedder_for(cfg)
            before = getattr(embedder, "computed", 0)
            prepare(cfg, self.spec.dataset, self.workspace, embedder, self.progress)
            self.prepared += getattr(embedder, "computed", 0) - before

    def point(self, cfg: AgentConfig, tags: dict[str, str] | None = None) -> Point:
        # Absolute paths: a Ray worker does not run in this process's working directory.
        data = self.spec.dataset
        dataset = data.model_copy(update={"corpus": data.corpus.resolve(), "evalset": data.evalset and data.evalset.resolve()})
        return Point(
            cfg,
            self.spec.model_copy(update={"dataset": dataset}),
            Workspace(self.workspace.root.resolve()),
            self.tracking_uri,
            self.parent_run_id,
            self.evalset.name,
            self.evalset.content_hash,
            {"sweep_name": self.spec.name, **(tags or {})},
        )

    def run_inline(self, point: Point) -> Outcome:
        return evaluate_point(point, self.embedder_for(point.config), self.progress)

    def finish(self) -> None:
        import mlflow

        mlflow.MlflowClient().set_terminated(self.parent_run_id, "FINISHED")


def run_sweep(
    spec: SweepSpec,
    workspace: Workspace | None = None,
    *,
    tracking_uri: str | None = None,
    jobs: int = 1,
    progress: bool = True,
    on_point_done: Callable[[str], None] | None = None,
    executor: str = "process",
    address: str | None = None,
) -> SweepReport:
    """Every point of the grid and list; `executor` "process" (`jobs` processes, 1: this one) or "ray" (`address`)."""
    from workbench.lab import tracking
    from workbench.lab.executors import check, make_executor

    workspace = workspace or Workspace.default()
    check(executor, address, tracking.tracking_uri(workspace, tracking_uri))
    if not spec.grid and not spec.points:
        raise SweepSpecError(f"sweep {spec.name!r} has a search space but no grid or points: run it with --search optuna")
    sweep = SweepRun(spec, workspace, tracking_uri, progress)
    report = SweepReport(sweep.parent_run_id)
    todo = []
    for cfg in spec.expand():
        if done := sweep.finished(cfg):
            report.skipped.append(cfg.config_id)
            report.run_ids[cfg.config_id] = done
        else:
            todo.append(cfg)
    for cfg in todo:  # every distinct index is built here, once, before any fan-out
        sweep.prepare(cfg)
    # Nothing or one point to run: no pool, no cluster to start for it.
    with make_executor(
        executor if todo else "process", jobs if len(todo) > 1 else 1, address if todo else None, sweep.run_inline
    ) as pool:
        for cfg, outcome in zip(todo, pool.map([sweep.point(cfg) for cfg in todo])):
            report.ran.append(cfg.config_id)
            report.run_ids[cfg.config_id] = outcome.run_id
            report.embedded += outcome.embedded
            if on_point_done:
                on_point_done(cfg.config_id)
    report.embedded += sweep.prepared
    sweep.finish()
    return report


def _parent_run(spec: SweepSpec, dataset_hash: str, experiment_id: str, search: SearchSpec | None) -> str:
    """Reuse the parent of an interrupted sweep of the same spec, so a resumed sweep stays one tree (a search of a
    spec has a tree of its own, apart from its grid's)."""
    import mlflow

    key = f"{spec.spec_hash}-optuna" if search else spec.spec_hash
    runs = mlflow.search_runs(
        [experiment_id],
        output_format="list",
        max_results=1,
        filter_string=f"tags.sweep_hash = '{key}' and tags.dataset_hash = '{dataset_hash}'",
    )
    if runs:
        return runs[0].info.run_id
    tags = {"workbench.search": "optuna", "workbench.objectives": ",".join(search.objectives)} if search else {}
    run = mlflow.MlflowClient().create_run(
        experiment_id,
        run_name=f"{'search' if search else 'sweep'}:{spec.name}",
        tags={"sweep_hash": key, "sweep_name": spec.name, "dataset_hash": dataset_hash, "workbench.kind": "sweep", **tags},
    )
    shown = json.dumps(mask_secrets(spec.model_dump(mode="json")), indent=2)  # an override may carry a secret URL
    mlflow.MlflowClient().log_text(run.info.run_id, shown, "sweep_spec.json")
    return run.info.run_id


def evaluate_point(point: Point, embedder: Any, progress: bool = False) -> Outcome:
    """Evaluate and log one point with `embedder` (the caller's: this process's, or a worker's own)."""
    from workbench.lab import tracking
    from workbench.lab.evaluate import evaluate

    spec = point.spec
    result = evaluate(
        point.config,
        spec.dataset,
        point.workspace,
        judge=spec.judge,
        metrics=spec.metrics,
        embedder=embedder,
        progress=progress,
        repeats=spec.repeats,
    )
    run_id = tracking.log_evaluation(
        result,
        point.dataset_name,
        point.dataset_hash,
        parent_run_id=point.parent_run_id,
        extra_tags=point.tags,
        traces=spec.traces,
    )
    return Outcome(run_id, result.embedded, result.metrics)
