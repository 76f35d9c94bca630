"""Question answering and recommendation on real media: `python -m benchmarks.bench_apps [--only qa|rec]`.

QA: the mixed offline folder of benchmarks/mixed_media.py (bundled samples, Debian documentation,
OCR-only signs, Tux Paint spoken descriptions, named stamps) is indexed, then every question of
benchmarks/apps_questions.json is asked. The abstention threshold (and with ``--fit`` the logistic
answer-confidence model over several features of the answer) is chosen on the validation half and reported on the test half:
top-1 answer accuracy on answerable questions, abstention on unanswerable ones, picture requests
answered by the picture (never a path), Brier score, and a reliability plot (qa_reliability.png).

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
DIVERSITY_SWEEP = (0.0, 0.1, 0.2, 0.3, 0.4, 0.6)
SIM_USERS = 200  # enough held-out likes for a hit-rate standard error of about 0.03
FALLBACK_MODEL = "label-bridge"  # needs no training run
ONE_FEATURE_L2 = 1e-3  # the one-feature rescaling of before: two parameters, next to no penalty
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


QA_PARTS = ("samples", "debian", "signs", "spoken", "qa-stamps")


def split_questions(questions: list[dict]) -> list[dict]:
    """Half the questions for choosing thresholds (``val``), half for reporting (``test``): within
    each (set, expect, modality) group, sorted by text, alternately -- both halves see every kind.
    A question's ``set`` (1 when absent) is the batch it was written in: a later batch is split
    within itself, so adding questions never moves an earlier question to the other half."""
    groups: dict[tuple, list[dict]] = {}
    for q in questions:
        groups.setdefault((q.get("set", 1), q.get("expect"), q.get("modality")), []).append(q)
    for group in groups.values():
        for i, q in enumerate(sorted(group, key=lambda q: q["question"])):
            q["split"] = "val" if i % 2 == 0 else "test"
    return questions


def qa_library(work: Path, model: str):
    """The QA folder (benchmarks.mixed_media, ``QA_PARTS``) indexed into ``work``; reused when there."""
    import xmodal
    from benchmarks.mixed_media import build

    media = work / "media"
    manifest = build(media, QA_PARTS)
    lib = xmodal.open(str(work / "qa.xmdb"), model=model)
    t0 = time.perf_counter()
    report = lib.index([str(media)], progress=False)
    return lib, manifest, report, time.perf_counter() - t0


def _halves(rows: list[dict], threshold: float) -> dict:
    from xmodal.apps.evaluate import answer_report

    return {"threshold_from_validation": round(threshold, 4),
            "validation": answer_report([r for r in rows if r["split"] == "val"], threshold),
            "test": answer_report([r for r in rows if r["split"] == "test"], threshold)}


def bench_qa(work: Path, fit: bool = False) -> dict:
    """Ask every question, choose the abstention threshold (and with ``fit`` the answer-confidence
    model) on the validation half, report both halves; the reliability plot's data. With ``fit``,
    two models are fitted on the validation half and reported: the one-feature rescaling of
    before (a logistic on the logit of the product of the answer factors, the baseline) and the
    logistic over every answer feature; the one with the lower leave-one-out Brier score on the
    validation half is chosen (its values go to ``qa_conf_model``)."""
    from xmodal.apps.answers import ANSWER_FEATURES
    from xmodal.apps.evaluate import (answer_outcome, answer_report, fit_answer_confidence, fit_answer_threshold,
                                      judge_answers, loo_brier, model_confidences, reliability, validation_rows)
    from xmodal.config import CONFIG

    model = pick_model()
    lib, manifest, report, index_s = qa_library(work, model)
    questions = split_questions(json.loads(QUESTIONS.read_text())["questions"])
    docs = set(manifest.get("debian", {}))
    kept = [q for q in questions if not str(q.get("path") or "").startswith("debian/")
            or str(q["path"]).split("/", 1)[1] in docs]  # a machine without a package's docs skips its questions
    for q in kept:
        if q.get("image"):
            q["image"] = str(ROOT / q["image"])
    t0 = time.perf_counter()
    rows = judge_answers(lib, kept, show_progress=False)
    ask_s = (time.perf_counter() - t0) / max(1, len(kept))
    lib.close()
    out: dict = {"configured_model": [list(p) for p in CONFIG.apps.qa_conf_model]}
    if fit:
        val = validation_rows(rows)
        out["configured"] = _halves(rows, CONFIG.apps.qa_not_found_below)  # the defaults, as shipped
        # Before: one feature (the product's logit), as the Platt rescaling was; nearly unpenalised.
        platt, _ = fit_answer_confidence(val, features=("score",), l2=ONE_FEATURE_L2)
        fitted, l2 = fit_answer_confidence(val)
        candidates = {"one_feature": (platt, ("score",), ONE_FEATURE_L2, ONE_FEATURE_L2),
                      "features": (fitted, ANSWER_FEATURES, l2, None)}  # None: the ridge is re-chosen per fold
        for name, (m, feats, lam, loo_l2) in candidates.items():
            scored = model_confidences(rows, m)
            out[name] = {"model": [list(p) for p in m], "l2": lam,
                         "validation_loo_brier": round(loo_brier(val, feats, loo_l2), 4),
                         **_halves(scored, fit_answer_threshold(validation_rows(scored)))}
        # The richer model is kept only when it forecasts held-out validation questions better.
        chosen = min(candidates, key=lambda n: out[n]["validation_loo_brier"])
        out["chosen_model"] = chosen
        rows = model_confidences(rows, candidates[chosen][0])
    val = validation_rows(rows)
    test = [r for r in rows if r["split"] == "test"]
    threshold = fit_answer_threshold(val)
    judged_test = [r for r in test if r["expect"] != "evidence"]
    out.update(model=model, questions=len(kept), questions_skipped=len(questions) - len(kept),
               items_indexed=report.encoded, index_seconds=round(index_s, 1),
               seconds_per_question=round(ask_s, 3), configured_threshold=CONFIG.apps.qa_not_found_below,
               threshold_from_validation=round(threshold, 4),
               validation=answer_report(val, threshold), test=answer_report(test, threshold),
               all=answer_report(rows, threshold),
               reliability_test=reliability([r["confidence"] for r in judged_test],
                                            [answer_outcome(r) for r in judged_test], bins=5),
               rows=[{**r, "confidence": round(r["confidence"], 4)} for r in rows])
    return out


def _plot_reliability(results_dir: Path, qa: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from xmodal.apps.evaluate import answer_outcome, model_confidences, reliability

    chosen = qa.get("chosen_model", "configured")
    lines = {chosen: qa["rows"]}
    other = {"one_feature": "features", "features": "one_feature"}.get(chosen)
    if other in qa:  # the model --fit did not choose, on the same answers
        lines[other] = model_confidences(qa["rows"], [tuple(p) for p in qa[other]["model"]])
    if "configured" in qa and chosen != "configured":  # the defaults the run started from, same answers
        lines["configured"] = model_confidences(qa["rows"], [tuple(p) for p in qa["configured_model"]])
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.6))
    for ax, split in zip(axes, ("val", "test")):
        ax.plot([0, 1], [0, 1], ":", color="grey", label="perfectly calibrated")
        title = []
        for (name, all_rows), style in zip(lines.items(), ("o-", "s--", "^:")):
            rows = [r for r in all_rows if r["split"] == split and r["expect"] != "evidence"]
            table = reliability([r["confidence"] for r in rows], [answer_outcome(r) for r in rows], bins=5)
            label = {"one_feature": "one feature (chosen)" if name == chosen else "one feature",
                     "features": "all features" + (" (chosen)" if name == chosen else " (not chosen)"),
                     "configured": "defaults before the fit"}.get(name, name)
            ax.plot([b["mean_confidence"] for b in table], [b["observed"] for b in table], style, label=label)
            for b in table:
                ax.annotate(str(b["n"]), (b["mean_confidence"], b["observed"]), fontsize=7,
                            textcoords="offset points", xytext=(4, -10))
            own = qa.get(name)  # a fitted model's or the starting defaults' report; else the run's own
            rep = (own if isinstance(own, dict) and "validation" in own else qa)["validation" if split == "val" else "test"]
            title.append(f"{'before' if name == 'configured' else name.replace('_', ' ')} {rep['brier']}")
        ax.axvline(qa["threshold_from_validation"], color="tab:red", lw=0.8, label="abstain below (chosen)")
        ax.set_title(f"{'validation' if split == 'val' else 'test'} half, Brier: {', '.join(title)}", fontsize=8)
        ax.set_xlabel("confidence")
        ax.set_ylabel("share right")
        ax.set_xlim(0, 1)
        ax.set_ylim(-0.02, 1.02)
    axes[0].legend(fontsize=7, loc="upper left")
    fig.suptitle("QA answer confidence, reliability (point labels: questions per bin)", fontsize=10)
    fig.tight_layout()
    fig.savefig(results_dir / "qa_reliability.png", dpi=120)
    plt.close(fig)


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


def run(results_dir: Path, only: str = "qa,rec", work: Path | None = None, fit: bool = False) -> dict:
    out: dict = {}
    with tempfile.TemporaryDirectory(prefix="xmodal-bench-apps-") as tmp:
        work = work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        if "rec" in only:
            out["recommendation"] = bench_recommendation(work)
            _plot(results_dir, out["recommendation"])
        if "qa" in only:
            out["qa"] = bench_qa(work, fit=fit)
            _plot_reliability(results_dir, out["qa"])
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="qa,rec")
    ap.add_argument("--work", type=Path, default=None, help="keep the indexed libraries here (reused next time)")
    ap.add_argument("--fit", action="store_true",
                    help="QA: fit the answer-confidence model on the validation half (else the configured one)")
    args = ap.parse_args()
    results = Path(__file__).resolve().parent / "results"
    results.mkdir(exist_ok=True)
    t = time.perf_counter()
    res = run(results, args.only, args.work, args.fit)
    target = results / "apps.json"
    previous = json.loads(target.read_text()) if target.exists() else {}
    res = {**previous, "area": "apps", "seconds": round(time.perf_counter() - t, 1), **res}
    target.write_text(json.dumps(res, indent=2, default=str))
    shown = {k: ({kk: vv for kk, vv in v.items() if kk != "rows"} if isinstance(v, dict) else v) for k, v in res.items()}
    print(json.dumps(shown, indent=1, default=str)[:8000])
