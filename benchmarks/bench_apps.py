"""Question answering and recommendation on real media: `python -m benchmarks.bench_apps [--only qa|rec]`.

QA: the demo samples (samples/media) plus a few Tux Paint stamps are indexed, then every question of
benchmarks/apps_questions.json is asked; reported: answer-bearing evidence at rank 1 / within top 3 by
modality, and how often unanswerable questions are correctly "not found".

Recommendation: up to ``PER_CATEGORY`` Tux Paint stamp images per top-level category are indexed (no
OCR); a simulated log (users preferring one or two categories) is replayed through the interaction
store; leave-last-out hit-rate@10 / NDCG@10 / intra-list diversity for popularity, plain nearest
neighbours and MMR, plus a sweep of the diversity setting. Latency ratios are measured in the same run.
"""
from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STAMPS = Path("/usr/share/tuxpaint/stamps")
SAMPLES = ROOT / "samples" / "media"
QUESTIONS = Path(__file__).resolve().parent / "apps_questions.json"
PER_CATEGORY = 30
SKIP_DIRS = ("symbols/alphabets",)  # hundreds of near-identical letters would swamp "symbols"
QA_STAMPS = ["animals/mammals/giraffe.png", "animals/marsupials/kangaroo.png", "animals/mammals/cats/tiger.png",
             "food/fruit/pineapple.png", "vehicles/emergency/firetruck.png", "household/dishes/teapot.png",
             "space/planets/6_saturn.png", "animals/birds/owl.png", "animals/mammals/bears/bear.png",
             "food/fruit/banana.png", "vehicles/flight/planes/747.png", "household/tools/hammer.png",
             "plants/trees/palm_tree.png", "sports/ball/soccer_ball.png"]
DIVERSITY_SWEEP = (0.0, 0.1, 0.2, 0.3, 0.4, 0.6)
SIM_USERS = 200  # enough held-out likes for a hit-rate standard error of about 0.03
FALLBACK_MODEL = "label-bridge"  # needs no training run
NO_OCR_MODEL = "label-bridge-no-ocr"  # stamps hold no text: skip the bridge's OCR pass (3x faster)


def pick_model(for_stamps: bool = False) -> str:
    """The trained default when it is built, else the label bridge (recorded in the results)."""
    from xmodal.config import CONFIG
    from xmodal.encoders import get_encoder
    from xmodal.errors import MissingDependency, NotFound

    try:
        get_encoder(CONFIG.encoders.default_model)
        return CONFIG.encoders.default_model
    except (NotFound, MissingDependency):
        if not for_stamps:
            return FALLBACK_MODEL
    from xmodal.encoders import register_encoder
    from xmodal.encoders.label_bridge import LabelBridgeEncoder

    register_encoder(NO_OCR_MODEL, lambda: LabelBridgeEncoder(ocr=False), replace=True)
    return NO_OCR_MODEL


def _find_stamp(rel: str) -> Path | None:
    p = STAMPS / rel
    if p.is_file():
        return p
    hits = sorted(STAMPS.rglob(Path(rel).name))
    return hits[0] if hits else None


def bench_qa(work: Path) -> dict:
    import xmodal
    from xmodal.apps.evaluate import evaluate_qa

    tux = work / "tuxpaint"
    tux.mkdir(parents=True, exist_ok=True)
    for rel in QA_STAMPS:
        src = _find_stamp(rel)
        if src is not None:
            shutil.copy(src, tux / src.name)
    model = pick_model()
    lib = xmodal.open(str(work / "qa.xmdb"), model=model)
    t0 = time.perf_counter()
    report = lib.index([str(SAMPLES), str(tux)], progress=False)
    index_s = time.perf_counter() - t0
    questions = json.loads(QUESTIONS.read_text())["questions"]
    for q in questions:
        if q.get("image"):
            q["image"] = str(ROOT / q["image"])
    t0 = time.perf_counter()
    result = evaluate_qa(lib, questions, show_progress=False)
    ask_s = (time.perf_counter() - t0) / len(questions)
    lib.close()
    result.update(model=model, items_indexed=report.encoded, index_seconds=round(index_s, 1),
                  seconds_per_question=round(ask_s, 3))
    return result


