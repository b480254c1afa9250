"""TEST DOUBLE: a Pinecone data plane served on loopback, so the real `pinecone` SDK is exercised on the wire.

Implements upsert, query, fetch, delete and describe_index_stats with exact search, namespaces, and Pinecone's
filter semantics (the workbench's reference evaluator, checked against Chroma in tests/test_filters_backends.py).
Documented Pinecone behaviour it enforces (https://docs.pinecone.io/reference/api/database-limits and
known-limitations): the `Api-Key` header must be the index's key (401 otherwise); metadata at most 40 KB per record;
sparse values at most 1000 non-zero entries, indices and values of equal length, always beside dense values;
sparse-dense queries only on a `dotproduct` index, scored as dense . dense + sparse . sparse (the two dot products
summed); the unnamed namespace is `__default__`. Ties are broken by id (Pinecone leaves their order unspecified).
It is not Pinecone: no ANN, no control plane. With `tls` (a certificate and its key, e.g. from `self_signed`) it
serves HTTPS, as Pinecone does.
"""

from __future__ import annotations

import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np

from workbench.filters import matches

METADATA_LIMIT_BYTES = 40 * 1024
SPARSE_LIMIT = 1000
DEFAULT_NAMESPACE = "__default__"


class PineconeDouble:
    def __init__(
        self, dimension: int, metric: str = "cosine", api_key: str = "pc-test-key", tls: tuple[Path, Path] | None = None
    ) -> None:
        self.dimension, self.metric, self.api_key = dimension, metric, api_key
        self.namespaces: dict[str, dict[str, dict]] = {}
        self.requests: list[str] = []
        self.posted: list[tuple[str, str | None, dict]] = []  # (route, API version header, body) of each POST
        self._lock = threading.Lock()
        double = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # connections kept alive, as Pinecone keeps them

            def _reply(self, body: dict, status: int = 200) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _authorised(self) -> bool:
                if self.headers.get("Api-Key") == double.api_key:
                    return True
                self._reply({"code": 16, "message": "Invalid API Key", "details": []}, 401)
                return False

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                route = urlparse(self.path).path
                double.requests.append(route)
                double.posted.append((route, self.headers.get("X-Pinecone-Api-Version"), body))
                if not self._authorised():
                    return
                handler = {
                    "/vectors/upsert": double.upsert,
                    "/query": double.query,
                    "/vectors/delete": double.delete,
                    "/describe_index_stats": double.stats,
                }.get(route)
                if handler is None:
                    return self._reply({"error": f"no route {route}"}, 404)
                try:
                    self._reply(handler(body))
                except ValueError as exc:
                    self._reply({"error": {"code": "INVALID_ARGUMENT", "message": str(exc)}}, 400)

            def do_GET(self) -> None:  # noqa: N802
                url = urlparse(self.path)
                double.requests.append(url.path)
                if not self._authorised():
                    return
                if url.path == "/vectors/fetch":
                    q = parse_qs(url.query)
                    return self._reply(double.fetch(q.get("ids", []), _namespace(q.get("namespace", [""])[0])))
                if url.path == "/describe_index_stats":
                    return self._reply(double.stats({}))
                self._reply({"error": "not found"}, 404)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.host = f"{'https' if tls else 'http'}://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()

    def upsert(self, body: dict) -> dict:
        for v in body["vectors"]:
            _check_record(v, self.dimension)
        ns = self.namespaces.setdefault(_namespace(body.get("namespace")), {})
        with self._lock:
            for v in body["vectors"]:
                sparse = v.get("sparseValues") or v.get("sparse_values")
                ns[v["id"]] = {
                    "id": v["id"],
                    "values": v["values"],
                    "metadata": v.get("metadata", {}),
                    **({"sparseValues": sparse} if sparse else {}),
                }
        return {"upsertedCount": len(body["vectors"])}

    def query(self, body: dict) -> dict:
        namespace = _namespace(body.get("namespace"))
        ns = self.namespaces.get(namespace, {})
        q = np.asarray(body["vector"], dtype=np.float64)
        sparse_q = body.get("sparseVector") or body.get("sparse_vector")
        if sparse_q is not None:
            if self.metric != "dotproduct":
                raise ValueError(
                    f"Index configuration does not support sparse values: metric is {self.metric}, "
                    "sparse-dense queries need dotproduct"
                )
            _check_sparse(sparse_q, "query")
        scored = []
        for rec in ns.values():
            if matches(body.get("filter"), rec["metadata"]):
                v = np.asarray(rec["values"], dtype=np.float64)
                score = float(q @ v / (np.linalg.norm(q) * np.linalg.norm(v))) if self.metric == "cosine" else float(q @ v)
                if sparse_q is not None and "sparseValues" in rec:
                    weights = dict(zip(rec["sparseValues"]["indices"], rec["sparseValues"]["values"]))
                    score += sum(w * weights.get(i, 0.0) for i, w in zip(sparse_q["indices"], sparse_q["values"]))
                scored.append((score, rec))
        scored.sort(key=lambda sr: (-sr[0], sr[1]["id"]))
        top = scored[: body.get("topK", 10)]
        return {
            "namespace": namespace,
            "usage": {"readUnits": 1},
            "matches": [
                {
                    "id": r["id"],
                    "score": s,
                    **({"metadata": r["metadata"]} if body.get("includeMetadata") else {}),
                    **({"values": r["values"]} if body.get("includeValues") else {}),
                    **({"sparseValues": r["sparseValues"]} if body.get("includeValues") and "sparseValues" in r else {}),
                }
                for s, r in top
            ],
        }

    def fetch(self, ids: list[str], namespace: str) -> dict:
        ns = self.namespaces.get(namespace, {})
        return {"namespace": namespace, "vectors": {i: ns[i] for i in ids if i in ns}, "usage": {"readUnits": 1}}

    def delete(self, body: dict) -> dict:
        ns = self.namespaces.get(_namespace(body.get("namespace")), {})
        if body.get("deleteAll"):
            ns.clear()
        for i in body.get("ids", []):
            ns.pop(i, None)
        return {}

    def stats(self, body: dict) -> dict:
        counts = {name: {"vectorCount": len(ns)} for name, ns in self.namespaces.items()}
        return {
            "namespaces": counts,
            "dimension": self.dimension,
            "indexFullness": 0.0,
            "metric": self.metric,
            "totalVectorCount": sum(c["vectorCount"] for c in counts.values()),
        }


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1, valid for a day, and its key: PEM files in `folder`, for a loopback server's TLS
    (its clients trust the certificate itself)."""
    import datetime
    from ipaddress import IPv4Address

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(IPv4Address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


def _namespace(name: str | None) -> str:
    return name or DEFAULT_NAMESPACE


def _check_record(v: dict, dimension: int) -> None:
    if len(v["values"]) != dimension:
        raise ValueError(f"Vector dimension {len(v['values'])} does not match the dimension of the index {dimension}")
    if not any(v["values"]):
        raise ValueError(f"Dense vectors must contain at least one non-zero value (record {v['id']})")
    size = len(json.dumps(v.get("metadata", {}), separators=(",", ":")).encode())
    if size > METADATA_LIMIT_BYTES:
        raise ValueError(
            f"Metadata size is {size} bytes, which exceeds the limit of {METADATA_LIMIT_BYTES} bytes per vector "
            f"(record {v['id']})"
        )
    sparse = v.get("sparseValues") or v.get("sparse_values")
    if sparse is not None:
        _check_sparse(sparse, f"record {v['id']}")


def _check_sparse(sparse: dict, where: str) -> None:
    if len(sparse["indices"]) != len(sparse["values"]):
        raise ValueError(f"Sparse vector indices and values must have the same length ({where})")
    if len(sparse["indices"]) > SPARSE_LIMIT:
        raise ValueError(f"Sparse vector size {len(sparse['indices'])} exceeds the maximum size of {SPARSE_LIMIT} ({where})")
    if any(not 0 <= i < 2**32 for i in sparse["indices"]):
        raise ValueError(f"Sparse vector indices must be unsigned 32-bit integers ({where})")
