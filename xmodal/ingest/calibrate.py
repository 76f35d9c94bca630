"""Fit a model's score-to-relevance mappings on held-out queries and store them as JSON.

    python -m xmodal.ingest.calibrate --model xmodal-lite [--out PATH]

Why held-out: a mapping fitted on the pairs a model was trained on would call every match
certain. The Tux Paint *validation* split (``xmodal.datasets.tuxpaint.tuxpaint_splits()["val"]``,
never trained on) gives three labelled sets, one per signal:

- ``visual``: each picture's English description as the query, every validation picture as a
  candidate (relevant: its own picture);
- ``text``: each picture's name ("brown slug") as the query, every validation description as a
  candidate passage (relevant: its own descriptions); multilingual models see the descriptions in
  every language, English-only ones the English descriptions;
- ``keyword``: the same name queries over a keyword index of those descriptions, each hit judged
  by the IDF-weighted share of the query's words it holds;
- ``image:visual`` / ``image:text`` (queries by picture, ``search(image=...)``): each validation
  picture, mirrored and cropped, as the query against every validation picture (relevant: the
  same item) and against the English descriptions (relevant: its own).
- ``sound`` (models with a sound head): each validation sound effect's English description and name
  as queries (``tuxpaint_sound_splits()["val"]``, folders the head never trained on), every Tux
  Paint sound of the train and val folders as a candidate (relevant: its own clip);
  ``--fields sound`` refits it (and the three below) alone and keeps the other mappings;
- ``sound:sound`` / ``sound:visual`` / ``sound:text`` (a clip without speech as the query,
  ``search(audio=...)``): each validation sound effect, heard another way (:func:`query_hearing`),
  against every train and val sound (relevant: its own clip), those sounds' stamp pictures
  (relevant: its own stamp's) and their English descriptions (relevant: its own).

Vector fields are fitted on the z-score of a similarity against the query's similarities to all
candidates, and those candidates' vectors are stored (``<model>.npz``, float16) as the background
a search query is measured against. Each mapping is a one-feature logistic (monotone by
construction), written with the data it was fitted on, its Brier score and this command, to
``xmodal/ingest/calibration/<model>.json``. The probabilities are per candidate with one relevant
picture among ~90, so they are low for a weak model: honest, not flattering.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import ImageOps

from xmodal.datasets.tuxpaint import tuxpaint_sound_splits, tuxpaint_splits
from xmodal.encoders import get_encoder
from xmodal.encoders.sound import BRIDGE_WEIGHT, embed_heard
from xmodal.errors import InvalidInput
from xmodal.ingest.extract import name_words
from xmodal.ingest.keywords import KeywordIndex
from xmodal.ingest.ranking import (KEYWORD, Calibration, brier, calibration_path, content_terms, fit_logistic,
                                   keyword_match, load_calibration, model_reads_only_english, zscores)
from xmodal.ingest.sound import SOUND, library_has_sounds
from xmodal.media import load_image
from xmodal.media.sound import hear_files, listen
from xmodal.media.speech import decode_audio

__all__ = ["PASSAGES_MAX", "BACKGROUND_MAX", "fit", "query_view"]


PASSAGES_MAX = 1500  # multilingual: every English description plus others, evenly over the languages
BACKGROUND_MAX = 400  # reference vectors kept per field (spread over languages for multilingual models)


def _labelled(scores: np.ndarray, query_items: Sequence[str], cand_items: Sequence[str]
              ) -> tuple[list, list, float]:
    """Each query's similarities as z-scores against all candidates (its background), labelled, and
    the spread floor (the median query's spread) used for them."""
    floor = float(np.median(scores.std(axis=1)))
    xs, ys = [], []
    for qi, row in zip(query_items, zscores(scores, floor)):
        for ci, s in zip(cand_items, row):
            xs.append(float(s))
            ys.append(int(qi == ci))
    return xs, ys, floor


def _fit(name: str, xs: list, ys: list, fields: dict, report: dict, log, **sizes: int) -> None:
    """Fit ``name``'s mapping on the labelled similarities (``xs``, ``ys``) into ``fields``, and its
    report (``sizes``, the positives, the in-sample Brier score) into ``report``, logged."""
    fields[name] = fit_logistic(xs, ys)
    report[name] = {**sizes, "positives": sum(ys), "brier": round(brier([fields[name](x) for x in xs], ys), 5)}
    log(f"{name}: {report[name]}")


def _spread(pairs: Sequence, n: int) -> list:
    """The English pairs and an even sample of the rest (in their stored order), ``n`` at most."""
    english = [p for p in pairs if p.language == "en"]
    others = [p for p in pairs if p.language != "en"]
    step = max(1, len(others) // max(1, n - len(english)))
    return english + others[::step][: max(0, n - len(english))]


def fit(model: str, log=print) -> tuple[Calibration, dict]:
    """Fit the ``visual`` / ``text`` / ``keyword`` mappings of ``model``; returns them and a report."""

    enc = get_encoder(model)
    val = tuxpaint_splits()["val"]
    english = [p for p in val if p.language == "en"]
    items = list(dict.fromkeys(p.item_id for p in val))
    image_of = {p.item_id: p.image for p in val}
    fields, report, backgrounds, floors = {}, {}, {}, {}
    if "image" in enc.modalities and "text" in enc.modalities:
        qv = enc.encode_text([p.text for p in english], mode="query")
        iv = enc.encode_image([load_image(Path(image_of[i])) for i in items])
        xs, ys, floors["visual"] = _labelled(qv @ iv.T, [p.item_id for p in english], items)
        _fit("visual", xs, ys, fields, report, log, queries=len(english), candidates=len(items))
        backgrounds["visual"] = iv
    if "text" in enc.modalities:
        passages = english if model_reads_only_english(model) else _spread(val, PASSAGES_MAX)
        names = {i: name_words(Path(image_of[i])) for i in items}
        qv = enc.encode_text([names[i] for i in items], mode="query")
        pv = enc.encode_text([p.text for p in passages], mode="passage")
        xs, ys, floors["text"] = _labelled(qv @ pv.T, items, [p.item_id for p in passages])
        _fit("text", xs, ys, fields, report, log, queries=len(items), candidates=len(passages))
        step = max(1, len(passages) // BACKGROUND_MAX)
        backgrounds["text"] = pv[::step][:BACKGROUND_MAX]
        with tempfile.TemporaryDirectory(prefix="xmodal-cal-") as tmp:
            kw = KeywordIndex(Path(tmp) / "kw.sqlite")
            kw.add((str(n), p.item_id, "text", p.text) for n, p in enumerate(passages))
            n_docs = kw.count()
            xs, ys = [], []
            for i in items:
                hits = kw.search_passages(names[i], 200)
                df = kw.doc_freqs(content_terms(names[i]))
                for h in hits:
                    m = keyword_match(names[i], h.text, df, n_docs, 0.0, 1 << 30)  # coverage only
                    xs.append(m.coverage)
                    ys.append(int(h.item_id == i))
            kw.close()
        _fit(KEYWORD, xs, ys, fields, report, log, queries=len(items), hits=len(xs))
    if "image" in enc.modalities:
        originals = [load_image(Path(image_of[i])) for i in items]
        _fit_image_queries(enc, items, originals, english, fields, backgrounds, floors, report, log)
    if library_has_sounds(enc):
        for into, part in zip((fields, report, backgrounds, floors), fit_sound(enc, log)):
            into.update(part)
    return Calibration(model, fields, backgrounds, floors), report


def query_view(img):
    """Another view of a picture, as a person's query photo of the same thing would be: mirrored and
    cropped to 85 % (a copy of the stored file would match itself and teach nothing)."""
    w, h = img.size
    dx, dy = int(w * 0.075), int(h * 0.075)
    return ImageOps.mirror(img).crop((dx, dy, w - dx, h - dy)).resize((w, h))


def _fit_image_queries(enc, items, originals, english, fields, backgrounds, floors, report, log) -> None:
    """``image:visual`` / ``image:text``: a picture as the query (``search(image=...)``), against the
    validation pictures (relevant: the same item, seen as :func:`query_view`) and against the English
    descriptions (relevant: its own)."""
    qv = enc.encode_image([query_view(img) for img in originals])
    if "visual" in backgrounds:
        iv = backgrounds["visual"]
        xs, ys, floors["image:visual"] = _labelled(qv @ iv.T, items, items)
        _fit("image:visual", xs, ys, fields, report, log, queries=len(items), candidates=len(items))
        backgrounds["image:visual"] = iv
    if "text" in enc.modalities:
        pv = enc.encode_text([p.text for p in english], mode="passage")
        xs, ys, floors["image:text"] = _labelled(qv @ pv.T, items, [p.item_id for p in english])
        _fit("image:text", xs, ys, fields, report, log, queries=len(items), candidates=len(english))
        step = max(1, len(english) // BACKGROUND_MAX)
        backgrounds["image:text"] = pv[::step][:BACKGROUND_MAX]


def query_hearing(audio: np.ndarray, seed: int = 0) -> np.ndarray:
    """Another hearing of a clip, as a person's recording of the same sound would be: 6 dB quieter,
    5 % trimmed off each end, with faint noise (30 dB under the clip's power). A copy of the stored
    clip would match itself and teach nothing (:func:`query_view` for pictures)."""
    trim = int(len(audio) * 0.05)
    clip = audio[trim:len(audio) - trim] if len(audio) > 20 * max(trim, 1) else audio
    clip = clip.astype(np.float32) * np.float32(10 ** (-6 / 20))
    power = float(np.mean(clip ** 2)) or 1e-8
    noise = np.random.default_rng(seed).standard_normal(len(clip)).astype(np.float32)
    return (clip + noise * np.float32(np.sqrt(power * 10 ** (-30 / 10)))).astype(np.float32)


def _refit(model: str, names: set[str], stored_at: Path, log) -> tuple[Calibration, dict]:
    """Refit the signals ``names`` (only ``sound``, with the ``sound:`` query mappings, so far) into
    the stored calibration of ``model``."""
    if names != {SOUND}:
        raise InvalidInput(f"--fields: only 'sound' can be refitted alone, not {', '.join(sorted(names - {SOUND}))}")
    old = load_calibration(model, stored_at)
    if old is None:
        raise InvalidInput(f"{stored_at}: no stored calibration to add the sound mapping to (run without --fields)")
    enc = get_encoder(model)
    if not library_has_sounds(enc):
        raise InvalidInput(f"model {model!r} has no sound head to calibrate")
    fields, report, backgrounds, floors = fit_sound(enc, log)
    previous = json.loads(stored_at.read_text(encoding="utf-8")).get("report", {})
    return (Calibration(model, {**old.fields, **fields}, {**old.backgrounds, **backgrounds},
                        {**old.sd_floors, **floors}), {**previous, **report})


def fit_sound(enc, log=print) -> tuple[dict, dict, dict, dict]:
    """The ``sound`` mapping of ``enc``'s sound head: (fields, report, backgrounds, floors)."""
    splits = tuxpaint_sound_splits()
    by_item: dict[str, list] = {}
    for name in ("val", "train"):  # val first: its clips are the queries' answers
        for p in splits[name]:
            by_item.setdefault(p.item_id, []).append(p)
    heard = hear_files([ps[0].speech for ps in by_item.values()], labels=bool(BRIDGE_WEIGHT))
    items = [i for i, ps in by_item.items() if ps[0].speech in heard]
    val_items = [i for i in dict.fromkeys(p.item_id for p in splits["val"]) if i in items]
    sounds = embed_heard(enc, [heard[by_item[i][0].speech] for i in items])
    english = {i: next((p.text for p in by_item[i] if p.language == "en"), by_item[i][0].text) for i in items}
    texts, owners = [], []
    for i in val_items:
        for t in dict.fromkeys([english[i], name_words(Path(by_item[i][0].image))]):
            texts.append(t)
            owners.append(i)
    qv = enc.encode_text(texts, mode="query")
    fields: dict = {}
    reports: dict = {}
    backgrounds, floors = {SOUND: sounds}, {}
    xs, ys, floors[SOUND] = _labelled(qv @ sounds.T, owners, items)
    _fit(SOUND, xs, ys, fields, reports, log, queries=len(texts), candidates=len(items))
    # A clip as the query: each val clip heard another way, against the sounds, their stamps'
    # pictures and their English descriptions (relevant: its own in each).
    views = embed_heard(enc, [listen(query_hearing(decode_audio(by_item[i][0].speech), n), by_item[i][0].speech, labels=bool(BRIDGE_WEIGHT))
                              for n, i in enumerate(val_items)])
    against = {"sound": sounds}
    if "image" in enc.modalities:
        against["visual"] = enc.encode_image([load_image(Path(by_item[i][0].image)) for i in items])
    if "text" in enc.modalities:
        against["text"] = enc.encode_text([english[i] for i in items], mode="passage")
    for field, cands in against.items():
        name = f"sound:{field}"
        xs, ys, floors[name] = _labelled(views @ cands.T, val_items, items)
        _fit(name, xs, ys, fields, reports, log, queries=len(val_items), candidates=len(items))
        backgrounds[name] = cands
    return fields, reports, backgrounds, floors


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m xmodal.ingest.calibrate", description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", default=None, help="JSON to write (default: xmodal/ingest/calibration/<model>.json)")
    ap.add_argument("--fields", default=None, help="refit only these signals (e.g. sound), keeping the stored others")
    args = ap.parse_args(argv)
    log = lambda m: print(m, file=sys.stderr)  # noqa: E731
    out = Path(args.out) if args.out else calibration_path(args.model)
    if args.fields:
        cal, report = _refit(args.model, set(args.fields.split(",")), out, log)
    else:
        cal, report = fit(args.model, log=log)
    out.parent.mkdir(parents=True, exist_ok=True)
    data = {**cal.to_json(), "fitted_on": "Tux Paint validation split (xmodal.datasets.tuxpaint.tuxpaint_splits; "
                                        "sound: tuxpaint_sound_splits)",
            "report": report, "command": f"python -m xmodal.ingest.calibrate --model {args.model}"}
    out.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    np.savez_compressed(out.with_suffix(".npz"), **{f: np.asarray(v, np.float16) for f, v in cal.backgrounds.items()})
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
