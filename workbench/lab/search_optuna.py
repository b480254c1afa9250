"""`workbench sweep SPEC --search optuna --trials N`: multi-objective search with Optuna, each trial an MLflow run.

Optuna's sampler (TPE or NSGA-II) asks for configurations in the spec's `search.space` (workbench/lab/search_space.py);
each is evaluated like a grid point, by the same executors, logged under the search's parent run, and its
`search.objectives` are told back. The study lives in Optuna's RDB storage: a SQLite file in the workspace by
default, or a database URL that several machines share. Its name comes from the spec and the dataset, so the same
command resumes it, up to N finished trials in all. A configuration evaluated earlier in the study is not evaluated
again: the trial is told that run's metrics. A configuration the config rejects (say, overlap >= size) is a
pruned trial with the reason.
"""

from __future__ import annotations

import threading
import warnings
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Callable

from pydantic import ValidationError

from workbench.config import AgentConfig
from workbench.errors import ConfigError, SearchError, SweepSpecError
from workbench.lab.search_space import Range, SearchSpec
from workbench.lab.sweep import SweepRun, SweepSpec
from workbench.redaction import mask_secrets
from workbench.workspace import Workspace


@dataclass
class SearchReport:
    parent_run_id: str
    study: str
    storage: str  # credentials masked
    trials: int = 0  # finished trials in the study, this invocation and earlier ones
    ran: list[str] = field(default_factory=list)  # config_ids evaluated now
    repeated: int = 0  # trials of this invocation told the metrics of a configuration the study had evaluated
    invalid: list[str] = field(default_factory=list)  # why each pruned trial's configuration was refused
    pareto: list[str] = field(default_factory=list)  # MLflow run ids of the Pareto-optimal trials
    embedded: int = 0


def default_storage(workspace: Workspace) -> str:
    return f"sqlite:///{(workspace.root / 'optuna.db').resolve()}"


def run_search(
    spec: SweepSpec,
    workspace: Workspace | None = None,
    *,
    trials: int,
    tracking_uri: str | None = None,
    jobs: int = 1,
    executor: str = "process",
    address: str | None = None,
    storage: str | None = None,
    progress: bool = True,
    on_point_done: Callable[[str], None] | None = None,
) -> SearchReport:
    """Run the study of `spec` until it has `trials` finished trials; `jobs` trials at a time."""
    import optuna
    from tqdm.auto import tqdm

    from workbench.lab import tracking
    from workbench.lab.executors import check, make_executor

    workspace = workspace or Workspace.default()
    check(executor, address, tracking.tracking_uri(workspace, tracking_uri))
    search = spec.search or SearchSpec()
    if not search.space and not spec.grid:
        raise SweepSpecError(f"sweep {spec.name!r}: --search optuna needs search.space (or a grid to search)")
    try:
        space = search.space or SearchSpec(space=spec.grid).space  # the grid's lists as categorical choices, validated
    except ValidationError as exc:
        raise SweepSpecError(f"sweep {spec.name!r}: its grid cannot be searched: {exc.errors()[0]['msg']}") from None
    sweep = SweepRun(spec, workspace, tracking_uri, False, search=search)  # one bar, the trials'
    study = _study(f"{spec.name}-{spec.spec_hash}-{sweep.evalset.content_hash}", storage or default_storage(workspace), search)
    report = SearchReport(sweep.parent_run_id, study.study_name, str(mask_secrets(storage or default_storage(workspace))))
    _tag_parent(sweep.parent_run_id, report)
    done = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    _recover(study, search)
    remaining = trials - len(study.get_trials(deepcopy=False, states=done))
    if remaining > 0:
        with (
            make_executor(executor, jobs, address, sweep.run_inline) as pool,
            tqdm(total=trials, initial=trials - remaining, desc=f"search {spec.name}", unit="trial", disable=not progress) as bar,
        ):
            trial_runner = TrialRunner(sweep, pool, search, spec.base_config(), space, report, on_point_done)
            study.optimize(
                trial_runner,
                n_trials=remaining,
                n_jobs=jobs,
                callbacks=[optuna.study.MaxTrialsCallback(trials, states=done), lambda *_: bar.update()],
            )
    report.trials = len(study.get_trials(deepcopy=False, states=done))
    report.pareto = [t.user_attrs["mlflow_run_id"] for t in study.best_trials]
    report.embedded += sweep.prepared
    sweep.finish()
    return report


def _study(name: str, url: str, search: SearchSpec) -> Any:
    import optuna
    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # a progress bar instead of a line per trial
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    try:
        # Heartbeats: a trial whose process died (kill -9, a lost node) is failed after the grace period and retried.
        storage = RDBStorage(
            url, heartbeat_interval=30, grace_period=120, heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(2)
        )
        study = optuna.create_study(study_name=name, storage=storage, directions=search.directions(), load_if_exists=True)
    except Exception as exc:  # noqa: BLE001 - a bad URL, a missing driver, an unreachable database
        raise SearchError(
            f"cannot open the Optuna storage {mask_secrets(url)}: {type(exc).__name__}: {str(exc)[:200]}. "
            "Give --storage a database URL (sqlite:///FILE, postgresql://...) or leave it out for the "
            "workspace's optuna.db"
        ) from None
    # Seeded by the trials already there: a resumed study goes on where it was, not through the same proposals again.
    study.sampler = sampler(search, None if search.seed is None else search.seed + len(study.trials))
    return study


