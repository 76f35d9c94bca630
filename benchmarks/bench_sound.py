"""What listening costs: real-time factor of speech recognition (Whisper base, tiny.en) and of the
sound head (Whisper base encoder at the clip's length + caption + head), one CPU thread, same run.

    python -m benchmarks.bench_sound [--effects 8]     # writes results/sound.json

Real-time factor = processing seconds / audio seconds, with process CPU time (the machine's two
cores are shared, so wall time is inflated by other jobs; both are written). Two regimes: a
23-second espeak reading (an indexed recording) and the held-out Tux Paint sound effects (short
clips, what a sound query is). Each model is loaded before timing starts.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from benchmarks.bench_speech import _speak

LONG_TEXT = ("Cross modal search lets you find a photo by describing it, or find the moment in a recording "
             "where something was said. This clip is read by a speech synthesiser for the benchmark. "
             "The library keeps every file where it is, reads pictures, documents, sound and video, and "
             "answers questions in many languages without sending anything to a server.")


def _timed(fn, clips: list[Path], seconds: float) -> dict:
    c0, t0 = time.process_time(), time.perf_counter()
    for clip in clips:
        fn(clip)
    return {"rtf_cpu": round((time.process_time() - c0) / seconds, 4),
            "rtf_wall": round((time.perf_counter() - t0) / seconds, 4)}


def run(out_path: Path | None = None, n_effects: int = 8) -> dict:
    os.environ.setdefault("XMODAL_THREADS", "1")
    from xmodal.config import CONFIG
    from xmodal.datasets.tuxpaint import tuxpaint_sound_splits
    from xmodal.encoders import get_encoder
    from xmodal.encoders.sound import encode_sounds
    from xmodal.media import decode_audio, transcribe
    from xmodal.media.speech import SAMPLE_RATE, whisper_model

    assert CONFIG.media.asr_threads == 1, "measured on one thread (XMODAL_THREADS=1)"
    encoder = get_encoder("xmodal-lite")
    for model in ("base", "tiny.en"):
        whisper_model(model)
    out: dict = {"cpu_count": os.cpu_count(), "load_average_at_start": round(os.getloadavg()[0], 1), "threads": 1}
    with tempfile.TemporaryDirectory(prefix="xmodal-bench-sound-") as tmp:
        long_clip = _speak(LONG_TEXT, Path(tmp) / "long.wav")
        effects = sorted({Path(p.speech) for p in tuxpaint_sound_splits()["test"]})[:n_effects]
        encode_sounds(encoder, effects[:1])  # warm: tokenizer, head file
        for name, clips in (("long_espeak_reading", [long_clip]), ("tuxpaint_sound_effects", effects)):
            seconds = sum(decode_audio(c).size for c in clips) / SAMPLE_RATE
            row = {"clips": len(clips), "audio_seconds": round(seconds, 1)}
            row["asr base"] = _timed(lambda c: transcribe(c, model="base"), clips, seconds)
            row["asr tiny.en"] = _timed(lambda c: transcribe(c, model="tiny.en"), clips, seconds)
            row["sound head (encoder + caption + head)"] = _timed(lambda c: encode_sounds(encoder, [c]), clips, seconds)
            row["sound head / asr base (cpu)"] = round(row["sound head (encoder + caption + head)"]["rtf_cpu"]
                                                       / row["asr base"]["rtf_cpu"], 3)
            out[name] = row
            print(name, json.dumps(row), flush=True)
    out["load_average_now"] = round(os.getloadavg()[0], 1)
    if out_path is not None:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(json.dumps(out, indent=2))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--effects", type=int, default=8, help="held-out sound effects timed (first by path)")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "sound.json"))
    args = ap.parse_args()
    print(json.dumps(run(Path(args.out), args.effects), indent=2))


if __name__ == "__main__":
    main()
