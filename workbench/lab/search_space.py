"""The `search:` section of a sweep spec: what `workbench sweep SPEC --search optuna` optimises, and over what.

Pydantic only (Optuna is imported by workbench/lab/search_optuna.py, when a search runs). Example::

    search:
      sampler: tpe                 # or nsga2 (with population: 8)
      startup: 5                   # tpe: random trials first
      objectives: [ndcg_at_10:max, latency_total_p95_ms:min, cost_per_1m_events:min]
      space:                       # absent: the spec's grid, each list a categorical choice
        retrieval.top_k: {low: 1, high: 10}                  # integers: both bounds integers
        retrieval.hybrid.weight: {low: 0.1, high: 0.9, step: 0.1}
        retrieval.hybrid.method: [rrf, weighted]             # a list: categorical
        index.hnsw.search_ef: {low: 10, high: 400, log: true}
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

OBJECTIVE = r"^[A-Za-z0-9_.]+:(max|min)$"


class Range(BaseModel):
    """Numbers from `low` to `high`: integers when both bounds (and `step`) are integers, else floats."""

    model_config = ConfigDict(extra="forbid")

    low: float | int
    high: float | int
    step: float | int | None = None
    log: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> "Range":
        if self.low >= self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        if self.log and (self.low <= 0 or self.step is not None):
            raise ValueError("log needs low > 0 and no step")
        return self

    @property
    def integers(self) -> bool:
        return all(isinstance(v, int) and not isinstance(v, bool) for v in (self.low, self.high, self.step or 1))


class SearchSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    objectives: list[str] = Field(["ndcg_at_10:max"], min_length=1, description="metric:max or metric:min, each once")
    sampler: Literal["tpe", "nsga2"] = "tpe"
    seed: int | None = 0
    population: int = Field(8, ge=2, description="nsga2: trials per generation")
    startup: int = Field(
        5,
        ge=1,
        description="tpe: random trials before its model proposes (Optuna's default is 10; "
        "5 suits the budgets of tens of trials: docs/benchmarks.md)",
    )
    space: dict[str, Range | list[Any]] = Field(default_factory=dict)

    @field_validator("objectives")
    @classmethod
    def _objectives(cls, objectives: list[str]) -> list[str]:
        import re

        bad = [o for o in objectives if not re.match(OBJECTIVE, o)]
        if bad:
            raise ValueError(f"{bad}: write each objective as metric:max or metric:min, e.g. ndcg_at_10:max")
        names = [o.split(":")[0] for o in objectives]
        if len(set(names)) != len(names):
            raise ValueError(f"{objectives}: a metric appears twice")
        return objectives

    @field_validator("space")
    @classmethod
    def _choices(cls, space: dict[str, Any]) -> dict[str, Any]:
        for key, dim in space.items():
            if isinstance(dim, list) and not dim:
                raise ValueError(f"{key}: an empty list of choices")
            if isinstance(dim, list) and not all(v is None or isinstance(v, (bool, int, float, str)) for v in dim):
                raise ValueError(f"{key}: choices must be numbers, strings, booleans or null (Optuna stores them), got {dim!r}")
        return space

    def directions(self) -> list[str]:
        return ["maximize" if o.endswith(":max") else "minimize" for o in self.objectives]

    def metrics(self) -> list[str]:
        return [o.split(":")[0] for o in self.objectives]
