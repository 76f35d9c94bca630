"""Experiment (issue 17): a zero-shot sound label bridge from Whisper's decoder. Not shipped: MODEL_CARD.md,
"Sounds", has the numbers and why.

    PYTHONPATH=. XMODAL_THREADS=1 nice -n 5 .venv/bin/python scripts/sound_label_bridge.py [--cache /tmp/sb]

A clip's bridge vector is the softmax-weighted mean of the text vectors of its most likely labels
from ``xmodal/media/sound_labels.txt`` (370 hand-written everyday sound labels), scored two ways
from the encoder output the caption already uses (first 30 s window, padded):

* first-token: log P(first token of "label" | "... (") from the caption's own first decoding step
  (free: ``return_logits_vocab``), minus ``alpha`` times the same on silence / white / brown noise
  (shipped: ``xmodal.media.sound.describe``, top 40, alpha 0.5; ``embed_heard`` T 1, weight 2);
* full-16: the 16 labels with the likeliest first token scored in full (mean log-prob of all their
  tokens, ``Whisper.align`` on the encoder output cut to the clip's own frames), ~0.4 s CPU a clip.

Choices are made on train + val clips (the bridge is untrained: zero-shot) and on the val clips
(weights beside the trained head); the test folders are measured last, for the record.
"""
from __future__ import annotations

import argparse
import itertools
import pickle
import time
from pathlib import Path

import ctranslate2
import numpy as np
from faster_whisper.tokenizer import Tokenizer

from xmodal.datasets.tuxpaint import tuxpaint_sound_splits
from xmodal.encoders import get_encoder
from xmodal.encoders.base import l2_normalise
from xmodal.encoders.sound import project_sounds
from xmodal.eval.metrics import ranks
from xmodal.media import sound as S
from xmodal.media.images import load_image
from xmodal.media.speech import decode_audio, is_silent, whisper_model

LABELS = list(S.sound_labels())
CANDIDATES = 16


def hear_all(cache: Path) -> dict:
    """Per clip: split, paths, texts, pooled features, caption, first-token log-probs, full-16 scores."""
    path = cache / "clips.pkl"
    if path.is_file():
        return pickle.loads(path.read_bytes())
    w = whisper_model(S.SOUND_MODEL)
    tok = Tokenizer(w.hf_tokenizer, True, task="transcribe", language="en")
    start = [*tok.sot_sequence, tok.no_timestamps]
    label_tokens = [tok.encode(" (" + lab + ")") for lab in LABELS]
    out, cpu = {}, []
    for split, pairs in tuxpaint_sound_splits().items():
        for item in dict.fromkeys(p.item_id for p in pairs):
            ps = [p for p in pairs if p.item_id == item]
            audio = decode_audio(ps[0].speech)
            if is_silent(audio):
                continue
            windows = S._windows(audio, S.SOUND_MODEL, S.MAX_SECONDS)
            short = windows[0][0].shape[0] < w.feature_extractor.nb_max_frames // 2
            encoded = S._padded_first_window(audio) if short else windows[0][1]
            tag, first = S._decode(encoded, S.SOUND_MODEL)  # what listen() computes: caption, first-token log-probs
            c0 = time.process_time()
            cand = np.argsort(-first, kind="stable")[:CANDIDATES]
            n = max(windows[0][0].shape[0], 50)
            mem = np.ascontiguousarray(np.repeat(np.asarray(encoded)[:, :n], len(cand), 0))
            res = w.model.align(ctranslate2.StorageView.from_array(mem), start, [label_tokens[j] for j in cand], n)
            full = np.full(len(LABELS), -np.inf)
            for j, r in zip(cand, res):
                full[j] = float(np.log(np.maximum(np.asarray(r.text_token_probs[1:]), 1e-12)).mean())
            cpu.append(time.process_time() - c0)
            out[item] = dict(split=split, image=ps[0].image, texts=[(p.language, p.text) for p in ps],
                             features=S.pool_frames(np.concatenate([f for f, _ in windows])),
                             tag=tag, first=first, full=full)
    print(f"full-16 scoring: {np.mean(cpu):.3f} s CPU a clip ({len(cpu)} clips)")
    out["_prior"] = S._label_prior(S.SOUND_MODEL)
    cache.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(out))
    return out


def bridge(label_vectors: np.ndarray, scores: np.ndarray, topk: int, temperature: float) -> np.ndarray:
    """Softmax(top-k scores / T)-weighted mean of the labels' text vectors, one row per clip."""
    out = np.zeros((len(scores), label_vectors.shape[1]), np.float32)
    for n, s in enumerate(scores):
        fin = np.flatnonzero(np.isfinite(s))
        idx = fin[np.argsort(-s[fin])[:topk]]
        z = s[idx] / temperature
        wt = np.exp(z - z.max())
        out[n] = (wt / wt.sum()) @ label_vectors[idx]
    return l2_normalise(out)


