"""Spoken query -> picture, next to the same query typed (issue 17).

    python -m benchmarks.speech_retrieval --per-language 30     # recognise, then report
    python -m benchmarks.speech_retrieval --report-only         # recompute the tables from the cache

Two sets of spoken queries, both searched as a library searches ``xmodal search --audio`` (recognise
-> n-best readings -> the one naming most of the library's words chosen -> text vector ->
nearest pictures), vectors only (no keyword list: a typed query would match the file names):

* **espeak**: the 50 held-out English queries of ``benchmarks.bench_speech`` (``espeak-ng -v en-us
  -s 150``) against every Tux Paint stamp picture; a query's right items are the stamps whose name or
  English description holds its head noun (``HEADS``; queries naming no stamp are left out and listed).
  The queries were written by hand as everyday things (not from the stamps), so this is a fair library.
* **tuxpaint**: Tux Paint's spoken descriptions (``*_desc_<lang>.ogg``, read by volunteers), a seeded
  sample of ``--per-language`` clips per language of the validation and of the test folders, against
  that split's pictures; typed = the same stamps' written description in the same language.

Each clip is encoded by Whisper once (``encode_clip``); its language is taken as Whisper's guess
among all its languages ("open") and among the 12 languages Tux Paint records ("tux12", the
``asr_languages`` setting), and the clip is decoded 5-best in each (``decode_clip``). The variants
(language, library-word preference, how many readings the vector averages) are then computed
from the cached readings with the product's own functions (``choose_reading``, ``readings_vector``):
one Whisper pass per clip and language serves every variant, and the cache
(``results/speech_retrieval_cache.json``) is written after each clip, so a cut-short run keeps what
it measured. Choices are made on ``val``; ``test`` is reported for the chosen and the previous setting.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import random
import re
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.bench_speech import QUERIES, _speak, words

RESULTS = Path(__file__).resolve().parent / "results"
TUX12 = ("en", "fr", "es", "ru", "ro", "ca", "bg", "be", "el", "da", "lt", "nl")
MODEL = "xmodal-lite-multilingual"
# Head noun(s) of each held-out query: a stamp is a right answer when its name or English description holds one.
HEADS = {
    "a brown horse": ["horse"], "a red apple": ["apple"], "guitar": ["guitar"], "a black cat": ["cat", "blackcat"],
    "a yellow school bus": ["bus"], "a cup of coffee": ["coffee"], "a sleeping dog": ["dog"],
    "fresh bread": ["bread"], "a white sheep": ["sheep"], "a bicycle": ["bicycle", "bike"],
    "snow on the mountains": ["mountain", "mountains"], "a green frog": ["frog"], "a birthday cake": ["cake"],
    "an old castle": ["castle"], "a pair of shoes": ["shoe", "shoes"], "a small boat": ["boat"],
    "a blue butterfly": ["butterfly"], "a teddy bear": ["teddy"], "pizza": ["pizza"],
    "a lighthouse": ["lighthouse"], "a pumpkin": ["pumpkin"], "the moon at night": ["moon"],
    "a fire truck": ["firetruck", "fire engine", "fire truck"], "an elephant": ["elephant"],
    "a strawberry": ["strawberry", "strawberries"], "a violin": ["violin"], "a rainbow": ["rainbow"],
    "a tractor on a farm": ["tractor"], "a penguin": ["penguin"], "a hot air balloon": ["hot air balloon"],
    "a pine tree": ["pine"], "a glass of milk": ["milk"], "a wooden chair": ["chair"],
    "a basketball": ["basketball"], "an airplane in the sky": ["airplane", "aeroplane", "plane"],
    "a lion": ["lion"], "a banana": ["banana"], "a pirate ship": ["pirate"], "a snowman": ["snowman"],
    "a candle": ["candle"], "a kangaroo": ["kangaroo"], "a rubber duck": ["rubber duck", "rubberduck"],
    "an umbrella": ["umbrella"], "a piano": ["piano"], "a red rose": ["rose"], "a helicopter": ["helicopter"],
    "a turtle": ["turtle"], "a chocolate cookie": ["cookie"], "a train": ["train"],
    "a butterfly on a flower": ["butterfly"],
}
# Variants computed from the cached readings: (language, prefer library words, readings averaged, scale).
VARIANTS = {
    "before: open language, 1-best": ("open", False, 1, 1.0),
    "open, library words preferred (product path)": ("open", True, 1, 1.0),
    "open, preferred, 3 readings averaged": ("open", True, 3, 1.0),
    "open, preferred, 5 readings averaged": ("open", True, 5, 1.0),
    "open, preferred, 5 averaged, scale 5": ("open", True, 5, 5.0),
    "open, preferred, 5 averaged, uniform": ("open", True, 5, 0.0),
    "tux12, 1-best": ("tux12", False, 1, 1.0),
    "tux12, preferred": ("tux12", True, 1, 1.0),
    "tux12, preferred, 3 readings averaged": ("tux12", True, 3, 1.0),
    "tux12, preferred, 5 readings averaged": ("tux12", True, 5, 1.0),
    "tux12, preferred, 5 averaged, scale 5": ("tux12", True, 5, 5.0),
    "tux12, preferred, 5 averaged, uniform": ("tux12", True, 5, 0.0),
    "told, preferred": ("told", True, 1, 1.0),
    "told, preferred, 3 readings averaged": ("told", True, 3, 1.0),
    "told, preferred, 5 readings averaged": ("told", True, 5, 1.0),
}


def _heads_match(heads: list[str], text: str) -> bool:
    got = " ".join(words(text))
    return any(re.search(rf"\b{re.escape(h)}(s|es)?\b", got) for h in heads)


def espeak_library() -> tuple[list[str], dict[str, str]]:
    """Every Tux Paint stamp picture (sorted) and its name + English description (what decides a right answer)."""
    from xmodal.datasets.tuxpaint import load_tuxpaint
    from xmodal.ingest.extract import name_words

    desc: dict[str, str] = {}
    for p in load_tuxpaint(languages=["en"]):
        desc[p.image] = f"{name_words(Path(p.image))} {p.text}"
    return sorted(desc), desc


MIN_CLIPS = 20
SAMPLE = 50  # clips drawn per language and split; a run measures the first --per-language of them


def tux_sample(split: str, per_language: int, seed: int = 0) -> tuple[list, list[str]]:
    """The first ``per_language`` clips per language of a seeded sample of ``split``'s clips, in
    round-robin order over languages (a cut-short run stays balanced), and the split's pictures."""
    from xmodal.datasets.tuxpaint import tuxpaint_splits

    pairs = tuxpaint_splits()[split]
    by_lang: dict[str, list] = {}
    for p in pairs:
        if p.speech:
            by_lang.setdefault(p.language, []).append(p)
    rng = random.Random(seed)
    sample = {lang: rng.sample(ps, min(SAMPLE, len(ps))) for lang, ps in sorted(by_lang.items())}
    order: list = []
    for i in range(min(per_language, SAMPLE)):
        order.extend(s[i] for s in sample.values() if i < len(s))
    return order, sorted({p.image for p in pairs})


