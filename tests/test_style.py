"""The code as ruff's linter wants it (settings in pyproject.toml), and modules small enough to read, checked with
every run of the suite."""

import shutil
import subprocess
import sys
from pathlib import Path

from conftest import ROOT


def test_ruff_lint_passes() -> None:
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    assert ruff, "ruff is not installed: `pip install -e '.[dev]'` (make test does it)"
    proc = subprocess.run([ruff, "check", "--no-cache", "."], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-1000:]


def test_no_module_is_over_300_lines() -> None:
    """Small modules with names that say what they hold (the project's style guide)."""
    long = {
        str(p.relative_to(ROOT)): n for p in (ROOT / "workbench").rglob("*.py") if (n := len(p.read_text().splitlines())) > 300
    }
    assert not long, f"split these modules: {long}"
