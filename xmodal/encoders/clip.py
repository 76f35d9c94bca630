"""Bring your own CLIP / SigLIP: ``get_encoder("clip:<local folder or hub id>")``.

Users with a GPU budget or a domain-tuned checkpoint want their own dual encoder; this loads any
transformers CLIP-family checkpoint (CLIPModel, SiglipModel, ... anything with
``get_text_features`` / ``get_image_features``) with its processor, and can run both towers through
ONNX Runtime (exported once, cached) for faster CPU inference.
"""
from __future__ import annotations

import hashlib
import os
import threading
import warnings
from pathlib import Path

import numpy as np

from xmodal._optional import require
from xmodal.config import Config, cache_dir
from xmodal.encoders.base import AUDIO, IMAGE, TEXT, BaseEncoder
from xmodal.encoders.image_backends import ONNX_OPSET, ort_session
from xmodal.encoders.towers import configure_torch_threads
from xmodal.errors import InvalidInput, NotFound

__all__ = ["CLIP_BACKENDS", "ClipEncoder"]

CLIP_BACKENDS = ("torch", "onnx")
# Families whose text tower was trained on fixed-length padded input (padding changes the output).
_PAD_TO_MAX_LENGTH = ("siglip", "siglip2")


def _pooled(out):
    """transformers >= 5 returns a model output; older versions a tensor."""
    return out if hasattr(out, "dim") else out.pooler_output


