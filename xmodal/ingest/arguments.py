"""The checks every face (CLI commands, REST routes, the Python API) applies to a search's
``where`` filter and ``kind`` list, so one spelling is accepted and one error is given everywhere.

Kept free of numpy, the database and the models: the CLI imports it while listing its commands.
"""
from __future__ import annotations

import json
from typing import Sequence

from xmodal.errors import InvalidInput
from xmodal.media.kinds import KINDS

__all__ = ["parse_where", "parse_kinds"]


def parse_where(text: str | None, name: str = "--where") -> dict | None:
    """A payload filter given as JSON text (``'{"size": {"$lt": 100000}}'``) -> a dict (None: no
    filter). ``name`` is how the caller's user spells the argument, for the error message."""
    if not text:
        return None
    try:
        where = json.loads(text)
    except ValueError as exc:
        raise InvalidInput(f"{name} is not valid JSON: {exc}") from exc
    if not isinstance(where, dict):
        raise InvalidInput(f"{name} must be a JSON object, e.g. '{{\"kind\": \"image\"}}'")
    return where


def parse_kinds(kind: str | Sequence[str] | None) -> list[str] | None:
    """``"image,text"``, ``["image"]`` or ``["image,text", "audio"]`` (a repeated query parameter)
    -> a checked list of kinds (None: every kind)."""
    if kind is None:
        return None
    items = [kind] if isinstance(kind, str) else [str(k) for k in kind]
    kinds = [k.strip() for item in items for k in item.split(",") if k.strip()]
    bad = [k for k in kinds if k not in KINDS]
    if bad:
        raise InvalidInput(f"kind {bad[0]!r} is not one of {', '.join(KINDS)}")
    return kinds or None
