"""Cross-modal model benchmark: the shipped models against random and the label bridge, on the
Tux Paint folders held out of training (English and Chinese queries), plus encoding speed of
xmodal-lite relative to the label bridge measured in the same run.

`python -m benchmarks.run --only train` writes benchmarks/results/train.json and train.png.
"""
from __future__ import annotations

import time
from pathlib import Path

MODELS = ("random", "label-bridge", "label-bridge-multilingual", "xmodal-lite", "xmodal-lite-multilingual")
LANGUAGES = ("en", "zh-CN")
SPEED_IMAGES = 64


def _speed(models, images) -> dict:
    """Images per second of each encoder on the same decoded images (after one warm-up call)."""
    out = {}
    for name, enc in models.items():
        enc.encode_image(images[:2])
        t0 = time.perf_counter()
        enc.encode_image(images)
        out[name] = len(images) / (time.perf_counter() - t0)
    return out


def run(results_dir: Path) -> dict:
    from xmodal.eval.evaluator import CrossModalEvaluator
    from xmodal.eval.report import format_table, plot, rows
    from xmodal.train.commands import load_model
    from xmodal.train.recipes import tuxpaint_splits

    test = tuxpaint_splits()["test"]
    ev = CrossModalEvaluator(test, name="tuxpaint-test (held-out folders)", languages=LANGUAGES)
    loaded = {m: load_model(m) for m in MODELS}
    results = [ev(enc, model_name=name) for name, enc in loaded.items()]
    print(format_table(results))
    plot(results, Path(results_dir) / "train.png")
    _, images = ev._gallery()
    speed = _speed({m: loaded[m] for m in ("label-bridge", "xmodal-lite")}, images[:SPEED_IMAGES])
    r10 = {(t["model"], t["language"], t["direction"]): t["R@10"] for t in rows(results)}
    lite, bridge = r10[("xmodal-lite", "en", "text→image")], r10[("label-bridge", "en", "text→image")]
    multi_en = r10[("xmodal-lite-multilingual", "en", "text→image")]
    multi_zh = r10[("xmodal-lite-multilingual", "zh-CN", "text→image")]
    return {
        "results": results,
        "table": format_table(results, markdown=True),
        "lite_over_bridge_R@10": round(lite / max(bridge, 1e-9), 2),
        "multilingual_zh_over_en_R@10": round(multi_zh / max(multi_en, 1e-9), 2),
        "images_per_s": {k: round(v, 1) for k, v in speed.items()},
        "lite_speed_ratio_vs_bridge": round(speed["xmodal-lite"] / speed["label-bridge"], 2),
    }
