"""Where the CPU goes when a 1-3 s spoken query is recognised, one stage at a time, per encoder window.

    XMODAL_THREADS=1 python -m benchmarks.speech_profile [--queries 10]

Stages of ``xmodal.media.speech.transcribe_clip`` timed apart (process CPU seconds per query, the model
loaded and warmed first): mel features, the encoder pass, language detection, and the beam search at
beam 5 / 5-best (the default), 3 / 3-best and 2 / 2-best, for each ``asr_short_clip_window_s``. The
queries are the first of ``benchmarks.speech_tuning``'s tuning split (espeak-ng, never the held-out).
Writes ``benchmarks/results/speech_profile.json``.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import tempfile
import time
from pathlib import Path

from benchmarks.bench_speech import _speak
from benchmarks.speech_tuning import TUNING

WINDOWS = (30.0, 20.0, 15.0, 10.0, 5.0)
BEAMS = ((5, 5), (3, 3), (2, 2))


def main() -> None:
    import numpy as np

    from xmodal.config import Config
    from xmodal.media import decode_audio
    from xmodal.media.speech import SAMPLE_RATE, clip_languages, clip_window_frames, decode_clip, whisper_model

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--queries", type=int, default=10)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "speech_profile.json"))
    args = ap.parse_args()
    media = Config.from_env().media
    whisper = whisper_model(media.asr_model, media.asr_threads)
    fe = whisper.feature_extractor
    with tempfile.TemporaryDirectory(prefix="xmodal-speech-profile-") as tmp:
        clips = [decode_audio(_speak(q, Path(tmp) / f"q{i}.wav")) for i, q in enumerate(TUNING[:args.queries])]
    pad = np.zeros(int(round(media.asr_short_clip_pad_s * SAMPLE_RATE)), np.float32)
    result: dict = {"queries": len(clips), "threads": media.asr_threads,
                    "audio_s_per_query": round(sum(c.size for c in clips) / SAMPLE_RATE / len(clips), 2),
                    "load_average_at_start": round(os.getloadavg()[0], 1), "windows": {}}
    whisper.encode(np.ascontiguousarray(fe(np.zeros(SAMPLE_RATE, np.float32))))  # warm up
    for window in WINDOWS:
        cpu = dict.fromkeys(["features", "encoder", "language", *(f"beam {b} ({n}-best)" for b, n in BEAMS)], 0.0)
        for audio in clips:
            t = time.process_time()
            feats = fe(np.concatenate([pad, audio, pad]))
            frames = clip_window_frames(feats.shape[-1], window, fe.nb_max_frames, fe.time_per_frame)
            feats = np.ascontiguousarray(np.pad(feats[:, :frames], ((0, 0), (0, max(0, frames - feats.shape[-1])))))
            cpu["features"] += time.process_time() - t
            t = time.process_time()
            encoded = whisper.encode(feats)
            cpu["encoder"] += time.process_time() - t
            t = time.process_time()
            clip_languages(whisper, encoded)
            cpu["language"] += time.process_time() - t
            for beam, nbest in BEAMS:
                t = time.process_time()
                decode_clip(whisper, encoded, "en", True, dataclasses.replace(media, asr_beam_size=beam, asr_nbest=nbest))
                cpu[f"beam {beam} ({nbest}-best)"] += time.process_time() - t
        result["windows"][f"{window:g} s"] = {k: round(v / len(clips), 3) for k, v in cpu.items()}
        print(window, result["windows"][f"{window:g} s"], flush=True)
    result["load_average_at_end"] = round(os.getloadavg()[0], 1)
    Path(args.out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
