"""One format for QA evaluation, with loaders for SQuAD and BEIR.

A case is one user's conversation: one turn for a plain question, several to exercise state and
history. Each turn carries its reference answer(s) and graded relevant document ids. Stored as JSONL,
one case per line, so an eval set can be read, diffed and hashed.
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from workbench.errors import EvalSetError
from workbench.filters import checked_filter


class Turn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    question: str = Field(min_length=1)
    answers: list[str] = Field(default_factory=list, description="acceptable reference answers; the first is the main one")
    relevant: dict[str, int] = Field(default_factory=dict, description="doc id -> graded relevance (>0 relevant)")
    reference_contexts: list[str] = Field(default_factory=list)


class EvalCase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    case_id: str = Field(min_length=1)
    tenant: str
    user_id: str
    filter: Annotated[dict[str, Any] | None, AfterValidator(checked_filter)] = None
    turns: list[Turn] = Field(min_length=1)


class EvalSet(BaseModel):
    name: str
    cases: list[EvalCase]

    @property
    def content_hash(self) -> str:
        body = json.dumps([c.model_dump(mode="json") for c in self.cases], sort_keys=True)
        return hashlib.sha256(body.encode()).hexdigest()[:12]

    @property
    def turn_count(self) -> int:
        return sum(len(c.turns) for c in self.cases)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(c.model_dump_json() + "\n" for c in self.cases), encoding="utf-8")
        return path


class DatasetSpec(BaseModel):
    """What an evaluation runs on: a corpus to index and the questions to ask of it.

    With a SQuAD .json corpus and no `evalset`, the questions come from the same file; with a BEIR
    folder (corpus.jsonl, queries.jsonl, qrels/), from its queries and qrels.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    corpus: Path
    evalset: Path | None = None
    tenant: str = "acme"
    articles: list[str] | None = Field(None, description="SQuAD only: keep these articles, for corpus and questions")
    limit: int | None = Field(None, gt=0, description="evaluate the first N cases")
    per_paragraph: int = Field(1, gt=0, description="SQuAD only: questions taken per paragraph")

    def load_evalset(self) -> EvalSet:
        if self.evalset is not None:
            evalset = load_evalset(self.evalset)
            return EvalSet(name=evalset.name, cases=evalset.cases[: self.limit])
        if self.corpus.suffix == ".json":
            return from_squad(self.corpus, self.tenant, self.limit, self.per_paragraph, self.articles)
        if self.corpus.is_dir():
            return from_beir(self.corpus, self.tenant, limit=self.limit)
        raise EvalSetError(f"{self.corpus}: give an evalset (workbench build-evalset makes one) or a SQuAD/BEIR corpus")

    def corpus_path(self) -> Path:
        if not self.corpus.exists():
            raise EvalSetError(
                f"{self.corpus}: corpus not found (the bundled one is datasets/squad-v1.1-dev-24/dev-v1.1-first24.json)"
            )
        return self.corpus / "corpus.jsonl" if self.corpus.is_dir() else self.corpus


def load_evalset(path: str | Path) -> EvalSet:
    """Read the workbench JSONL format."""
    path = Path(path)
    if not path.is_file():
        raise EvalSetError(f"{path}: no such eval set (build one with `workbench build-evalset`)")
    cases = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                cases.append(EvalCase.model_validate_json(line))
            except ValidationError as exc:
                err = exc.errors()[0]
                raise EvalSetError(f"{path} line {n}: {'.'.join(map(str, err['loc']))}: {err['msg']}") from None
    if not cases:
        raise EvalSetError(f"{path}: the eval set holds no cases")
    return EvalSet(name=path.stem, cases=cases)


def from_squad(
    path: str | Path, tenant: str, limit: int | None = None, per_paragraph: int = 1, articles: list[str] | None = None
) -> EvalSet:
    """Questions of a SQuAD file: the reference context is the paragraph asked on (doc id `<title>#<i>`)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))["data"]
    except (OSError, json.JSONDecodeError, KeyError) as exc:
        raise EvalSetError(f"{path}: not a SQuAD JSON file: {exc}") from None
    cases = []
    for article in data:
        if articles and article["title"] not in articles:
            continue
        for i, para in enumerate(article["paragraphs"]):
            for qa in para["qas"][:per_paragraph]:
                answers = list(dict.fromkeys(a["text"] for a in qa["answers"]))
                turn = Turn(
                    question=qa["question"].strip(),
                    answers=answers,
                    relevant={f"{article['title']}#{i}": 1},
                    reference_contexts=[para["context"]],
                )
                cases.append(EvalCase(case_id=qa["id"], tenant=tenant, user_id=f"eval-{qa['id']}", turns=[turn]))
    return EvalSet(name=path.stem, cases=cases[:limit])


def from_beir(folder: str | Path, tenant: str, split: str = "test", limit: int | None = None) -> EvalSet:
    """BEIR layout: queries.jsonl and qrels/<split>.tsv (query-id, corpus-id, score), graded."""
    folder = Path(folder)
    qrels_path, queries_path = folder / "qrels" / f"{split}.tsv", folder / "queries.jsonl"
    for needed in (qrels_path, queries_path):
        if not needed.is_file():
            raise EvalSetError(f"{needed}: missing; a BEIR folder holds queries.jsonl and qrels/{split}.tsv")
    qrels: dict[str, dict[str, int]] = {}
    with qrels_path.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            qrels.setdefault(row["query-id"], {})[row["corpus-id"]] = int(row["score"])
    queries = {str(q["_id"]): q["text"] for q in map(json.loads, queries_path.read_text(encoding="utf-8").splitlines()) if q}
    cases = [
        EvalCase(case_id=qid, tenant=tenant, user_id=f"eval-{qid}", turns=[Turn(question=queries[qid], relevant=rel)])
        for qid, rel in qrels.items()
        if qid in queries
    ]
    return EvalSet(name=folder.name, cases=cases[:limit])
