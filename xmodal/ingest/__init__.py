"""The main job: index a folder of mixed media into one collection and search it across modalities.

``xmodal.open(path)`` returns a :class:`Library`; its read API hands out :class:`Item` s and
:class:`StoredRow` s, its searches :class:`SearchResults`, its index runs an :class:`IndexReport`.
The row model itself is :mod:`xmodal.ingest.layout`.

The names load on first use: the CLI imports ``xmodal.ingest.commands`` to list its sub-commands,
and ``xmodal --help`` must not wait for the database and the models behind ``Library``.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from xmodal.ingest.layout import Role
    from xmodal.ingest.library import Library
    from xmodal.ingest.results import Failure, IndexReport, Item, SearchResult, SearchResults, StoredRow

_HOMES = {"Library": "library", "Role": "layout", "SearchResult": "results", "SearchResults": "results",
          "IndexReport": "results", "Failure": "results", "Item": "results", "StoredRow": "results"}
__all__ = ["Library", "SearchResult", "SearchResults", "IndexReport", "Failure", "Item", "StoredRow", "Role"]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'xmodal.ingest' has no attribute {name!r}")
    return getattr(importlib.import_module(f"xmodal.ingest.{_HOMES[name]}"), name)
