"""xmodal: one semantic vector space for text, images, audio and video.

Layers (each knows only the one below): media loaders -> encoders -> vector database
-> applications -> faces (Python API, CLI, REST server, web page).
"""
from __future__ import annotations

__version__ = "0.1.0"

import importlib  # noqa: E402
from typing import TYPE_CHECKING, Any  # noqa: E402

from xmodal.config import Config  # noqa: E402
from xmodal.errors import XmodalError  # noqa: E402

if TYPE_CHECKING:  # pragma: no cover
    from xmodal.db import Database, connect
    from xmodal.encoders import get_encoder
    from xmodal.ingest import IndexReport, Library, SearchResult, SearchResults

# The main names, loaded on first use (``import xmodal`` stays instant for the CLI).
_HOMES = {"Library": "xmodal.ingest", "SearchResult": "xmodal.ingest", "SearchResults": "xmodal.ingest",
          "IndexReport": "xmodal.ingest", "Database": "xmodal.db", "connect": "xmodal.db",
          "get_encoder": "xmodal.encoders"}
__all__ = ["__version__", "XmodalError", "open", "Library", "SearchResult", "SearchResults", "IndexReport",
           "Database", "connect", "get_encoder"]


def open(path, settings: Config | None = None, **kwargs) -> "Library":  # noqa: A001 - xmodal.open("media.xmdb")
    """Open (or create) a media library: ``db = xmodal.open("media.xmdb")``.

    Accepts a folder path, ``milvus-lite:PATH`` or ``milvus://HOST:PORT[/DB]``. This is a face, a
    program's start-up like the CLI's (docs/ARCHITECTURE.md): without ``settings`` the machine's
    environment variables apply (``Config.from_env()``, read now, so a variable set before the call
    counts) and those settings are passed down; ``Library.open`` itself takes only what it is given
    (default ``Config()``) and nothing below it reads the global ``CONFIG``.
    """
    return __getattr__("Library").open(path, settings=settings or Config.from_env(), **kwargs)


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'xmodal' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
