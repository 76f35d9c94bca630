"""Training projection heads over frozen towers, from cached features.

Why over cached features: the towers are frozen, so a forward pass per image happens once (in
:mod:`xmodal.train.features`) and an epoch is a few matrix products -- seconds on a CPU for
thousands of images. Each epoch draws one augmented view and one description (language) per
image, so every batch holds distinct images; duplicate descriptions inside a batch are marked
as shared positives rather than treated as negatives.
"""
from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from xmodal._optional import require
from xmodal.config import EncoderConfig, TrainConfig
from xmodal.errors import InvalidInput
from xmodal.eval.metrics import retrieval_metrics
from xmodal.encoders.projection import DualHeads, ImageHead, LabelBridge, LogitScale, TextHead, feature_stats, save_heads
from xmodal.train.losses import distillation_loss, info_nce, reconstruction_loss
from xmodal.datasets.pairs import Pair, items_of
from xmodal.datasets.splits import normalize_text
from xmodal.encoders.towers import configure_torch_threads
from xmodal.progress import progress
from xmodal.train.features import image_features, text_features

torch = require("torch", "models")


@dataclass
class PairFeatures:
    """Cached tower outputs for one split, organised by item (image)."""

    items: list[str]
    image: np.ndarray          # (views, 1280) features; view rows of item i are where view_item == i
    logits: np.ndarray         # (views, 1000) ImageNet logits of the same rows
    view_item: np.ndarray      # (views,) item index of each image row
    view_is_orig: np.ndarray   # (views,) True for the un-augmented row (one per item)
    text: np.ndarray           # (texts, d) text-tower features
    text_item: np.ndarray      # (texts,) item index of each text
    text_key: np.ndarray       # (texts,) equal normalised (language, text) → equal key
    text_language: list[str]
    dropped: list[str] = field(default_factory=list)  # items whose image could not be decoded

    @property
    def n_items(self) -> int:
        return len(self.items)

    def orig_rows(self) -> np.ndarray:
        """Row index of the un-augmented view of each item, in item order."""
        rows = np.full(self.n_items, -1)
        idx = np.nonzero(self.view_is_orig)[0]
        rows[self.view_item[idx]] = idx
        return rows


def build_features(pairs: Sequence[Pair], text_tower: str, views: Sequence[str] = ("orig",),
                   languages: Sequence[str] | None = None, show_progress: bool | None = None,
                   fast_svg: bool = False) -> PairFeatures:
    """Look up (or compute and cache) the tower outputs for a pair set.

    ``fast_svg`` rasterises SVGs with librsvg instead of the inference loader: much faster on huge
    clip-art canvases, for training-only data whose exact pixels never meet a user.
    """
    if "orig" not in views:
        raise InvalidInput(f"views {list(views)!r} must include 'orig' (validation and galleries use it)")
    if languages is not None:
        pairs = [p for p in pairs if p.language in set(languages)]
    all_items = items_of(pairs)
    if not all_items:
        raise InvalidInput("no pairs to build features from (check the languages filter)")
    path_of = {p.item_id: p.image for p in pairs}
    f, lg = image_features([path_of[i] for i in all_items], views, show_progress, fast_svg)
    nv = len(views)
    bad = np.isnan(f).any(axis=1).reshape(len(all_items), nv).any(axis=1)
    keep = [i for i, b in enumerate(bad) if not b]
    items = [all_items[i] for i in keep]
    index = {it: j for j, it in enumerate(items)}
    rows = np.array([i * nv + v for i in keep for v in range(nv)], dtype=np.int64)
    pairs = [p for p in pairs if p.item_id in index]
    texts = [p.text for p in pairs]
    keys: dict[str, int] = {}
    text_key = np.array([keys.setdefault(f"{p.language}:{normalize_text(p.text)}", len(keys)) for p in pairs])
    return PairFeatures(
        items=items,
        image=f[rows], logits=lg[rows],
        view_item=np.repeat(np.arange(len(items)), nv),
        view_is_orig=np.tile(np.array([v == "orig" for v in views]), len(items)),
        text=text_features(texts, text_tower, "query", show_progress) if texts else np.zeros((0, 384), np.float32),
        text_item=np.array([index[p.item_id] for p in pairs], dtype=np.int64),
        text_key=text_key,
        text_language=[p.language for p in pairs],
        dropped=[all_items[i] for i, b in enumerate(bad) if b],
    )