class ClipEncoder(BaseEncoder):
    modalities = frozenset({TEXT, IMAGE, AUDIO})

    def __init__(self, ref: str, backend: str | None = None, settings: Config | None = None):
        self.use_settings(settings)
        transformers = require("transformers", "clip")
        self.torch = require("torch", "clip")
        configure_torch_threads(self.settings.torch_threads)
        self.ref = ref
        self.name = f"clip:{ref}"
        backend = backend or self.settings.clip_backend
        if backend not in CLIP_BACKENDS:
            raise InvalidInput(f"unknown CLIP backend {backend!r}; choose one of {', '.join(CLIP_BACKENDS)}")
        local = Path(ref).expanduser()
        source = str(local) if local.exists() else ref
        offline = os.environ.get("HF_HUB_OFFLINE") == "1" or local.exists()
        try:
            self.model = transformers.AutoModel.from_pretrained(source, local_files_only=offline).eval()
            self.processor = transformers.AutoProcessor.from_pretrained(source, local_files_only=offline)
        except (OSError, ValueError) as exc:
            where = "folder" if local.exists() else "hub id (not in the local hub cache, or offline)"
            raise NotFound(f"CLIP model {ref!r}: cannot load from this {where}: {exc}") from exc
        if not (hasattr(self.model, "get_text_features") and hasattr(self.model, "get_image_features")):
            raise InvalidInput(f"CLIP model {ref!r}: {type(self.model).__name__} is not a dual text-image "
                               "encoder (no get_text_features / get_image_features)")
        self._tokenizer_lock = threading.Lock()
        self.model_type = getattr(self.model.config, "model_type", "")
        self.tokenizer = getattr(self.processor, "tokenizer", self.processor)
        self.image_processor = getattr(self.processor, "image_processor", self.processor)
        with self.torch.inference_mode():
            self.dim = int(self._torch_text(self._tokenize(["a photo"]))[0].shape[-1])
        self.backend = backend
        self._sessions = None
        if backend == "onnx":
            self._sessions = self._onnx_sessions()

    # -- inputs -----------------------------------------------------------------------------
    def _tokenize(self, texts: list[str]) -> dict:
        kw = {"padding": "max_length"} if self.model_type in _PAD_TO_MAX_LENGTH else {"padding": True}
        max_len = getattr(self.tokenizer, "model_max_length", None)
        most = self.settings.clip_max_tokens
        if not max_len or max_len > most:
            max_len = min(most, getattr(self.model.config.text_config, "max_position_embeddings", most))
        with self._tokenizer_lock:  # fast tokenizers are not safe to call from two threads at once
            enc = self.tokenizer(texts, truncation=True, max_length=max_len, return_tensors="np", **kw)
        return {k: v.astype(np.int64) for k, v in enc.items() if k in ("input_ids", "attention_mask")}

    def _pixels(self, images: list) -> np.ndarray:
        from xmodal.media import load_image

        pil = [load_image(im, settings=self.media_settings) for im in images]
        return np.asarray(self.image_processor(images=pil, return_tensors="np")["pixel_values"], dtype=np.float32)

    # -- torch ------------------------------------------------------------------------------
    def _torch_text(self, enc: dict) -> np.ndarray:
        t = {k: self.torch.from_numpy(v) for k, v in enc.items()}
        with self.torch.inference_mode():
            return _pooled(self.model.get_text_features(**t)).float().numpy()

    def _torch_image(self, pixels: np.ndarray) -> np.ndarray:
        with self.torch.inference_mode():
            return _pooled(self.model.get_image_features(pixel_values=self.torch.from_numpy(pixels))).float().numpy()

    # -- ONNX Runtime -----------------------------------------------------------------------
    def _onnx_dir(self) -> Path:
        src = Path(self.ref).expanduser()
        stamp = self.ref
        if src.exists():
            files = sorted(p for p in src.rglob("*") if p.is_file())
            stamp += "".join(f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files)
        digest = hashlib.sha256(f"{stamp}:{ONNX_OPSET}".encode()).hexdigest()[:16]
        return cache_dir() / "onnx" / f"clip-{digest}"

    def _onnx_sessions(self):
        out_dir = self._onnx_dir()
        text_path, image_path = out_dir / "text.onnx", out_dir / "image.onnx"
        with _EXPORT_LOCK:
            if not (text_path.exists() and image_path.exists()):
                self._export(out_dir, text_path, image_path)
        threads = self.settings.torch_threads
        return ort_session(text_path, threads), ort_session(image_path, threads)

    def _export(self, out_dir: Path, text_path: Path, image_path: Path) -> None:
        torch = self.torch

        class Text(torch.nn.Module):
            def __init__(self, model):
                super().__init__()
                self.model = model  # a submodule, so its weights export as initialisers

            def forward(self, input_ids, attention_mask):
                return _pooled(self.model.get_text_features(input_ids=input_ids, attention_mask=attention_mask))

        class Image(torch.nn.Module):
            def __init__(self, model):
                super().__init__()
                self.model = model

            def forward(self, pixel_values):
                return _pooled(self.model.get_image_features(pixel_values=pixel_values))

        out_dir.mkdir(parents=True, exist_ok=True)
        enc = self._tokenize(["a photo", "two words here"])
        size = self.image_processor.crop_size if hasattr(self.image_processor, "crop_size") and \
            self.image_processor.crop_size else self.image_processor.size
        h = size.get("height") or size.get("shortest_edge")
        w = size.get("width") or size.get("shortest_edge")
        pixels = torch.zeros(1, 3, h, w)
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            for module, args, names, outs, dyn, path in (
                (Text(self.model), (torch.from_numpy(enc["input_ids"]), torch.from_numpy(enc["attention_mask"])),
                 ["input_ids", "attention_mask"], ["embeds"],
                 {"input_ids": {0: "n", 1: "seq"}, "attention_mask": {0: "n", 1: "seq"}, "embeds": {0: "n"}},
                 text_path),
                (Image(self.model), (pixels,), ["pixel_values"], ["embeds"],
                 {"pixel_values": {0: "n"}, "embeds": {0: "n"}}, image_path),
            ):
                tmp = path.with_suffix(f".tmp{os.getpid()}")
                torch.onnx.export(module.eval(), args, str(tmp), input_names=names, output_names=outs,
                                  dynamic_axes=dyn, opset_version=ONNX_OPSET, dynamo=False)
                os.replace(tmp, path)

    # -- Encoder API ------------------------------------------------------------------------
    def _encode_text(self, texts: list[str], mode: str) -> np.ndarray:
        outs = []
        step = self.settings.text_batch_size
        for i in range(0, len(texts), step):
            enc = self._tokenize(texts[i:i + step])
            if self._sessions:
                outs.append(self._sessions[0].run(["embeds"], enc)[0])
            else:
                outs.append(self._torch_text(enc))
        return np.concatenate(outs)

    def _encode_image(self, images: list) -> np.ndarray:
        outs = []
        step = self.settings.image_batch_size
        for i in range(0, len(images), step):
            pixels = self._pixels(images[i:i + step])
            if self._sessions:
                outs.append(self._sessions[1].run(["embeds"], {"pixel_values": pixels})[0])
            else:
                outs.append(self._torch_image(pixels))
        return np.concatenate(outs)


_EXPORT_LOCK = threading.Lock()
