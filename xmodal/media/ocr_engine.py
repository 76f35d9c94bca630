"""Text inside images (screenshots, signs, scanned pages, posters) -> searchable text.

Tesseract (Debian package) is the default engine, with every configured language that is
installed (English + Simplified Chinese here); RapidOCR (pip, ONNX Runtime) is the fallback for
machines without it. ``ocr_lines`` keeps each line's box and confidence, so an answer can point
at where in the picture its evidence is.
"""
from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from xmodal._optional import require, require_tool
from xmodal.config import MediaConfig, cache_dir
from xmodal.errors import InvalidInput, MediaError, MissingDependency
from xmodal.media.images import ImageInput, load_image
from xmodal.media.text_gate import gate_available, text_gate

__all__ = ["TESSERACT_APT", "OCR_CACHE_VERSION", "OcrLine", "tesseract_languages", "ocr_lines_many", "ocr_lines",
           "lines_to_text", "ocr", "ocr_many"]

TESSERACT_APT = "tesseract-ocr tesseract-ocr-eng tesseract-ocr-chi-sim"
OCR_CACHE_VERSION = 2  # bump when the line grouping or cleaning changes


@dataclass(frozen=True)
class OcrLine:
    text: str
    box: tuple[int, int, int, int]  # left, top, right, bottom in the original image's pixels
    confidence: float               # 0..1
    block: int = 0                  # lines of one paragraph share a block number


@functools.lru_cache(maxsize=8)
def tesseract_languages(wanted: tuple[str, ...] = MediaConfig.ocr_languages) -> tuple[str, ...]:
    """The OCR languages ``wanted`` (``MediaConfig.ocr_languages``) that this machine's tesseract has."""
    exe = require_tool("tesseract", TESSERACT_APT)
    out = subprocess.run([exe, "--list-langs"], capture_output=True, text=True, timeout=30)
    installed = {line.strip() for line in (out.stdout + out.stderr).splitlines()[1:]}
    langs = tuple(lang for lang in wanted if lang in installed)
    if not langs:
        raise MissingDependency(f"tesseract has none of the OCR languages {wanted}: "
                                f"apt-get install {TESSERACT_APT}")
    return langs


def _engine(choice: str) -> str:
    """The engine ``choice`` (``MediaConfig.ocr_engine``) names: "auto" prefers tesseract and
    falls back to RapidOCR."""
    if choice == "tesseract":
        require_tool("tesseract", TESSERACT_APT)
        return "tesseract"
    if choice == "rapidocr":
        require("rapidocr_onnxruntime", "ocr-fallback", "rapidocr-onnxruntime")
        return "rapidocr"
    if choice != "auto":
        raise InvalidInput(f"MediaConfig.ocr_engine must be auto, tesseract or rapidocr, not {choice!r}")
    if shutil.which("tesseract"):
        return "tesseract"
    try:
        import rapidocr_onnxruntime  # noqa: F401
    except ImportError:
        raise MissingDependency(f"OCR needs tesseract (apt-get install {TESSERACT_APT}) "
                                "or RapidOCR (pip install 'xmodal[ocr-fallback]')") from None
    return "rapidocr"


def _upscaled(img, settings: MediaConfig):
    """Upscaled when small (tesseract misses letters under ~20 px); returns the scale."""
    from PIL import Image

    scale = 1.0
    longest = max(img.size)
    if longest < settings.ocr_min_side:
        # Bounded: OCR time grows with pixels, and icons blown up 10x gain nothing readable.
        scale = min(settings.ocr_min_side / longest, settings.ocr_max_upscale)
        img = img.resize((round(img.width * scale), round(img.height * scale)), Image.LANCZOS)
    return img, scale


def _run_tesseract(images: list, settings: MediaConfig) -> str:
    """TSV for several pictures from one tesseract process: loading the language models costs
    more than reading a typical picture, so a batch pays it once (pages are numbered 1..n)."""
    exe = require_tool("tesseract", TESSERACT_APT)
    langs = "+".join(tesseract_languages(settings.ocr_languages))
    with tempfile.TemporaryDirectory(prefix="xmodal-ocr-") as tmp:
        paths = []
        for i, img in enumerate(images):
            paths.append(Path(tmp) / f"{i:05d}.png")
            img.save(paths[-1])
        source = paths[0]
        if len(paths) > 1:
            source = Path(tmp) / "list.txt"
            source.write_text("\n".join(str(p) for p in paths) + "\n")
        try:
            out = subprocess.run([exe, str(source), "stdout", "-l", langs, "--psm", "3", "tsv"],
                                 capture_output=True, timeout=settings.ocr_timeout_s * len(paths),
                                 env={**os.environ, "OMP_THREAD_LIMIT": "1"})
        except subprocess.TimeoutExpired as exc:
            raise MediaError(f"OCR took longer than {settings.ocr_timeout_s} s per picture "
                             "(MediaConfig.ocr_timeout_s)") from exc
    if out.returncode != 0:
        raise MediaError(f"tesseract failed: {out.stderr.decode(errors='replace').strip()[:300]}")
    return out.stdout.decode("utf-8", errors="replace")


