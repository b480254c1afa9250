"""Cold start of an exported handler, the whole path, and its import time and per-event overhead against a naive bundle.

    python benchmarks/export_handler.py [--bundle export/bench] [--runs 5]

Cold path: a fresh interpreter whose path holds only the function's code and the packages its image installs (the
requirements.lock versions, installed for this interpreter, plus boto3 as the Lambda runtime has it; huggingface_hub
and the other left-out packages are absent, so the run also proves the handler does without them) runs `handler.py`
as the Lambda runtime imports it: its import of the runtime ("import"), then the rest of it ("build": `init()`, the
ONNX session, tokenizer, Pinecone client with its key from Secrets Manager, DynamoDB clients), then handles a first
SQS event end to end, against moto (DynamoDB, Secrets Manager) and the Pinecone test double (a fake of the service,
tests/pinecone_double.py) holding 40 SQuAD paragraphs. The code sits as the Dockerfile lays it out (compiled to
bytecode, with its ENV), and the environment names a Lambda (LAMBDA_TASK_ROOT, a trace header per invocation), so
the X-Ray SDK and Powertools' Tracer behave as deployed. Reported: the median of each phase over the runs, wall
clock and the process's CPU time (less sensitive to a shared machine).

The naive bundle imports what a notebook prototype would drag along: langchain and the whole workbench
(evaluation, tracking, Chroma, torch). Per-event overhead is the handler's own work with no external call:
envelope parsing, event validation, prompt building and the decision record, around stub backends.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import site
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lambda_surroundings import handler_parts, image_env, image_site, load_paragraphs, sqs_batch, task_root, trust_store  # noqa: E402

# A handler lifted from a notebook imports its tools eagerly: the workbench's own modules are lazy, so name them.
NAIVE = (
    "import langchain, langchain_community.chat_models, chromadb, sentence_transformers, mlflow, pandas, "
    "workbench.cli, workbench.lab.evaluate, workbench.serve.lambda_handler"
)

OVERHEAD = """
import json, time
from workbench.config import AgentConfig
from workbench.events import parse_payload
from workbench.loop import Agent
from workbench.types import Answer, ConversationState, Hit

class Stub:  # every backend answers at once: what remains is the handler's own overhead
    model_id, dimension = "stub", 4
    def embed(self, texts): return [[0.5, 0.5, 0.5, 0.5] for _ in texts]
    def query(self, vector, top_k, tenant, filter=None): return [Hit(f"d{i}", 0.9, "Some context sentence. " * 20) for i in range(top_k)]
    def load(self, tenant, key): return ConversationState(key)
    def save(self, tenant, key, history, expected_version): return ConversationState(key, tuple(history), expected_version + 1)
    def reason(self, question, prompt, hits): return Answer("an answer", (hits[0].id,))
    def act(self, decision, key): json.dumps(decision.to_dict())

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
    out = subprocess.run(
        [sys.executable, "-S", "-B", "-c", f"import sys; sys.path[:0] = {paths!r}\n{code}"],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "us-east-1"},
    )
    return float(out.stdout.strip().splitlines()[-1])


def cold_import(paths: list[str], module_code: str, cwd: Path, repeats: int = 5) -> float:
    timed = f"import time; t = time.perf_counter(); {module_code}; print((time.perf_counter() - t) * 1000)"
    return statistics.median(run(paths, timed, cwd) for _ in range(repeats))


COLD = """
import json, os, sys, time
from types import SimpleNamespace
head, tail = (compile(part, "handler.py", "exec") for part in json.loads(os.environ["BENCH_HANDLER"]))
handler = {"__name__": "handler"}  # handler.py's namespace, as the Lambda runtime imports it
marks = [(time.perf_counter(), time.process_time())]
exec(head, handler)
marks.append((time.perf_counter(), time.process_time()))
if os.environ.get("BENCH_PROFILE"):  # where the build's time goes, to stderr (the profiler inflates it)
    import cProfile, pstats
    profile = cProfile.Profile()
    profile.runctx(tail, handler, handler)
    pstats.Stats(profile, stream=sys.stderr).sort_stats("cumulative").print_stats(40)
else:
    exec(tail, handler)
marks.append((time.perf_counter(), time.process_time()))
ctx = SimpleNamespace(function_name="f", memory_limit_in_mb=1024, invoked_function_arn="arn:aws:lambda:us-east-1:1:function:f",
                      aws_request_id="r", get_remaining_time_in_millis=lambda: 30000)
first, second = json.loads(os.environ["BENCH_BATCHES"])
os.environ["_X_AMZN_TRACE_ID"] = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"  # per invocation
assert handler["handler"](first, ctx) == {"batchItemFailures": []}
marks.append((time.perf_counter(), time.process_time()))
os.environ["_X_AMZN_TRACE_ID"] = "Root=1-5759e988-bd862e3fe1be46a994272794;Parent=53995c3f42cd8ad9;Sampled=1"
assert handler["handler"](second, ctx) == {"batchItemFailures": []}  # warm: what the first event paid beyond it is cold cost
marks.append((time.perf_counter(), time.process_time()))
phases = ("import", "build", "first_event", "warm_event")
out = {f"{p}_{kind}_ms": (b[i] - a[i]) * 1000 for p, a, b in zip(phases, marks, marks[1:]) for i, kind in enumerate(("wall", "cpu"))}
out["cold_path_wall_ms"], out["cold_path_cpu_ms"] = ((marks[3][i] - marks[0][i]) * 1000 for i in range(2))
print(json.dumps(out))
"""