def metrics(q: np.ndarray, g: np.ndarray, target: np.ndarray) -> dict:
    ok = np.zeros((len(q), len(g)), bool)
    ok[np.arange(len(q)), target] = True
    r = ranks(q @ g.T, ok)
    return {"MRR": float((1 / r).mean()), **{f"R@{k}": float((r <= k).mean()) for k in (1, 5, 10)}}


def show(m: dict) -> str:
    return " ".join(f"{k} {v:.3f}" for k, v in m.items())


def report(clips: dict, model: str) -> None:
    prior = clips.pop("_prior")
    items = list(clips)
    split = np.array([clips[i]["split"] for i in items])
    enc = get_encoder(model)
    lv = enc.encode_text([f"({lab})" for lab in LABELS], mode="passage")
    english = [next((t for lang, t in clips[i]["texts"] if lang == "en"), clips[i]["texts"][0][1]) for i in items]
    queries = enc.encode_text(english, mode="query")
    head = project_sounds(model, np.stack([clips[i]["features"] for i in items]))
    cap = np.stack([enc.encode_text([f"({clips[i]['tag']})"], mode="passage")[0] if clips[i]["tag"]
                    else np.zeros(enc.dim, np.float32) for i in items])
    first = np.stack([clips[i]["first"] for i in items])
    full = np.stack([clips[i]["full"] for i in items])
    tv, va, te = (np.flatnonzero(split != "test"), np.flatnonzero(split == "val"), np.flatnonzero(split == "test"))
    print(f"== {model}: bridge alone, zero-shot, {len(tv)} train+val queries vs their {len(tv)} sounds")
    print("   caption alone:", show(metrics(queries[tv], l2_normalise(cap[tv] + 1e-9), np.arange(len(tv)))))
    best = {}
    for kind in ("first-token", "full-16"):
        grid = []
        for topk, temp, alpha in itertools.product((3, 5, 10, 20, 40), (0.1, 0.5, 1.0, 2.0), (0.0, 0.5, 1.0)):
            if kind == "full-16" and alpha:
                continue
            scores = first - alpha * prior if kind == "first-token" else full
            b = bridge(lv, scores, topk, temp)
            grid.append((metrics(queries[tv], b[tv], np.arange(len(tv)))["MRR"], topk, temp, alpha, b))
        mrr, topk, temp, alpha, best[kind] = max(grid, key=lambda g: g[0])
        print(f"   {kind}: best MRR {mrr:.3f} (top {topk}, T {temp}, alpha {alpha}):",
              show(metrics(queries[tv], best[kind][tv], np.arange(len(tv)))))
    print(f"== {model}: val queries ({len(va)}) vs train+val sounds ({len(tv)}), head weight 1")
    for kind, cw, bw in itertools.product(best, (0.0, 1.0), (0.0, 0.5, 1.0, 2.0)):
        v = l2_normalise(head + cw * cap + bw * best[kind])
        print(f"   {kind} caption {cw} bridge {bw}:", show(metrics(queries[va], v[tv], np.searchsorted(tv, va))))
    images = enc.encode_image([load_image(Path(clips[i]["image"])) for i in items])
    print(f"== {model}: TEST (held-out {len(te)}, chance R@10 {10 / len(te):.3f}; all {len(items)}, chance "
          f"{10 / len(items):.3f}; sound->image among {len(items)})")
    parts = {"head + caption (shipped)": head + cap, "head": head, "caption": cap + 1e-9,
             **{f"bridge {k}": b for k, b in best.items()},
             **{f"head + caption + bridge {k}": head + cap + b for k, b in best.items()}}
    for name, v in parts.items():
        v = l2_normalise(v.astype(np.float32))
        print(f"   {name}: held-out {show(metrics(queries[te], v[te], np.arange(len(te))))} | all "
              f"{show(metrics(queries[te], v, te))} | sound->image {show(metrics(v[te], images, te))}")
    clips["_prior"] = prior


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache", default="/tmp/sb", help="folder for the per-clip scores (about 10 min to make)")
    ap.add_argument("--models", default="xmodal-lite,xmodal-lite-multilingual")
    args = ap.parse_args()
    clips = hear_all(Path(args.cache))
    for model in args.models.split(","):
        report(clips, model)


if __name__ == "__main__":
    main()
