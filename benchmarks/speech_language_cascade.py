"""Language detection of short spoken queries: a 10 s encoder window first, the 30 s one only when unsure.

    python -m benchmarks.speech_language_cascade --split tuning      # espeak tuning queries + Tux Paint val voices
    python -m benchmarks.speech_language_cascade --split held-out    # the 50 held-out espeak queries (once)

Open language detection (no ``asr_languages``) keeps Whisper's 30 s window for short clips because in a
10 s window it guessed the language of 4 English queries wrong (BENCHMARKS.md, "Short clips in a shorter
encoder window"), so a spoken query costs RTF ~0.7. This measures, per clip, the top language and its
probability in both windows, to pick a confidence above which the 10 s window's guess is kept (and its
encoding decoded) and below which the clip is encoded again in the 30 s window. The threshold is chosen on
the tuning split (40 espeak queries, validation Tux Paint voices); the held-out queries are measured once.
Writes ``benchmarks/results/speech_language_cascade_<split>.json``.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import tempfile
import time
from pathlib import Path

from benchmarks.speech_tuning import HELD_OUT, TUNING, _speak, tux_val_clips

RESULTS = Path(__file__).resolve().parent / "results"


def detect(whisper, audio, media, window_s: float) -> dict:
    """Top-3 languages of ``audio`` encoded in a ``window_s`` window, and the CPU seconds it took."""
    from xmodal.media.speech import clip_languages, encode_clip

    c0 = time.process_time()
    encoded = encode_clip(whisper, audio, dataclasses.replace(media, asr_short_clip_open_window_s=window_s))
    probs = clip_languages(whisper, encoded)
    top = sorted(probs.items(), key=lambda kv: -kv[1])[:3]
    return {"top": [[k, round(float(p), 4)] for k, p in top], "cpu_s": round(time.process_time() - c0, 3)}


def run(split: str, per_language: int) -> dict:
    from xmodal.config import Config
    from xmodal.media import decode_audio
    from xmodal.media.speech import SAMPLE_RATE, whisper_model

    media = Config.from_env().media
    whisper = whisper_model("base", media.asr_threads)
    clips: list[tuple[str, str, str]] = []  # (name, path, language)
    out: dict = {"split": split, "load_average_at_start": round(os.getloadavg()[0], 1), "clips": []}
    with tempfile.TemporaryDirectory(prefix="xmodal-cascade-") as tmp:
        queries = TUNING if split == "tuning" else HELD_OUT
        for i, q in enumerate(queries):
            clips.append((f"espeak:{q}", str(_speak(q, Path(tmp) / f"q{i:02d}.wav")), "en"))
        if split == "tuning":
            clips += [(c, c, lang.split("-")[0]) for c, lang, _ in tux_val_clips(media.asr_short_clip_s, per_language)]
        detect(whisper, decode_audio(clips[0][1]), media, 30.0)  # warm the model
        for n, (name, path, language) in enumerate(clips):
            audio = decode_audio(path)
            row = {"clip": name, "language": language, "audio_s": round(audio.size / SAMPLE_RATE, 2),
                   "w10": detect(whisper, audio, media, 10.0), "w30": detect(whisper, audio, media, 30.0)}
            out["clips"].append(row)
            if n % 20 == 0:
                print(f"{n}/{len(clips)}", flush=True)
    out["load_average_at_end"] = round(os.getloadavg()[0], 1)
    return out


def summarise(result: dict, thresholds=(0.0, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.01)) -> list[dict]:
    """Per threshold: clips kept in the 10 s window, their agreement with the 30 s guess, language right,
    and the CPU per audio second of the cascade (10 s always; 30 s again when unsure)."""
    rows = []
    clips = result["clips"]
    audio = sum(c["audio_s"] for c in clips)
    for t in thresholds:
        kept = [c for c in clips if c["w10"]["top"][0][1] >= t]
        final = [c["w10"]["top"][0][0] if c["w10"]["top"][0][1] >= t else c["w30"]["top"][0][0] for c in clips]
        cpu = sum(c["w10"]["cpu_s"] + (0 if c["w10"]["top"][0][1] >= t else c["w30"]["cpu_s"]) for c in clips)
        rows.append({"threshold": t, "kept_10s": len(kept), "clips": len(clips),
                     "agree_with_30s": sum(c["w10"]["top"][0][0] == c["w30"]["top"][0][0] for c in kept),
                     "right": sum(f == c["language"] for f, c in zip(final, clips)),
                     "right_30s_only": sum(c["w30"]["top"][0][0] == c["language"] for c in clips),
                     "detect_cpu_per_audio_s": round(cpu / audio, 3)})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--split", choices=("tuning", "held-out"), default="tuning")
    ap.add_argument("--per-language", type=int, default=10)
    ap.add_argument("--report-only", action="store_true")
    args = ap.parse_args()
    path = RESULTS / f"speech_language_cascade_{args.split}.json"
    result = json.loads(path.read_text()) if args.report_only else run(args.split, args.per_language)
    result["summary"] = {"all": summarise(result),
                         "espeak": summarise({"clips": [c for c in result["clips"] if c["clip"].startswith("espeak:")]}),
                         "voices": summarise({"clips": [c for c in result["clips"] if not c["clip"].startswith("espeak:")]})}
    path.write_text(json.dumps(result, indent=1, ensure_ascii=False))
    print(json.dumps(result["summary"], indent=1))


if __name__ == "__main__":
    main()
