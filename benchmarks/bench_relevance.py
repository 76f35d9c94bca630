"""Calibrated fusion against reciprocal-rank fusion on a mixed library: `python -m benchmarks.bench_relevance`.

The library (benchmarks/mixed_media.py): the bundled samples, Debian packages' documentation,
OCR-only signs, Tux Paint spoken descriptions (neutral names), Tux Paint sound effects, and Tux
Paint pictures of the *test* split (never trained on, never used for calibration) under neutral
names (``stamp-007.png``). Every query has graded judgments: 2 = what was asked for, 1 = related
(the same thing in another kind: the spoken description of a pictured animal, the violin's sound
for "a violin"), anything else 0. Query types:

- ``picture-en`` / ``picture-fr`` / ``picture-de`` / ``picture-es``: a stamp's description in that
  language; the picture 2, its spoken description 1;
- ``spoken``: a spoken description's text; the recording 2, the picture of the same item 1;
- ``sound``: a sound effect described in words; the recording 2, a picture of the same thing 1;
- ``document``: Debian documentation and the sample documents by topic (``DOCUMENT_QUERIES``);
- ``sign``: what a sign says, found only through OCR (``SIGN_QUERIES``);
- ``speech``: what a sample recording or the narrated video says (``SPEECH_QUERIES``);
- ``photo``: the sample photos and drawings (``PHOTO_QUERIES``);
- ``image-query``: each stamp mirrored and cropped (``xmodal.ingest.calibrate.query_view``) as a
  picture query (``search(image=...)``); the stamp 2, its spoken description 1.

Reported per query type and fusion: nDCG@10 (gain 2^grade - 1), P@5 (share of the first five with
grade >= 1, against min(5, relevant)), success@1 (the first result has the top grade), MRR, and
for single-kind intents how many queries have an item of an unrelated kind among the first three
(a kind no judged item has), of all results and of those the CLI shows (calibrated: relevance at
or above the default cut ``CONFIG.ingest.min_relevance``; RRF has no cut). ``--out`` writes the JSON; the plot goes to relevance.png.
"""
from __future__ import annotations

import argparse
import json
import math
import shutil
import tempfile
import time
from pathlib import Path

from benchmarks.mixed_media import build

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
PARTS = ("samples", "debian", "signs", "spoken", "sounds", "stamps")
LANGUAGES = ("en", "fr", "de", "es")
FUSIONS = ("rrf", "calibrated")
SOUND_QUERIES = {  # sound file -> (query, related pictures by name)
    "kettle.ogg": ("a kettle whistling", []), "vacuum_cleaner.ogg": ("a vacuum cleaner", []),
    "toilet.ogg": ("a toilet flushing", []), "hammer.ogg": ("hammering a nail", []),
    "saw.ogg": ("sawing wood with a saw", []), "Washing-machine.ogg": ("a washing machine", []),
    "rubberduck.ogg": ("a squeaky rubber duck", []), "violin.ogg": ("a violin playing", ["violin.png"]),
    "cello.ogg": ("a cello", []), "drumkit.ogg": ("a drum kit", []), "cymbal_crash.ogg": ("a crash cymbal", []),
    "camera_35mm.ogg": ("a camera shutter", []), "apollo_lander.ogg": ("the Apollo moon lander", []),
    "happy.ogg": ("a happy face", []), "sad.ogg": ("a sad face", []),
}
DOCUMENT_QUERIES = {
    "gzip compression utility": {"gzip-README.txt": 2, "zlib-FAQ.txt": 1},
    "is zlib thread-safe": {"zlib-FAQ.txt": 2},
    "per-CPU statistics in top and ps": {"procps-FAQ.txt": 2},
    "GNU ed line-oriented text editor": {"ed-README.txt": 2},
    "full-text search of manual pages": {"man-db-FAQ.txt": 2},
    "reserved uid and gid range for system users": {"base-passwd-README.txt": 2},
    "how do I fix a flat tyre": {"bicycle-repair.html": 2, "bicycle.svg": 1},
    "how to tune a guitar": {"guitar-tuning.md": 2, "guitar.gif": 1},
    "brewing coffee at home": {"coffee-brewing.pdf": 2, "coffee-cup.tiff": 1},
    "lava and ash from a volcano": {"volcanoes.txt": 2, "volcano.png": 1},
    "report a bug in gzip": {"gzip-README.txt": 2},
    "Z_BUF_ERROR": {"zlib-FAQ.txt": 2},
}
SIGN_QUERIES = {
    "museum opening hours": {"museum-hours.png": 2},
    "no diving in the swimming pool": {"pool-rules.png": 2},
    "trains to Leeds": {"platform-4.png": 2},
    "library books due": {"library-notice.png": 2},
    "car wash price": {"car-wash.png": 2},
    "visitor parking maximum stay": {"parking.png": 2},
    "open 24 hours": {"bakery-sign.png": 2},
}
SPEECH_QUERIES = {
    "weather forecast for tomorrow": {"weather-forecast.wav": 2},
    "when does the train to Cambridge leave": {"train-announcement.ogg": 2},
    "happy birthday chocolate cake": {"birthday-message.flac": 2},
    "how to make bread dough": {"bread-recipe.mp3": 2},
    "water the tomato plants": {"meeting-note.m4a": 2},
    "an airplane flying over the city": {"city-tour.mp4": 2},
}
PHOTO_QUERIES = {
    "an elephant": {"elephant.jpg": 2}, "a red apple": {"red-apple.png": 2}, "a penguin": {"penguin.bmp": 2},
    "a rocket": {"rocket.webp": 2}, "a violin": {"violin.png": 2, "violin.ogg": 1}, "a cat": {"cat.jpg": 2},
    "a guitar": {"guitar.gif": 2, "guitar-tuning.md": 1}, "a bicycle": {"bicycle.svg": 2, "bicycle-repair.html": 1},
    "a cup of coffee": {"coffee-cup.tiff": 2, "coffee-brewing.pdf": 1}, "a volcano": {"volcano.png": 2,
                                                                                   "volcanoes.txt": 1},
}
# Query types whose intent is one kind (a description of a picture, a photo, a sign's words, a picture
# as the query); spoken and sound queries are descriptions that a picture answers as well.
SINGLE_KIND = {"picture-en": "image", "picture-fr": "image", "picture-de": "image", "picture-es": "image",
               "sign": "image", "photo": "image", "image-query": "image"}


def judgments(manifest: dict) -> dict[str, dict[str, dict[str, int]]]:
    """``{query type: {query: {file name: grade}}}`` from the built folder's manifest."""
    stamps, spoken = manifest.get("stamps", {}), manifest.get("spoken", {})
    picture_of = {v["item"]: name for name, v in stamps.items()}
    clip_of = {v["item"]: name for name, v in spoken.items()}
    out: dict[str, dict[str, dict[str, int]]] = {f"picture-{lang}": {} for lang in LANGUAGES}
    for name, v in stamps.items():
        for lang in LANGUAGES:
            text = v["descriptions"].get(lang)
            if text and text not in out[f"picture-{lang}"]:
                grades = {name: 2}
                if v["item"] in clip_of:
                    grades[clip_of[v["item"]]] = 1
                out[f"picture-{lang}"][text] = grades
    out["spoken"] = {}
    for name, v in spoken.items():
        if v["text"] and v["text"] not in out["spoken"]:
            grades = {name: 2}
            if v["item"] in picture_of:
                grades[picture_of[v["item"]]] = 1
            out["spoken"][v["text"]] = grades
    out["sound"] = {q: {name: 2, **{p: 1 for p in pics}} for name, (q, pics) in SOUND_QUERIES.items()
                    if name in manifest.get("sounds", {})}
    docs = set(manifest.get("debian", {})) | {Path(p).name for p in manifest.get("samples", {})}
    out["document"] = {q: g for q, g in DOCUMENT_QUERIES.items() if all(f in docs for f in g)}
    out["sign"] = dict(SIGN_QUERIES)
    out["speech"] = dict(SPEECH_QUERIES)
    out["photo"] = dict(PHOTO_QUERIES)
    return out


