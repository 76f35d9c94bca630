"""Long text -> overlapping word windows that fit a sentence model, each remembering where it came
from (character offsets), so search results can quote and highlight the passage that matched."""
from __future__ import annotations

import re
from dataclasses import dataclass

from xmodal.config import MediaConfig
from xmodal.errors import InvalidInput

__all__ = ["Chunk", "chunk_text", "count_words"]

# Chinese and Japanese are written without spaces: each character counts as a word there.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_WORD = re.compile(f"[{_CJK}]|[^\\s{_CJK}]+")


def count_words(text: str) -> int:
    """Words of ``text`` as :func:`chunk_text` counts them: a text of a full window's count was
    (most likely) cut from a longer one."""
    return sum(1 for _ in _WORD.finditer(text))


@dataclass(frozen=True)
class Chunk:
    text: str
    start: int  # character offset in the original text
    end: int    # exclusive; text == original[start:end]


def chunk_text(text: str, words: int | None = None, overlap: int | None = None,
               settings: MediaConfig | None = None) -> list[Chunk]:
    """Windows of ``words`` words, consecutive windows sharing ``overlap`` words (defaults: the
    ``chunk_tokens`` / ``chunk_overlap`` of ``settings``).

    Windows are cut at word boundaries and keep the original spacing between words.
    """
    settings = settings or MediaConfig()
    words = settings.chunk_tokens if words is None else words
    overlap = settings.chunk_overlap if overlap is None else overlap
    if words <= 0:
        raise InvalidInput(f"chunk size must be positive, got {words} words")
    if not 0 <= overlap < words:
        raise InvalidInput(f"chunk overlap must be in [0, {words}), got {overlap}")
    spans = [m.span() for m in _WORD.finditer(text)]
    if not spans:
        return []
    chunks, step = [], words - overlap
    for i in range(0, len(spans), step):
        window = spans[i:i + words]
        start, end = window[0][0], window[-1][1]
        chunks.append(Chunk(text[start:end], start, end))
        if i + words >= len(spans):
            break
    return chunks
