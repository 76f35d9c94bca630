"""Ingestion and search, end to end: items/s by kind, a 2,000-image folder, search latency.

Measured on this machine in one run, so ratios compare like with like:
* the bundled demo folder (samples/media) indexed kind by kind with the library's model;
* >= 2,000 real images (Tux Paint stamps + rasterised openclipart drawings), 1 worker vs 2;
* a re-run over the unchanged folder (incremental: should encode nothing) vs the first run;
* search latency through the API (model loaded) and through the CLI (a fresh process each time),
  with the CLI time divided by the time to just start Python and load the model.
"""
from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples" / "media"
QUERIES = ROOT / "samples" / "queries"
CACHE = ROOT / ".cache" / "bench_ingest"
STAMPS = Path("/usr/share/tuxpaint/stamps")
OPENCLIPART = Path("/usr/share/openclipart")


@dataclass(frozen=True)
class Settings:
    # Models: the demo folder uses the library model (trained default when built, else the bridge);
    # the 2,000-image run uses the bare image tower, the cost every image model here pays.
    models: tuple[str, ...] = ("xmodal-lite", "label-bridge")
    image_model: str = "efficientnet-lite0"
    n_images: int = 2000
    raster_side: int = 256
    workers: tuple[int, ...] = (1, 2)
    api_repeats: int = 20
    cli_repeats: int = 3
    text_query: str = "a photo of a cat"


def _pick_model(names: tuple[str, ...]) -> str:
    from xmodal.encoders import get_encoder
    from xmodal.errors import XmodalError

    for name in names:
        try:
            get_encoder(name)
            return name
        except XmodalError:
            continue
    raise RuntimeError(f"none of {names} can be loaded")


def _rasterise(args: tuple[str, str, int]) -> bool:
    src, dst, side = args
    try:
        import io

        import cairosvg
        from PIL import Image

        png = cairosvg.svg2png(url=src, output_width=side)
        img = Image.open(io.BytesIO(png)).convert("RGBA")
        canvas = Image.new("RGB", img.size, (255, 255, 255))
        canvas.paste(img, (0, 0), img)
        canvas.save(dst)
        return True
    except Exception:  # noqa: BLE001 - some clipart does not render; the set simply skips it
        return False


def image_folder(s: Settings) -> Path:
    """>= n_images real pictures, built once and cached: Tux Paint PNGs, then openclipart rasters."""
    folder = CACHE / f"images-{s.n_images}"
    if folder.is_dir() and len(list(folder.iterdir())) >= s.n_images:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    n = 0
    for png in sorted(STAMPS.rglob("*.png")):
        shutil.copy(png, folder / f"tux-{n:05d}.png")
        n += 1
        if n >= s.n_images:
            return folder
    svgs = sorted(OPENCLIPART.rglob("*.svg")) + sorted(STAMPS.rglob("*.svg"))
    jobs = [(str(svg), str(folder / f"clip-{i:05d}.png"), s.raster_side) for i, svg in enumerate(svgs)]
    with ProcessPoolExecutor(2) as pool:
        for ok in pool.map(_rasterise, jobs, chunksize=16):
            n += ok
            if n >= s.n_images:
                break
    return folder


def _index_timed(lib, paths, **kw) -> tuple[float, object]:
    t0 = time.perf_counter()
    report = lib.index(paths, progress=False, **kw)
    return time.perf_counter() - t0, report


