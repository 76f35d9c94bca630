"""xmodal: one semantic vector space for text, images, audio and video.

Layers (each knows only the one below): media loaders -> encoders -> vector database
-> applications -> faces (Python API, CLI, REST server, web page).
"""
from __future__ import annotations

__version__ = "0.1.0"

from xmodal.errors import XmodalError  # noqa: E402

__all__ = ["__version__", "XmodalError", "open"]


def open(path, **kwargs):  # noqa: A001 - mirrors xmodal.open("media.xmdb") in the docs
    """Open (or create) a media library: ``db = xmodal.open("media.xmdb")``.

    Accepts a folder path, ``milvus-lite:PATH`` or ``milvus://HOST:PORT[/DB]``.
    """
    from xmodal.ingest.library import Library

    return Library.open(path, **kwargs)
