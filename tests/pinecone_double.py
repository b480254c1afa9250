"""TEST DOUBLE: a Pinecone data plane served on loopback, so the real `pinecone` SDK is exercised on the wire.

Implements upsert, query, fetch, delete and describe_index_stats with exact search (cosine), namespaces,
and Pinecone's filter semantics (the workbench's reference evaluator, itself checked against Chroma).
It is not Pinecone: no ANN, no sparse vectors, no control plane.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import numpy as np

from workbench.filters import matches


class PineconeDouble:
    def __init__(self, dimension: int, metric: str = "cosine") -> None:
        self.dimension, self.metric = dimension, metric
        self.namespaces: dict[str, dict[str, dict]] = {}
        self.requests: list[str] = []
        self._lock = threading.Lock()
        double = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self, body: dict, status: int = 200) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                route = urlparse(self.path).path
                double.requests.append(route)
                handler = {"/vectors/upsert": double.upsert, "/query": double.query, "/vectors/delete": double.delete,
                           "/describe_index_stats": double.stats}.get(route)
                if handler is None:
                    return self._reply({"error": f"no route {route}"}, 404)
                try:
                    self._reply(handler(body))
                except ValueError as exc:
                    self._reply({"error": {"code": "INVALID_ARGUMENT", "message": str(exc)}}, 400)

            def do_GET(self) -> None:  # noqa: N802
                url = urlparse(self.path)
                double.requests.append(url.path)
                if url.path == "/vectors/fetch":
                    q = parse_qs(url.query)
                    return self._reply(double.fetch(q.get("ids", []), q.get("namespace", [""])[0]))
                if url.path == "/describe_index_stats":
                    return self._reply(double.stats({}))
                self._reply({"error": "not found"}, 404)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()

    def upsert(self, body: dict) -> dict:
        ns = self.namespaces.setdefault(body.get("namespace", ""), {})
        for v in body["vectors"]:
            if len(v["values"]) != self.dimension:
                raise ValueError(f"Vector dimension {len(v['values'])} does not match the dimension of the index {self.dimension}")
            with self._lock:
                ns[v["id"]] = {"id": v["id"], "values": v["values"], "metadata": v.get("metadata", {})}
        return {"upsertedCount": len(body["vectors"])}

    def query(self, body: dict) -> dict:
        ns = self.namespaces.get(body.get("namespace", ""), {})
        q = np.asarray(body["vector"], dtype=np.float64)
        scored = []
        for rec in ns.values():
            if matches(body.get("filter"), rec["metadata"]):
                v = np.asarray(rec["values"], dtype=np.float64)
                score = float(q @ v / (np.linalg.norm(q) * np.linalg.norm(v))) if self.metric == "cosine" else float(q @ v)
                scored.append((score, rec))
        scored.sort(key=lambda sr: -sr[0])
        top = scored[: body.get("topK", 10)]
        return {"namespace": body.get("namespace", ""), "usage": {"readUnits": 1},
                "matches": [{"id": r["id"], "score": s, **({"metadata": r["metadata"]} if body.get("includeMetadata") else {}),
                             **({"values": r["values"]} if body.get("includeValues") else {})} for s, r in top]}

    def fetch(self, ids: list[str], namespace: str) -> dict:
        ns = self.namespaces.get(namespace, {})
        return {"namespace": namespace, "vectors": {i: ns[i] for i in ids if i in ns}, "usage": {"readUnits": 1}}

    def delete(self, body: dict) -> dict:
        ns = self.namespaces.get(body.get("namespace", ""), {})
        if body.get("deleteAll"):
            ns.clear()
        for i in body.get("ids", []):
            ns.pop(i, None)
        return {}

    def stats(self, body: dict) -> dict:
        counts = {name: {"vectorCount": len(ns)} for name, ns in self.namespaces.items()}
        return {"namespaces": counts, "dimension": self.dimension, "indexFullness": 0.0, "metric": self.metric,
                "totalVectorCount": sum(c["vectorCount"] for c in counts.values())}
