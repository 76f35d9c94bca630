"""OCR only where there is text: the text gate's speed on photos and its recall on text images.

`python -m benchmarks.bench_ocr_gate` → `benchmarks/results/ocr_gate.json`. All offline:

* photos without text: the GCompris photographs (Debian ``gcompris-qt-data``) and the
  scikit-image sample photos (its handwriting sample left out);
* text-bearing pictures rendered here with real fonts (DejaVu, Droid Sans Fallback for Chinese):
  plain pages (documents, screenshots), signs pasted on photographs and captions written straight
  onto them, at several font sizes and picture widths; plus the bundled ``bakery-sign.png``.

Recall: for every text picture, the confident OCR blocks ingestion indexes
(``confident_ocr_blocks`` at ``IngestConfig.ocr_line_min_confidence``) with the gate and without;
word recall is the share of the drawn words found in them. "Unchanged" means the gated blocks
equal the ungated ones on every picture. Photos: how many the gate lets through, and what
tesseract reads in them without the gate (junk, mostly).

Speed: ``Library.index`` on one core (the process pinned with ``sched_setaffinity``) over the
photos, with OCR off, with OCR through tesseract on every photo (before), and with the gate,
each in a fresh process with a cold OCR cache and models loaded before timing. Photos per
CPU-second (this process plus the tesseract processes it ran) is what one idle core would do on
this shared machine; photos per wall-second is reported beside it. A sweep over the detector's
resolution shows what each side costs and which text pictures it would lose.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FONTS = {"sans": "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
         "serif": "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf",
         "mono": "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",
         "cjk": "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf"}
WORDS = ("invoice total station museum open daily closed parking exit entrance coffee menu price ticket "
         "garden river north south welcome library bakery bread market platform train delayed summer "
         "sale discount office hours monday friday meeting agenda report project budget").split()
CJK_WORDS = ["今天", "天气", "很好", "出口", "车站", "图书馆", "咖啡", "价格", "欢迎", "营业"]


@dataclass(frozen=True)
class Settings:
    n_speed_photos: int = 60   # photos indexed per timed run
    font_sizes: tuple[int, ...] = (14, 20, 28, 40, 64)
    widths: tuple[int, ...] = (640, 1024, 1600)
    seed: int = 0
    cpu: int = 1               # the core the timed runs are pinned to
    # Detector resolutions compared: (min side, share of the picture's size, max side); scale 0 = flat.
    sweep: tuple[tuple[int, float, int], ...] = ((480, 0.0, 480), (480, 0.5, 960))


def photo_paths() -> list[str]:
    """Photographs without drawn text: GCompris + scikit-image (its handwriting sample left out)."""
    from xmodal.datasets.gcompris import gcompris_photos, load_skimage_photos

    return [p.image for p in gcompris_photos()] + [p.image for p in load_skimage_photos()
                                                   if not p.image.endswith("text.png")]


def _draw_lines(img, lines: list[str], font_path: str, size: int, rng: random.Random, boxed: bool) -> None:
    from PIL import ImageDraw, ImageFont

    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(font_path, size)
    widest = max(draw.textlength(line, font=font) for line in lines)
    x = rng.randint(0, max(0, int(img.width - widest) - 1))
    y = rng.randint(0, max(0, img.height - int(size * 1.4 * len(lines)) - 1))
    for i, line in enumerate(lines):
        at = (x, y + int(i * size * 1.4))
        if boxed:
            left, top, right, bottom = draw.textbbox(at, line, font=font)
            draw.rectangle((left - size // 4, top - size // 4, right + size // 4, bottom + size // 4), fill="white")
            draw.text(at, line, font=font, fill="black")
        else:  # a caption straight on the photo: white letters with a dark outline
            draw.text(at, line, font=font, fill="white", stroke_width=max(1, size // 12), stroke_fill="black")


def text_pictures(photos: list[str], s: Settings) -> list[dict]:
    """Rendered text pictures: {"name", "image" (PIL), "words" (drawn, lower case)}."""
    from PIL import Image

    rng = random.Random(s.seed)
    out = []
    for size in s.font_sizes:
        for width in s.widths:
            for style in ("page", "sign", "caption", "cjk"):
                cjk = style == "cjk"
                n_lines = rng.randint(1, 3)
                if cjk:
                    lines = ["".join(rng.sample(CJK_WORDS, 3)) for _ in range(n_lines)]
                else:
                    lines = [" ".join(rng.sample(WORDS, 3)) for _ in range(n_lines)]
                font = FONTS["cjk"] if cjk else FONTS[rng.choice(["sans", "serif", "mono"])]
                if style in ("page", "cjk"):
                    shade = rng.randint(215, 255)
                    img = Image.new("RGB", (width, width * 3 // 4), (shade, shade, rng.randint(200, 255)))
                else:
                    bg = Image.open(rng.choice(photos)).convert("RGB")
                    img = bg.resize((width, round(width * bg.height / bg.width)))
                _draw_lines(img, lines, font, size, rng, boxed=style == "sign")
                words = [w for line in lines for w in (list(_cjk_words(line)) if cjk else line.split())]
                out.append({"name": f"{style}-{size}px-w{width}", "image": img, "words": words})
    sample = ROOT / "samples" / "media" / "images" / "bakery-sign.png"
    if sample.is_file():
        out.append({"name": "samples/bakery-sign.png", "image": Image.open(sample).convert("RGB"),
                    "words": ["fresh", "bread", "daily", "bakery"]})
    return out


def _cjk_words(line: str):
    i = 0
    while i < len(line):
        for w in sorted(CJK_WORDS, key=len, reverse=True):
            if line.startswith(w, i):
                yield w
                i += len(w)
                break
        else:
            i += 1


def _blocks(images, gate: bool) -> list[list[str]]:
    """What ingestion indexes for each picture, with or without the gate (cold cache each time)."""
    from xmodal.config import CONFIG
    from xmodal.ingest.extract import confident_ocr_blocks
    from xmodal.media import ocr_lines_many

    with tempfile.TemporaryDirectory() as cache:
        previous = {k: os.environ.get(k) for k in ("XMODAL_CACHE", "XMODAL_OCR_GATE")}
        os.environ.update(XMODAL_CACHE=cache, XMODAL_OCR_GATE="1" if gate else "0")
        try:
            lines = ocr_lines_many(images, gate=gate)
        finally:
            for k, v in previous.items():
                os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
    return [confident_ocr_blocks(ln, CONFIG.ingest.ocr_line_min_confidence) for ln in lines]


def _recall(words: list[str], blocks: list[str]) -> float:
    text = " ".join(blocks).lower()
    squeezed = text.replace(" ", "")
    found = sum(1 for w in words if w.lower() in (squeezed if not w.isascii() else text))
    return found / len(words) if words else 0.0


def recall_run(s: Settings) -> dict:
    from PIL import Image

    from xmodal.config import CONFIG
    from xmodal.media.text_gate import TextGate

    photos = photo_paths()
    pictures = text_pictures(photos, s)
    images = [p["image"] for p in pictures]
    before, after = _blocks(images, gate=False), _blocks(images, gate=True)
    rows = []
    for p, b, a in zip(pictures, before, after):
        rows.append({"name": p["name"], "recall_before": round(_recall(p["words"], b), 3),
                     "recall_after": round(_recall(p["words"], a), 3), "same": a == b,
                     "before": " | ".join(b)[:120], "after": " | ".join(a)[:120]})
    photo_images = [Image.open(p).convert("RGB") for p in photos]
    photo_before = _blocks(photo_images, gate=False)
    sweep = []
    default = (CONFIG.media.ocr_gate_side, CONFIG.media.ocr_gate_scale, CONFIG.media.ocr_gate_max_side)
    for side, scale, max_side in s.sweep:  # the detector's resolution: cost against the text it still sees
        gate = TextGate(side=side, scale=scale, max_side=max_side)
        passes = [gate.has_text(img) for img in images]
        gate.has_text(photo_images[0])  # warm
        t0 = time.process_time()
        photo_passes = [gate.has_text(img) for img in photo_images]
        cpu_ms = (time.process_time() - t0) / len(photo_images) * 1000
        lost = [r["name"] for r, ok in zip(rows, passes) if not ok and r["before"]]
        recall = sum(r["recall_before"] for r, ok in zip(rows, passes) if ok) / len(rows)
        is_default = (side, scale, max_side) == default
        sweep.append({"side": side, "scale": scale, "max_side": max_side, "default": is_default,
                      "text_pictures_passed": sum(passes), "read_by_tesseract_but_gated_out": lost,
                      "word_recall": round(recall, 4), "photos_passed": sum(photo_passes),
                      "gate_cpu_ms_per_photo": round(cpu_ms, 1)})
        if is_default:
            photo_rows = [{"photo": Path(path).name, "gate_passes": ok, "tesseract_reads": " | ".join(b)[:120]}
                          for path, ok, b in zip(photos, photo_passes, photo_before)]
    return {
        "text_pictures": len(rows),
        "text_pictures_tesseract_reads": sum(1 for r in rows if r["before"]),
        "word_recall_before": round(sum(r["recall_before"] for r in rows) / len(rows), 4),
        "word_recall_after": round(sum(r["recall_after"] for r in rows) / len(rows), 4),
        "pictures_changed_by_gate": [r["name"] for r in rows if not r["same"]],
        "photos": len(photos),
        "photos_where_tesseract_reads_something": sum(1 for b in photo_before if b),
        "side_sweep": sweep,
        "text_rows": rows,
        "photo_rows": photo_rows,
    }


_SPEED_CHILD = r"""
import json, os, resource, sys, time, shutil, tempfile
os.sched_setaffinity(0, {int(sys.argv[1])})
mode, src, warm = sys.argv[2], sys.argv[3], sys.argv[4]
import xmodal
lib = xmodal.open(tempfile.mkdtemp() + "/lib.xmdb")
ocr = mode != "no-ocr"
lib.index([warm], ocr=ocr, progress=False)        # loads every model before the clock starts
def cpu():  # this process and the tesseract processes it waited for: what one idle core would spend
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
t, c = time.perf_counter(), cpu()
report = lib.index([src], ocr=ocr, progress=False)
dt, dc = time.perf_counter() - t, cpu() - c
n = sum(report.indexed.values())
print("RESULT " + json.dumps({"mode": mode, "photos": n, "wall_s": round(dt, 2), "cpu_s": round(dc, 2),
                              "photos_per_wall_s": round(n / dt, 3), "photos_per_cpu_s": round(n / dc, 3),
                              "failed": len(report.failed)}))