def _tesseract_lines(prepared: list[tuple], settings: MediaConfig) -> list[list[OcrLine]]:
    """Lines per picture of ``prepared`` [(image, scale)], from one tesseract run."""
    tsv = _run_tesseract([img for img, _ in prepared], settings)
    rows = csv.DictReader(io.StringIO(tsv), delimiter="\t", quoting=csv.QUOTE_NONE)
    lines: dict[tuple, list[dict]] = {}
    for r in rows:
        if r.get("level") != "5" or not (r.get("text") or "").strip():
            continue  # also skips a header line repeated per page
        if float(r["conf"]) < settings.ocr_min_confidence:
            continue
        key = (int(r["page_num"]), int(r["block_num"]), int(r["par_num"]), int(r["line_num"]))
        lines.setdefault(key, []).append(r)
    out: list[list[OcrLine]] = [[] for _ in prepared]
    paragraphs: dict[tuple, int] = {}
    for key in sorted(lines):
        page = key[0] - 1
        if not 0 <= page < len(prepared):
            continue
        scale = prepared[page][1]
        words = lines[key]
        left = min(int(w["left"]) for w in words)
        top = min(int(w["top"]) for w in words)
        right = max(int(w["left"]) + int(w["width"]) for w in words)
        bottom = max(int(w["top"]) + int(w["height"]) for w in words)
        text = _join_words([w["text"].strip() for w in words])
        conf = sum(float(w["conf"]) for w in words) / len(words) / 100.0
        box = tuple(round(v / scale) for v in (left, top, right, bottom))
        if any(ch.isalnum() for ch in text):  # lone punctuation is what texture turns into
            block = paragraphs.setdefault(key[:3], sum(1 for k in paragraphs if k[0] == key[0]))
            out[page].append(OcrLine(text, box, conf, block=block))
    return out


def _join_words(words: list[str]) -> str:
    """Tesseract splits Chinese into one "word" per character: join those without spaces."""
    out = ""
    for w in words:
        if out and not (_is_cjk(out[-1]) and _is_cjk(w[0])):
            out += " "
        out += w
    return out


def _is_cjk(ch: str) -> bool:
    return "\u3040" <= ch <= "\u30ff" or "\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff" \
        or "\u3000" <= ch <= "\u303f" or "\uff00" <= ch <= "\uffef"


def _rapidocr_lines(img, scale: float, min_confidence: float) -> list[OcrLine]:
    """RapidOCR finds text boxes, sometimes several per line: boxes whose vertical centres lie
    within half a box height of each other are joined left to right into one line."""
    import numpy as np

    result, _ = _rapid_engine()(np.asarray(img))
    boxes = []
    for quad, text, conf in result or []:
        if float(conf) * 100 < min_confidence or not str(text).strip():
            continue
        xs, ys = [p[0] for p in quad], [p[1] for p in quad]
        boxes.append((min(xs), min(ys), max(xs), max(ys), str(text).strip(), float(conf)))
    lines: list[list[tuple]] = []
    for b in sorted(boxes, key=lambda b: (b[1] + b[3]) / 2):
        centre, height = (b[1] + b[3]) / 2, b[3] - b[1]
        if lines:
            last = lines[-1][0]
            if abs((last[1] + last[3]) / 2 - centre) < max(height, last[3] - last[1]) / 2:
                lines[-1].append(b)
                continue
        lines.append([b])
    out = []
    for i, line in enumerate(lines):
        line.sort(key=lambda b: b[0])
        box = (min(b[0] for b in line), min(b[1] for b in line), max(b[2] for b in line), max(b[3] for b in line))
        text = _join_words([b[4] for b in line])
        conf = sum(b[5] for b in line) / len(line)
        out.append(OcrLine(text, tuple(round(v / scale) for v in box), conf, block=i))
    return out


@functools.lru_cache(maxsize=1)
def _rapid_engine():
    rapidocr = require("rapidocr_onnxruntime", "ocr-fallback", "rapidocr-onnxruntime")
    return rapidocr.RapidOCR()


def _cache_key(img, engine: str, cfg: MediaConfig, gate: str = "") -> str:
    """Results are keyed by the pixels and every setting that changes them: the same picture seen
    again (ingestion's OCR, then an encoder's; a re-index) is read once. ``gate`` names the gate's
    settings for its "no text here" answers, so a result read without the gate serves both."""
    langs = "+".join(tesseract_languages(cfg.ocr_languages)) if engine == "tesseract" else "rapidocr"
    h = hashlib.sha256(f"{OCR_CACHE_VERSION}|{engine}|{langs}|{cfg.ocr_min_confidence}|{cfg.ocr_min_side}|"
                       f"{cfg.ocr_max_upscale}|{img.size}|{img.mode}|{gate}".encode())
    h.update(img.tobytes())
    return h.hexdigest()