def recognise(clip: str, whisper, media, told: str | None = None) -> dict:
    """One Whisper encoding of ``clip``; 5-best readings in its open and its Tux-12 language (and
    in ``told``, the language it is in, as a user naming their one language would set it)."""
    from xmodal.media import decode_audio
    from xmodal.media.speech import _likeliest, clip_languages, decode_clip, encode_clip

    c0 = time.process_time()
    audio = decode_audio(clip)
    encoded = encode_clip(whisper, audio, media)
    probs = clip_languages(whisper, encoded)
    langs = {"open": _likeliest(probs, ()), "tux12": _likeliest(probs, TUX12), **({"told": told} if told else {})}
    decoded = {}
    for lang in dict.fromkeys(langs.values()):
        readings, no_speech = decode_clip(whisper, encoded, lang, True, media)
        decoded[lang] = {"readings": [[r.text, r.logprob] for r in readings], "no_speech": no_speech}
    return {"languages": langs, "decoded": decoded, "cpu_s": round(time.process_time() - c0, 2)}


def add_told(cache: dict, entry: dict, clip: str, language: str, whisper, media) -> None:
    """Readings of a cached clip in the language it is in (decoded only when neither guess was it)."""
    from xmodal.media import decode_audio
    from xmodal.media.speech import decode_clip, encode_clip

    entry["languages"]["told"] = language
    if language not in entry["decoded"]:
        c0 = time.process_time()
        readings, no_speech = decode_clip(whisper, encode_clip(whisper, decode_audio(clip), media), language, True, media)
        entry["decoded"][language] = {"readings": [[r.text, r.logprob] for r in readings], "no_speech": no_speech}
        entry["told_cpu_s"] = round(time.process_time() - c0, 2)


