"""Which backend a database URI names, and where it lives: the one place that reads a URI's scheme.

``connect`` dispatches on it; the library, the CLI and the server ask it whether a URI is a folder
on this disk (locks, side folders, upload folders) instead of looking at the string themselves.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from xmodal.errors import InvalidInput

__all__ = ["LITE_PREFIX", "SERVER_SCHEMES", "FORMS", "Backend", "Location", "locate"]

LITE_PREFIX = "milvus-lite:"
SERVER_SCHEMES = {"milvus://": "http", "milvus+https://": "https"}
FORMS = "a folder path, milvus-lite:PATH.db, milvus://HOST:PORT[/DB] or milvus+https://HOST:PORT[/DB]"

Backend = Literal["embedded", "milvus-lite", "milvus"]


@dataclass(frozen=True)
class Location:
    """A parsed database URI.

    ``path`` is the file or folder the database keeps on this disk (the embedded engine's folder,
    the Milvus Lite file), ``None`` for a server. ``address`` (``HOST:PORT``), ``database`` and
    ``scheme`` (``http`` / ``https``) are set for a Milvus server only.
    """

    uri: str
    backend: Backend
    path: Path | None = None
    address: str | None = None
    database: str | None = None
    scheme: str | None = None

    @property
    def embedded(self) -> bool:
        """The embedded engine in a folder here: the one backend with a local writer lock."""
        return self.backend == "embedded"

    @property
    def milvus(self) -> bool:
        return self.backend != "embedded"


def locate(uri: str | os.PathLike) -> Location:
    """Parse ``uri``; an unknown ``scheme://`` is refused rather than taken for a folder name."""
    text = str(uri)
    if text.startswith(LITE_PREFIX):
        rest = text[len(LITE_PREFIX):]
        if not rest:
            raise InvalidInput(f"{text!r}: expected milvus-lite:PATH.db")
        return Location(text, "milvus-lite", path=Path(rest).expanduser())
    for prefix, scheme in SERVER_SCHEMES.items():
        if text.startswith(prefix):
            hostport, _, db_name = text[len(prefix):].partition("/")
            if not hostport:
                raise InvalidInput(f"{text!r}: expected {prefix}HOST:PORT[/DB]")
            return Location(text, "milvus", address=hostport, database=db_name.strip("/") or None, scheme=scheme)
    if "://" in text:
        raise InvalidInput(f"{text!r}: unknown database URI scheme (expected {FORMS})")
    if not text:
        raise InvalidInput(f"empty database location (expected {FORMS})")
    return Location(text, "embedded", path=Path(text))