def _gate_label(cfg: MediaConfig) -> str:
    return (f"gate:{cfg.ocr_gate_side}:{cfg.ocr_gate_scale}:{cfg.ocr_gate_max_side}:"
            f"{cfg.ocr_gate_pixel_threshold}:{cfg.ocr_gate_min_score}:"
            f"{cfg.ocr_gate_max_regions}:{cfg.ocr_gate_min_confidence}")


def _cache_file(key: str) -> Path:
    return cache_dir() / "ocr" / key[:2] / f"{key}.json"


def _cache_read(key: str) -> list[OcrLine] | None:
    try:
        rows = json.loads(_cache_file(key).read_text(encoding="utf-8"))
        return [OcrLine(r[0], tuple(r[1]), float(r[2]), int(r[3])) for r in rows]
    except (OSError, ValueError, IndexError, TypeError):
        return None  # absent or damaged: recompute


def _cache_write(key: str, lines: list[OcrLine]) -> None:
    path = _cache_file(key)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps([[ln.text, list(ln.box), ln.confidence, ln.block] for ln in lines]),
                       encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only or full cache only costs speed


def ocr_lines_many(images: Sequence[ImageInput], settings: MediaConfig | None = None,
                   gate: bool | None = None) -> list[list[OcrLine]]:
    """``ocr_lines`` for many pictures at once (one tesseract process per batch of
    ``MediaConfig.ocr_batch_size``): several times faster than one call per picture.
    ``settings``: the engine, languages, thresholds, gate and cache (default ``MediaConfig()``).

    With the text gate (``gate``, default ``MediaConfig.ocr_gate``; needs rapidocr-onnxruntime)
    pictures in which the detector finds no text are not read: their answer is no lines."""
    settings = settings or MediaConfig()
    engine = _engine(settings.ocr_engine)
    use_gate = (settings.ocr_gate if gate is None else gate) and gate_available()
    loaded = [load_image(im, settings=settings) for im in images]  # upright RGB
    results: list[list[OcrLine] | None] = [None] * len(loaded)
    keys: list[str] = [""] * len(loaded)
    gate_keys: list[str] = [""] * len(loaded)
    if settings.ocr_cache:
        for i, img in enumerate(loaded):
            keys[i] = _cache_key(img, engine, settings)
            results[i] = _cache_read(keys[i])
            if results[i] is None and use_gate:
                gate_keys[i] = _cache_key(img, engine, settings, _gate_label(settings))
                results[i] = _cache_read(gate_keys[i])
    todo = [i for i, r in enumerate(results) if r is None]
    if use_gate and todo:
        detector = text_gate(settings)
        for i in list(todo):
            if not detector.has_text(loaded[i]):
                results[i] = []
                if settings.ocr_cache:
                    _cache_write(gate_keys[i], [])
        todo = [i for i in todo if results[i] is None]
    step = max(1, settings.ocr_batch_size)
    for start in range(0, len(todo), step):
        chunk = todo[start:start + step]
        prepared = [_upscaled(loaded[i], settings) for i in chunk]
        if engine == "tesseract":
            found = _tesseract_lines(prepared, settings)
        else:
            found = [_rapidocr_lines(*p, settings.ocr_min_confidence) for p in prepared]
        for i, lines in zip(chunk, found):
            results[i] = lines
            if settings.ocr_cache:
                _cache_write(keys[i], lines)
    return [r or [] for r in results]


def ocr_lines(image: ImageInput, settings: MediaConfig | None = None, gate: bool | None = None) -> list[OcrLine]:
    """Text lines with boxes (original pixel coordinates) and confidences, in reading order."""
    return ocr_lines_many([image], settings, gate=gate)[0]


def lines_to_text(lines: list[OcrLine]) -> str:
    """Lines joined by newlines, paragraphs by blank lines."""
    paragraphs: list[list[str]] = []
    last = None
    for line in lines:
        if line.block != last:
            paragraphs.append([])
            last = line.block
        paragraphs[-1].append(line.text)
    return "\n\n".join("\n".join(p) for p in paragraphs)


def ocr(image: ImageInput, settings: MediaConfig | None = None) -> str:
    """All confidently read text: lines joined by newlines, paragraphs by blank lines ("" when
    the image holds no text)."""
    return lines_to_text(ocr_lines(image, settings))


def ocr_many(images: Sequence[ImageInput], settings: MediaConfig | None = None) -> list[str]:
    """``ocr`` for many pictures, batched (see :func:`ocr_lines_many`)."""
    return [lines_to_text(lines) for lines in ocr_lines_many(images, settings)]
