"""Train the sound head: Tux Paint's sound effects against their stamps' descriptions.

    python -m xmodal.train.sound --model xmodal-lite               # writes xmodal/encoders/weights/sound-xmodal-lite.npz
    python -m xmodal.train.sound --model xmodal-lite-multilingual

Data: every Tux Paint stamp with a sound effect (``load_tuxpaint_sounds``; ~130 clips), split by
whole folders (``tuxpaint_sound_splits``: train / val / test); the head is fitted on train,
its size, weight decay and epoch chosen on val, and the test folders are only ever measured
(:func:`xmodal.eval.sound.evaluate_sound_head`). Each training clip is heard many ways: a random
crop, a gain between -12 and +6 dB, white noise at 5-30 dB SNR, leading silence, and mixes of two
clips whose target is both stamps' texts (a mixture is partly each of them). Features are Whisper
base encoder statistics (:mod:`xmodal.media.sound`), cached per clip and augmentation.

The targets are the text model's own vectors of the stamp's descriptions (every language the model
reads) and its file name ("sea lion"): the text space is frozen, so a sound learns to land where
the words for it already are, next to the pictures the image head put there.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from xmodal._optional import require
from xmodal.config import cache_dir
from xmodal.datasets.pairs import Pair
from xmodal.datasets.tuxpaint import tuxpaint_sound_splits
from xmodal.encoders import get_encoder
from xmodal.encoders.sound import SoundHead, save_sound_head, weights_path
from xmodal.eval.metrics import ranks
from xmodal.media.sound import FEATURE_DIM, SOUND_MODEL, encoder_frames, is_silent, pool_frames
from xmodal.media.speech import SAMPLE_RATE, decode_audio

AUG_VERSION = 1  # bump when the augmentations change: the feature cache is keyed by it
N_AUGMENT = 12  # augmented hearings of each training clip (besides the clean one)
N_MIX = 3  # mixes with other training clips, per clip
SEED = 0
GRID = ({"hidden": 256, "weight_decay": 1e-3}, {"hidden": 256, "weight_decay": 1e-1},
        {"hidden": 64, "weight_decay": 1e-2})
EPOCHS = 300
TEMPERATURE = 0.05


@dataclass(frozen=True)
class Clip:
    """One stamp's sound and every text that describes it in the model's languages."""

    item: str
    sound: str
    image: str
    texts: tuple[str, ...]
    english: str


def clips_of(pairs: Sequence[Pair], english_only: bool) -> list[Clip]:
    """Group a split's pairs by stamp: its sound, picture, descriptions and name (silent clips left out)."""
    by_item: dict[str, list[Pair]] = {}
    for p in pairs:
        by_item.setdefault(p.item_id, []).append(p)
    out = []
    for item, ps in by_item.items():
        if is_silent(decode_audio(ps[0].speech)):
            continue  # nothing to hear (Tux Paint's giraffe)
        english = next((p.text for p in ps if p.language == "en"), ps[0].text)
        texts = [p.text for p in ps if not english_only or p.language == "en"]
        name = Path(ps[0].image).stem.replace("_", " ").replace("-", " ")
        out.append(Clip(item, ps[0].speech or "", ps[0].image, tuple(dict.fromkeys([english, *texts, name])), english))
    return out


