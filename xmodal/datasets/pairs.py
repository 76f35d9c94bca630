"""Image-text pairs: the one record every data set loader yields and the trainer consumes.

A *pair* is one image with one description in one language. The same image (an *item*) usually
has several pairs (one per language, sometimes a spoken version); splits, batching and recall
are all computed per item so that translations of one description never count as negatives of
each other and never leak between train and test.

Users bring their own data as a PAIRS file (JSONL or CSV), one pair per line::

    {"image": "photos/0001.jpg", "text": "a red tractor in a field", "language": "en",
     "group": "farm", "category": "vehicles"}

``image`` and ``text`` are required; relative image paths are resolved against the file's
folder. ``group`` (default: the image's folder) decides what is held out together in splits;
``category`` enables zero-shot classification in the evaluator; ``item`` (default: the image
path) ties several texts to one image.
"""
from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Sequence

from xmodal.errors import InvalidInput, NotFound

PAIR_FIELDS = ("image", "text", "language", "speech", "group", "category", "item")


@dataclass(frozen=True)
class Pair:
    """One image and one description of it (optionally spoken)."""

    image: str
    text: str
    language: str = "en"
    speech: str | None = None
    group: str = ""
    category: str = ""
    item: str = ""

    @property
    def item_id(self) -> str:
        return self.item or self.image

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v not in (None, "")}


def items_of(pairs: Sequence[Pair]) -> list[str]:
    """Distinct item ids in first-seen order (the image gallery of a pair set)."""
    seen: dict[str, None] = {}
    for p in pairs:
        seen.setdefault(p.item_id, None)
    return list(seen)


def languages_of(pairs: Sequence[Pair]) -> list[str]:
    """Languages present, most frequent first (ties by code) so English usually leads."""
    counts: dict[str, int] = {}
    for p in pairs:
        counts[p.language] = counts.get(p.language, 0) + 1
    return sorted(counts, key=lambda lang: (-counts[lang], lang))


def _pair_from_row(row: dict, base: Path, where: str) -> Pair:
    unknown = set(row) - set(PAIR_FIELDS)
    if unknown:
        raise InvalidInput(f"{where}: unknown field(s) {sorted(unknown)}; allowed: {list(PAIR_FIELDS)}")
    image = str(row.get("image") or "").strip()
    text = str(row.get("text") or "").strip()
    if not image:
        raise InvalidInput(f"{where}: the field 'image' is missing or empty")
    if not text:
        raise InvalidInput(f"{where}: the field 'text' is missing or empty")
    path = Path(image)
    if not path.is_absolute():
        path = base / path
    if not path.is_file():
        raise NotFound(f"{where}: image file {str(path)!r} does not exist")
    speech = row.get("speech") or None
    if speech and not Path(speech).is_absolute():
        speech = str(base / speech)
    return Pair(
        image=str(path),
        text=text,
        language=str(row.get("language") or "en"),
        speech=speech,
        group=str(row.get("group") or path.parent.name),
        category=str(row.get("category") or ""),
        item=str(row.get("item") or ""),
    )


def read_pairs(path: str | Path) -> list[Pair]:
    """Read a user's PAIRS file (.jsonl / .json lines or .csv with a header); validates every row
    before returning so a bad line is reported with its number instead of failing mid-training."""
    path = Path(path)
    if not path.is_file():
        raise NotFound(f"pairs file {str(path)!r} does not exist")
    base = path.parent
    rows: list[tuple[str, dict]] = []
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8") as fh:
            for i, row in enumerate(csv.DictReader(fh), start=2):
                rows.append((f"{path.name} line {i}", {k.strip(): v for k, v in row.items() if k}))
    elif path.suffix.lower() in (".jsonl", ".json", ".ndjson"):
        with path.open(encoding="utf-8") as fh:
            for i, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise InvalidInput(f"{path.name} line {i}: not valid JSON ({exc.msg})") from exc
                if not isinstance(row, dict):
                    raise InvalidInput(f"{path.name} line {i}: expected a JSON object, got {type(row).__name__}")
                rows.append((f"{path.name} line {i}", row))
    else:
        raise InvalidInput(f"pairs file {path.name!r}: unsupported extension {path.suffix!r}; use .jsonl or .csv")
    pairs = [_pair_from_row(row, base, where) for where, row in rows]
    if len(items_of(pairs)) < 2:
        raise InvalidInput(f"pairs file {path.name!r}: needs at least 2 different images, found {len(pairs)} pair(s)")
    return pairs


def write_pairs(pairs: Iterable[Pair], path: str | Path) -> Path:
    """Write pairs as JSONL (the format :func:`read_pairs` reads), e.g. to export a built-in data set."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for p in pairs:
            fh.write(json.dumps(p.to_dict(), ensure_ascii=False) + "\n")
    return path