def run_asr(cache_path: Path, per_language: int, parts: list[str], window_s: float | None = None) -> dict:
    from xmodal.config import Config
    from xmodal.media.speech import whisper_model

    media = dataclasses.replace(Config.from_env().media, asr_nbest=5)
    if window_s is not None:  # the short-clip encoder window (BENCHMARKS.md, "Short clips in a shorter encoder window")
        media = dataclasses.replace(media, asr_short_clip_window_s=window_s)
    cache = json.loads(cache_path.read_text()) if cache_path.is_file() else {}
    cache.setdefault("clips", {})
    cache["load_average_at_start"] = round(os.getloadavg()[0], 1)
    whisper = whisper_model("base", media.asr_threads)
    jobs: list[str] = []
    with tempfile.TemporaryDirectory(prefix="xmodal-speech-retrieval-") as tmp:
        if "espeak" in parts:
            for i, q in enumerate(QUERIES):
                key = f"espeak:{q}"
                if key not in cache["clips"]:
                    cache["clips"][key] = recognise(str(_speak(q, Path(tmp) / f"q{i:02d}.wav")), whisper, media, "en")
                elif "told" not in cache["clips"][key]["languages"]:
                    add_told(cache, cache["clips"][key], str(_speak(q, Path(tmp) / f"q{i:02d}.wav")), "en", whisper, media)
                else:
                    continue
                cache_path.write_text(json.dumps(cache, ensure_ascii=False))
        told = {}
        for split in ("val", "test"):
            if split in parts:
                for p in tux_sample(split, per_language)[0]:
                    jobs.append(p.speech)
                    told[p.speech] = p.language.split("-")[0]
        for n, clip in enumerate(jobs):
            if clip not in cache["clips"]:
                cache["clips"][clip] = recognise(clip, whisper, media, told[clip])
            elif "told" not in cache["clips"][clip]["languages"]:
                add_told(cache, cache["clips"][clip], clip, told[clip], whisper, media)
            else:
                continue
            cache["load_average_now"] = round(os.getloadavg()[0], 1)
            cache_path.write_text(json.dumps(cache, ensure_ascii=False))
            if n % 20 == 0:
                print(f"{n}/{len(jobs)} clips", flush=True)
    return cache


class Vectors:
    """Text vectors of the encoder, each string encoded once."""

    def __init__(self, encoder):
        self.encoder = encoder
        self.memo: dict[str, np.ndarray] = {}

    def encode_text(self, texts: list[str], mode: str = "query") -> np.ndarray:
        new = [t for t in dict.fromkeys(texts) if t not in self.memo]
        if new:
            for t, v in zip(new, np.asarray(self.encoder.encode_text(new, mode="query"), np.float32)):
                self.memo[t] = v
        return np.stack([self.memo[t] for t in texts])


def query_vector(entry: dict, variant: tuple, vectors: Vectors, keywords, media) -> np.ndarray | None:
    """The query vector of a cached clip under ``variant`` (None: no speech), by the product's functions."""
    from functools import partial

    from xmodal.ingest.search import library_words, readings_vector
    from xmodal.ingest.sound import is_speech
    from xmodal.media.speech import Reading, choose_reading

    which, prefer, n, scale = variant
    decoded = entry["decoded"][entry["languages"][which]]
    readings = [Reading(t, lp) for t, lp in decoded["readings"]]
    chosen = choose_reading(readings, decoded["no_speech"], media, partial(library_words, keywords) if prefer else None)
    if not chosen or not is_speech(chosen[0].text):
        return None
    settings = dataclasses.replace(media, asr_query_readings=n, asr_query_readings_scale=scale)
    return readings_vector(vectors, chosen, settings)


