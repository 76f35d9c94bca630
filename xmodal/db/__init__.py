"""The vector database: the embedded engine and the backends behind the same API (docs/ARCHITECTURE.md)."""
from __future__ import annotations

import os
from typing import Any

from xmodal.config import Config
from xmodal.db.api import BaseCollection, BaseDatabase, Hit, Record, VectorField
from xmodal.db.backends.milvus import MilvusDatabase
from xmodal.db.collection import Collection
from xmodal.db.database import Database
from xmodal.db.uri import Location, locate

__all__ = ["Database", "Collection", "VectorField", "Hit", "Record", "connect", "locate", "Location",
           "BaseDatabase", "BaseCollection"]


def connect(uri: str | os.PathLike, settings: Config | None = None, **kwargs: Any) -> BaseDatabase:
    """Open a database by URI: a folder path (the embedded engine; ``mode`` and its other options
    apply), ``milvus-lite:PATH.db`` or ``milvus[+https]://HOST:PORT[/DB]`` (the Milvus backend).

    ``settings``: the database's own (see :class:`Database`; Milvus also reads the ``milvus`` section)."""
    where = locate(uri)
    if where.embedded:
        return Database(str(uri), settings=settings, **kwargs)
    return MilvusDatabase(where, settings=settings, **kwargs)