def _augment(audio: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One random hearing: crop, gain, noise, leading silence."""
    x = audio.copy()
    if x.size > SAMPLE_RATE // 2 and rng.random() < 0.7:
        n = max(SAMPLE_RATE // 3, int(x.size * rng.uniform(0.4, 1.0)))
        start = int(rng.integers(0, max(1, x.size - n)))
        x = x[start:start + n]
    x = x * float(10 ** (rng.uniform(-12, 6) / 20))
    if rng.random() < 0.6:
        power = float(np.mean(x ** 2)) or 1e-8
        snr_db = rng.uniform(5, 30)
        x = x + rng.standard_normal(x.size).astype(np.float32) * np.sqrt(power / 10 ** (snr_db / 10))
    if rng.random() < 0.3:
        x = np.concatenate([np.zeros(int(rng.uniform(0, 1.0) * SAMPLE_RATE), np.float32), x])
    return np.clip(x, -1, 1).astype(np.float32)


def _mix(a: np.ndarray, b: np.ndarray, weight: float) -> np.ndarray:
    n = max(a.size, b.size)
    pa, pb = np.pad(a, (0, n - a.size)), np.pad(b, (0, n - b.size))
    # Equal loudness before weighting, so a quiet clip is not drowned whatever its recording level.
    pa = pa / (np.abs(pa).max() or 1.0)
    pb = pb / (np.abs(pb).max() or 1.0)
    return np.clip(weight * pa + (1 - weight) * pb, -1, 1).astype(np.float32)


def _cached_features(key: str, make) -> np.ndarray:
    folder = cache_dir() / "sound-features" / f"v{AUG_VERSION}-{SOUND_MODEL}"
    path = folder / (hashlib.sha1(key.encode()).hexdigest() + ".npy")
    if path.is_file():
        return np.load(path)
    feats = pool_frames(encoder_frames(make()))
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, feats)
    tmp.replace(path)
    return feats


def hearings(clips: Sequence[Clip], augment: bool, log=print) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features of every clip (clean) and, with ``augment``, of its augmented versions and mixes.

    Returns (features (m, FEATURE_DIM), first clip index (m,), second clip index or -1 and mix
    weight (m, 2))."""
    audio = {c.item: decode_audio(c.sound) for c in clips}
    feats, first, second = [], [], []
    t0 = time.perf_counter()
    for i, c in enumerate(clips):
        feats.append(_cached_features(f"{c.sound}:clean", lambda c=c: audio[c.item]))
        first.append(i)
        second.append((-1, 1.0))
        if not augment:
            continue
        for a in range(N_AUGMENT):
            rng = np.random.default_rng([SEED, i, a, zlib_key(c.item)])
            feats.append(_cached_features(f"{c.sound}:aug{a}", lambda rng=rng, c=c: _augment(audio[c.item], rng)))
            first.append(i)
            second.append((-1, 1.0))
        for m in range(N_MIX):
            rng = np.random.default_rng([SEED, i, 1000 + m, zlib_key(c.item)])
            j = int(rng.integers(0, len(clips) - 1))
            j = j + 1 if j >= i else j
            w = float(rng.uniform(0.4, 0.7))
            other = clips[j]
            feats.append(_cached_features(
                f"{c.sound}:mix{m}:{other.sound}:{w:.4f}",
                lambda rng=rng, c=c, other=other, w=w: _mix(_augment(audio[c.item], rng), audio[other.item], w)))
            first.append(i)
            second.append((j, w))
        if (i + 1) % 10 == 0:
            log(f"  sound features: {i + 1}/{len(clips)} clips ({time.perf_counter() - t0:.0f} s)")
    return np.stack(feats), np.asarray(first), np.asarray(second, dtype=np.float64)


def zlib_key(text: str) -> int:
    """A stable small integer of a string (Python's hash() changes between runs)."""
    return int(hashlib.sha1(text.encode()).hexdigest()[:8], 16)


def text_targets(encoder, clips: Sequence[Clip]) -> list[np.ndarray]:
    """Each clip's text vectors (descriptions and name, query mode: how people will ask)."""
    flat = [t for c in clips for t in c.texts]
    vecs = encoder.encode_text(flat, mode="query")
    out, at = [], 0
    for c in clips:
        out.append(vecs[at:at + len(c.texts)])
        at += len(c.texts)
    return out


def mean_targets(targets: Sequence[np.ndarray]) -> np.ndarray:
    """One vector per clip: the normalised mean of its text vectors."""
    m = np.stack([t.mean(axis=0) for t in targets])
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def fit_head(x: np.ndarray, first: np.ndarray, second: np.ndarray, targets: Sequence[np.ndarray], hidden: int,
             weight_decay: float, epochs: int, seed: int = SEED, evaluate=None, log=print
             ) -> tuple[SoundHead, list[float]]:
    """Contrastive fit (sound -> its texts and texts -> sound, in batches of distinct clips);
    ``evaluate(head) -> score`` after every 10 epochs keeps the best head (early stopping on val)."""
    torch = require("torch", "models")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    mean = x.mean(axis=0)
    scale = x.std(axis=0) + 1e-4
    z = torch.from_numpy(((x - mean) / scale).astype(np.float32))
    dim = targets[0].shape[1]
    hid = torch.nn.Linear(x.shape[1], hidden)
    out = torch.nn.Linear(hidden, dim, bias=False)
    skip = torch.nn.Linear(x.shape[1], dim)
    for lin in (out, skip):
        torch.nn.init.normal_(lin.weight, std=0.01)
    params = [*hid.parameters(), *out.parameters(), *skip.parameters()]
    opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=weight_decay)
    drop = torch.nn.Dropout(0.2)
    n_clips = len(targets)
    rows_of = [np.flatnonzero(first == i) for i in range(n_clips)]
    batch = min(32, n_clips)

    def head_now() -> SoundHead:
        return SoundHead({"mean": mean.astype(np.float32), "scale": scale.astype(np.float32),
                          "w_hidden": hid.weight.detach().numpy().T.copy(), "b_hidden": hid.bias.detach().numpy().copy(),
                          "w_out": out.weight.detach().numpy().T.copy(), "w_skip": skip.weight.detach().numpy().T.copy(),
                          "b_out": skip.bias.detach().numpy().copy()})

    best, best_score, history = head_now(), -1.0, []
    for epoch in range(1, epochs + 1):
        order = rng.permutation(n_clips)
        for b0 in range(0, n_clips, batch):
            clips_b = order[b0:b0 + batch]
            if len(clips_b) < 2:
                continue
            rows = np.array([rng.choice(rows_of[i]) for i in clips_b])
            text = torch.from_numpy(np.stack([targets[i][rng.integers(len(targets[i]))] for i in clips_b]))
            zz = drop(z[rows])
            pred = torch.nn.functional.normalize(out(torch.relu(hid(zz))) + skip(zz), dim=1)
            logits = pred @ text.T / TEMPERATURE
            soft = np.zeros((len(clips_b), len(clips_b)), np.float32)
            pos = {int(c): k for k, c in enumerate(clips_b)}
            for k, r in enumerate(rows):
                j, w = int(second[r, 0]), float(second[r, 1])
                if j >= 0 and j in pos:
                    soft[k, k], soft[k, pos[j]] = w, 1 - w
                else:
                    soft[k, k] = 1.0
            soft_t = torch.from_numpy(soft)
            loss = -(soft_t * torch.log_softmax(logits, dim=1)).sum(1).mean()
            loss = loss + torch.nn.functional.cross_entropy(logits.T, torch.arange(len(clips_b)))
            opt.zero_grad()
            loss.backward()
            opt.step()
        if evaluate is not None and epoch % 10 == 0:
            score = float(evaluate(head_now()))
            history.append(score)
            if score > best_score:
                best, best_score = head_now(), score
    return (best if evaluate is not None else head_now()), history


