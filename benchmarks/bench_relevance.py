"""Calibrated fusion against reciprocal-rank fusion on a mixed library: `python -m benchmarks.bench_relevance`.

The library: the bundled samples (photos, documents, speech, a video, 22 items) plus Tux Paint
pictures from the *test* split (never trained on, never used for calibration), copied under
neutral names (``stamp-007.png``) so a file name cannot give the answer away. Queries:

- ``picture``: each stamp's English description ("A kangaroo."), one relevant picture; also
  counts how often an item of another kind sits in the top 3 (single-kind intent);
- ``sample``: hand-judged queries over the samples (``SAMPLE_QUERIES``), each with its relevant files.

Reported per query type and fusion: success@1, MRR, nDCG@10 (binary gains), P@5 against the
number of relevant items (capped at 5), and for the calibrated fusion the share of queries whose
top result clears the CLI's default cut. Numbers go to stdout as JSON.
"""
from __future__ import annotations

import argparse
import json
import math
import shutil
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples" / "media"
STAMPS = Path("/usr/share/tuxpaint/stamps")
SAMPLE_QUERIES = {  # query -> files that answer it (single- or mixed-kind intent)
    "a bicycle": ["bicycle.svg", "bicycle-repair.html"],
    "how do I fix a flat tyre": ["bicycle-repair.html"],
    "a cup of coffee": ["coffee-cup.tiff", "coffee-brewing.pdf"],
    "lava and ash from a volcano": ["volcanoes.txt", "volcano.png"],
    "when does the train to Cambridge leave": ["train-announcement.ogg"],
    "open 24 hours": ["bakery-sign.png"],
    "how to tune a guitar": ["guitar-tuning.md"],
    "giant pandas eat bamboo": ["panda.txt"],
    "weather forecast for tomorrow": ["weather-forecast.wav"],
    "happy birthday chocolate cake": ["birthday-message.flac"],
    "how to make bread dough": ["bread-recipe.mp3"],
    "an elephant": ["elephant.jpg"],
    "a red apple": ["red-apple.png"],
    "a penguin": ["penguin.bmp"],
    "a rocket": ["rocket.webp"],
    "a violin": ["violin.png"],
    "a cat": ["cat.jpg"],
    "an airplane flying over the city": ["city-tour.mp4"],
    "water the tomato plant": ["meeting-note.m4a"],
}


def _stamp_on_white(src: Path, out: Path, side: int = 256) -> None:
    from PIL import Image

    img = Image.open(src).convert("RGBA")
    img.thumbnail((side, side))
    canvas = Image.new("RGBA", (side, side), (255, 255, 255, 255))
    canvas.paste(img, ((side - img.width) // 2, (side - img.height) // 2), img)
    canvas.convert("RGB").save(out)


def _metrics(ranked: list[str], relevant: set[str], k: int = 10) -> dict:
    dcg = sum(1 / math.log2(i + 2) for i, n in enumerate(ranked[:k]) if n in relevant)
    idcg = sum(1 / math.log2(i + 2) for i in range(min(k, len(relevant))))
    first = next((i + 1 for i, n in enumerate(ranked) if n in relevant), None)
    return {"success@1": float(bool(ranked) and ranked[0] in relevant), "mrr": 1 / first if first else 0.0,
            "ndcg@10": dcg / idcg if idcg else 0.0,
            "p@5": sum(n in relevant for n in ranked[:5]) / min(5, len(relevant))}


def _mean(rows: list[dict]) -> dict:
    return {key: round(sum(r[key] for r in rows) / len(rows), 3) for key in rows[0]} if rows else {}


def run(n_stamps: int, model: str) -> dict:
    import xmodal
    from xmodal.config import CONFIG
    from xmodal.datasets.tuxpaint import tuxpaint_splits

    test = [p for p in tuxpaint_splits()["test"] if p.language == "en" and p.image.endswith(".png")]
    picked = list({p.item_id: p for p in test}.values())[:n_stamps]
    tmp = Path(tempfile.mkdtemp(prefix="xmodal-relevance-"))
    try:
        media = tmp / "media"
        shutil.copytree(SAMPLES, media / "samples")
        (media / "stamps").mkdir()
        stamp_queries = {}
        for i, p in enumerate(picked):
            name = f"stamp-{i:03d}.png"
            _stamp_on_white(Path(p.image), media / "stamps" / name)
            stamp_queries[p.text] = [name]
        with xmodal.open(tmp / "lib.xmdb", model=model) as lib:
            lib.index([media], progress=False)
            out: dict = {"model": model, "items": lib.info()["items"], "stamps": len(picked),
                         "default_cut": CONFIG.ingest.min_relevance}
            for qtype, queries in (("picture", stamp_queries), ("sample", SAMPLE_QUERIES)):
                for fusion in ("rrf", "calibrated"):
                    rows, other_kind, cleared = [], 0, 0
                    for q, rel in queries.items():
                        res = lib.search(text=q, k=10, fusion=fusion)
                        ranked = [Path(r.path).name for r in res]
                        rows.append(_metrics(ranked, set(rel)))
                        other_kind += qtype == "picture" and any(r.kind != "image" for r in res[:3])
                        cleared += bool(res) and res[0].relevance >= CONFIG.ingest.min_relevance
                    summary = {**_mean(rows), "queries": len(rows)}
                    if qtype == "picture":
                        summary["other_kind_in_top3"] = other_kind
                    if fusion == "calibrated":
                        summary["top_clears_default_cut"] = round(cleared / len(rows), 3)
                    out[f"{qtype}/{fusion}"] = summary
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stamps", type=int, default=60, help="Tux Paint test-split pictures added (default: 60)")
    ap.add_argument("--model", default="xmodal-lite")
    args = ap.parse_args()
    print(json.dumps(run(args.stamps, args.model), indent=1))


if __name__ == "__main__":
    main()
