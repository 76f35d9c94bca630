"""Tux Paint stamps (Debian ``tuxpaint-stamps-default``, GPL-2): image + text in ~80 languages + speech.

Each stamp is ``name.png`` (or ``name.svg``) next to ``name.txt``, whose first line is the English
description and whose other lines are gettext-style ``lang.utf8=translation``; spoken
descriptions are ``name_desc.ogg`` (English) and ``name_desc_<lang>.ogg``. The folder a stamp
sits in (``animals/mammals/bovines``) is its split group, the top folder its category.
"""
from __future__ import annotations

import re
from pathlib import Path

from xmodal.config import TrainConfig
from xmodal.datasets.pairs import Pair
from xmodal.datasets.splits import split_pairs
from xmodal.errors import NotFound

# Top folders as words a text encoder understands (zero-shot classification prompts).
CATEGORY_NAMES = {
    "naturalforces": "weather and nature",
    "seasonal": "holidays",
    "symbols": "symbols and letters",
    "town": "town and buildings",
    "hobbies": "hobbies",
    "household": "household objects",
    "medical": "medicine",
    "military": "military",
}

_LINE = re.compile(r"^([A-Za-z_@]+)\.utf8=(.*)$")
_IMAGE_SUFFIXES = (".png", ".svg")


def normalize_language(code: str) -> str:
    """``zh_CN`` → ``zh-CN``, ``pt_BR`` → ``pt-BR``, ``en_GB`` stays distinct from plain ``en``."""
    return code.replace("_", "-")


def parse_description_file(path: Path) -> dict[str, str]:
    """Language → description for one stamp's .txt (first line English, then ``lang.utf8=``)."""
    texts: dict[str, str] = {}
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    for i, raw in enumerate(lines):
        line = raw.strip()
        if not line:
            continue
        m = _LINE.match(line)
        if m:
            lang, text = normalize_language(m.group(1)), m.group(2).strip()
        elif i == 0 or "en" not in texts:
            lang, text = "en", line
        else:
            continue
        if text and lang not in texts:
            texts[lang] = text
    return texts


def _speech_files(stem: Path) -> dict[str, str]:
    out = {}
    english = stem.with_name(stem.name + "_desc.ogg")
    if english.is_file():
        out["en"] = str(english)
    for f in stem.parent.glob(stem.name + "_desc_*.ogg"):
        out[normalize_language(f.stem[len(stem.name) + len("_desc_"):])] = str(f)
    return out


def load_tuxpaint(root: str | Path | None = None, languages: list[str] | None = None,
                  formats: tuple[str, ...] = _IMAGE_SUFFIXES) -> list[Pair]:
    """Every stamp with a description, one :class:`Pair` per (stamp, language).

    ``root``: default ``TrainConfig.tuxpaint_dir`` (where the Debian package puts the stamps).
    ``languages`` keeps only those codes (``None``: all). Mirror images (``*_mirror.png``) are
    Tux Paint's pre-flipped copies of other stamps and are left out. Order is sorted by path so
    the result is the same on every machine.
    """
    root = Path(root or TrainConfig.tuxpaint_dir)
    if not root.is_dir():
        raise NotFound(f"Tux Paint stamps folder {str(root)!r} does not exist: apt-get install tuxpaint-stamps-default")
    pairs: list[Pair] = []
    for txt in sorted(root.rglob("*.txt")):
        stem = txt.with_suffix("")
        image = next((stem.with_suffix(s) for s in formats if stem.with_suffix(s).is_file()), None)
        if image is None:
            continue
        texts = parse_description_file(txt)
        if "en" not in texts:
            continue
        speech = _speech_files(stem)
        rel = image.relative_to(root)
        group = rel.parent.as_posix()
        top = rel.parts[0] if len(rel.parts) > 1 else ""
        category = CATEGORY_NAMES.get(top, top)
        for lang, text in texts.items():
            if languages is not None and lang not in languages:
                continue
            pairs.append(Pair(image=str(image), text=text, language=lang, speech=speech.get(lang),
                              group=group, category=category, item=rel.as_posix()))
    return pairs


# Split anchors: the languages whose descriptions decide which folders are glued together.
ANCHOR_LANGUAGES = ("en", "zh-CN")


def tuxpaint_splits() -> dict[str, list[Pair]]:
    """The Tux Paint train / val / test split every shipped number refers to."""
    return split_pairs(load_tuxpaint(), anchor_languages=ANCHOR_LANGUAGES)


# Sound effects: ``name.ogg`` / ``name.wav`` beside a stamp's picture (spoken descriptions end in
# ``_desc*.ogg`` and spoken names in ``_<lang>.ogg``; neither is a sound effect).
_SOUND_SUFFIXES = (".ogg", ".wav")
# Sound splits deal the stamps' folders on their own (the picture split keeps too few sound folders
# out of training to measure anything): a larger held-out share, whole folders, its own seed.
SOUND_SPLIT_FRACTIONS = (0.6, 0.15, 0.25)


def load_tuxpaint_sounds(root: str | Path | None = None, languages: list[str] | None = None) -> list[Pair]:
    """One :class:`Pair` per (stamp with a sound effect, language), ``speech`` = the sound file.

    The sound is what the stamp plays when it is chosen (a dog's bark, a cymbal crash, a number
    said aloud); the text is the stamp's description and the picture its image, so sounds can be
    paired with both. Same order and fields as :func:`load_tuxpaint`."""
    out = []
    for p in load_tuxpaint(root, languages):
        stem = Path(p.image).with_suffix("")
        sound = next((stem.with_suffix(s) for s in _SOUND_SUFFIXES if stem.with_suffix(s).is_file()), None)
        if sound is not None:
            out.append(Pair(image=p.image, text=p.text, language=p.language, speech=str(sound), group=p.group,
                            category=p.category, item=p.item))
    return out


def tuxpaint_sound_splits(root: str | Path | None = None) -> dict[str, list[Pair]]:
    """The train / val / test split of Tux Paint's sound effects every sound number refers to:
    whole folders held out (``animals/mammals/dogs`` is in one split only), no description shared
    between splits (see :func:`xmodal.datasets.splits.split_pairs`)."""
    return split_pairs(load_tuxpaint_sounds(root), fractions=SOUND_SPLIT_FRACTIONS,
                       anchor_languages=ANCHOR_LANGUAGES)
