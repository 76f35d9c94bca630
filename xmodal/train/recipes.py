"""The training runs behind the shipped models, and the user's own ``xmodal train --pairs`` run.

One function per run so ``make train`` reproduces the committed weights from a clean checkout:
data come from the package managers (scripts/fetch_datasets.sh), splits are deterministic,
seeds fixed, features cached. Tux Paint is split by held-out folders (test numbers in the model
card are on folders never seen in training); emoji and Open Clip Art only ever add training
data.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence

from xmodal.config import TrainConfig
from xmodal.errors import InvalidInput, NotFound
from xmodal.datasets.gcompris import photo_validation_pairs
from xmodal.datasets.tuxpaint import tuxpaint_splits
from xmodal.datasets.pairs import Pair, items_of
from xmodal.datasets.emoji import load_emoji
from xmodal.datasets.openclipart import load_openclipart
from xmodal.datasets.pairs import read_pairs
from xmodal.datasets.splits import split_pairs
from xmodal.encoders.projection import label_embeddings
from xmodal.encoders.towers import text_tower
from xmodal.train.features import image_tower_fingerprint
from xmodal.train.trainer import Trainer, average_states, build_features, concat_features



@dataclass(frozen=True)
class Recipe:
    name: str
    text_tower: str
    languages: tuple[str, ...] | None  # Tux Paint languages trained on (None: all)
    val_languages: tuple[str, ...]
    extras: tuple[str, ...] = ("emoji", "openclipart")
    views: tuple[str, ...] = ("orig", "flip", "crop")
    extra_views: tuple[str, ...] = ("orig", "flip")
    text_head: str = "linear"
    overrides: dict = field(default_factory=dict)
    # Seeds of the runs averaged into the shipped heads (a "model soup": every run starts from the
    # same label-bridge init, so their weights average into one head of the same size). Offsets
    # added to the configured seed; chosen on validation only.
    soup: tuple[int, ...] = (0,)
    # Weight of detector words ("two people") added to image vectors at encoding time (not trained:
    # the detector finds nothing in clip art); chosen on photos-val.
    detect_weight: float = 0.15


RECIPES = {
    "xmodal-lite": Recipe("xmodal-lite", "minilm", ("en",), ("en",)),
    "xmodal-lite-multilingual": Recipe("xmodal-lite-multilingual", "e5-multilingual", None, ("en", "zh-CN")),
}


def minilm_vocabulary() -> set[str]:
    """Whole-word entries of MiniLM's (English) word-piece vocabulary: what keeps clip-art titles English."""
    return {w for w in text_tower("minilm").tokenizer.get_vocab() if w.isalpha() and w.islower()}


def extra_pairs(name: str) -> list[Pair]:
    if name == "emoji":
        return load_emoji()
    if name == "openclipart":
        return load_openclipart(vocabulary=minilm_vocabulary)
    raise NotFound(f"unknown extra data set {name!r}; known: emoji, openclipart")


def _log_to(log: Callable[[str], None] | None) -> Callable[[str], None]:
    return log or (lambda msg: None)


