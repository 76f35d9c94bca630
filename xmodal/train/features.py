"""Tower outputs computed once and kept on disk, memory-mapped, keyed by content.

Image features are the slow part of training (a forward pass of EfficientNet per view), text
features of a multilingual corpus the second slowest; both are frozen, so every training run,
evaluation and hyper-parameter sweep reuses the same rows. A store is an append-only float32
file plus a key index: a crash loses at most the rows after the last flushed index line, and
new data (another data set, another augmentation) only computes what is missing.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from xmodal.config import EncoderConfig, TrainConfig, cache_dir
from xmodal.errors import MediaError, StorageError
from xmodal._optional import require
from xmodal.encoders.towers import IMAGE_FEATURE_DIM, image_tower
from xmodal.encoders.towers import TEXT_FEATURE_DIM, text_tower
from xmodal.media.images import load_image
from xmodal.progress import progress

# Augmented views of an image: each is one cached feature row, so training sees several
# versions of every image without paying for the forward pass more than once per view.
VIEWS = ("orig", "flip", "crop")
RASTER_TIMEOUT_S = 60  # an SVG that takes longer is treated as undecodable


class FeatureStore:
    """Rows of ``dim`` float32 values addressed by string keys; appendable, memory-mapped reads."""

    def __init__(self, folder: str | Path, dim: int) -> None:
        self.folder = Path(folder)
        self.dim = int(dim)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._data = self.folder / "rows.f32"
        self._index = self.folder / "keys.jsonl"
        meta = self.folder / "meta.json"
        if meta.exists():
            stored = json.loads(meta.read_text())
            if stored.get("dim") != self.dim:
                raise StorageError(f"feature store {str(self.folder)!r} holds {stored.get('dim')}-d rows, asked for {self.dim}")
        else:
            meta.write_text(json.dumps({"dim": self.dim}))
        self._rows: dict[str, int] = {}
        self._load_index()

    def _load_index(self) -> None:
        """Map keys to rows over the consistent prefix (rows that have both data and an index line)."""
        n_rows = (self._data.stat().st_size // (4 * self.dim)) if self._data.exists() else 0
        self._rows = {}
        lines: list[str] = []
        if self._index.exists():
            with self._index.open(encoding="utf-8") as fh:
                for line in fh:
                    if len(lines) >= n_rows or not line.endswith("\n"):
                        break
                    lines.append(line)
        for i, line in enumerate(lines):
            self._rows[json.loads(line)] = i  # a key written twice resolves to its latest row
        self._n = len(lines)

    def _repair(self) -> None:
        """Cut data and index back to their common prefix, so the next append lines up again."""
        self._load_index()
        if self._data.exists() and self._data.stat().st_size != self._n * 4 * self.dim:
            with self._data.open("r+b") as fh:
                fh.truncate(self._n * 4 * self.dim)
        if self._index.exists():
            with self._index.open(encoding="utf-8") as fh:
                lines = fh.readlines()
            if len(lines) != self._n:
                self._index.write_text("".join(lines[:self._n]), encoding="utf-8")

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, key: str) -> bool:
        return key in self._rows

    def missing(self, keys: Sequence[str]) -> list[str]:
        seen: set[str] = set()
        out = []
        for k in keys:
            if k not in self._rows and k not in seen:
                seen.add(k)
                out.append(k)
        return out

    def add(self, keys: Sequence[str], rows: np.ndarray) -> None:
        """Append rows under an exclusive file lock, so concurrent runs sharing a cache stay consistent."""
        import fcntl

        rows = np.ascontiguousarray(rows, dtype=np.float32)
        if rows.shape != (len(keys), self.dim):
            raise StorageError(f"feature store {self.folder.name!r}: got rows {rows.shape} for {len(keys)} keys of dim {self.dim}")
        with (self.folder / "lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self._repair()  # picks up rows other processes appended meanwhile
            with self._data.open("ab") as fh:
                fh.write(rows.tobytes())
                fh.flush()
                os.fsync(fh.fileno())
            with self._index.open("a", encoding="utf-8") as fh:
                for k in keys:
                    self._rows[k] = self._n
                    self._n += 1
                    fh.write(json.dumps(k, ensure_ascii=False) + "\n")

    def get(self, keys: Sequence[str]) -> np.ndarray:
        """Rows for ``keys`` (a copy, in order), read through a memory map."""
        if not keys:
            return np.zeros((0, self.dim), np.float32)
        absent = [k for k in keys if k not in self._rows]
        if absent:
            raise StorageError(f"feature store {self.folder.name!r} lacks {len(absent)} key(s), e.g. {absent[0]!r}")
        mm = np.memmap(self._data, dtype=np.float32, mode="r", shape=(self._n, self.dim))
        return np.array(mm[[self._rows[k] for k in keys]])

    def ensure(self, keys: Sequence[str], compute: Callable[[list[str]], np.ndarray], batch: int,
               label: str = "features", show_progress: bool | None = None) -> np.ndarray:
        """Compute the missing rows in batches (flushed as they come, with a progress bar), return all."""
        todo = self.missing(keys)
        if todo:
            with progress(show_progress) as p:
                task = p.add_task(label, total=len(todo))
                for i in range(0, len(todo), batch):
                    chunk = todo[i:i + batch]
                    self.add(chunk, compute(chunk))
                    p.advance(task, len(chunk))
        return self.get(list(keys))


def store_root() -> Path:
    return cache_dir() / "features"


def _file_key(path: str) -> str:
    st = Path(path).stat()
    return f"{Path(path).resolve()}|{st.st_size}|{st.st_mtime_ns}"


def image_view_key(path: str, view: str) -> str:
    return f"{_file_key(path)}|{view}"


def apply_view(image, view: str, crop_margin: float = TrainConfig.crop_margin):
    """An augmented copy of a decoded image: flipped, or a central crop (zoom) of it that cuts
    ``crop_margin`` of each side away."""
    from PIL import Image

    if view == "orig":
        return image
    if view == "flip":
        return image.transpose(Image.FLIP_LEFT_RIGHT)
    if view == "crop":
        w, h = image.size
        dx, dy = round(w * crop_margin), round(h * crop_margin)
        return image.crop((dx, dy, w - dx, h - dy))
    raise ValueError(f"unknown view {view!r}; known: {VIEWS}")



def _is_svg(path: str) -> bool:
    return path.lower().endswith((".svg", ".svgz"))


def _decode(path: str, fast_svg: bool, raster_size: int = TrainConfig.raster_size):
    """Decoded RGB image. ``fast_svg=False``: exactly what the encoders see at inference
    (:func:`load_image`). ``fast_svg=True`` (training-only clip art): rasterised ``raster_size``
    pixels wide with librsvg and cached as PNG."""
    if not _is_svg(path) or not fast_svg:
        return load_image(path)
    cached = cache_dir() / "rasters" / (hashlib.sha1(_file_key(path).encode()).hexdigest() + ".png")
    if cached.exists():
        return load_image(cached)
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(".tmp.png")
    # Rendered straight at the training size: some clip art declares canvases of 10k+ pixels, which
    # rendering at native size first (as load_image does) turns into minutes per file. librsvg's
    # rsvg-convert (C) is ~5x faster than cairosvg (Python) on clip art; cairosvg is the fallback.
    size = raster_size
    tool = shutil.which("rsvg-convert")
    try:
        if tool:
            done = subprocess.run([tool, "-w", str(size), str(path), "-o", str(tmp)], capture_output=True,
                                  timeout=RASTER_TIMEOUT_S)
            if done.returncode != 0:
                raise MediaError(f"{path}: cannot rasterise SVG ({done.stderr.decode(errors='replace').strip()[:200]})")
        else:
            require("cairosvg", "media").svg2png(url=str(path), write_to=str(tmp), output_width=size)
        img = load_image(tmp)
    except MediaError:
        raise
    except Exception as exc:  # cairosvg raises many unrelated types on bad XML; rsvg may time out
        raise MediaError(f"{path}: cannot rasterise SVG ({type(exc).__name__}: {exc})") from exc
    tmp.replace(cached)
    return img


_FINGERPRINT: str | None = None
PROBE_SIZE = (320, 240)


def image_tower_fingerprint() -> str:
    """A digest of what the image tower outputs for a fixed synthetic picture.

    Cached features are only valid for the exact preprocessing + network that made them; hashing
    behaviour (not source files) notices any change to resizing, normalisation or weights, and
    nothing else, so edits elsewhere never invalidate hours of cached features.
    """
    global _FINGERPRINT
    if _FINGERPRINT is None:
        from PIL import Image

        w, h = PROBE_SIZE
        y, x = np.mgrid[0:h, 0:w]
        probe = np.stack([x * 255 // w, y * 255 // h, (x * y) % 256], axis=2).astype(np.uint8)
        f, _ = image_tower().features_and_logits([Image.fromarray(probe)])
        _FINGERPRINT = hashlib.sha1(np.round(f, 2).astype(np.float32).tobytes()).hexdigest()[:12]
    return _FINGERPRINT


def image_features(paths: Sequence[str], views: Sequence[str] = ("orig",),
                   show_progress: bool | None = None, fast_svg: bool = False,
                   batch_size: int = TrainConfig.feature_batch_size) -> tuple[np.ndarray, np.ndarray]:
    """(features (n·v, 1280), logits (n·v, 1000)) for every path × view, row order path-major,
    computed ``batch_size`` images at a time.

    Images that cannot be decoded (:class:`MediaError`) get NaN rows: callers drop them. Cached under
    ``$XMODAL_CACHE/features/efficientnet-lite0*``; a changed file (size or mtime) is recomputed.
    """
    fp = image_tower_fingerprint()
    feats = FeatureStore(store_root() / f"efficientnet-lite0-{fp}", IMAGE_FEATURE_DIM)
    logit_store = FeatureStore(store_root() / f"efficientnet-lite0-{fp}-logits", len(image_tower().classes))
    def key(p: str, v: str) -> str:
        # SVG rows remember how they were rasterised: the two renderers differ slightly.
        return image_view_key(p, v) + ("|rsvg" if fast_svg and _is_svg(p) else "")

    keys = [key(p, v) for p in paths for v in views]
    by_key = {key(p, v): (p, v) for p in paths for v in views}

    def compute(chunk: list[str]) -> np.ndarray:
        images, ok, decoded = [], [], {}
        for k in chunk:
            path, view = by_key[k]
            try:
                if path not in decoded:
                    decoded[path] = _decode(path, fast_svg)
                images.append(apply_view(decoded[path], view))
                ok.append(True)
            except MediaError:
                ok.append(False)  # stored as NaN rows so the failure is not retried on every run
        f = np.full((len(chunk), IMAGE_FEATURE_DIM), np.nan, np.float32)
        lg = np.full((len(chunk), logit_store.dim), np.nan, np.float32)
        if images:
            f[np.array(ok)], lg[np.array(ok)] = image_tower().features_and_logits(images)
        logit_store.add(chunk, lg)
        return f

    # Logits are written alongside features; a store that lost sync is recomputed for those keys.
    stale = [k for k in keys if k in feats and k not in logit_store]
    if stale:
        compute(stale)
    f = feats.ensure(keys, compute, batch_size, "images", show_progress)
    return f, logit_store.get(keys)


def text_features(texts: Sequence[str], tower: str, mode: str = "query", show_progress: bool | None = None,
                  batch_size: int = EncoderConfig.text_batch_size * 4) -> np.ndarray:
    """(n, 384) L2-normalised text-tower features, cached per tower and mode, ``batch_size`` texts at a time."""
    store = FeatureStore(store_root() / f"text-{tower}-{mode}", TEXT_FEATURE_DIM)
    keys = [hashlib.sha1(t.encode("utf-8")).hexdigest() for t in texts]
    by_key = dict(zip(keys, texts))

    def compute(chunk: list[str]) -> np.ndarray:
        return text_tower(tower).features([by_key[k] for k in chunk], mode=mode)

    return store.ensure(keys, compute, batch_size, "texts", show_progress)