def _keywords(folder: Path, images: list[str], name: str):
    from xmodal.ingest.extract import name_words
    from xmodal.ingest.keywords import KeywordIndex

    index = KeywordIndex(folder / f"{name}.sqlite")
    index.add([(f"r{i}", f"i{i}", "image", name_words(Path(p))) for i, p in enumerate(images)])
    return index


def _gallery(encoder, images: list[str]) -> tuple[list[str], np.ndarray, list[str]]:
    """The pictures that decode, their vectors, and those left out (as the evaluator leaves them out)."""
    from xmodal.errors import MediaError
    from xmodal.media import load_image

    kept, loaded, skipped = [], [], []
    for p in images:
        try:
            loaded.append(load_image(p))
            kept.append(p)
        except MediaError:
            skipped.append(p)
    return kept, np.asarray(encoder.encode_image(loaded), np.float32), skipped


def _r10(sim: np.ndarray, correct: np.ndarray) -> tuple[float, list[float]]:
    from xmodal.eval.metrics import ranks

    r = ranks(sim, correct)
    return float((r <= 10).mean()), r.tolist()


def _chance(correct: np.ndarray, k: int = 10) -> float:
    """Expected R@k of a random ranking, given how many right items each query has."""
    n = correct.shape[1]
    return float(np.mean([1 - math.comb(n - m, k) / math.comb(n, k) for m in correct.sum(axis=1)]))


