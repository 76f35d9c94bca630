"""Re-base trained heads on the photo vocabulary and bound their residual, without retraining.

Why: ``xmodal-lite-multilingual`` v1 was trained for hours over 78 languages (43k Tux Paint texts
through the 4-bit E5 engine); its residual, fitted on clip art, swamps the bridge on photographs
(photos-val R@10 0.28 against 0.52 for the untrained multilingual bridge). Keeping that residual but
bounding its norm, swapping the bridge's class vectors for the WordNet photo vocabulary
(top-20 soft mix) and dropping the learned text map gives a head that is both photo-safe and keeps
most of what training learned on Tux Paint — chosen on photos-val + Tux Paint validation only
(MODEL_CARD.md, "Multilingual"):

    python -m xmodal.train.rebound xmodal/encoders/weights/xmodal-lite-multilingual-v1.npz \\
        xmodal/encoders/weights/xmodal-lite-multilingual.npz --max-residual 0.1
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from xmodal._optional import require
from xmodal.config import TrainConfig
from xmodal.encoders.projection import (DualHeads, ImageHead, LabelBridge, TextHead, label_embeddings,
                                        load_heads, save_heads)

torch = require("torch", "models")


def rebound(source: str | Path, target: str | Path, max_residual: float, vocabulary: str = "wordnet",
            detect_weight: float = 0.15, bridge_topk: int = TrainConfig.bridge_topk,
            bridge_temperature: float = TrainConfig.bridge_temperature) -> Path:
    """Write ``target``: ``source``'s residual bounded to ``max_residual``, bridge on ``vocabulary``
    (its ``bridge_topk`` labels softened by ``bridge_temperature``, as the trainer builds it)."""
    heads, meta = load_heads(source)
    old = heads.image
    tower = meta.get("text_tower", "minilm")
    bridge = LabelBridge(label_embeddings(tower, vocabulary), bridge_topk, bridge_temperature)
    image = ImageHead(old.residual.in_features, old.residual.out_features, old.mean.numpy(), old.std.numpy(),
                      bridge, max_residual)
    with torch.no_grad():
        image.residual.weight.copy_(old.residual.weight)
        image.residual.bias.copy_(old.residual.bias)
        image.bridge_weight.fill_(float(old.bridge_weight.detach()) if old.bridge_weight is not None else 1.0)
    new = DualHeads(image, TextHead(old.residual.out_features, "identity"))
    new.scale.load_state_dict(heads.scale.state_dict())
    info = dict(meta, label_vocabulary=vocabulary, detect_weight=detect_weight,
                rebound_from=Path(source).name,
                command=f"python -m xmodal.train.rebound {Path(source).name} {Path(target).name} "
                        f"--max-residual {max_residual}")
    return save_heads(new.eval(), target, info)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("source")
    ap.add_argument("target")
    ap.add_argument("--max-residual", type=float, required=True)
    ap.add_argument("--vocabulary", default="wordnet", choices=("imagenet", "wordnet"))
    ap.add_argument("--detect-weight", type=float, default=0.15)
    args = ap.parse_args(argv)
    out = rebound(args.source, args.target, args.max_residual, vocabulary=args.vocabulary,
                  detect_weight=args.detect_weight)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
