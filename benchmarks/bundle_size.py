"""What the bundle's image installs, package by package, with and without the packages the lock leaves out.

    python benchmarks/bundle_size.py [--architecture x86_64|arm64]

Resolves the default config's requirements for the Lambda's platform as `workbench export` does, installs the lock
with `pip install --target` twice (everything pip resolved; the lock as shipped) and sums the files each package wrote.
Needs the package index (PyPI).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path


def installed(lock_text: str, architecture: str) -> dict[str, float]:
    """MB per installed distribution (from its RECORD), plus what no RECORD names (byte-compiled files)."""
    from workbench.deploy.lock import platform_args

    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "requirements.lock").write_text(lock_text)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-deps",
                "--require-hashes",
                *platform_args(architecture),
                "--target",
                f"{tmp}/t",
                "-r",
                f"{tmp}/requirements.lock",
            ],
            check=True,
            capture_output=True,
        )
        root = Path(tmp, "t")
        files = {p.resolve(): p.stat().st_size for p in root.rglob("*") if p.is_file()}
        sizes: dict[str, float] = {}
        for record in root.glob("*.dist-info/RECORD"):
            name = record.parent.name.split("-")[0].lower().replace("_", "-")
            for line in record.read_text().splitlines():
                path = (root / line.split(",")[0]).resolve()
                sizes[name] = sizes.get(name, 0) + files.pop(path, 0) / 1e6
        sizes["(byte-compiled, unrecorded)"] = sum(files.values()) / 1e6
        return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--architecture", choices=["x86_64", "arm64"], default="x86_64")
    args = parser.parse_args()
    from workbench.config import AgentConfig
    from workbench.deploy.bundle import requirements
    from workbench.deploy.lock import lock_text, resolve

    pins = requirements(AgentConfig(deploy={"architecture": args.architecture}))
    report = resolve(pins, args.architecture)
    everything = installed(lock_text(report, pins, args.architecture, left_out=set()), args.architecture)
    shipped = installed(lock_text(report, pins, args.architecture), args.architecture)
    dropped = {k: round(v, 1) for k, v in everything.items() if k not in shipped}
    print(
        json.dumps(
            {
                "installed_mb": {
                    "everything_resolved": round(sum(everything.values()), 1),
                    "lock_as_shipped": round(sum(shipped.values()), 1),
                },
                "left_out_mb": dict(sorted(dropped.items(), key=lambda kv: -kv[1])),
                "largest_shipped_mb": dict(sorted(((k, round(v, 1)) for k, v in shipped.items()), key=lambda kv: -kv[1])[:10]),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
