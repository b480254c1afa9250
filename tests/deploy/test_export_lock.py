"""The lock file's package selection and its failure, and DynamoDB's item-size rules the cost model applies."""

from decimal import Decimal

import pytest

from workbench.deploy.lock import kept, lock
from workbench.errors import LockError
from workbench.lab.aws_usage import item_size, read_units, wire, write_units


def _dist(name: str, requires: list[str], requested: bool = False) -> dict:
    return {
        "metadata": {"name": name, "version": "1.0", "requires_dist": requires},
        "requested": requested,
        "download_info": {"url": f"https://files/{name}.whl", "archive_info": {"hashes": {"sha256": "ab" * 32}}},
    }


def test_left_out_packages_take_only_what_nothing_else_needs() -> None:
    report = [
        _dist("tokenizers", ["huggingface-hub>=0.16"], requested=True),
        _dist("onnxruntime", ["packaging", "protobuf", "sympy; extra == 'symbolic'"], requested=True),
        _dist("aws-xray-sdk", ["wrapt", "botocore>=1.11"], requested=True),
        _dist(
            "huggingface_hub", ["packaging", "fsspec", "hf-xet; platform_machine == 'x86_64'", "tomli; python_version < '3.11'"]
        ),
        _dist("fsspec", []),
        _dist("hf-xet", []),
        _dist("tomli", []),
        _dist("packaging", []),
        _dist("protobuf", []),
        _dist("sympy", []),
        _dist("wrapt", []),
        _dist("botocore", ["urllib3"]),
        _dist("urllib3", []),
    ]
    names = {p["metadata"]["name"] for p in kept(report, "x86_64")}
    # packaging stays (onnxruntime needs it too); what only huggingface_hub, protobuf or botocore pulled in goes
    assert names == {"tokenizers", "onnxruntime", "aws-xray-sdk", "packaging", "wrapt"}


def test_an_unreachable_index_is_a_clear_error(tmp_path, monkeypatch) -> None:
    for var in ("PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")  # no local mirror: only the index below
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_TIMEOUT", "2")
    with pytest.raises(LockError, match="needs the package index"):
        lock(["tenacity==8.5.0"], cache=tmp_path / "locks")
    assert not (tmp_path / "locks").exists()  # nothing cached from a failure


def test_item_sizes_follow_dynamodbs_rules() -> None:
    size = item_size(wire({"pk": "acme#ü", "n": 12345, "f": Decimal("1.50"), "ok": True, "l": ["ab", 7], "m": {"k": "v"}}))
    # names + values: "acme#ü" 7 bytes; 12345 -> 5 significant digits -> 3 + 1; 1.50 -> "15" -> 1 + 1; a boolean 1;
    # a list 3 + (2 + 1) + (1 + 1 + 1); a map 3 + (1 + 1 + 1)
    assert size == (2 + 7) + (1 + 4) + (1 + 2) + (2 + 1) + (1 + 3 + 3 + 3) + (1 + 3 + 3)
    assert [write_units(0), write_units(1024), write_units(1025), write_units(100, 3000)] == [1, 1, 2, 3]
    assert [read_units(0), read_units(4096), read_units(4097)] == [1, 1, 2]
