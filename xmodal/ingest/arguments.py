"""The one parser of a search's ``where`` filter given as JSON text, for every face that takes it
as text (the CLI's ``--where``, the server's ``where`` query and form fields).

Kept free of numpy, the database, the media loaders and the models: the CLI imports it while
listing its commands. (Kind lists are checked by :func:`xmodal.ingest.layout.parse_kinds`.)
"""
from __future__ import annotations

import json

from xmodal.errors import InvalidInput

__all__ = ["parse_where"]


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
