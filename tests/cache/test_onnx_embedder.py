"""The ONNX Runtime embedder against sentence-transformers on torch: the file is built from the
packaged weights by the export command, its vectors match torch's, and the cache decides the
same on eval pairs (docs/CACHE.md, "Embedder backends", for the full measurement)."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import numpy as np
import pytest

from reference_service.cache.embedder import Embedder, EmbedderError, load_embedder, model_dir
from reference_service.cache.evaluate import load_pairs, run_pairs
from reference_service.cache.onnx_embedder import (
    OnnxEmbedder,
    ensure_onnx,
    export_onnx,
    onnx_path,
)

ROOT = Path(__file__).parents[2]
TEXTS = [
    "Is the H100 faster than the A100?",
    "Is the A100 faster than the H100?",
    "What does CXL stand for?",
    "How do I see which BGP peers are up on a router running FRR, and why would one be idle?",
    "x",
    "",
]


@pytest.fixture(scope="session")
def onnx_dir(tmp_path_factory) -> Path:
    """Both variants, built once: fp32 by the command the service runs when the file is
    absent (a child process), int8 in this process."""
    directory = tmp_path_factory.mktemp("onnx")
    ensure_onnx(directory, "fp32")
    export_onnx(directory, "int8")
    return directory


@pytest.fixture(scope="session")
def torch_embedder() -> Embedder:
    return Embedder()


def test_the_export_command_writes_each_variant_named_by_the_weights(onnx_dir):
    fp32, int8 = onnx_path(onnx_dir, "fp32"), onnx_path(onnx_dir, "int8")
    assert fp32.exists() and int8.exists()
    assert "53aa51172d142c89" in fp32.name
    # int8 weights: a quarter of the size, give or take the graph
    assert int8.stat().st_size < fp32.stat().st_size / 3
    assert [p.name for p in onnx_dir.iterdir() if p.is_dir()] == []  # no temporary left behind
    assert ensure_onnx(onnx_dir, "fp32") == fp32  # present: not rebuilt


def test_fp32_vectors_are_torchs(onnx_dir, torch_embedder):
    onnx = OnnxEmbedder(onnx_path(onnx_dir, "fp32"))
    ref = torch_embedder.embed(TEXTS)
    batch, single = onnx.embed(TEXTS), np.stack([onnx.embed_one(t) for t in TEXTS])
    assert batch.dtype == np.float32 and batch.shape == (len(TEXTS), 384)
    assert np.allclose(np.linalg.norm(batch, axis=1), 1, atol=1e-5)
    # measured: max |cosine difference| 3e-7 over the eval pairs; padding in a batch
    # changes nothing
    assert (batch * ref).sum(1).min() > 0.9999
    assert (single * ref).sum(1).min() > 0.9999


def test_int8_vectors_are_close_but_not_the_same(onnx_dir, torch_embedder):
    onnx = OnnxEmbedder(onnx_path(onnx_dir, "int8"))
    cosines = (onnx.embed(TEXTS) * torch_embedder.embed(TEXTS)).sum(1)
    # measured: 0.982 at worst over the 2,122 texts of the eval files, 0.994 on average
    assert cosines.min() > 0.97
    assert cosines.min() < 0.9999  # quantization does change them: why it is not the default


def test_fp32_makes_the_same_cache_decisions_as_torch(onnx_dir, torch_embedder):
    pairs = load_pairs(ROOT / "data/cache_pairs_topics.jsonl", "test")
    onnx = OnnxEmbedder(onnx_path(onnx_dir, "fp32"))
    ref = asyncio.run(run_pairs(pairs, torch_embedder, 0.93))
    got = asyncio.run(run_pairs(pairs, onnx, 0.93))
    assert [o.hit for o in got] == [o.hit for o in ref]
    assert sum(o.hit for o in ref) > 10  # the sample has hits to lose
    for a, b in zip(got, ref, strict=True):
        assert (a.similarity is None) == (b.similarity is None)
        if a.similarity is not None:
            assert abs(a.similarity - b.similarity) < 1e-5


async def test_aembed_one_and_the_loader(onnx_dir):
    embedder = load_embedder("onnx", onnx_dir)
    assert isinstance(embedder, OnnxEmbedder)
    v = await embedder.aembed_one("What is BGP?")
    assert v.shape == (384,) and abs(float(v @ v) - 1) < 1e-5


def test_other_weights_are_refused_before_any_export(tmp_path):
    copy = tmp_path / "model"
    shutil.copytree(model_dir(), copy)
    with (copy / "model.safetensors").open("r+b") as f:
        f.write(b"\0")
    with pytest.raises(EmbedderError, match="sha256"):
        export_onnx(tmp_path / "out", "fp32", model_path=copy)
    assert not (tmp_path / "out").exists()


def test_a_failed_build_is_a_clear_startup_error(tmp_path):
    target_dir = tmp_path / "ro"
    target_dir.write_text("a file where the directory should be")
    with pytest.raises(EmbedderError, match="could not build"):
        ensure_onnx(target_dir, "fp32")


def test_a_damaged_file_is_a_clear_startup_error(onnx_dir, tmp_path):
    damaged = tmp_path / onnx_path(onnx_dir, "fp32").name
    damaged.write_bytes(onnx_path(onnx_dir, "fp32").read_bytes()[:100_000])
    with pytest.raises(EmbedderError, match="delete it"):
        OnnxEmbedder(damaged)


@pytest.mark.parametrize("force", [False, True])
def test_the_export_command_keeps_a_file_already_built_unless_forced(
    tmp_path, monkeypatch, capsys, force
):
    """`make setup` runs the command after every reinstall: a file named by these weights is
    already the one it would build (a rebuild is ~10 s)."""
    from reference_service.cache import __main__ as cli
    from reference_service.cache import onnx_embedder

    built = []
    monkeypatch.setattr(
        onnx_embedder, "export_onnx", lambda d, v: built.append((d, v)) or onnx_path(d, v)
    )
    target = onnx_path(tmp_path, "fp32")
    target.write_bytes(b"built before")
    argv = ["prog", "export-onnx", "--dir", str(tmp_path)] + (["--force"] if force else [])
    monkeypatch.setattr("sys.argv", argv)
    cli.main()
    assert built == ([(tmp_path, "fp32")] if force else [])
    assert capsys.readouterr().out == f"{target}\n"  # the path alone, as when it builds
    target.unlink()  # absent: built, forced or not
    monkeypatch.setattr("sys.argv", argv[:4])
    cli.main()
    assert built[-1] == (tmp_path, "fp32")
