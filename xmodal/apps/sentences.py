"""Cut evidence text into the units an answer is made of: sentences, or lines for OCR text.

Answers are extractive, so the unit must be small enough to be the answer itself ("the meeting
moved to Thursday") yet keep its character offsets, so a caller can highlight it in the source.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Span", "split_sentences", "split_lines"]

# A sentence ends at . ! ? (or their CJK forms) followed by space, or at a blank line.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'”’)\]]*\s+|(?<=[。！？])\s*|\n\s*\n")
# Abbreviations whose period does not end a sentence.
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof sr jr st vs etc e.g i.e a.m p.m fig no vol approx inc ltd co dept".split())


@dataclass(frozen=True)
class Span:
    """A piece of a longer text with its character offsets in that text."""

    text: str
    start: int
    end: int


def _ends_with_abbreviation(piece: str) -> bool:
    last = piece.rstrip().rsplit(None, 1)[-1] if piece.strip() else ""
    word = last.rstrip(".").lower()
    return bool(word) and (word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha()))


def split_sentences(text: str) -> list[Span]:
    """Sentences of ``text`` with offsets; whitespace-only pieces are dropped."""
    spans: list[Span] = []
    start = 0
    pending_start: int | None = None
    for m in _SENTENCE_END.finditer(text):
        piece = text[start:m.start()]
        if "\n" not in m.group(0) and _ends_with_abbreviation(piece):
            pending_start = start if pending_start is None else pending_start
            start = m.end()
            continue
        s0 = pending_start if pending_start is not None else start
        _append(spans, text, s0, m.start())
        pending_start = None
        start = m.end()
    _append(spans, text, pending_start if pending_start is not None else start, len(text))
    return spans


def split_lines(text: str) -> list[Span]:
    """Non-empty lines with offsets: OCR keeps a sign's or slide's layout, one idea per line."""
    spans: list[Span] = []
    pos = 0
    for line in text.splitlines(keepends=True):
        _append(spans, text, pos, pos + len(line.rstrip("\r\n")))
        pos += len(line)
    return spans


def _append(spans: list[Span], text: str, start: int, end: int) -> None:
    raw = text[start:end]
    stripped = raw.strip()
    if not stripped:
        return
    lead = len(raw) - len(raw.lstrip())
    spans.append(Span(" ".join(stripped.split()), start + lead, start + lead + len(stripped)))
