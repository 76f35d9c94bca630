"""Turning decoded units into vectors, batched across files (encoders are much faster per batch)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from xmodal.ingest.extract import TEXT, VISUAL, Decoded, ExtractedUnit
from xmodal.ingest.sound import SOUND, library_has_sounds, sound_vectors

__all__ = ["Row", "Encoded", "fields_for", "encode_decoded"]


@dataclass
class Row:
    """One row to write: the item itself (role ``item``) or one of its chunks / frames / segments."""

    role: str
    vectors: dict[str, np.ndarray]
    time: float | None = None
    end: float | None = None
    text: str = ""
    asr_logprob: float | None = None  # speech segments: how sure the recogniser was (QA confidence)


@dataclass
class Encoded:
    kind: str
    mime: str
    meta: dict
    rows: list[Row] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)  # one text per row (BM25), "" when none


def fields_for(encoder) -> tuple[str, ...]:
    """The vector fields a library built on ``encoder`` has: image space and/or text space, and
    ``sound`` where a sound head maps audio into that space."""
    mods = set(encoder.modalities)
    fields = tuple(f for f, m in ((VISUAL, "image"), (TEXT, "text")) if m in mods)
    return fields + ((SOUND,) if TEXT in fields and library_has_sounds(encoder) else ())


def encode_decoded(encoder, batch: list[Decoded]) -> list[Encoded]:
    """Encode every unit of every decoded file in two batched calls (images, texts).

    Units of a field the encoder cannot produce are dropped; an item left with no vector of its
    own falls back to its text units (or its name), so every item stays findable.
    """
    fields = fields_for(encoder)
    for dec in batch:
        if not any(u.field in fields and u.field != SOUND for u in dec.units) and TEXT in fields:
            dec.units.insert(0, ExtractedUnit("item", TEXT, dec.meta.get("name") or dec.kind))
    images, texts, sounds = [], [], []
    for dec in batch:
        for u in dec.units:
            if u.field == VISUAL and VISUAL in fields:
                images.append(u.content)
            elif u.field == TEXT and TEXT in fields:
                texts.append(u.content)
            elif u.field == SOUND and SOUND in fields:
                sounds.append(u)
    img_vecs = encoder.encode_image(images) if images else np.zeros((0, encoder.dim), np.float32)
    txt_vecs = encoder.encode_text(texts, mode="passage") if texts else np.zeros((0, encoder.dim), np.float32)
    snd_vecs = sound_vectors(encoder, sounds)
    ii = ti = si = 0
    out = []
    for dec in batch:
        enc = Encoded(dec.kind, dec.mime, dict(dec.meta))
        for u in dec.units:
            if u.field == VISUAL and VISUAL in fields:
                vec, ii = img_vecs[ii], ii + 1
            elif u.field == TEXT and TEXT in fields:
                vec, ti = txt_vecs[ti], ti + 1
            elif u.field == SOUND and SOUND in fields:
                vec, si = snd_vecs[si], si + 1
            else:
                continue
            enc.rows.append(Row(u.role, {u.field: np.asarray(vec, np.float32)}, u.time, u.end, u.text, u.asr_logprob))
            enc.keywords.append(u.content if u.field == TEXT else "")
        if not any(r.role == "item" for r in enc.rows) and enc.rows:
            first = enc.rows[0]
            enc.rows.insert(0, Row("item", dict(first.vectors), first.time, first.end, first.text))
            enc.keywords.insert(0, "")
        out.append(enc)
    return out
