"""The bundle's hashed lock file, and the size of what its Dockerfile installs, measured by installing it.

`requirements.txt` names what the handler imports, at the versions the workbench evaluated with. pip resolves it
from the package index for the Lambda's platform (CPython 3.12 on Amazon Linux 2023: manylinux up to glibc 2.34,
x86_64 or aarch64), constrained to the versions installed here, so transitive packages too are the ones the tests
ran; `requirements.lock` pins every package with the sha256 of the very wheel resolved, and the Dockerfile installs
it with `--require-hashes --no-deps`. Left out, with what only they pull in: packages the handler never imports
(`UNUSED`) and what the Lambda runtime already holds (`RUNTIME`). The size is what `pip install --target` of the
lock writes, byte-compiled as in the image.

Both need the package index (PyPI, or the one pip is configured with) once per set of requirements and installed
versions; they are cached under ~/.cache/agent-workbench/locks, so a re-export resolves and installs nothing again.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from workbench.errors import LockError

PYTHON = "3.12"
GLIBC_MINORS = range(34, 16, -1)  # Amazon Linux 2023 has glibc 2.34; pip does not expand a manylinux tag downwards
MACHINE = {"x86_64": "x86_64", "arm64": "aarch64"}
# tokenizers requires huggingface_hub to download models from the Hub, onnxruntime protobuf for onnxruntime.backend:
# the handler loads tokenizer.json and model.onnx from disk through InferenceSession.
UNUSED = {"huggingface-hub", "protobuf"}
RUNTIME = {"boto3", "botocore", "s3transfer"}  # in the Lambda's Python runtime (aws-xray-sdk names botocore)
FORMAT = 2  # of the cached entries: a change of the lock's layout re-resolves


def lock(requirements: list[str], architecture: str = "x86_64", cache: Path | None = None) -> tuple[str, float]:
    """(requirements.lock text, installed MB) for `requirements` on the Lambda platform of `architecture`."""
    folder = cache or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "agent-workbench" / "locks"
    key = hashlib.sha256(
        json.dumps([FORMAT, requirements, evaluated_versions(), architecture, PYTHON, sorted(UNUSED | RUNTIME)]).encode()
    ).hexdigest()[:16]
    cached = folder / f"{key}.json"
    if cached.exists():
        entry = json.loads(cached.read_text())
        return entry["lock"], entry["installed_mb"]
    text = lock_text(resolve(requirements, architecture), requirements, architecture)
    entry = {"lock": text, "installed_mb": installed_mb(text, architecture)}
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=folder, delete=False, suffix=".tmp") as tmp:  # atomic: parallel exports
        json.dump(entry, tmp)
    os.replace(tmp.name, cached)
    return entry["lock"], entry["installed_mb"]


def platform_args(architecture: str) -> list[str]:
    machine = MACHINE[architecture]
    return [
        "--only-binary=:all:",
        "--python-version",
        PYTHON,
        "--implementation",
        "cp",
        *(arg for minor in GLIBC_MINORS for arg in ("--platform", f"manylinux_2_{minor}_{machine}")),
    ]


def resolve(requirements: list[str], architecture: str) -> list[dict[str, Any]]:
    """pip's installation report (`install` entries) for the requirements on the target platform, nothing downloaded
    but metadata."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "requirements.txt").write_text("\n".join(requirements) + "\n")
        (Path(tmp) / "evaluated.txt").write_text("\n".join(evaluated_versions()) + "\n")
        _pip(
            [
                "install",
                "--dry-run",
                "--ignore-installed",
                "--quiet",
                "--report",
                f"{tmp}/report.json",
                *platform_args(architecture),
                "--target",
                f"{tmp}/target",
                "-r",
                f"{tmp}/requirements.txt",
                "-c",
                f"{tmp}/evaluated.txt",
            ],
            "resolve",
        )
        return json.loads((Path(tmp) / "report.json").read_text())["install"]


def evaluated_versions() -> list[str]:
    """Every installed distribution at its installed version: transitive packages too resolve to what the tests ran."""
    from importlib import metadata

    pins = {d.metadata["Name"].lower(): d.version for d in metadata.distributions() if d.metadata["Name"]}
    return sorted(f"{name}=={version}" for name, version in pins.items() if "+" not in version)  # no local builds (torch+cpu)


def kept(report: list[dict[str, Any]], architecture: str, left_out: set[str] = UNUSED | RUNTIME) -> list[dict[str, Any]]:
    """The report's packages reachable from the requested ones without passing through `left_out`."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    by_name = {canonicalize_name(p["metadata"]["name"]): p for p in report}
    env = {
        "python_version": PYTHON,
        "python_full_version": f"{PYTHON}.0",
        "platform_machine": MACHINE[architecture],
        "sys_platform": "linux",
        "platform_system": "Linux",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "os_name": "posix",
    }
    excluded = {canonicalize_name(n) for n in left_out}
    todo = [(name, frozenset()) for name, p in by_name.items() if p.get("requested")]
    visited: set[tuple[str, frozenset]] = set()
    while todo:
        name, extras = todo.pop()
        if name in excluded or name not in by_name or (name, extras) in visited:
            continue
        visited.add((name, extras))
        for spec in by_name[name]["metadata"].get("requires_dist") or []:
            req = Requirement(spec)
            if req.marker is None or any(req.marker.evaluate({**env, "extra": e}) for e in (extras or {""})):
                todo.append((canonicalize_name(req.name), frozenset(req.extras)))
    return [p for name, p in by_name.items() if name in {n for n, _ in visited}]


def lock_text(
    report: list[dict[str, Any]], requirements: list[str], architecture: str, left_out: set[str] = UNUSED | RUNTIME
) -> str:
    from packaging.utils import canonicalize_name

    lines = [
        f"# requirements.lock: every package the Dockerfile installs, for CPython {PYTHON} on manylinux "
        f"{MACHINE[architecture]}, with the sha256 of its wheel",
        "# (pip install --require-hashes --no-deps -r requirements.lock).",
        f"# Resolved from: {', '.join(requirements)}.",
        f"# Left out, with what only they pull in: {', '.join(sorted(left_out)) or 'nothing'} (never imported, or in the "
        "Lambda runtime).",
    ]
    for p in sorted(kept(report, architecture, left_out), key=lambda p: canonicalize_name(p["metadata"]["name"])):
        hashes = p["download_info"].get("archive_info", {}).get("hashes", {})
        if "sha256" not in hashes:
            raise LockError(f"{p['metadata']['name']}: the index gave no sha256 for {p['download_info']['url']}")
        lines.append(f"{canonicalize_name(p['metadata']['name'])}=={p['metadata']['version']} --hash=sha256:{hashes['sha256']}")
    return "\n".join(lines) + "\n"


def installed_mb(lock_file_text: str, architecture: str) -> float:
    """MB that `pip install --target` of the lock writes, for the target platform, as the Dockerfile does."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "requirements.lock").write_text(lock_file_text)
        _pip(
            [
                "install",
                "--quiet",
                "--no-deps",
                "--require-hashes",
                *platform_args(architecture),
                "--target",
                f"{tmp}/target",
                "-r",
                f"{tmp}/requirements.lock",
            ],
            "install",
        )
        return round(sum(p.stat().st_size for p in Path(tmp, "target").rglob("*") if p.is_file()) / 1e6, 1)


def _pip(args: list[str], what: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        errors = [line for line in proc.stderr.splitlines() if "WARNING: Location" not in line]
        raise LockError(
            f"pip could not {what} the bundle's requirements (it needs the package index, PyPI by default):\n"
            + "\n".join(errors[-15:])
        )