def text_to_sound_mrr(head: SoundHead, feats: np.ndarray, query_vecs: np.ndarray, query_clip: np.ndarray,
                      n_targets: int) -> float:
    """Mean reciprocal rank of each text query's own clip among the first ``n_targets`` clips'
    sounds plus the rest (the gallery), on clean features."""
    sims = query_vecs @ head.project(feats).T
    correct = np.zeros(sims.shape, bool)
    correct[np.arange(len(query_clip)), query_clip] = True
    return float((1.0 / ranks(sims, correct)).mean())


def train(model: str, out: Path | None = None, log=print) -> tuple[Path, dict]:
    """Fit the head for ``model`` on the train folders, select on val; write it and its summary."""
    encoder = get_encoder(model)
    english_only = model == "xmodal-lite"
    splits = tuxpaint_sound_splits()
    train_clips = clips_of(splits["train"], english_only)
    val_clips = clips_of(splits["val"], english_only)
    log(f"{model}: {len(train_clips)} training clips, {len(val_clips)} validation clips")
    x, first, second = hearings(train_clips, augment=True, log=log)
    targets = text_targets(encoder, train_clips)
    val_x, _, _ = hearings(val_clips, augment=False, log=log)
    # Val queries: English descriptions of val clips, gallery = val + train sounds (clean).
    clean = np.array([np.flatnonzero(first == i)[0] for i in range(len(train_clips))])
    gallery = np.concatenate([val_x, x[clean]])
    val_q = encoder.encode_text([c.english for c in val_clips], mode="query")
    val_idx = np.arange(len(val_clips))

    def evaluate(head: SoundHead) -> float:
        return text_to_sound_mrr(head, gallery, val_q, val_idx, len(val_clips))

    results = []
    for cfg in GRID:
        head, history = fit_head(x, first, second, targets, cfg["hidden"], cfg["weight_decay"], EPOCHS,
                                 evaluate=evaluate)
        score = max(history)
        results.append((score, cfg, head, history))
        log(f"  {cfg}: val text->sound MRR {score:.3f} (best at epoch {10 * (history.index(score) + 1)})")
    score, cfg, head, history = max(results, key=lambda r: r[0])
    summary = {"model": model, "whisper": SOUND_MODEL, "feature_dim": FEATURE_DIM, "train_clips": len(train_clips),
               "val_clips": len(val_clips), "hearings": int(len(x)), "augment": N_AUGMENT, "mixes": N_MIX,
               "chosen": cfg, "epoch": 10 * (history.index(score) + 1), "val_mrr": round(score, 4),
               "grid": [{**c, "val_mrr": round(s, 4)} for s, c, _, _ in results],
               "data": "Tux Paint sound effects (tuxpaint_sound_splits: train fitted, val selected, test held out)",
               "command": f"python -m xmodal.train.sound --model {model}"}
    head = SoundHead(head.arrays, {**summary, "text_space": model})
    path = save_sound_head(head, out or weights_path(model))
    log(json.dumps(summary, indent=1))
    return path, summary


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m xmodal.train.sound", description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="xmodal-lite", help="text space to train for (xmodal-lite, xmodal-lite-multilingual)")
    ap.add_argument("--out", help="where to write the head (default: the shipped file in xmodal/encoders/weights)")
    args = ap.parse_args(argv)
    path, _ = train(args.model, Path(args.out) if args.out else None, log=lambda m: print(m, file=sys.stderr))
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
