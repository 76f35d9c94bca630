"""Twemoji images with their Unicode names (npm ``emoji-datasource-twitter``; images CC-BY 4.0).

Fetched by ``scripts/fetch_datasets.sh`` into ``data/emoji`` (never committed). Each emoji gives
up to two English texts -- its Unicode name ("PERSON RAISING BOTH HANDS IN CELEBRATION") and its
short name ("raised hands") -- grouped by Unicode sub-category for splits, categorised by the
top category for zero-shot classification.
"""
from __future__ import annotations

import json
from pathlib import Path

from xmodal.config import Config
from xmodal.errors import NotFound
from xmodal.datasets.pairs import Pair

IMAGE_FOLDER = Path("img") / "twitter" / "64"


def emoji_root(root: str | Path | None = None) -> Path:
    """``root``, else the fetched copy under the data folder (``$XMODAL_DATA``, as fetch_datasets.sh uses)."""
    return Path(root) if root else Path(Config.from_env().train.data_dir) / "emoji" / "package"


def _readable(name: str) -> str:
    return " ".join(name.replace("_", " ").replace("-", " ").split()).lower()


def load_emoji(root: str | Path | None = None) -> list[Pair]:
    """One pair per (emoji, distinct name); skin-tone variants are left out (same concept)."""
    root = emoji_root(root)
    index = root / "emoji.json"
    if not index.is_file():
        raise NotFound(f"emoji data set not found at {str(root)!r}: run scripts/fetch_datasets.sh")
    pairs: list[Pair] = []
    for e in sorted(json.loads(index.read_text(encoding="utf-8")), key=lambda e: e["unified"]):
        image = root / IMAGE_FOLDER / e["image"]
        if not e.get("has_img_twitter") or not image.is_file() or e.get("category") == "Component":
            continue
        texts = []
        for raw in (e.get("name"), e.get("short_name")):
            if raw and _readable(raw) not in texts:
                texts.append(_readable(raw))
        for text in texts:
            pairs.append(Pair(image=str(image), text=text, language="en", group=f"emoji/{e['subcategory']}",
                              category=e["category"].lower(), item=f"emoji/{e['unified']}"))
    return pairs
