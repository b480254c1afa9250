"""What an export checks before it writes a bundle: the template lints, every bundled module imports, and the image
fits Lambda's limit, with its size measured from what the Dockerfile installs."""

from __future__ import annotations

import shutil
import site
import subprocess
import sys
from pathlib import Path
from typing import Any

from workbench.errors import CheckError

UNZIPPED_LIMIT_MB, IMAGE_LIMIT_MB = 250, 10240


def self_checks(bundle: Path, dependencies_mb: float) -> dict[str, Any]:
    """Template lint, import of the runtime and every bundled module, size against Lambda's limits."""
    checks: dict[str, Any] = {"cfn_lint": cfn_lint(bundle / "template.yaml")}
    # Time the runtime's cold import (handler.py adds the agent's build, which needs AWS: see benchmarks/export_handler.py),
    # then import every bundled module: a backend imported lazily must not find a missing file in production.
    probe = (
        "import time, sys, importlib, pkgutil; t = time.perf_counter(); import workbench.serve.lambda_handler as r; "
        "ms = round((time.perf_counter() - t) * 1000, 1); import workbench; "
        "[importlib.import_module(m.name) for m in pkgutil.walk_packages(workbench.__path__, 'workbench.')]; "
        "compile(open('handler.py').read(), 'handler.py', 'exec'); "
        "[getattr(r, n) for n in ('init', 'handler', 'start_handler', 'embed_step', 'retrieve_step', 'reason_step', 'act_step')]; print(ms)"
    )
    env = {"PATH": "/usr/bin:/bin", "WORKBENCH_CONFIG": str(bundle / "config.json"), "AWS_DEFAULT_REGION": "us-east-1"}
    imported = subprocess.run(
        [sys.executable, "-S", "-B", "-c", f"import sys; sys.path[:0] = [{str(bundle)!r}, *{site.getsitepackages()!r}]; {probe}"],
        capture_output=True,
        text=True,
        cwd=bundle,
        env=env,
    )
    if imported.returncode != 0:
        raise CheckError(f"the bundle's runtime does not import:\n{imported.stderr[-2000:]}")
    checks["runtime_import_ms"] = float(imported.stdout.strip().splitlines()[-1])
    bundle_mb = round(sum(p.stat().st_size for p in bundle.rglob("*") if p.is_file()) / 1e6, 1)
    total = round(bundle_mb + dependencies_mb, 1)
    checks["image_mb"] = (
        f"{total} above the base image: {dependencies_mb} MB of packages (pip install --target of "
        f"requirements.lock, measured) + {bundle_mb} MB of bundle (model, code)"
    )
    checks["package"] = (
        "container image (over the zip limit of 250 MB unzipped)"
        if total > UNZIPPED_LIMIT_MB
        else "fits a zip (under 250 MB unzipped); the template still builds an image for the model"
    )
    if total > IMAGE_LIMIT_MB:
        raise CheckError(f"bundle is {total} MB, over Lambda's 10 GB image limit")
    return checks


def cfn_lint(template: Path) -> str:
    found = shutil.which("cfn-lint", path=str(Path(sys.executable).parent)) or shutil.which("cfn-lint")
    if found is None:
        raise CheckError("cfn-lint is not installed; `pip install cfn-lint` (the template is linted before export)")
    lint = subprocess.run([found, str(template)], capture_output=True, text=True)
    if lint.returncode not in (0, 4):  # 4: informational findings only
        raise CheckError(f"{template.name} fails cfn-lint:\n{lint.stdout}{lint.stderr}")
    return "passed"