def demo_folder(s: Settings, model: str, tmp: Path) -> dict:
    import xmodal

    out: dict = {"model": model, "by_kind": {}}
    with xmodal.open(tmp / "demo.xmdb", model=model) as lib:
        lib.encoder  # loaded before timing: throughput excludes the one-off model load
        total_t = 0.0
        total_n = 0
        for sub, kind in (("images", "image"), ("documents", "text"), ("audio", "audio"), ("video", "video")):
            secs, report = _index_timed(lib, [SAMPLES / sub])
            n = report.encoded
            total_t += secs
            total_n += n
            out["by_kind"][kind] = {"items": n, "seconds": round(secs, 2), "items_per_s": round(n / secs, 2)}
        out["all"] = {"items": total_n, "seconds": round(total_t, 2), "items_per_s": round(total_n / total_t, 2)}
        secs, report = _index_timed(lib, [SAMPLES])
        out["rerun_unchanged"] = {"seconds": round(secs, 3), "encoded": report.encoded,
                                  "speedup_vs_first_run": round(total_t / secs, 1)}
        out["search_api_ms"] = _api_latency(s, lib)
    out["search_cli"] = _cli_latency(s, model, tmp / "demo.xmdb")
    return out


def _api_latency(s: Settings, lib) -> dict:
    def median_ms(fn) -> float:
        fn()  # warm-up
        times = []
        for _ in range(s.api_repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return round(statistics.median(times) * 1000, 1)

    return {
        "text": median_ms(lambda: lib.search(text=s.text_query, k=10)),
        "text_vectors_only": median_ms(lambda: lib.search(text=s.text_query, k=10, keyword=False)),
        "image": median_ms(lambda: lib.search(image=QUERIES / "elephant-photo.jpg", k=10)),
        "speech": median_ms(lambda: lib.search(audio=QUERIES / "say-guitar.wav", k=10)),
    }


def _wall(cmd: list[str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _cli_latency(s: Settings, model: str, db: Path) -> dict:
    load = _wall([sys.executable, "-c", f"from xmodal.encoders import get_encoder; get_encoder({model!r})"],
                 s.cli_repeats)
    cli = _wall([sys.executable, "-m", "xmodal.cli", "search", s.text_query, "--db", str(db), "--json"],
                s.cli_repeats)
    return {"cli_search_s": round(cli, 2), "python_plus_model_load_s": round(load, 2),
            "ratio_cli_to_model_load": round(cli / load, 2)}


def many_images(s: Settings, tmp: Path) -> dict:
    import xmodal

    folder = image_folder(s)
    files = sorted(folder.iterdir())[: s.n_images]
    work = tmp / "images"
    work.mkdir()
    for f in files:
        (work / f.name).symlink_to(f)
    out: dict = {"model": s.image_model, "images": len(files), "ocr": False, "runs": {}}
    for w in s.workers:
        with xmodal.open(tmp / f"images-w{w}.xmdb", model=s.image_model) as lib:
            if w == 1:
                lib.encoder
            secs, report = _index_timed(lib, [work], workers=w, ocr=False)
            out["runs"][f"workers_{w}"] = {"seconds": round(secs, 1), "files": len(files),
                                           "encoded": report.encoded,  # unique contents
                                           "duplicates": sum(report.duplicates.values()),
                                           "failed": len(report.failed),
                                           "files_per_s": round(len(files) / secs, 1),
                                           "items_per_s": round(report.encoded / secs, 1)}
    base = out["runs"]["workers_1"]["items_per_s"]
    for key, run in out["runs"].items():
        run["speedup_vs_1_worker"] = round(run["items_per_s"] / base, 2)
    return out


def run(results_dir: Path) -> dict:
    s = Settings()
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        # A cold derived-data cache (OCR results, rasterised SVGs), so decoding is measured, not
        # replayed; models are loaded before each timing.
        previous = os.environ.get("XMODAL_CACHE")
        os.environ["XMODAL_CACHE"] = str(tmp / "cache")
        try:
            out = _measure(s, tmp)
        finally:
            if previous is None:
                os.environ.pop("XMODAL_CACHE", None)
            else:
                os.environ["XMODAL_CACHE"] = previous
    return out


def _measure(s: Settings, tmp: Path) -> dict:
    model = _pick_model(s.models)
    return {"settings": asdict(s), "demo_folder": demo_folder(s, model, tmp), "many_images": many_images(s, tmp)}


if __name__ == "__main__":
    print(json.dumps(run(ROOT / "benchmarks" / "results"), indent=2))  # python -m benchmarks.bench_ingest
