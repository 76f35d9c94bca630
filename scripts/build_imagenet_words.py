"""Regenerate xmodal/encoders/data/imagenet_words.json from WordNet 3.0 (Debian `wordnet-base`).

ImageNet-1k class ids are WordNet 3.0 noun synset offsets (``n02099601`` = golden retriever), so
WordNet gives every class its synonyms, a gloss and its hypernym chain ("golden retriever" →
"retriever" → "sporting dog" → "dog" → ...). The photo-native label bridge phrases each class
with these words: captions of photos say "a dog", rarely "a golden retriever".

    python scripts/build_imagenet_words.py [/usr/share/wordnet]

The synset list (xmodal/encoders/data/imagenet_synsets.txt, ImageNet logit order) comes from
timm's ``timm/data/_info/imagenet_synsets.txt`` (Apache-2.0).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "xmodal" / "encoders" / "data"
MAX_HYPERNYMS = 8


def read_nouns(wordnet: Path) -> dict[str, dict]:
    """offset → {lemmas, gloss, hypernyms (offsets)} for every noun synset."""
    out: dict[str, dict] = {}
    for line in (wordnet / "data.noun").read_text(encoding="latin-1").splitlines():
        if line.startswith(" "):
            continue  # licence header
        head, _, gloss = line.partition(" | ")
        f = head.split()
        offset, n_words = f[0], int(f[3], 16)
        lemmas = [f[4 + 2 * i].replace("_", " ") for i in range(n_words)]
        lemmas = [lemma.split("(")[0] for lemma in lemmas]  # "mouse(a)" markers
        p = 4 + 2 * n_words
        n_ptr = int(f[p])
        hypernyms = [f[p + 1 + 4 * k + 1] for k in range(n_ptr) if f[p + 1 + 4 * k] in ("@", "@i")]
        out[offset] = {"lemmas": lemmas, "gloss": gloss.split(";")[0].strip(), "hypernyms": hypernyms}
    return out


def read_counts(wordnet: Path) -> dict[tuple[str, str], int]:
    """(lemma, synset offset) → how often that sense was tagged in the SemCor corpus: how familiar a
    word is *in that meaning* ("dog" 42, "canine" 0), which picks the words captions actually use."""
    by_number: dict[tuple[str, int], int] = {}
    for line in (wordnet / "cntlist.rev").read_text(encoding="latin-1").splitlines():
        key, number, count = line.split()
        lemma, _, sense = key.partition("%")
        if sense.startswith("1:"):
            by_number[(lemma, int(number))] = int(count)
    counts: dict[tuple[str, str], int] = {}
    for line in (wordnet / "index.noun").read_text(encoding="latin-1").splitlines():
        if line.startswith(" "):
            continue
        f = line.split()
        lemma, n_synsets = f[0], int(f[2])
        for number, offset in enumerate(f[-n_synsets:], start=1):
            counts[(lemma, offset)] = by_number.get((lemma, number), 0)
    return counts


def named(nouns: dict[str, dict], counts: dict[tuple[str, str], int], offset: str) -> list[dict]:
    return [{"name": lemma, "count": counts.get((lemma.lower().replace(" ", "_"), offset), 0)}
            for lemma in nouns[offset]["lemmas"]]


def chain(nouns: dict[str, dict], counts: dict[tuple[str, str], int], offset: str) -> list[dict]:
    """Each hypernym's most familiar lemma, nearest first (following the first parent), up to MAX_HYPERNYMS."""
    out: list[dict] = []
    current = nouns[offset]["hypernyms"]
    while current and len(out) < MAX_HYPERNYMS:
        out.append(max(named(nouns, counts, current[0]), key=lambda w: w["count"]))
        current = nouns[current[0]]["hypernyms"]
    return out


def main(argv: list[str]) -> int:
    wordnet = Path(argv[1]) if len(argv) > 1 else Path("/usr/share/wordnet")
    nouns, counts = read_nouns(wordnet), read_counts(wordnet)
    classes = []
    for wnid in (DATA / "imagenet_synsets.txt").read_text().split():
        classes.append({"wnid": wnid, "lemmas": named(nouns, counts, wnid[1:]), "gloss": nouns[wnid[1:]]["gloss"],
                        "hypernyms": chain(nouns, counts, wnid[1:])})
    (DATA / "imagenet_words.json").write_text(json.dumps(classes, ensure_ascii=False, separators=(",", ":")) + "\n")
    print(f"wrote {len(classes)} classes to {DATA / 'imagenet_words.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
