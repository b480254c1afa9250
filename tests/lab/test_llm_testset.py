"""Questions written by an LLM from a corpus alone (ragas's TestsetGenerator), against the OpenAI TEST DOUBLE.

The double's questions are not meant to read well; what is tested is the road: tiktoken's files provided offline,
the corpus chunked as ingest chunks it, single- and multi-hop questions whose relevance labels are the chunks
they were written from, the eval set format, the CLI, and a cached second run that asks the model nothing."""

import hashlib
import json
import subprocess
import sys

import pytest
from openai_double import OpenAIDouble

from workbench.config import ChunkingConfig
from workbench.ingest.chunking import chunk_documents, doc_id_of
from workbench.ingest.loaders import load_corpus
from workbench.lab import tiktoken_files
from workbench.lab.evalsets import load_evalset
from workbench.lab.llm_testset import build_llm_evalset


@pytest.fixture
def double(monkeypatch, tmp_path):
    with OpenAIDouble() as server:
        monkeypatch.setenv("OPENAI_API_KEY", "test-double-key")
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "tiktoken"))
        yield server


def test_tiktoken_files_are_provided_without_a_download(tmp_path, monkeypatch) -> None:
    import tiktoken
    import tiktoken.load

    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "tiktoken"))
    monkeypatch.setattr(tiktoken.load, "read_file", lambda path: pytest.fail(f"tiktoken tried to download {path}"))
    tiktoken_files.provide()
    for name, (url, sha256) in tiktoken_files.ENCODINGS.items():
        written = (tmp_path / "tiktoken" / hashlib.sha1(url.encode()).hexdigest()).read_bytes()
        assert hashlib.sha256(written).hexdigest() == sha256, name
    assert tiktoken.get_encoding("o200k_base").encode("hello world") == [24912, 2375]  # OpenAI's published ids
    assert tiktoken.get_encoding("cl100k_base").encode("hello world") == [15339, 1917]


def test_questions_cite_the_chunks_they_were_written_from(double, squad_subset) -> None:
    chunks = {c.id: c.text for c in chunk_documents(load_corpus(squad_subset), ChunkingConfig(), "tenant", "acme")}
    evalset = build_llm_evalset(squad_subset, 6, "openai:gpt-4o-mini", seed=3)

    assert len(evalset.cases) == 6
    kinds = {c.case_id.rsplit("-", 2)[-2] for c in evalset.cases}
    assert kinds == {"single", "multi"}
    docs = {doc_id_of(i) for i in chunks}
    for case in evalset.cases:
        [turn] = case.turns
        assert turn.question and turn.answers and turn.reference_contexts
        assert set(turn.relevant) <= docs and turn.relevant
        assert all(text in chunks.values() for text in turn.reference_contexts)  # the hop markers are taken off
        assert {doc_id_of(i) for i, t in chunks.items() if t in turn.reference_contexts} == set(turn.relevant)


def test_the_cli_writes_an_eval_set_and_a_second_run_asks_the_model_nothing(double, squad_subset, tmp_path) -> None:
    out = tmp_path / "llm.jsonl"
    cmd = [
        sys.executable,
        "-m",
        "workbench.cli",
        "build-evalset",
        "--from-corpus",
        str(squad_subset),
        "--llm",
        "openai:gpt-4o-mini",
        "--n",
        "4",
        "-o",
        str(out),
        "--home",
        str(tmp_path / "ws"),
    ]
    first = subprocess.run(cmd, capture_output=True, text=True, check=True)
    assert "4 cases" in first.stdout
    asked = len(double.chat_requests())
    assert asked > 0 and len(load_evalset(out).cases) == 4
    subprocess.run(cmd, capture_output=True, text=True, check=True)
    again = [json.dumps(r["messages"]) for r in double.chat_requests()[asked:]]
    # ragas samples nodes, personas and styles anew, so some question prompts differ; the extraction from every
    # chunk, most of the calls, comes from the workspace's LLM cache
    assert len(again) < asked / 2 and not any("Extract the named entities" in m for m in again)
    bad = subprocess.run(cmd[:6] + ["--n", "4", "-o", str(out)] + ["--llm", "gpt-4o-mini"], capture_output=True, text=True)
    assert bad.returncode == 2 and "provider:model" in bad.stderr and "Traceback" not in bad.stderr
    wrong = subprocess.run(
        [sys.executable, "-m", "workbench.cli", "build-evalset", str(squad_subset), "--llm", "openai:x", "-o", str(out)],
        capture_output=True,
        text=True,
    )
    assert wrong.returncode == 2 and "--from-corpus" in wrong.stderr
    assert json.loads(out.read_text().splitlines()[0])  # JSONL
