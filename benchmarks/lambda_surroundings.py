"""The Lambda's surroundings, stood up on this machine for benchmarks/export_handler.py's cold runs: the image's
packages and its task root as the Dockerfile lays them out, the environment its ENV lines give, a trust store of a
real one's size for the loopback servers' TLS, handler.py in the two parts that are timed, and the SQS batches and
Pinecone records the runs use.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any


def handler_parts(task: Path) -> tuple[str, str]:
    """handler.py's source in two, to time apart: up to its import of the runtime (the modules), then the rest
    (`init()`, building the agent, and what else it does before the first event)."""
    import ast

    source = (task / "handler.py").read_text()
    cut = next(
        node.end_lineno
        for node in ast.parse(source).body
        if isinstance(node, ast.ImportFrom) and node.module == "workbench.serve.lambda_handler"
    )
    lines = source.splitlines(keepends=True)
    return "".join(lines[:cut]), "".join(lines[cut:])


def image_site(bundle: Path) -> Path:
    """The image's packages for this interpreter: the lock's name==version list (its hashes are for the Lambda's
    platform) and boto3 with its dependencies, as the Lambda runtime provides them."""
    import hashlib
    from importlib import metadata

    pins = [
        line.split()[0] for line in (bundle / "requirements.lock").read_text().splitlines() if line and not line.startswith("#")
    ]
    runtime = f"boto3=={metadata.version('boto3')}"
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "agent-workbench" / "image-sites"
    target = cache / hashlib.sha256(" ".join([*pins, runtime]).encode()).hexdigest()[:12]
    if not target.exists():
        tmp = target.with_suffix(".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        pip = [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(tmp)]
        subprocess.run([*pip, "--no-deps", *pins], check=True)
        subprocess.run([*pip, runtime], check=True)
        tmp.rename(target)
    return target


def trust_store(site_dir: Path, cert: Path, scratch: Path) -> Path:
    """The CA bundle botocore ships (the image has no certifi) with the double's certificate added: the cold runs'
    system trust store (SSL_CERT_FILE), so the TLS context they build loads a store of a real one's size."""
    store = scratch / "ca-bundle.pem"
    store.write_text((site_dir / "botocore" / "cacert.pem").read_text() + cert.read_text())
    return store


def task_root(bundle: Path, scratch: Path) -> Path:
    """The function's code as the Dockerfile lays it out in the image: copied (the model linked), then compiled to
    bytecode, which the cold runs' -B only stops them writing."""
    import compileall

    task = scratch / "task"
    shutil.copytree(bundle, task, ignore=lambda folder, names: ["model"] if Path(folder) == bundle else [])
    (task / "model").symlink_to(bundle / "model")
    if not compileall.compile_file(str(task / "handler.py"), quiet=1) or not compileall.compile_dir(
        str(task / "workbench"), quiet=1
    ):
        raise SystemExit(f"the bundle's code does not compile: {task}")
    return task


def image_env(bundle: Path, task: Path) -> dict[str, str]:
    """The environment the Dockerfile's ENV lines give the function, in `task` as its LAMBDA_TASK_ROOT."""
    lines = (bundle / "Dockerfile").read_text().splitlines()
    pairs = (line.removeprefix("ENV ").partition("=") for line in lines if line.startswith("ENV "))
    return {name: value.replace("${LAMBDA_TASK_ROOT}", str(task)) for name, _, value in pairs}


def sqs_batch(event_id: str, question: str) -> dict[str, Any]:
    body = json.dumps({"event_id": event_id, "tenant": "acme", "user_id": event_id, "text": question})
    return {
        "Records": [
            {
                "messageId": event_id,
                "receiptHandle": "r",
                "body": body,
                "attributes": {},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:1:q",
                "awsRegion": "us-east-1",
            }
        ]
    }


def load_paragraphs(bundle: Path, double: Any, cert: Path) -> None:
    """40 SQuAD paragraphs in the double, embedded by the bundle's ONNX model, with their sentence vectors as
    `pinecone-load` copies them from an ingested index (so the extractive reasoner embeds only the question)."""
    from pinecone import Index

    from workbench.embedders.onnx_minilm import OnnxMiniLMEmbedder
    from workbench.indexes.pinecone import PineconeIndex
    from workbench.reasoners.sentences import with_sentence_vectors

    data = json.loads(
        (Path(__file__).resolve().parent.parent / "datasets" / "squad-v1.1-dev-24" / "dev-v1.1-first24.json").read_text()
    )
    paragraphs = [(a["title"], p["context"]) for a in data["data"] for p in a["paragraphs"]][:40]
    model = OnnxMiniLMEmbedder(bundle / "model")
    texts = [text for _, text in paragraphs]
    metadatas = with_sentence_vectors(texts, [{"tenant": "acme", "article": title} for title, _ in paragraphs], model)
    PineconeIndex(Index(host=double.host, api_key=double.api_key, ssl_ca_certs=str(cert))).upsert(
        [f"{title}-{i}" for i, (title, _) in enumerate(paragraphs)], model.embed(texts), texts, metadatas
    )
