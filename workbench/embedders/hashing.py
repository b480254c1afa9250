"""A deterministic feature-hashing embedder, FOR UNIT TESTS ONLY: fast and offline, but no semantics."""

from __future__ import annotations

import hashlib
import re
from typing import Sequence

import numpy as np

from workbench.registry import BuildContext

_TOKEN = re.compile(r"\w+")


class HashingEmbedder:
    def __init__(self, dimension: int = 384) -> None:
        self.dimension = dimension
        self.model_id = f"hashing-{dimension}"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            tokens = _TOKEN.findall(text.lower())
            for feature in tokens + [f"{a} {b}" for a, b in zip(tokens, tokens[1:])]:
                h = int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "little")
                out[row, h % self.dimension] += 1.0 if (h >> 63) else -1.0
            norm = np.linalg.norm(out[row])
            if norm:
                out[row] /= norm
        return out


def build(ctx: BuildContext) -> HashingEmbedder:
    return HashingEmbedder(ctx.own("embedder").dimension)
