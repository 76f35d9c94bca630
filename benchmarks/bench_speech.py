"""Speech recognition: how many content words come back, which language is detected, and how fast.

    python -m benchmarks.bench_speech                      # everything, writes results/speech.json
    python -m benchmarks.bench_speech --per-language 20    # fewer Tux Paint clips per language

Two sources of speech, neither used for training anything:

* 50 short English queries (1-4 words) read by espeak-ng (``-v en-us -s 150``), decoded with
  several settings (VAD on / off, beam 5 / greedy) by Whisper base (multilingual) and tiny.en;
* Tux Paint's real recordings of its stamp descriptions (``*_desc_<lang>.ogg``) from the
  held-out test folders, a seeded sample per language, compared with the written description
  in the same language. The recordings do not always read the text word for word, so this
  recovery is a floor.

Content words: English queries drop a short stop list; Tux Paint references keep words of four or
more letters (a language-neutral proxy). Accents and case are ignored on both sides.
Real-time factor = processing seconds / audio seconds with one CPU thread (``cpu_threads=1``).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import tempfile
import time
import unicodedata
from pathlib import Path

QUERIES = [
    "a brown horse", "a red apple", "guitar", "a black cat", "a yellow school bus", "a cup of coffee",
    "a sleeping dog", "fresh bread", "a white sheep", "a bicycle", "snow on the mountains", "a green frog",
    "a birthday cake", "an old castle", "a pair of shoes", "a small boat", "a blue butterfly", "a teddy bear",
    "pizza", "a lighthouse", "a pumpkin", "the moon at night", "a fire truck", "an elephant", "a strawberry",
    "a violin", "a rainbow", "a tractor on a farm", "a penguin", "a hot air balloon", "a pine tree",
    "a glass of milk", "a wooden chair", "a basketball", "an airplane in the sky", "a lion", "a banana",
    "a pirate ship", "a snowman", "a candle", "a kangaroo", "a rubber duck", "an umbrella", "a piano",
    "a red rose", "a helicopter", "a turtle", "a chocolate cookie", "a train", "a butterfly on a flower",
]
STOP = {"a", "an", "the", "of", "on", "in", "at", "to", "and", "with", "for"}
SETTINGS = {  # name -> (model, faster-whisper options); most telling first (a cut-short run keeps them)
    "base, short-clip settings (default: no VAD, beam 5, no timestamps)": ("base", None),
    "base, with timestamp tokens": ("base", {"without_timestamps": False}),
    "tiny.en, short-clip settings": ("tiny.en", None),
    "base, VAD on": ("base", {"vad_filter": True}),
    "tiny.en, VAD on, timestamps (previous default)": ("tiny.en", {"vad_filter": True, "without_timestamps": False}),
    "base, greedy (beam 1)": ("base", {"beam_size": 1}),
}


def words(text: str) -> list[str]:
    """Lower-case words without accents (Whisper and the references disagree on both)."""
    text = unicodedata.normalize("NFKD", text.lower())
    text = "".join(c for c in text if not unicodedata.combining(c))
    return re.findall(r"[^\W\d_]+", text)


def recovery(reference: list[str], heard: str) -> tuple[int, int]:
    got = set(words(heard))
    return sum(w in got for w in reference), len(reference)


def _speak(text: str, out: Path) -> Path:
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(out), text], check=True, capture_output=True)
    return out


def _run(name: str, audio, overrides: dict | None, language: str | None = None):
    """One decode with ``name``'s short-clip options plus ``overrides``: (text, language, cpu s, wall s)."""
    from xmodal.config import Config
    from xmodal.media.speech import SAMPLE_RATE, decoding_options, likeliest_language, whisper_model
    from xmodal.media.whisper_models import is_multilingual

    media = Config.from_env().media
    c0, t0 = time.process_time(), time.perf_counter()
    whisper = whisper_model(name, media.asr_threads)
    if is_multilingual(name) and language is None and media.asr_languages:  # as transcribe() does
        language = likeliest_language(whisper, audio, media.asr_languages)
    opts = {**decoding_options(audio.size / SAMPLE_RATE, is_multilingual(name), language, media), **(overrides or {})}
    segments, info = whisper.transcribe(audio, **opts)
    text = " ".join(s.text.strip() for s in segments)
    return text, info.language, time.process_time() - c0, time.perf_counter() - t0


def bench_queries(folder: Path, save_to: dict | None = None, save=None) -> dict:
    from xmodal.media import decode_audio

    clips = [decode_audio(_speak(q, folder / f"q{i:02d}.wav")) for i, q in enumerate(QUERIES)]
    out: dict = {}
    if save_to is not None:
        save_to["espeak_queries"] = out  # filled in place: a partial run still shows what it measured
    for label, (model, overrides) in SETTINGS.items():
        hit = total = english = 0
        misses = []
        for q, audio in zip(QUERIES, clips):
            text, lang, _, _ = _run(model, audio, overrides)
            ref = [w for w in words(q) if w not in STOP]
            h, n = recovery(ref, text)
            hit, total, english = hit + h, total + n, english + (lang == "en")
            if h < n:
                misses.append(f"{q} -> {text}")
        out[label] = {"content_words": total, "recovered": hit, "recovery": round(hit / total, 3),
                      "detected_english": english, "misheard": misses}
        if save is not None:
            save()
    return out