"""


def _speed(mode: str, src: Path, warm: Path, s: Settings) -> dict:
    real_cache = Path(os.environ.get("XMODAL_CACHE", Path.home() / ".cache" / "xmodal"))
    with tempfile.TemporaryDirectory() as cache:
        for keep in ("onnx", "models"):  # exported / joined models are not what is being timed
            if (real_cache / keep).exists():
                os.symlink(real_cache / keep, Path(cache) / keep)
        env = {**os.environ, "XMODAL_CACHE": cache, "XMODAL_OCR_GATE": "1" if mode == "gate" else "0",
               "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
        out = subprocess.run([sys.executable, "-c", _SPEED_CHILD, str(s.cpu), mode, str(src), str(warm)],
                             capture_output=True, text=True, env=env, timeout=3600)
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")]
    if out.returncode != 0 or not line:
        raise RuntimeError(f"speed run {mode} failed: {out.stderr[-2000:]}")
    return json.loads(line[0][7:])


def speed_run(s: Settings) -> dict:
    photos = photo_paths()
    rng = random.Random(s.seed)
    chosen = rng.sample(photos[:-1], min(s.n_speed_photos, len(photos) - 1))
    with tempfile.TemporaryDirectory() as tmp:
        src, warm = Path(tmp) / "photos", Path(tmp) / "warm"
        src.mkdir()
        warm.mkdir()
        for i, p in enumerate(chosen):
            shutil.copy(p, src / f"{i:03d}{Path(p).suffix}")
        shutil.copy(photos[-1], warm / f"warm{Path(photos[-1]).suffix}")
        runs = {mode: _speed(mode, src, warm, s) for mode in ("no-ocr", "tesseract-every-photo", "gate")}
    out: dict = {"runs": runs}
    for unit in ("photos_per_cpu_s", "photos_per_wall_s"):
        base = runs["tesseract-every-photo"][unit]
        out[f"gate_vs_before ({unit})"] = round(runs["gate"][unit] / base, 2)
        out[f"gate_vs_no_ocr ({unit})"] = round(runs["gate"][unit] / runs["no-ocr"][unit], 2)
    return out


def run(results_dir: Path, settings: Settings | None = None) -> dict:
    s = settings or Settings()
    out = {"settings": asdict(s), "load_average_start": os.getloadavg()}
    out["recall"] = recall_run(s)
    out["speed"] = speed_run(s)
    out["load_average_end"] = os.getloadavg()
    return out


if __name__ == "__main__":
    results = ROOT / "benchmarks" / "results"
    only = sys.argv[1] if len(sys.argv) > 1 else "all"
    s = Settings()
    if only == "recall":
        res = {"recall": recall_run(s)}
    elif only == "speed":
        res = {"speed": speed_run(s)}
    else:
        res = run(results, s)
        (results / "ocr_gate.json").write_text(json.dumps(res, indent=2, ensure_ascii=False))
    short = {k: v for k, v in res.get("recall", {}).items() if not k.endswith("_rows")}
    print(json.dumps({"recall": short, "speed": res.get("speed")}, indent=2, ensure_ascii=False))
