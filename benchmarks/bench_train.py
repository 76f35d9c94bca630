"""Cross-modal model benchmark: the shipped models against random, the label bridges and the first
release (v1), on real photographs (photos-val: GCompris + scikit-image, never trained on) and on the
Tux Paint folders held out of training, plus encoding speed measured in the same run.

`python -m benchmarks.run --only train` writes benchmarks/results/train.json and train.png.
"""
from __future__ import annotations

import time
from pathlib import Path

from xmodal.encoders import get_encoder
from xmodal.eval.evaluator import CrossModalEvaluator
from xmodal.eval.report import format_table, plot, rows
from xmodal.train.commands import eval_pairs, load_model

ENGLISH = ("random", "label-bridge", "photo-bridge", "xmodal-lite-v1", "xmodal-lite")
MULTILINGUAL = ("label-bridge-multilingual", "photo-bridge-multilingual", "xmodal-lite-multilingual-v1",
                "xmodal-lite-multilingual")
# Non-English photo captions: the languages of photos-val with the most photos, across scripts.
PHOTO_LANGUAGES = ("en", "fr", "de", "es", "ru", "zh-TW")
TUX_LANGUAGES = ("en", "zh-CN")
SPEED_IMAGES = 64


def _speed(models: dict, images: list) -> dict:
    """Images per second of each encoder on the same decoded images (after one warm-up call)."""
    out = {}
    for name, enc in models.items():
        enc.encode_image(images[:2])
        t0 = time.perf_counter()
        enc.encode_image(images)
        out[name] = len(images) / (time.perf_counter() - t0)
    return out


def _r10(table: list[dict], set_name: str, model: str, language: str) -> float:
    return next(t["R@10"] for t in table if (t["set"], t["model"], t["language"], t["direction"])
                == (set_name, model, language, "text→image"))


def run(results_dir: Path) -> dict:
    photos = CrossModalEvaluator(eval_pairs("photos-val", list(PHOTO_LANGUAGES)), name="photos-val",
                                 languages=PHOTO_LANGUAGES, speech=False)
    tux = CrossModalEvaluator(eval_pairs("tuxpaint-test", list(TUX_LANGUAGES)), name="tuxpaint-test",
                              languages=TUX_LANGUAGES, speech=False)
    loaded = {m: load_model(m) for m in ENGLISH + MULTILINGUAL}
    results = []
    for ev in (photos, tux):
        for name, enc in loaded.items():
            results.append(ev(enc, model_name=name))
    # English-only models are reported on English queries only (other languages are noise for them).
    results = [{**r, "languages": {k: v for k, v in r["languages"].items()
                                   if r["model"] not in ENGLISH or k == "en"}} for r in results]
    print(format_table(results))
    plot(results, Path(results_dir) / "train.png")
    _, images = photos._gallery()
    speed = _speed({"xmodal-lite-v1": loaded["xmodal-lite-v1"], "xmodal-lite": loaded["xmodal-lite"],
                    "xmodal-lite (XMODAL_DETECT=1)": get_encoder("xmodal-lite", detect=True),
                    "label-bridge": loaded["label-bridge"]}, images[:SPEED_IMAGES])
    table = rows(results)
    r = lambda s, m, lang: _r10(table, s, m, lang)  # noqa: E731
    others = [lang for lang in PHOTO_LANGUAGES if lang != "en"]
    multi_photo = sum(r("photos-val", "xmodal-lite-multilingual", lang) for lang in others) / len(others)
    multi_bridge = sum(r("photos-val", "label-bridge-multilingual", lang) for lang in others) / len(others)
    return {
        "results": results,
        "table": format_table(results, markdown=True),
        "photos_lite_over_bridge_R@10": round(r("photos-val", "xmodal-lite", "en")
                                              / max(r("photos-val", "label-bridge", "en"), 1e-9), 2),
        "photos_multilingual_non_english_over_bridge_R@10": round(multi_photo / max(multi_bridge, 1e-9), 2),
        "tux_multilingual_zh_over_en_R@10": round(r("tuxpaint-test", "xmodal-lite-multilingual", "zh-CN")
                                                  / max(r("tuxpaint-test", "xmodal-lite-multilingual", "en"), 1e-9), 2),
        "images_per_s": {k: round(v, 1) for k, v in speed.items()},
        "lite_speed_ratio_vs_v1": round(speed["xmodal-lite"] / speed["xmodal-lite-v1"], 2),
        "lite_detect_speed_ratio_vs_v1": round(speed["xmodal-lite (XMODAL_DETECT=1)"] / speed["xmodal-lite-v1"], 2),
    }
