"""How well sounds sit in the shared space: text -> sound and sound -> image on held-out folders.

Queries are the held-out (test) stamps' English descriptions, typed; the sounds are Tux Paint's
sound effects from folders the head never saw. Two galleries, each with its chance line
(``K / candidates``): the held-out sounds alone, and every Tux Paint sound effect (train and
val ones are distractors the head knows well, so this is the harder and more library-like
one). Sound -> image ranks each held-out sound's own stamp picture among the pictures of all
sound stamps; text -> image on the same queries is printed beside it as the typed reference.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np

from xmodal.config import TrainConfig
from xmodal.datasets.pairs import Pair
from xmodal.datasets.tuxpaint import tuxpaint_sound_splits
from xmodal.encoders.sound import BRIDGE_WEIGHT, BRIDGE_WEIGHT_CHOSEN, TAG_WEIGHT, embed_heard
from xmodal.eval.metrics import chance_recall, retrieval_metrics
from xmodal.media.images import load_image
from xmodal.media.sound import hear_files

# (name, head weight, caption weight, label bridge weight): the shipped mix, the mix with the label
# bridge at its chosen weight (off by default, see BRIDGE_WEIGHT), and each part alone.
VARIANTS = (("shipped", 1.0, TAG_WEIGHT, BRIDGE_WEIGHT), ("head + caption + bridge", 1.0, TAG_WEIGHT, BRIDGE_WEIGHT_CHOSEN),
            ("head only", 1.0, 0.0, 0.0), ("caption only", 0.0, 1.0, 0.0), ("bridge only", 0.0, 0.0, 1.0))


@lru_cache(maxsize=4)
def _heard(paths: tuple[str, ...]) -> dict:
    """Each clip is heard once per process, whatever number of models is measured on it."""
    return hear_files(paths, labels=True)  # every variant, the bridge rows included


def _by_item(pairs: Sequence[Pair]) -> dict[str, list[Pair]]:
    out: dict[str, list[Pair]] = {}
    for p in pairs:
        out.setdefault(p.item_id, []).append(p)
    return out


def _metrics(sims: np.ndarray, target: np.ndarray, ks: Sequence[int]) -> dict:
    correct = np.zeros(sims.shape, bool)
    correct[np.arange(len(target)), target] = True
    m = retrieval_metrics(sims, correct, ks)
    m["candidates"] = int(sims.shape[1])
    m.update({f"chance_R@{k}": round(chance_recall(k, sims.shape[1]), 4) for k in ks})
    return m


def evaluate_sound_head(encoder, split: str = "test", ks: Sequence[int] | None = None) -> dict:
    """Text -> sound and sound -> image Recall@K of ``encoder``'s sound head on ``split`` folders.

    ``encoder`` is the text/image model whose space the head was trained for (its ``name`` picks
    the head). Returns ``{"text->sound (held-out)": metrics, "text->sound (all sounds)": ...,
    "sound->image (all sound stamps)": ..., "text->image (all sound stamps)": ...}``."""
    ks = tuple(ks or TrainConfig.recall_ks)
    splits = tuxpaint_sound_splits()
    every = {**_by_item(splits["train"]), **_by_item(splits["val"]), **_by_item(splits["test"])}
    by_path = _heard(tuple(ps[0].speech for ps in every.values()))  # silent clips (a giraffe) left out
    items = [i for i, ps in every.items() if ps[0].speech in by_path]
    held = [i for i in _by_item(splits[split]) if i in items]
    heard = [by_path[every[i][0].speech] for i in items]
    index = {i: n for n, i in enumerate(items)}
    english = [next((p.text for p in every[i] if p.language == "en"), every[i][0].text) for i in held]
    queries = encoder.encode_text(english, mode="query")
    target = np.array([index[i] for i in held])
    images = None
    if "image" in encoder.modalities:
        images = encoder.encode_image([load_image(Path(every[i][0].image)) for i in items])
    out = {}
    for name, head_w, tag_w, bridge_w in VARIANTS:
        sounds = embed_heard(encoder, heard, tag_weight=tag_w, head_weight=head_w, bridge_weight=bridge_w)
        out[f"text->sound (held-out), {name}"] = _metrics(queries @ sounds[target].T, np.arange(len(held)), ks)
        out[f"text->sound (all sounds), {name}"] = _metrics(queries @ sounds.T, target, ks)
        if images is not None:
            out[f"sound->image (all sound stamps), {name}"] = _metrics(sounds[target] @ images.T, target, ks)
    if images is not None:
        out["text->image (all sound stamps), typed reference"] = _metrics(queries @ images.T, target, ks)
    out["captions"] = {i: h.tag for i, h in zip(items, heard) if i in set(held)}
    return out


def format_sound_table(model: str, results: dict) -> str:
    """Markdown rows: task, R@1 / R@5 / R@10, chance R@10, candidates, queries."""
    lines = [f"| {model} | task | R@1 | R@5 | R@10 | chance R@10 | candidates | queries |",
             "|---|---|---|---|---|---|---|---|"]
    for task, m in results.items():
        if task == "captions":
            continue
        lines.append(f"| | {task} | {m['R@1']:.3f} | {m['R@5']:.3f} | {m['R@10']:.3f} | {m['chance_R@10']:.3f} | "
                     f"{m['candidates']} | {m['queries']} |")
    return "\n".join(lines)