def cold_path(bundle: Path, runs: int, profile: bool = False) -> dict[str, float]:
    """Median of each phase over `runs` cold starts, against moto and the Pinecone test double."""
    import socket
    import time
    import uuid

    import boto3

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from pinecone_double import PineconeDouble, self_signed

    site_dir = image_site(bundle)
    scratch = Path(tempfile.mkdtemp(prefix="bench-task-"))
    # The double speaks TLS, as Pinecone does. moto cannot stand for AWS there: it closes every connection, so each
    # request would pay a handshake and botocore's load of its CA bundle, which a kept-alive connection pays once.
    tls = self_signed(scratch)
    trusted = trust_store(site_dir, tls[0], scratch)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    moto = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    double = PineconeDouble(384, tls=tls)
    aws = {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
    }
    try:
        os.environ.update(aws)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        tables = {}
        for env, key in (("STATE_TABLE", "pk"), ("IDEMPOTENCY_TABLE", "id"), ("DECISION_TABLE", "pk")):
            tables[env] = f"bench-{key}-{uuid.uuid4().hex[:6]}"
            boto3.client("dynamodb").create_table(
                TableName=tables[env],
                BillingMode="PAY_PER_REQUEST",
                KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
            )
        boto3.client("secretsmanager").create_secret(Name="bench/pinecone", SecretString=double.api_key)
        load_paragraphs(bundle, double, tls[0])
        task = task_root(bundle, scratch)
        env = {
            **aws,
            **tables,
            "PATH": "/usr/bin:/bin",
            "PINECONE_HOST": double.host,
            "PINECONE_SECRET_NAME": "bench/pinecone",
            "SSL_CERT_FILE": str(trusted),  # the system's trust store, for the Pinecone read client
            **image_env(bundle, task),
            # As the Lambda runtime sets them: X-Ray's SDK then samples locally (outside a Lambda it builds two X-Ray
            # API clients at import) and Powertools' Tracer is on, so the run pays for the subsegments it sends.
            "LAMBDA_TASK_ROOT": str(task),
            "AWS_LAMBDA_FUNCTION_NAME": "bench",
        }
        phases = []
        for i in range(runs):
            batches = [
                sqs_batch(f"cold-{i}-{uuid.uuid4().hex[:6]}", q)
                for q in ("Which team won Super Bowl 50?", "Who is the Broncos' quarterback?")
            ]
            out = subprocess.run(
                [sys.executable, "-S", "-B", "-c", f"import sys; sys.path[:0] = [{str(task)!r}, {str(site_dir)!r}]\n{COLD}"],
                cwd=task,
                env={
                    **env,
                    "BENCH_HANDLER": json.dumps(handler_parts(task)),
                    "BENCH_BATCHES": json.dumps(batches),
                    **({"BENCH_PROFILE": "1"} if profile else {}),
                },
                capture_output=True,
                text=True,
            )
            if out.returncode != 0:
                raise SystemExit(f"cold run failed:\n{out.stderr[-3000:]}")
            if profile:
                print(out.stderr, file=sys.stderr)
            phases.append(json.loads(out.stdout.strip().splitlines()[-1]))
        return {k: round(statistics.median(p[k] for p in phases)) for k in phases[0]}
    finally:
        double.close()
        moto.terminate()
        moto.wait()
        shutil.rmtree(scratch, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", default="export/bench", help="an exported bundle (the default config is exported if missing)")
    parser.add_argument("--runs", type=int, default=5, help="cold starts to take the median of")
    parser.add_argument("--cold-only", action="store_true", help="only the cold path (skip the naive comparison)")
    parser.add_argument("--profile", action="store_true", help="print where the agent's build spends its time (cProfile)")
    args = parser.parse_args()
    bundle = Path(args.bundle)
    if not (bundle / "handler.py").exists():
        from workbench.config import AgentConfig
        from workbench.deploy.bundle import export_bundle

        export_bundle(AgentConfig(name="bench"), bundle, force=True)
    report: dict[str, Any] = {
        "cold_path_ms": cold_path(bundle.resolve(), args.runs, args.profile),
        "load_average": round(os.getloadavg()[0], 1),
    }
    if not args.cold_only:
        libs = site.getsitepackages()
        repo = str(Path(__file__).resolve().parent.parent)
        lean = cold_import([str(bundle.resolve()), *libs], "import workbench.serve.lambda_handler", bundle)
        naive = cold_import([repo, *libs], NAIVE, Path(repo))
        report["cold_import_ms"] = {"bundle": round(lean), "naive": round(naive), "ratio": round(naive / lean, 1)}
        report["per_event_overhead_ms"] = {
            "bundle": round(run([str(bundle.resolve()), *libs], OVERHEAD, bundle), 3),
            "naive": round(run([repo, *libs], NAIVE + "\n" + OVERHEAD, Path(repo)), 3),
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
