"""Pinecone's data-plane reads (query, index stats) over its REST API, without the SDK: what a query needs.

Importing the `pinecone` SDK and building its client (httpx and httpcore, every adapter) cost the Lambda's cold
start about 60 ms more CPU than this client does, both with their TLS context, measured against the test double over
HTTPS (docs/benchmarks.md); the image is 18.5 MB lighter. This client sends the requests the SDK sends (pinecone 10:
the same routes, bodies, `Api-Key` and API version headers; tests/indexes/test_pinecone_double.py compares the two
request for request on the double) over urllib3, which botocore has loaded already, and reads the same fields back.
Retries are the workbench's resilience guard's (a status of 408, 429 or 5xx, a lost connection), which follows the
SDK's own retries anyway. Writes (`pinecone-load`) keep the SDK: `workbench.indexes.pinecone.connect`.
"""

from __future__ import annotations

import json
import ssl
from dataclasses import dataclass, field
from typing import Any

API_VERSION = "2026-07"  # pinecone 10's data-plane API version: the wire format below
TIMEOUT_S = 30.0  # the SDK's default


@dataclass(frozen=True)
class Match:
    id: str
    score: float
    metadata: dict[str, Any] | None = None
    values: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class QueryResult:
    matches: list[Match]
    namespace: str = ""


@dataclass(frozen=True)
class NamespaceStats:
    vector_count: int


@dataclass(frozen=True)
class IndexStats:
    total_vector_count: int
    namespaces: dict[str, NamespaceStats]


class PineconeHTTPError(Exception):
    """A reply other than 200; `status_code` tells the resilience guard whether another attempt can help."""

    def __init__(self, status_code: int, url: str, detail: str) -> None:
        super().__init__(f"Pinecone {url}: HTTP {status_code}: {detail}")
        self.status_code = status_code


class ReadClient:
    """The reads of one index at `host` (its data-plane URL; a host without a scheme is HTTPS, as for the SDK)."""

    def __init__(self, host: str, api_key: str, timeout_s: float = TIMEOUT_S, pool_size: int = 10) -> None:
        import urllib3

        if not api_key:
            raise ValueError("a Pinecone API key is needed (PINECONE_SECRET_NAME or PINECONE_API_KEY)")
        self._base = (host if "://" in host else f"https://{host}").rstrip("/")
        self._headers = {"Api-Key": api_key, "X-Pinecone-Api-Version": API_VERSION, "Content-Type": "application/json"}
        # One TLS context (the system's trust store) for every connection: without it urllib3 builds one per
        # connection, loading the CA certificates again each time (~45 ms of CPU here), and a batch opens up to ten.
        tls = ssl.create_default_context() if self._base.startswith("https://") else None
        self._http = urllib3.PoolManager(
            maxsize=pool_size, retries=False, timeout=urllib3.Timeout(total=timeout_s), ssl_context=tls
        )

    def query(
        self,
        *,
        top_k: int,
        vector: list[float],
        namespace: str = "",
        filter: dict[str, Any] | None = None,
        include_values: bool = False,
        include_metadata: bool = False,
        sparse_vector: dict[str, list] | None = None,
    ) -> QueryResult:
        body: dict[str, Any] = {"topK": top_k, "includeValues": include_values, "includeMetadata": include_metadata}
        if namespace:
            body["namespace"] = namespace
        body["vector"] = vector
        if filter is not None:
            body["filter"] = filter
        if sparse_vector is not None:
            body["sparseVector"] = sparse_vector
        reply = self._post("/query", body)
        matches = [Match(m["id"], float(m["score"]), m.get("metadata"), m.get("values") or []) for m in reply.get("matches", [])]
        return QueryResult(matches, reply.get("namespace") or "")

    def describe_index_stats(self) -> IndexStats:
        reply = self._post("/describe_index_stats", {})
        namespaces = {name: NamespaceStats(int(ns.get("vectorCount", 0))) for name, ns in (reply.get("namespaces") or {}).items()}
        return IndexStats(int(reply.get("totalVectorCount", 0)), namespaces)

    def _post(self, route: str, body: dict[str, Any]) -> dict[str, Any]:
        import urllib3

        url = self._base + route
        try:
            reply = self._http.request("POST", url, body=json.dumps(body).encode(), headers=self._headers)
        except urllib3.exceptions.HTTPError as exc:  # refused, reset, timed out: a ConnectionError, which is retried
            raise ConnectionError(f"Pinecone {url}: {exc}") from exc
        if reply.status != 200:
            raise PineconeHTTPError(reply.status, url, reply.data[:500].decode("utf-8", "replace"))
        return json.loads(reply.data)