def concat_features(parts: Sequence[PairFeatures]) -> PairFeatures:
    """Several data sets as one training set (item and key indices shifted, keys kept distinct)."""
    out_items: list[str] = []
    fields: dict[str, list] = {k: [] for k in ("image", "logits", "view_item", "view_is_orig", "text", "text_item", "text_key")}
    langs: list[str] = []
    dropped: list[str] = []
    item_off = key_off = 0
    for p in parts:
        out_items += p.items
        fields["image"].append(p.image)
        fields["logits"].append(p.logits)
        fields["view_item"].append(p.view_item + item_off)
        fields["view_is_orig"].append(p.view_is_orig)
        fields["text"].append(p.text)
        fields["text_item"].append(p.text_item + item_off)
        fields["text_key"].append(p.text_key + key_off)
        langs += p.text_language
        dropped += p.dropped
        item_off += p.n_items
        key_off += int(p.text_key.max()) + 1 if len(p.text_key) else 0
    return PairFeatures(items=out_items, text_language=langs, dropped=dropped,
                        **{k: np.concatenate(v) for k, v in fields.items()})


@dataclass
class TrainResult:
    heads: DualHeads
    history: list[dict]
    best_epoch: int
    best: dict
    seconds: float


def _pick_device(device: str | None) -> str:
    if device:
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"