def metrics(ranked: list[str], grades: dict[str, int], k: int = 10) -> dict:
    """nDCG@k with gain 2^g - 1, P@5, success@1 (top grade first), reciprocal rank of the first relevant."""
    gains = [2 ** grades.get(n, 0) - 1 for n in ranked[:k]]
    dcg = sum(g / math.log2(i + 2) for i, g in enumerate(gains))
    ideal = sorted((2 ** g - 1 for g in grades.values()), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    relevant = [n for n, g in grades.items() if g > 0]
    top = max(grades.values())
    first = next((i + 1 for i, n in enumerate(ranked) if grades.get(n, 0) > 0), None)
    return {"ndcg@10": dcg / idcg if idcg else 0.0,
            "p@5": sum(grades.get(n, 0) > 0 for n in ranked[:5]) / min(5, len(relevant)),
            "success@1": float(bool(ranked) and grades.get(ranked[0], 0) == top),
            "mrr": 1 / first if first else 0.0}


def _mean(rows: list[dict]) -> dict:
    return {key: round(sum(r[key] for r in rows) / len(rows), 3) for key in rows[0]} if rows else {}


def run(model: str, n_stamps: int, work: Path | None = None) -> dict:
    from PIL import Image

    import xmodal
    from xmodal.config import CONFIG
    from xmodal.ingest.calibrate import query_view

    tmp = Path(tempfile.mkdtemp(prefix="xmodal-relevance-")) if work is None else work
    try:
        manifest = build(tmp / "media", PARTS, stamps=n_stamps)
        judged = judgments(manifest)
        with xmodal.open(tmp / f"{model}.xmdb", model=model) as lib:
            t0 = time.perf_counter()
            report = lib.index([tmp / "media"], progress=False)
            info = lib.info()
            out: dict = {"model": model, "items": info["items"], "by_kind": info.get("by_kind"),
                         "index_seconds": round(time.perf_counter() - t0, 1), "encoded": report.encoded,
                         "failed": [f"{f.path}: {f.reason}" for f in report.failed], "types": {}}
            cut = CONFIG.ingest.min_relevance
            out["default_cut"] = cut
            views = tmp / "query-views"
            views.mkdir(exist_ok=True)
            judged["image-query"] = {}
            for name, grades in ((n, g) for g in judged["picture-en"].values() for n in g if g[n] == 2):
                view = views / name
                query_view(Image.open(tmp / "media" / "stamps" / name).convert("RGB")).save(view)
                judged["image-query"][str(view)] = grades
            for qtype, queries in judged.items():
                if not queries:
                    continue
                for fusion in FUSIONS:
                    rows, other_kind, other_shown = [], 0, 0
                    for q, grades in queries.items():
                        query = {"image": q} if qtype == "image-query" else {"text": q}
                        res = lib.search(**query, k=10, fusion=fusion, min_relevance=0.0)
                        ranked = [Path(r.path).name for r in res]
                        rows.append(metrics(ranked, grades))
                        if qtype in SINGLE_KIND:
                            judged_kinds = {SINGLE_KIND[qtype]}
                            judged_kinds |= {r.kind for r in res if Path(r.path).name in grades}
                            other_kind += any(r.kind not in judged_kinds for r in res[:3])
                            # what the CLI shows: results under the default cut are left out
                            shown = [r for r in res if fusion == "rrf" or r.relevance >= cut]
                            other_shown += any(r.kind not in judged_kinds for r in shown[:3])
                    summary = {**_mean(rows), "queries": len(rows)}
                    if qtype in SINGLE_KIND:
                        summary["unrelated_kind_in_top3"] = other_kind
                        summary["unrelated_kind_in_top3_shown"] = other_shown
                    out["types"].setdefault(qtype, {})[fusion] = summary
            for fusion in FUSIONS:
                per_type = [v[fusion] for v in out["types"].values()]
                out.setdefault("macro", {})[fusion] = {
                    key: round(sum(p[key] for p in per_type) / len(per_type), 3)
                    for key in ("ndcg@10", "p@5", "success@1", "mrr")}
            out["ndcg_ratio_calibrated_over_rrf"] = round(
                out["macro"]["calibrated"]["ndcg@10"] / max(out["macro"]["rrf"]["ndcg@10"], 1e-9), 2)
        return out
    finally:
        if work is None:
            shutil.rmtree(tmp, ignore_errors=True)


def plot(result: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    types = list(result["types"])
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), sharey=True)
    x = np.arange(len(types))
    for ax, metric in zip(axes, ("ndcg@10", "p@5", "success@1")):
        for i, fusion in enumerate(FUSIONS):
            vals = [result["types"][t][fusion][metric] for t in types]
            ax.bar(x + (i - 0.5) * 0.4, vals, 0.4, label={"rrf": "RRF", "calibrated": "calibrated, prob. OR"}[fusion])
        ax.set_xticks(x, [f"{t}\n({result['types'][t]['rrf']['queries']})" for t in types], fontsize=7, rotation=45)
        ax.set_title(metric)
        ax.set_ylim(0, 1)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"Mixed library ({result['items']} items, {result['model']}): RRF vs calibrated fusion by query type",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stamps", type=int, default=60, help="Tux Paint test-split pictures added (default: 60)")
    ap.add_argument("--model", default="xmodal-lite")
    ap.add_argument("--work", type=Path, default=None, help="keep the folder and library here (reused next time)")
    ap.add_argument("--out", type=Path, default=RESULTS / "relevance.json")
    args = ap.parse_args()
    result = run(args.model, args.stamps, args.work)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    plot(result, args.out.with_suffix(".png"))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
