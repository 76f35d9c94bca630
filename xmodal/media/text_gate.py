"""Is there text in this picture? A cheap answer, asked before paying for tesseract.

Most photos hold no text, yet tesseract costs about a second per picture (mostly loading its
language models) and reads junk ("Bt", "| a |") into textures. The gate runs RapidOCR's text
*detection* network (PP-OCRv4 det, ~5 MB of ONNX shipped inside ``rapidocr-onnxruntime``) on a
small copy of the picture: a probability map of "text pixels". Regions that stand out are then
checked by RapidOCR's recognition network on crops of the full-size picture, because the detector
also fires on fur, feathers and foliage; a picture passes when any region reads as at least one
confident character. Both networks run on one thread, in this process.

Settings (``MediaConfig.ocr_gate*``) were chosen on rendered text and on photos, measured in
``benchmarks/bench_ocr_gate.py``: text that tesseract reads is passed, and most photos without
text are not.
"""
from __future__ import annotations

import functools
import threading
from pathlib import Path

from xmodal._optional import require
from xmodal.config import MediaConfig

__all__ = ["gate_available", "TextGate", "text_gate"]

_EXTRA, _PACKAGE = "media", "rapidocr-onnxruntime"


def gate_available() -> bool:
    """Whether the detection model can run here (``rapidocr-onnxruntime`` installed)."""
    try:
        _models_dir()
    except Exception:  # noqa: BLE001 - any import failure means "no gate": OCR everything
        return False
    return True


@functools.lru_cache(maxsize=1)
def _models_dir() -> Path:
    rapidocr = require("rapidocr_onnxruntime", _EXTRA, _PACKAGE)
    folder = Path(rapidocr.__file__).parent
    if not (folder / "models" / "ch_PP-OCRv4_det_infer.onnx").is_file():
        raise FileNotFoundError(f"{folder}/models has no PP-OCRv4 detection model")
    return folder


class TextGate:
    """``has_text(image)``: the detector's map, then recognition of the strongest regions."""

    def __init__(self, side: int | None = None, scale: float | None = None, max_side: int | None = None,
                 settings: MediaConfig | None = None):
        cfg = self.settings = settings or MediaConfig()  # thresholds (MediaConfig.ocr_gate*)
        self.side = int(side or cfg.ocr_gate_side)
        self.scale = cfg.ocr_gate_scale if scale is None else float(scale)
        self.max_side = int(max_side or cfg.ocr_gate_max_side)
        folder = _models_dir()
        ort = require("onnxruntime", _EXTRA, "onnxruntime")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1  # ingest runs one worker per core; the gate must not fight it
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        self._det = ort.InferenceSession(str(folder / "models" / "ch_PP-OCRv4_det_infer.onnx"), opts,
                                         providers=["CPUExecutionProvider"])
        self._input = self._det.get_inputs()[0].name
        rec_module = require("rapidocr_onnxruntime.ch_ppocr_rec", _EXTRA, _PACKAGE)
        self._rec = rec_module.TextRecognizer({
            "model_path": str(folder / "models" / "ch_PP-OCRv4_rec_infer.onnx"),
            "rec_img_shape": [3, 48, 320], "rec_batch_num": cfg.ocr_gate_max_regions,
            "intra_op_num_threads": 1, "inter_op_num_threads": 1, "use_cuda": False, "use_dml": False})
        self._lock = threading.Lock()  # ONNX sessions are thread-safe, the recogniser's state is not

    def regions(self, image) -> list[tuple[int, int, int, int, float]]:
        """Candidate text regions (left, top, right, bottom in the picture's pixels, mean score),
        strongest first: connected areas of the map above the pixel threshold whose mean score
        reaches ``ocr_gate_min_score``."""
        import cv2
        import numpy as np
        from PIL import Image

        cfg = self.settings
        img = image.convert("RGB")
        longest = max(img.size)
        # Small print must stay a few pixels tall for the detector: big pictures are looked at
        # with more pixels (``ocr_gate_scale`` of their size), within [side, max_side].
        scale = min(self.max_side, max(self.side, self.scale * longest)) / longest
        w = max(32, round(img.width * scale / 32) * 32)  # the network wants multiples of 32
        h = max(32, round(img.height * scale / 32) * 32)
        small = img.resize((w, h), Image.BILINEAR, reducing_gap=2.0)
        small = np.asarray(small, dtype=np.float32)[:, :, ::-1]  # BGR, as the network was trained
        x = ((small / 255.0 - 0.5) / 0.5).transpose(2, 0, 1)[None]
        prob = self._det.run(None, {self._input: np.ascontiguousarray(x)})[0][0, 0]
        mask = (prob > cfg.ocr_gate_pixel_threshold).astype(np.uint8)
        n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        sums = np.bincount(labels.ravel(), weights=prob.ravel(), minlength=n)
        found = []
        sx, sy = img.width / w, img.height / h
        for i in range(1, n):
            left, top, cw, ch, area = (int(v) for v in stats[i])
            if min(cw, ch) < 2:
                continue
            score = float(sums[i] / area)
            if score < cfg.ocr_gate_min_score:
                continue
            # DB maps shrink text to its core: grow the box back (RapidOCR's unclip, ratio 1.6).
            grow = area * 1.6 / (2 * (cw + ch))
            found.append((max(0, int((left - grow) * sx)), max(0, int((top - grow) * sy)),
                          min(img.width, int((left + cw + grow) * sx) + 1),
                          min(img.height, int((top + ch + grow) * sy) + 1), score, area))
        found.sort(key=lambda r: -r[4] * r[5])
        return [r[:5] for r in found]

    def read_regions(self, image, regions) -> list[tuple[str, float]]:
        """What the recogniser reads in each region (text, confidence 0..1)."""
        import numpy as np

        bgr = np.asarray(image.convert("RGB"))[:, :, ::-1]
        crops = [np.ascontiguousarray(bgr[t:b, l:r]) for l, t, r, b, _ in regions]
        crops = [c for c in crops if c.shape[0] >= 2 and c.shape[1] >= 2]
        if not crops:
            return []
        with self._lock:
            results, _ = self._rec(crops)
        return [(str(text), float(conf)) for text, conf in results]

    def has_text(self, image) -> bool:
        """True when any of the strongest regions reads as a confident letter, digit or ideograph."""
        cfg = self.settings
        regions = self.regions(image)[: cfg.ocr_gate_max_regions]
        if not regions:
            return False
        for text, conf in self.read_regions(image, regions):
            if conf >= cfg.ocr_gate_min_confidence and any(ch.isalnum() for ch in text):
                return True
        return False


@functools.lru_cache(maxsize=4)
def text_gate(settings: MediaConfig | None = None) -> TextGate:
    """One gate per process and settings (loading the two networks costs ~0.2 s)."""
    return TextGate(settings=settings or MediaConfig())