def tuxpaint_sample(per_language: int, seed: int = 0) -> tuple[dict[str, list], dict[str, int]]:
    """Up to ``per_language`` held-out (test split) pairs with a recording per language, and how
    many such pairs each language has."""
    from xmodal.train.recipes import tuxpaint_splits

    by_lang: dict[str, list] = {}
    for p in tuxpaint_splits()["test"]:
        if p.speech:
            by_lang.setdefault(p.language, []).append(p)
    rng = random.Random(seed)
    sample = {lang: sorted(rng.sample(ps, min(per_language, len(ps))), key=lambda p: p.speech)
              for lang, ps in sorted(by_lang.items())}
    return sample, {lang: len(ps) for lang, ps in by_lang.items()}


def bench_tuxpaint(per_language: int, models: tuple[str, ...] = ("base", "tiny.en"), save_to: dict | None = None,
                   save=None) -> dict:
    from xmodal.media import decode_audio
    from xmodal.media.speech import SAMPLE_RATE

    out: dict = {}
    if save_to is not None:
        save_to["tuxpaint"] = out
    sample, held_out = tuxpaint_sample(per_language)
    for lang, pairs in sample.items():
        audio = [decode_audio(p.speech) for p in pairs]
        seconds = sum(a.size for a in audio) / SAMPLE_RATE
        row: dict = {"clips": len(pairs), "held_out_clips": held_out[lang], "audio_seconds": round(seconds, 1)}
        for model in models:
            if model.endswith(".en") and lang != "en":
                continue
            hit = total = same = 0
            cpu = wall = 0.0
            examples = []
            for p, a in zip(pairs, audio):
                text, detected, c, w = _run(model, a, None)
                h, n = recovery([w for w in words(p.text) if len(w) >= 4], text)
                hit, total, cpu, wall = hit + h, total + n, cpu + c, wall + w
                same += detected.split("-")[0] == lang.split("-")[0]
                if len(examples) < 3:
                    examples.append({"text": p.text, "heard": text, "language": detected})
            row[model] = {"recovery": round(hit / max(total, 1), 3), "content_words": total,
                          "language_detected": round(same / len(pairs), 3),
                          "rtf_wall": round(wall / seconds, 3), "rtf_cpu": round(cpu / seconds, 3),
                          "examples": examples}
        out[lang] = row
        if save is not None:
            save()
    return out


def bench_rtf_long(folder: Path, models: tuple[str, ...] = ("base", "tiny.en")) -> dict:
    """Real-time factor on a 30-second espeak reading (the regime of indexed recordings)."""
    from xmodal.media import decode_audio, transcribe
    from xmodal.media.speech import SAMPLE_RATE, whisper_model

    text = ("Cross modal search lets you find a photo by describing it, or find the moment in a recording "
            "where something was said. This clip is read by a speech synthesiser for the benchmark. "
            "The library keeps every file where it is, reads pictures, documents, sound and video, and "
            "answers questions in many languages without sending anything to a server.")
    wav = _speak(text, folder / "long.wav")
    seconds = decode_audio(wav).size / SAMPLE_RATE
    out = {"audio_seconds": round(seconds, 1)}
    for model in models:
        whisper_model(model)
        c0, t0 = time.process_time(), time.perf_counter()
        transcribe(wav, model=model)
        out[model] = {"rtf_wall": round((time.perf_counter() - t0) / seconds, 3),
                      "rtf_cpu": round((time.process_time() - c0) / seconds, 3)}
    return out


PARTS = ("queries", "long", "tuxpaint")


def run(results_dir: Path, per_language: int = 30, parts: tuple[str, ...] = PARTS,
        out_path: Path | None = None) -> dict:
    """Measure ``parts``; with ``out_path`` the JSON is rewritten after each part (runs are long)."""
    from xmodal.config import Config

    threads = Config.from_env().media.asr_threads
    assert threads == 1, "the real-time factor is measured on one thread (XMODAL_THREADS=1)"
    out = {"cpu_count": os.cpu_count(), "load_average_at_start": round(os.getloadavg()[0], 1), "threads": threads}

    def save() -> None:
        out["load_average_now"] = round(os.getloadavg()[0], 1)
        if out_path is not None:
            out_path.parent.mkdir(parents=True, exist_ok=True)
            out_path.write_text(json.dumps(out, indent=2, ensure_ascii=False))

    with tempfile.TemporaryDirectory(prefix="xmodal-bench-speech-") as tmp:
        if "queries" in parts:
            out["espeak_queries"] = bench_queries(Path(tmp), save_to=out, save=save)
            save()
        if "long" in parts:
            out["long_clip"] = bench_rtf_long(Path(tmp))
            save()
    if "tuxpaint" in parts:
        out["tuxpaint"] = bench_tuxpaint(per_language, save_to=out, save=save)
        save()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--per-language", type=int, default=30, help="Tux Paint clips per language")
    ap.add_argument("--parts", default=",".join(PARTS), help="comma-separated: " + ",".join(PARTS))
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "speech.json"))
    args = ap.parse_args()
    out = Path(args.out)
    res = run(out.parent, args.per_language, tuple(args.parts.split(",")), out)
    print(json.dumps(res, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