def _rec_media(work: Path) -> dict[str, str]:
    """Copy up to PER_CATEGORY PNG stamps per top-level category; returns {copied path: category}."""
    out: dict[str, str] = {}
    for cat_dir in sorted(p for p in STAMPS.iterdir() if p.is_dir()):
        files = sorted(f for f in cat_dir.rglob("*.png")
                       if not any(str(f.relative_to(STAMPS)).startswith(s) for s in SKIP_DIRS)
                       and "_mirror" not in f.name)
        if len(files) < 10:
            continue
        step = max(1, len(files) // PER_CATEGORY)
        dest = work / "stamps" / cat_dir.name
        dest.mkdir(parents=True, exist_ok=True)
        for f in files[::step][:PER_CATEGORY]:
            target = dest / f"{f.parent.name}-{f.name}"
            shutil.copy(f, target)
            out[str(target.resolve())] = cat_dir.name
    return out


def bench_recommendation(work: Path) -> dict:
    import numpy as np

    import xmodal
    from xmodal.apps.evaluate import evaluate_recommender
    from xmodal.apps.recommend import interactions, recommend
    from xmodal.apps.simulate import SimulationSpec

    cats = _rec_media(work)
    model = pick_model(for_stamps=True)
    lib = xmodal.open(str(work / "rec.xmdb"), model=model)
    t0 = time.perf_counter()
    lib.index([str(work / "stamps")], ocr=False, speech=False, progress=False)
    index_s = time.perf_counter() - t0
    spec = SimulationSpec(users=SIM_USERS)
    t0 = time.perf_counter()
    main = evaluate_recommender(lib, cats, spec, k=10, show_progress=False)
    eval_s = time.perf_counter() - t0
    sweep = []
    for d in DIVERSITY_SWEEP:
        r = evaluate_recommender(lib, cats, spec, k=10, diversity=d, show_progress=False)["mmr"]
        sweep.append({"diversity": d, **r})
    # Latency: one user's list with MMR vs without, and vs the library's own "similar" (same run).
    users = interactions(lib).users()[:20]
    item = next(iter(cats))

    def per_call(fn) -> float:
        t = time.perf_counter()
        for u in users:
            fn(u)
        return (time.perf_counter() - t) / len(users)

    nn_s = per_call(lambda u: recommend(lib, u, 10, diversity=0.0))
    mmr_s = per_call(lambda u: recommend(lib, u, 10))
    sim_s = per_call(lambda u: lib.similar(item, k=10))
    lib.close()
    main.update(model=model, index_seconds=round(index_s, 1), evaluate_seconds=round(eval_s, 1), diversity_sweep=sweep,
                latency_ms={"recommend_mmr": round(mmr_s * 1e3, 1), "recommend_nn": round(nn_s * 1e3, 1),
                            "library_similar": round(sim_s * 1e3, 1),
                            "mmr_over_nn": round(mmr_s / nn_s, 2), "mmr_over_similar": round(mmr_s / sim_s, 2)},
                categories=int(len(set(cats.values()))), mean_items_per_category=float(np.mean(
                    [list(cats.values()).count(c) for c in set(cats.values())])))
    return main


def _plot(results_dir: Path, rec: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sweep = rec["diversity_sweep"]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot([s["intra_list_diversity"] for s in sweep], [s["hit_rate@10"] for s in sweep], "o-",
            label="hybrid, MMR diversity sweep")
    for s in sweep:
        ax.annotate(f"{s['diversity']:.1f}", (s["intra_list_diversity"], s["hit_rate@10"]), fontsize=7)
    for name, marker in (("nearest_neighbour", "^"), ("popularity", "s")):
        m = rec[name]
        ax.plot([m["intra_list_diversity"]], [m["hit_rate@10"]], marker,
                label="content nearest neighbours" if name == "nearest_neighbour" else name)
    ax.set_xlabel("intra-list diversity (1 - cos)")
    ax.set_ylabel("hit-rate@10")
    ax.set_title("Relevance vs diversity (Tux Paint, simulated users)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(results_dir / "apps_diversity.png", dpi=120)
    plt.close(fig)


def run(results_dir: Path, only: str = "qa,rec") -> dict:
    out: dict = {}
    with tempfile.TemporaryDirectory(prefix="xmodal-bench-apps-") as tmp:
        work = Path(tmp)
        if "rec" in only:
            out["recommendation"] = bench_recommendation(work)
            _plot(results_dir, out["recommendation"])
        if "qa" in only:
            out["qa"] = bench_qa(work)
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="qa,rec")
    args = ap.parse_args()
    results = Path(__file__).resolve().parent / "results"
    results.mkdir(exist_ok=True)
    t = time.perf_counter()
    res = run(results, args.only)
    target = results / "apps.json"
    previous = json.loads(target.read_text()) if target.exists() else {}
    res = {**previous, "area": "apps", "seconds": round(time.perf_counter() - t, 1), **res}
    target.write_text(json.dumps(res, indent=2, default=str))
    print(json.dumps({k: v for k, v in res.items()}, indent=1, default=str)[:6000])
