"""Cold import time and per-event overhead of an exported handler, against a naive bundle, in one run.

    python benchmarks/export_handler.py [--bundle export/bench]

The naive bundle imports what a notebook prototype would drag along: langchain and the whole workbench
(evaluation, tracking, Chroma, torch). Per-event overhead is the handler's own work with no external call:
envelope parsing, event validation, prompt building and the decision record, around stub backends.
"""

from __future__ import annotations

import argparse
import json
import site
import statistics
import subprocess
import sys
from pathlib import Path

# A handler lifted from a notebook imports its tools eagerly: the workbench's own modules are lazy, so name them.
NAIVE = ("import langchain, langchain_community.chat_models, chromadb, sentence_transformers, mlflow, pandas, "
         "workbench.cli, workbench.evaluation.runner, workbench.lambda_runtime")

OVERHEAD = """
import json, time
from workbench.config import AgentConfig
from workbench.events import parse_payload
from workbench.loop import Agent
from workbench.records import Answer, ConversationState, Hit

class Stub:  # every backend answers at once: what remains is the handler's own overhead
    model_id, dimension = "stub", 4
    def embed(self, texts): return [[0.5, 0.5, 0.5, 0.5] for _ in texts]
    def query(self, vector, top_k, tenant, filter=None): return [Hit(f"d{i}", 0.9, "Some context sentence. " * 20) for i in range(top_k)]
    def load(self, user_id): return ConversationState(user_id)
    def save(self, user_id, history, expected_version): return ConversationState(user_id, tuple(history), expected_version + 1)
    def reason(self, question, prompt, hits): return Answer("an answer", (hits[0].id,))
    def act(self, decision): json.dumps(decision)

s = Stub()
agent = Agent(AgentConfig(), s, s, s, s, s)
body = json.dumps({"Records": [{"messageId": "m", "body": json.dumps({"Type": "Notification", "Message": json.dumps(
    {"event_id": "e", "tenant": "acme", "user_id": "u", "text": "Who was the Super Bowl 50 MVP?"})})}]})
n = 2000
start = time.perf_counter()
for i in range(n):
    for parsed in parse_payload(body):
        agent.handle(parsed.event.model_copy(update={"event_id": f"e{i}"}))
print((time.perf_counter() - start) / n * 1000)
"""


def run(paths: list[str], code: str, cwd: Path) -> float:
    out = subprocess.run([sys.executable, "-S", "-B", "-c", f"import sys; sys.path[:0] = {paths!r}\n{code}"], cwd=cwd,
                         capture_output=True, text=True, check=True, env={"PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "us-east-1"})
    return float(out.stdout.strip().splitlines()[-1])


def cold_import(paths: list[str], module_code: str, cwd: Path, repeats: int = 5) -> float:
    timed = f"import time; t = time.perf_counter(); {module_code}; print((time.perf_counter() - t) * 1000)"
    return statistics.median(run(paths, timed, cwd) for _ in range(repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", default="export/bench", help="an exported bundle (made with --config if missing)")
    args = parser.parse_args()
    bundle = Path(args.bundle)
    if not (bundle / "handler.py").exists():
        from workbench.config import AgentConfig
        from workbench.export.bundle import export_bundle

        export_bundle(AgentConfig(name="bench"), bundle, force=True)
    libs = site.getsitepackages()
    repo = str(Path(__file__).resolve().parent.parent)
    lean = cold_import([str(bundle.resolve()), *libs], "import handler", bundle)
    naive = cold_import([repo, *libs], NAIVE, Path(repo))
    per_event_lean = run([str(bundle.resolve()), *libs], OVERHEAD, bundle)
    per_event_naive = run([repo, *libs], NAIVE + "\n" + OVERHEAD, Path(repo))
    print(json.dumps({"cold_import_ms": {"bundle": round(lean), "naive": round(naive), "ratio": round(naive / lean, 1)},
                      "per_event_overhead_ms": {"bundle": round(per_event_lean, 3), "naive": round(per_event_naive, 3)}}, indent=2))


if __name__ == "__main__":
    main()
