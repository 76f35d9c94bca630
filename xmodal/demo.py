"""`make demo`: index the bundled sample media, then run cross-modal queries and check each answer.

The samples (samples/media: photos, drawings, documents, speech, a narrated video) are indexed
into ./demo.xmdb with the multilingual model, so one index answers English and Chinese text,
images and speech. Each query has one right answer; the demo prints what it found, marks it, and
exits non-zero if any first result is wrong. Re-running is incremental (nothing is re-encoded).
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import xmodal
from xmodal.config import CONFIG
from xmodal.encoders import get_encoder
from xmodal.errors import ModelMismatch, XmodalError
from xmodal.ingest.commands import format_evidence

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
MEDIA = SAMPLES / "media"
QUERIES = SAMPLES / "queries"
# Tried in order: the trained multilingual model, then the untrained bridge that needs no training.
FALLBACK_MODELS = ("label-bridge-multilingual",)


@dataclass(frozen=True)
class DemoQuery:
    title: str
    kwargs: dict  # for Library.search
    expect: str  # file name of the right first result
    time_range: tuple[float, float] | None = None  # for video: the second that must be found

    def describe(self) -> str:
        if "text" in self.kwargs:
            return f'"{self.kwargs["text"]}"'
        src = self.kwargs.get("image") or self.kwargs.get("audio")
        return str(Path(src).relative_to(ROOT)) if Path(src).is_relative_to(ROOT) else str(src)


def queries() -> list[DemoQuery]:
    return [
        DemoQuery("English text -> image", {"text": "a bicycle", "kind": "image"}, "bicycle.svg"),
        DemoQuery("Chinese text -> image", {"text": "一杯咖啡", "kind": "image"}, "coffee-cup.tiff"),  # "a cup of coffee"
        DemoQuery("image -> image", {"image": str(QUERIES / "elephant-photo.jpg"), "kind": "image"}, "elephant.jpg"),
        DemoQuery("speech -> image", {"audio": str(QUERIES / "say-guitar.wav"), "kind": "image"}, "guitar.gif"),
        DemoQuery("speech -> text", {"audio": str(QUERIES / "say-guitar.wav"), "kind": "text"}, "guitar-tuning.md"),
        DemoQuery("text -> second of a video", {"text": "an airplane in the sky", "kind": "video"}, "city-tour.mp4",
                  time_range=(4.0, 8.0)),
        DemoQuery("text -> spoken audio", {"text": "when does the train to Cambridge leave?", "kind": "audio"},
                  "train-announcement.ogg"),
        DemoQuery("text -> words in a picture (OCR)", {"text": "open 24 hours", "kind": "image"}, "bakery-sign.png"),
    ]


def pick_model(requested: str | None) -> str:
    """The first demo model this installation can load (the trained one may not be built yet)."""
    candidates = [requested] if requested else [CONFIG.ingest.demo_model, *FALLBACK_MODELS]
    last: Exception | None = None
    for name in candidates:
        try:
            get_encoder(name)
            return name
        except XmodalError as exc:
            last = exc
    raise SystemExit(f"demo: no usable model among {candidates}: {last}")


def check(q: DemoQuery, results) -> tuple[bool, str]:
    if not results:
        return False, "no results"
    top = results[0]
    ok = Path(top.path).name == q.expect
    if ok and q.time_range is not None:
        t = top.evidence.get("time")
        ok = t is not None and q.time_range[0] <= float(t) < q.time_range[1]
    return ok, top.path


def run(db: Path, model: str | None, say: Callable[[str], None] = print) -> int:


    model = pick_model(model)
    say(f"[demo] model {model}; library {db}")
    try:
        lib = xmodal.open(db, model=model)
    except ModelMismatch:
        # An earlier demo run used another model (e.g. before the trained one was built): the demo
        # library is ours to rebuild.
        with xmodal.open(db) as old:
            say(f"[demo] re-indexing: {db} was built with {old.model}")
            old.drop()
        lib = xmodal.open(db, model=model)
    with lib:
        t0 = time.perf_counter()
        report = lib.index([MEDIA])
        from rich.console import Console

        report.render(Console())
        if report.interrupted:
            return 130
        say(f"[demo] indexed in {time.perf_counter() - t0:.1f} s\n")

        failures = 0
        for q in queries():
            results = lib.search(**q.kwargs, k=3)
            ok, got = check(q, results)
            failures += not ok
            heard = f" (heard: {results.query_text!r})" if results.query_text else ""
            say(f"{'PASS' if ok else 'FAIL'}  {q.title}: {q.describe()}{heard}")
            for i, r in enumerate(results, 1):
                rel = Path(r.path).relative_to(ROOT) if Path(r.path).is_relative_to(ROOT) else r.path
                say(f"      {i}. {rel}  score {r.score:.4f}  {format_evidence(r.evidence)}")
            if not ok:
                say(f"      expected {q.expect} first, got {got}")
    total = len(queries())
    say(f"\n[demo] {total - failures}/{total} queries answered correctly")
    say(f'[demo] try your own: xmodal search "a dog" --db {db}   (or --image FILE, --audio FILE, --json)')
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Index the bundled samples and run cross-modal queries.")
    ap.add_argument("--db", type=Path, default=ROOT / "demo.xmdb")
    ap.add_argument("--model", default=None, help=f"default: {CONFIG.ingest.demo_model}, else a fallback")
    args = ap.parse_args(argv)
    return run(args.db, args.model)


if __name__ == "__main__":
    sys.exit(main())