class Trainer:
    """Fits :class:`DualHeads` on a training :class:`PairFeatures`, validating every epoch.

    Early stopping keeps the heads of the epoch with the best validation text→image R@10
    (ties: lower validation loss). ``out_dir`` receives ``checkpoint.pt`` after every epoch
    (resumable) and ``history.json``; :meth:`save` writes the shippable ``.npz``.
    """

    def __init__(self, train: PairFeatures, val: PairFeatures, label_embeddings: np.ndarray | None,
                 config: TrainConfig | None = None, text_head: str = "identity", out_dir: str | Path | None = None,
                 device: str | None = None, val_languages: Sequence[str] | None = None,
                 show_progress: bool | None = None, log: Callable[[str], None] | None = None,
                 threads: int = EncoderConfig.torch_threads) -> None:
        """``config``: default ``TrainConfig()``. ``threads``: torch's intra-op threads (one is faster
        than two fighting on small CPUs)."""
        configure_torch_threads(threads)
        self.cfg = config or TrainConfig()
        if train.n_items < 2 or val.n_items < 2:
            raise InvalidInput(f"training needs at least 2 images in train and val, got {train.n_items} and {val.n_items}")
        self.train, self.val = train, val
        self.device = _pick_device(device)
        self.out_dir = Path(out_dir) if out_dir else None
        self.show_progress = show_progress
        self.log = log or (lambda msg: None)
        self.val_languages = set(val_languages) if val_languages else None
        self._seed_everything(self.cfg.seed)
        mean, std = feature_stats(train.image)
        bridge = (LabelBridge(label_embeddings, self.cfg.bridge_topk, self.cfg.bridge_temperature)
                  if label_embeddings is not None else None)
        dim = train.text.shape[1]
        self.heads = DualHeads(ImageHead(train.image.shape[1], dim, mean, std, bridge, self.cfg.max_residual,
                                         self.cfg.feature_dropout), TextHead(dim, text_head),
                               LogitScale(self.cfg.init_temperature, self.cfg.max_logit_scale)).to(self.device)
        self.decoders = None
        if self.cfg.reconstruction_weight > 0:
            self.decoders = torch.nn.ModuleDict({
                "image": torch.nn.Linear(dim, train.image.shape[1]),
                "text": torch.nn.Linear(dim, dim),
            }).to(self.device)
        # Weight decay pulls matrices towards zero: right for the residual (towards the bridge),
        # wrong for label embeddings and scalars, which are anchored to their start instead.
        decay = [self.heads.image.residual.weight] + (list(self.decoders.parameters()) if self.decoders else [])
        if self.heads.text.linear is not None:
            decay.append(self.heads.text.linear.weight)
        ids = {id(p) for p in decay}
        rest = [p for p in self.heads.parameters() if id(p) not in ids]
        self.optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": self.cfg.weight_decay},
                                            {"params": rest, "weight_decay": 0.0}], lr=self.cfg.learning_rate)
        self._tensors = {name: self._to_tensors(fs) for name, fs in (("train", train), ("val", val))}
        self._items_views = self._group(train.view_item, train.n_items)
        self._items_texts = self._group(train.text_item, train.n_items)
        self._preferred = None
        if self.cfg.preferred_languages and self.cfg.preferred_share > 0:
            pref = set(self.cfg.preferred_languages)
            self._preferred = [rows[[train.text_language[r] in pref for r in rows]] if len(rows) else rows
                               for rows in self._items_texts]

    @staticmethod
    def _seed_everything(seed: int) -> None:
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)

    @staticmethod
    def _group(index: np.ndarray, n: int) -> list[np.ndarray]:
        order = np.argsort(index, kind="stable")
        bounds = np.searchsorted(index[order], np.arange(n + 1))
        return [order[bounds[i]:bounds[i + 1]] for i in range(n)]

    def _to_tensors(self, fs: PairFeatures) -> dict:
        t = lambda a, dt=torch.float32: torch.as_tensor(np.ascontiguousarray(a), dtype=dt, device=self.device)  # noqa: E731
        return {"image": t(fs.image), "logits": t(fs.logits), "text": t(fs.text),
                "text_item": t(fs.text_item, torch.long), "text_key": t(fs.text_key, torch.long)}

    # -- one epoch -------------------------------------------------------------------------
    def _epoch_batches(self, rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
        """(view rows, text rows) per batch: one pass over the items, a random view + text (language) each.

        One pass, not one per text: with 60 languages per image that would be 60 passes an epoch,
        and the heads overfit inside the first epoch, before validation could stop them.
        """
        tr = self.train
        batches = []
        for _ in range(1):
            order = rng.permutation(tr.n_items)
            usable = [i for i in order if len(self._items_texts[i])]
            views = np.array([rng.choice(self._items_views[i]) for i in usable])
            texts = np.array([self._draw_text(i, rng) for i in usable])
            for s in range(0, len(usable), self.cfg.batch_size):
                if len(usable) - s >= 2:
                    batches.append((views[s:s + self.cfg.batch_size], texts[s:s + self.cfg.batch_size]))
        if self.cfg.text_pair_weight > 0:
            # a second description of each image, in another language where it has one
            seconds = np.array([self._other_text(t, rng) for t in texts])
            batches = [(v, t, seconds[s:s + len(t)]) for (v, t), s in
                       zip(batches, range(0, len(texts), self.cfg.batch_size))]
        return batches

    def _draw_text(self, i: int, rng: np.random.Generator) -> int:
        """One description of item i: uniform over its texts, or (``preferred_share`` of the time)
        uniform over those in ``preferred_languages`` -- with 78 languages per Tux Paint stamp,
        uniform draws show English or Chinese for a stamp about once in 60 epochs."""
        if self._preferred is not None and len(self._preferred[i]) and rng.random() < self.cfg.preferred_share:
            return int(rng.choice(self._preferred[i]))
        return int(rng.choice(self._items_texts[i]))

    def _other_text(self, t: int, rng: np.random.Generator) -> int:
        rows = self._items_texts[int(self.train.text_item[t])]
        lang = self.train.text_language[t]
        other = [r for r in rows if self.train.text_language[r] != lang]
        return int(rng.choice(other)) if other else int(t)

    def _batch_loss(self, view_rows: np.ndarray, text_rows: np.ndarray,
                    second_rows: np.ndarray | None = None) -> "torch.Tensor":
        T = self._tensors["train"]
        vr = torch.as_tensor(view_rows, device=self.device)
        tr = torch.as_tensor(text_rows, device=self.device)
        feats, logits, text_feats = T["image"][vr], T["logits"][vr], T["text"][tr]
        img = self.heads.image(feats, logits)
        txt = self.heads.text(text_feats)
        keys = T["text_key"][tr]
        positives = keys[:, None] == keys[None, :]
        scale = self.heads.scale()
        loss = info_nce(img, txt, scale, positives)
        if second_rows is not None:
            sr = torch.as_tensor(second_rows, device=self.device)
            txt2 = self.heads.text(T["text"][sr])
            items = T["text_item"][tr]
            same = (items[:, None] == T["text_item"][sr][None, :]) | (keys[:, None] == T["text_key"][sr][None, :])
            loss = loss + self.cfg.text_pair_weight * info_nce(txt, txt2, scale, same)
        if self.cfg.distillation_weight > 0 and self.heads.image.bridge is not None:
            with torch.no_grad():
                teacher = self.heads.image.bridge(logits) @ torch.nn.functional.normalize(text_feats, dim=1).T
            loss = loss + self.cfg.distillation_weight * distillation_loss(
                img, txt, scale, teacher, self.cfg.distillation_temperature)
        if self.decoders is not None:
            std_feats = (feats - self.heads.image.mean) / self.heads.image.std
            loss = loss + self.cfg.reconstruction_weight * (
                reconstruction_loss(img, self.decoders["image"], std_feats)
                + reconstruction_loss(txt, self.decoders["text"], text_feats))
        bridge = self.heads.image.bridge
        if bridge is not None and self.cfg.label_anchor_weight > 0:
            loss = loss + self.cfg.label_anchor_weight * (bridge.labels - bridge.labels_init).pow(2).sum(dim=1).mean()
        return loss

    # -- validation ------------------------------------------------------------------------
    def embed(self, fs: PairFeatures, name: str | None = None) -> tuple["torch.Tensor", "torch.Tensor"]:
        """Shared vectors of the un-augmented image of each item and of every text."""
        T = self._tensors[name] if name else self._to_tensors(fs)
        rows = torch.as_tensor(fs.orig_rows(), device=self.device)
        with torch.no_grad():
            return self.heads.image(T["image"][rows], T["logits"][rows]), self.heads.text(T["text"])

    def validate(self) -> dict:
        self.heads.eval()
        v = self.val
        img, txt = self.embed(v, "val")
        keep = np.array([self.val_languages is None or lang in self.val_languages for lang in v.text_language])
        if not keep.any():
            raise InvalidInput(f"no validation texts in languages {sorted(self.val_languages or [])}")
        txt = txt[torch.as_tensor(keep, device=self.device)]
        text_item = v.text_item[keep]
        correct = text_item[:, None] == np.arange(v.n_items)[None, :]
        with torch.no_grad():
            sim = txt @ img.T
            loss = info_nce(img, txt, self.heads.scale(), torch.as_tensor(correct.T, device=self.device)).item()
        m = retrieval_metrics(sim.cpu().numpy(), correct)
        self.heads.train()
        return {"val_loss": loss, **{f"val_{k}": val for k, val in m.items()}}

    # -- the loop --------------------------------------------------------------------------
    def fit(self, resume: bool = False) -> TrainResult:
        cfg = self.cfg
        start_epoch, history = 0, []
        ckpt = self.out_dir / "checkpoint.pt" if self.out_dir else None
        if resume and ckpt and ckpt.exists():
            state = torch.load(ckpt, map_location=self.device, weights_only=False)
            self.heads.load_state_dict(state["heads"])
            self.optimizer.load_state_dict(state["optimizer"])
            start_epoch, history = state["epoch"] + 1, state["history"]
        best = max(history, key=self._score) if history else {"epoch": -1, **self.validate()}
        if not history:
            best["epoch"] = -1
            history.append(dict(best, train_loss=None))
        best_state = {k: v.detach().clone() for k, v in self.heads.state_dict().items()}
        rng = np.random.default_rng(cfg.seed + start_epoch)
        t0 = time.perf_counter()
        stale = 0
        with progress(self.show_progress) as p:
            task = p.add_task("train", total=cfg.epochs)
            p.advance(task, start_epoch)
            self.heads.train()
            for epoch in range(start_epoch, cfg.epochs):
                losses = []
                for batch in self._epoch_batches(rng):
                    loss = self._batch_loss(*batch)
                    self.optimizer.zero_grad()
                    loss.backward()
                    self.optimizer.step()
                    losses.append(loss.item())
                row = {"epoch": epoch, "train_loss": float(np.mean(losses)) if losses else None, **self.validate()}
                history.append(row)
                p.advance(task)
                p.update(task, rate=f"loss {row['train_loss']:.3f} val R@10 {row['val_R@10']:.3f}")
                self.log(f"epoch {epoch}: loss {row['train_loss']:.4f} val_loss {row['val_loss']:.4f} "
                         f"val R@10 {row['val_R@10']:.3f}")
                if self._score(row) > self._score(best):
                    best, stale = row, 0
                    best_state = {k: v.detach().clone() for k, v in self.heads.state_dict().items()}
                else:
                    stale += 1
                if ckpt:
                    ckpt.parent.mkdir(parents=True, exist_ok=True)
                    torch.save({"heads": self.heads.state_dict(), "optimizer": self.optimizer.state_dict(),
                                "epoch": epoch, "history": history}, ckpt)
                if stale >= cfg.patience:
                    self.log(f"early stop at epoch {epoch}: no better val R@10 for {cfg.patience} epochs")
                    break
        self.heads.load_state_dict(best_state)
        self.heads.eval()
        if self.out_dir:
            (self.out_dir / "history.json").write_text(json.dumps(history, indent=1))
        return TrainResult(self.heads, history, best["epoch"], best, time.perf_counter() - t0)

    @staticmethod
    def _score(row: dict) -> tuple:
        return (round(row["val_R@10"], 6), -row["val_loss"])

    def save(self, path: str | Path, meta: dict) -> Path:
        return save_heads(self.heads, path, meta)


def with_overrides(base: TrainConfig | None = None, **kw) -> TrainConfig:
    """``base`` (default ``TrainConfig()``; the CLI passes its settings') with some fields replaced
    (None values ignored)."""
    return replace(base or TrainConfig(), **{k: v for k, v in kw.items() if v is not None})


def average_states(states: Sequence[dict]) -> dict:
    """Element-wise mean of several heads' state dicts (same architecture, same init): a model soup.

    Floating tensors are averaged; anything else (integer buffers) is taken from the first.
    """
    out = {}
    for k, v in states[0].items():
        out[k] = torch.stack([s[k] for s in states]).mean(dim=0) if v.is_floating_point() else v.clone()
    return out