def sampler(search: SearchSpec, seed: int | None) -> Any:
    import optuna

    if search.sampler == "nsga2":
        return optuna.samplers.NSGAIISampler(population_size=search.population, seed=seed)
    # Multivariate: chunk size, fusion method and alpha act together; modelled apart, 16 trials found the best less often.
    return optuna.samplers.TPESampler(seed=seed, multivariate=True, n_startup_trials=search.startup)


def _recover(study: Any, search: SearchSpec) -> None:
    """A trial interrupted after its run was logged (Ctrl-C, a failing callback) is told to the study as that run
    measured it: the study then knows every configuration evaluated under its parent, as compare shows them."""
    import mlflow
    import optuna

    states = optuna.trial.TrialState
    known = {t.user_attrs.get("config_id") for t in study.get_trials(deepcopy=False, states=(states.COMPLETE,))}
    for trial in study.get_trials(deepcopy=False, states=(states.FAIL,)):
        run_id, config_id = trial.user_attrs.get("mlflow_run_id"), trial.user_attrs.get("config_id")
        if run_id is None or config_id in known:
            continue
        run = mlflow.get_run(run_id)
        values = [run.data.metrics.get(name) for name in search.metrics()]
        if run.info.status == "FINISHED" and None not in values:
            study.add_trial(
                optuna.trial.create_trial(
                    params=trial.params, distributions=trial.distributions, values=values, user_attrs=trial.user_attrs
                )
            )
            known.add(config_id)


def _tag_parent(run_id: str, report: SearchReport) -> None:
    import mlflow

    client = mlflow.MlflowClient()
    client.set_tag(run_id, "optuna.study", report.study)
    client.set_tag(run_id, "optuna.storage", report.storage)


def suggest(trial: Any, key: str, dim: Range | list[Any]) -> Any:
    if isinstance(dim, list):
        return trial.suggest_categorical(key, dim)
    if dim.integers:
        return trial.suggest_int(key, int(dim.low), int(dim.high), step=int(dim.step or 1), log=dim.log)
    # Rounded: a step of 0.1 from 0.1 gives 0.30000000000000004, which would name a configuration of its own.
    return round(trial.suggest_float(key, float(dim.low), float(dim.high), step=dim.step, log=dim.log), 10)


class TrialRunner:
    """Optuna's objective: one trial's configuration, evaluated (or found evaluated), its objectives told back.
    Called from `jobs` threads at once; the work itself runs in the executor."""

    def __init__(
        self,
        sweep: SweepRun,
        pool: Any,
        search: SearchSpec,
        base: AgentConfig,
        space: dict[str, Any],
        report: SearchReport,
        hook: Callable[[str], None] | None,
    ) -> None:
        self.sweep, self.pool, self.search, self.base, self.space = sweep, pool, search, base, space
        self.report, self.hook = report, hook
        self._lock = threading.Lock()
        self._runs: dict[str, Future] = {}  # config_id -> (run id, metrics), evaluated once per invocation

    def __call__(self, trial: Any) -> list[float]:
        import optuna

        params = {key: suggest(trial, key, dim) for key, dim in self.space.items()}
        try:
            cfg = self.sweep.spec.point_config(self.base, params)
        except ConfigError as exc:
            reason = str(exc).replace("\n", " ")
            with self._lock:
                self.report.invalid.append(f"trial {trial.number}: {reason}")
            trial.set_user_attr("invalid", reason)
            raise optuna.TrialPruned(reason) from None
        trial.set_user_attr("config_id", cfg.config_id)
        run_id, metrics = self._run(cfg, trial.number)
        trial.set_user_attr("mlflow_run_id", run_id)
        if self.hook:
            self.hook(cfg.config_id)
        return [self._value(metrics, name) for name in self.search.metrics()]

    def _run(self, cfg: AgentConfig, number: int) -> tuple[str, dict[str, float]]:
        with self._lock:
            future, mine = self._runs.get(cfg.config_id), cfg.config_id not in self._runs
            if mine:
                future = self._runs[cfg.config_id] = Future()
            else:
                self.report.repeated += 1
        if mine:
            try:
                future.set_result(self._evaluate(cfg, number))
            except BaseException as exc:
                with self._lock:
                    del self._runs[cfg.config_id]  # a later trial of it may try again
                future.set_exception(exc)
                raise
        return future.result()

    def _evaluate(self, cfg: AgentConfig, number: int) -> tuple[str, dict[str, float]]:
        import mlflow

        earlier = mlflow.search_runs(
            [self.sweep.experiment_id],
            output_format="list",
            max_results=1,
            filter_string=(
                f"tags.config_id = '{cfg.config_id}' and tags.`mlflow.parentRunId` = '{self.sweep.parent_run_id}' "
                "and attributes.status = 'FINISHED'"
            ),
        )
        if earlier:  # this study evaluated it before it was interrupted
            with self._lock:
                self.report.repeated += 1
            return earlier[0].info.run_id, earlier[0].data.metrics
        self.sweep.prepare(cfg)
        outcome = next(
            iter(self.pool.map([self.sweep.point(cfg, {"optuna.study": self.report.study, "optuna.trial": str(number)})]))
        )
        with self._lock:
            self.report.ran.append(cfg.config_id)
            self.report.embedded += outcome.embedded
        return outcome.run_id, outcome.metrics

    @staticmethod
    def _value(metrics: dict[str, float], name: str) -> float:
        value = metrics.get(name)
        if value is None or value != value:
            raise SearchError(
                f"objective {name!r}: the evaluation has no such metric (or it was not computed); "
                f"choose among {sorted(k for k, v in metrics.items() if v == v)}"
            )
        return float(value)