def report(cache: dict) -> dict:
    from xmodal.config import Config
    from xmodal.encoders import get_encoder

    media = dataclasses.replace(Config.from_env().media, asr_nbest=5)
    encoder = get_encoder(MODEL, Config.from_env())
    vectors = Vectors(encoder)
    clips = cache["clips"]
    out: dict = {"model": MODEL, "load_average_at_start": cache.get("load_average_at_start"),
                 "cpu_s_per_clip": round(float(np.mean([c["cpu_s"] for c in clips.values()])), 2) if clips else None}
    with tempfile.TemporaryDirectory(prefix="xmodal-speech-report-") as tmp:
        # espeak queries against every stamp
        done = [q for q in QUERIES if f"espeak:{q}" in clips]
        if done:
            images, desc = espeak_library()
            images, image_vecs, skipped = _gallery(encoder, images)
            keywords = _keywords(Path(tmp), images, "espeak")
            named = [q for q in done if any(_heads_match(HEADS[q], desc[p]) for p in images)]
            correct = np.array([[_heads_match(HEADS[q], desc[p]) for p in images] for q in named])
            typed = vectors.encode_text(named)
            row: dict = {"queries": len(done), "queries_naming_a_stamp": len(named),
                         "left_out": [q for q in done if q not in named], "pictures": len(images),
                         "pictures_not_decoded": skipped,
                         "right_pictures_per_query": round(float(correct.sum(axis=1).mean()), 1),
                         "chance_R@10": round(_chance(correct), 3),
                         "typed_R@10": round(_r10(typed @ image_vecs.T, correct)[0], 3), "spoken": {}}
            for name, variant in VARIANTS.items():
                if variant[0] == "tux12" or not all(variant[0] in clips[f"espeak:{q}"]["languages"] for q in named):
                    continue  # English queries: the open guess, or told "en"
                vecs = [query_vector(clips[f"espeak:{q}"], variant, vectors, keywords, media) for q in named]
                q = np.stack([v if v is not None else np.zeros(image_vecs.shape[1], np.float32) for v in vecs])
                r10, _ = _r10(q @ image_vecs.T, correct)
                row["spoken"][name] = {"R@10": round(r10, 3), "ratio_to_typed": round(r10 / max(row["typed_R@10"], 1e-9), 3),
                                       "unheard": sum(v is None for v in vecs)}
            out["espeak"] = row
            keywords.close()
        # Tux Paint spoken descriptions, per split and language
        for split in ("val", "test"):
            pairs, images = tux_sample(split, SAMPLE)
            pairs = [p for p in pairs if p.speech in clips]
            if not pairs:
                continue
            images, image_vecs, skipped = _gallery(encoder, images)
            index = {p: i for i, p in enumerate(images)}
            pairs = [p for p in pairs if p.image in index]
            keywords = _keywords(Path(tmp), images, split)
            langs = sorted({p.language for p in pairs})
            res: dict = {"pictures": len(images), "pictures_not_decoded": skipped,
                         "chance_R@10": round(10 / len(images), 3), "languages": {}, "pooled": {}}
            pooled: dict[str, list] = {name: [] for name in VARIANTS}
            pooled_typed: list = []
            for lang in langs:
                lp = [p for p in pairs if p.language == lang]
                correct = np.array([[index[p.image] == j for j in range(len(images))] for p in lp])
                typed_ranks = _r10(vectors.encode_text([p.text for p in lp]) @ image_vecs.T, correct)[1]
                pooled_typed.extend(typed_ranks)
                row = {"clips": len(lp), "typed_R@10": round(float(np.mean(np.array(typed_ranks) <= 10)), 3),
                       "heard_language": {w: round(float(np.mean([clips[p.speech]["languages"].get(w) == lang.split("-")[0]
                                                                   for p in lp])), 3) for w in ("open", "tux12")}}
                for name, variant in VARIANTS.items():
                    if not all(variant[0] in clips[p.speech]["languages"] for p in pairs):
                        continue  # not measured for the whole split (told: a second pass)
                    vecs = [query_vector(clips[p.speech], variant, vectors, keywords, media) for p in lp]
                    q = np.stack([v if v is not None else np.zeros(image_vecs.shape[1], np.float32) for v in vecs])
                    r10, rk = _r10(q @ image_vecs.T, correct)
                    pooled[name].extend(rk)
                    row[name] = round(r10, 3)
                res["languages"][lang] = row
            typed10 = float(np.mean(np.array(pooled_typed) <= 10))
            # Pooled over languages with at least MIN_CLIPS clips measured (en, nl, ml: 2-5 held-out clips).
            eligible = [lang for lang in langs if sum(p.language == lang for p in pairs) >= MIN_CLIPS]
            res["pooled"]["languages"] = eligible
            res["pooled"]["typed_R@10"] = round(typed10, 3)
            for name in VARIANTS:
                if not pooled[name]:
                    continue
                keep = [r for p, r in zip([p for lang in langs for p in pairs if p.language == lang], pooled[name])
                        if p.language in eligible]
                typed_keep = [r for p, r in zip([p for lang in langs for p in pairs if p.language == lang], pooled_typed)
                              if p.language in eligible]
                s10, t10 = float(np.mean(np.array(keep) <= 10)), float(np.mean(np.array(typed_keep) <= 10))
                res["pooled"][name] = {"speech_R@10": round(s10, 3), "typed_R@10": round(t10, 3),
                                       "ratio": round(s10 / max(t10, 1e-9), 3), "clips": len(keep)}
            out[split] = res
            keywords.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--per-language", type=int, default=30, help=f"clips per language and split (at most {SAMPLE})")
    ap.add_argument("--parts", default="espeak,val,test")
    ap.add_argument("--report-only", action="store_true")
    ap.add_argument("--window", type=float, default=None,
                    help="asr_short_clip_window_s for recognition (default: MediaConfig's); use its own --cache")
    ap.add_argument("--cache", default=str(RESULTS / "speech_retrieval_cache.json"))
    ap.add_argument("--out", default=str(RESULTS / "speech_retrieval.json"))
    args = ap.parse_args()
    cache_path = Path(args.cache)
    if args.report_only:
        cache = json.loads(cache_path.read_text())
    else:
        cache = run_asr(cache_path, args.per_language, args.parts.split(","), args.window)
    res = report(cache)
    Path(args.out).write_text(json.dumps(res, indent=2, ensure_ascii=False))
    print(json.dumps(res, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
