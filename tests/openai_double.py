"""A TEST DOUBLE of an OpenAI-compatible API (chat completions and embeddings) on loopback, for the LLM path.

The real API is unreachable here. The double speaks the wire format the openai SDK (under langchain-openai)
sends and parses: POST /v1/chat/completions (`n` choices, `usage` token counts) and POST /v1/embeddings (float
or base64). It answers deterministically:
- a prompt that carries a JSON Schema (ragas's judge and test set prompts do) gets an instance of that schema:
  verdicts 1, `noncommittal` 0, strings taken from the prompt's input; lists of names (entities, themes) get the
  input's capitalised phrases, and a mapping gets a key for each `name` in the input (ragas's persona matching);
- any other prompt (the reasoner's) gets the first context passage's first sentence, cited as `[id]`.
Faults on demand: `fail_next(status, times)` answers the next requests with that HTTP status (429 carries a
short retry-after), `malformed = True` makes every chat answer unparseable, `delay_s` stalls chat answers.
Token counts are whitespace words, as no tokenizer ships offline. Every request is kept in `requests`.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

_SCHEMA_MARK = "as specified in JSON Schema:\n"
_CONTEXT = re.compile(r"^\[([^\]\n]+)\] (?:[^:\n]*: )?(.+?)(?:(?<=[.!?])\s|$)", re.MULTILINE)
ZERO_FIELDS = {"noncommittal"}  # integer fields whose 1 would mean "the answer is evasive"
NAME_LISTS = {"entities", "themes", "keyphrases"}  # lists the test set generator matches across chunks and personas
_PHRASE = re.compile(r"\b[A-Z][a-z]+(?: [A-Z][a-z]+)*")


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # ragas sends up to 16 requests at once; the default backlog of 5 drops connections


class OpenAIDouble:
    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.malformed = False
        self.delay_s = 0.0
        self._faults: list[int] = []
        self._lock = threading.Lock()
        double = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                status, headers, payload = double._answer(self.path, body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                for key, value in {"Content-Type": "application/json", "Content-Length": str(len(data)), **headers}.items():
                    self.send_header(key, value)
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting (a timeout under test)
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self._server = _Server(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self._server.server_port}/v1"

    def __enter__(self) -> "OpenAIDouble":
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fail_next(self, status: int, times: int = 1) -> None:
        with self._lock:
            self._faults += [status] * times

    def chat_requests(self) -> list[dict[str, Any]]:
        return [body for path, body in self.requests if path.endswith("/chat/completions")]

    def _answer(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, str], dict[str, Any]]:
        with self._lock:
            self.requests.append((path, body))
            fault = self._faults.pop(0) if self._faults else None
        if fault is not None:
            return (
                fault,
                {"retry-after-ms": "10"},
                {"error": {"message": f"double: injected {fault}", "type": "injected", "code": None}},
            )
        if path.endswith("/chat/completions"):
            time.sleep(self.delay_s)
            return 200, {}, self._chat(body)
        if path.endswith("/embeddings"):
            return 200, {}, self._embeddings(body)
        return 404, {}, {"error": {"message": f"double: no route {path}", "type": "invalid_request_error", "code": None}}

    def _chat(self, body: dict[str, Any]) -> dict[str, Any]:
        prompt = "\n".join(m["content"] if isinstance(m["content"], str) else json.dumps(m["content"]) for m in body["messages"])
        text = "this is not JSON {" if self.malformed else _reply(prompt)
        n = int(body.get("n") or 1)
        prompt_tokens, completion_tokens = len(prompt.split()), len(text.split())
        return {
            "id": f"chatcmpl-double-{len(self.requests)}",
            "object": "chat.completion",
            "created": 0,
            "model": body["model"],
            "choices": [
                {"index": i, "message": {"role": "assistant", "content": text}, "finish_reason": "stop", "logprobs": None}
                for i in range(n)
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens * n,
                "total_tokens": prompt_tokens + completion_tokens * n,
            },
        }

    def _embeddings(self, body: dict[str, Any]) -> dict[str, Any]:
        from workbench.embedders.hashing import HashingEmbedder

        texts = [body["input"]] if isinstance(body["input"], str) else body["input"]
        vectors = np.asarray(HashingEmbedder(int(body.get("dimensions") or 384)).embed([str(t) for t in texts]), dtype="<f4")
        as_base64 = body.get("encoding_format") == "base64"
        data = [
            {"object": "embedding", "index": i, "embedding": base64.b64encode(v.tobytes()).decode() if as_base64 else v.tolist()}
            for i, v in enumerate(vectors)
        ]
        tokens = sum(len(str(t).split()) for t in texts)
        return {
            "object": "list",
            "data": data,
            "model": body["model"],
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }


def _reply(prompt: str) -> str:
    if _SCHEMA_MARK in prompt:
        start = prompt.index(_SCHEMA_MARK) + len(_SCHEMA_MARK)
        schema, _ = json.JSONDecoder().raw_decode(prompt[start:])
        given = prompt.rsplit("input: ", 1)[-1]
        strings = [s for s in re.findall(r'"(?:[^"\\]|\\.)*"\s*:\s*"((?:[^"\\]|\\.)+)"', given)] or ["the input"]
        return json.dumps(_instance(schema, schema, strings[0].replace('\\"', '"'), "", given))
    passage = _CONTEXT.search(prompt)
    return f"{passage.group(2).strip()} [{passage.group(1)}]" if passage else "I don't know."


def _instance(node: dict[str, Any], root: dict[str, Any], text: str, name: str, given: str) -> Any:
    """A value that satisfies `node` of a JSON Schema (pydantic's: $defs/$ref, anyOf, objects, arrays, scalars)."""
    if "$ref" in node:
        return _instance(root["$defs"][node["$ref"].rsplit("/", 1)[-1]], root, text, name, given)
    if "anyOf" in node:
        return _instance(next(o for o in node["anyOf"] if o.get("type") != "null"), root, text, name, given)
    if "enum" in node:
        return node["enum"][0]
    kind = node.get("type")
    if kind == "object" and "properties" not in node and isinstance(node.get("additionalProperties"), dict):
        names = dict.fromkeys(re.findall(r'"name"\s*:\s*"([^"\\]+)"', given)) or {text: None}
        return {key: _instance(node["additionalProperties"], root, text, "themes", given) for key in names}
    if kind == "object":
        return {key: _instance(sub, root, text, key, given) for key, sub in node.get("properties", {}).items()}
    if kind == "array" and name in NAME_LISTS and node.get("items", {}).get("type", "string") == "string":
        return list(dict.fromkeys(_PHRASE.findall(given)))[:8] or [text]
    if kind == "array":
        return [_instance(node.get("items", {"type": "string"}), root, text, name, given)]
    if kind == "integer":
        return 0 if name in ZERO_FIELDS else 1
    if kind == "number":
        return 1.0
    if kind == "boolean":
        return True
    return text