def train_recipe(name: str, out_dir: str | Path, weights_path: str | Path | None = None,
                 config: TrainConfig | None = None, show_progress: bool | None = None,
                 log: Callable[[str], None] | None = None, device: str | None = None) -> dict:
    """Train one shipped model; writes ``out_dir`` (checkpoint, history, summary) and the weights."""
    if name not in RECIPES:
        raise NotFound(f"unknown recipe {name!r}; known: {', '.join(RECIPES)}")
    r = RECIPES[name]
    say = _log_to(log)
    t0 = time.perf_counter()
    splits = tuxpaint_splits()
    say(f"{name}: Tux Paint split train/val/test = "
        + "/".join(str(len(items_of(splits[s]))) for s in ("train", "val", "test")) + " images")
    parts = [build_features(splits["train"], r.text_tower, r.views, r.languages, show_progress)]
    used_extras = []
    for extra in r.extras:
        try:
            pairs = extra_pairs(extra)
        except NotFound as exc:
            say(f"{name}: leaving out {extra}: {exc}")
            continue
        parts.append(build_features(pairs, r.text_tower, r.extra_views, None, show_progress, fast_svg=True))
        used_extras.append(f"{extra} ({parts[-1].n_items} images)")
    train = concat_features(parts)
    # Validation (early stopping, and the choice between runs) mixes Tux Paint's held-out folders with
    # real photographs: a head that only ever saw clip art must still be chosen for photos.
    val = build_features(splits["val"] + photo_validation_pairs(list(r.val_languages)), r.text_tower, ("orig",),
                         r.val_languages, show_progress)
    cfg = config or TrainConfig()
    if r.overrides:
        cfg = replace(cfg, **r.overrides)
    labels = label_embeddings(r.text_tower, cfg.label_vocabulary)
    states, runs = [], []
    for k, offset in enumerate(r.soup):
        run_cfg = replace(cfg, seed=cfg.seed + offset)
        run_dir = Path(out_dir) / f"seed{run_cfg.seed}" if len(r.soup) > 1 else out_dir
        trainer = Trainer(train, val, labels, config=run_cfg, text_head=r.text_head, out_dir=run_dir,
                          val_languages=r.val_languages, show_progress=show_progress, log=say, device=device)
        result = trainer.fit()
        states.append({k_: v.detach().clone() for k_, v in trainer.heads.state_dict().items()})
        runs.append({"seed": run_cfg.seed, "best_epoch": result.best_epoch, "val_R@10": result.best["val_R@10"]})
        say(f"{name}: run {k + 1}/{len(r.soup)} (seed {run_cfg.seed}) best epoch {result.best_epoch}, "
            f"val R@10 {result.best['val_R@10']:.3f}")
    if len(states) > 1:
        trainer.heads.load_state_dict(average_states(states))
        result.best = {**trainer.validate(), "soup_runs": runs}
        result.best_epoch = max(run["best_epoch"] for run in runs)
    meta = {"name": name, "text_tower": r.text_tower, "image_tower": "efficientnet-lite0",
            "image_tower_fingerprint": image_tower_fingerprint(),
            "trained_on": [f"tuxpaint train split ({parts[0].n_items} images, languages: "
                           f"{'all' if r.languages is None else ','.join(r.languages)})", *used_extras],
            "best_epoch": result.best_epoch, "val": {k: v for k, v in result.best.items() if k.startswith("val_")},
            "seed": cfg.seed, "command": f"xmodal train --recipe {name}",
            "label_vocabulary": cfg.label_vocabulary, "detect_weight": r.detect_weight}
    if len(states) > 1:
        meta["soup"] = runs
    weights = Path(weights_path) if weights_path else Path(out_dir) / "model.npz"
    trainer.save(weights, meta)
    summary = dict(meta, weights=str(weights), train_images=train.n_items, train_texts=int(len(train.text)),
                   seconds=round(time.perf_counter() - t0, 1), train_seconds=round(result.seconds, 1))
    (Path(out_dir) / "summary.json").write_text(json.dumps(summary, indent=2))
    say(f"{name}: best epoch {result.best_epoch}, val R@10 {result.best['val_R@10']:.3f}; weights → {weights}")
    return summary


def train_pairs(pairs_file: str | Path, text_tower: str, out_dir: str | Path, config: TrainConfig | None = None,
                views: Sequence[str] = ("orig", "flip"), text_head: str = "linear", show_progress: bool | None = None,
                log: Callable[[str], None] | None = None, device: str | None = None) -> dict:
    """A user's domain adaptation: their PAIRS file, split by group, heads trained from the label bridge."""
    say = _log_to(log)
    pairs = read_pairs(pairs_file)
    splits = split_pairs(pairs)
    if len(items_of(splits["val"])) < 2 or len(items_of(splits["train"])) < 2:
        raise InvalidInput(f"{Path(pairs_file).name}: too few groups to hold some out for validation "
                           f"({len(items_of(pairs))} images in {len({p.group for p in pairs})} groups); "
                           "give pairs a 'group' field or add more data")
    t0 = time.perf_counter()
    train = build_features(splits["train"], text_tower, views, None, show_progress)
    val = build_features(splits["val"], text_tower, ("orig",), None, show_progress)
    config = config or TrainConfig()
    labels = label_embeddings(text_tower, config.label_vocabulary)
    trainer = Trainer(train, val, labels, config=config, text_head=text_head,
                      out_dir=out_dir, show_progress=show_progress, log=say, device=device)
    result = trainer.fit()
    name = f"xmodal-lite-{Path(out_dir).name}"
    meta = {"name": name, "text_tower": text_tower, "image_tower": "efficientnet-lite0",
            "image_tower_fingerprint": image_tower_fingerprint(),
            "trained_on": [f"{Path(pairs_file).name} ({train.n_items} train images)"],
            "best_epoch": result.best_epoch, "val": {k: v for k, v in result.best.items() if k.startswith("val_")},
            "seed": config.seed}
    weights = trainer.save(Path(out_dir) / "model.npz", meta)
    summary = dict(meta, weights=str(weights), test_images=len(items_of(splits["test"])),
                   seconds=round(time.perf_counter() - t0, 1))
    (Path(out_dir) / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary
