"""One function reads a database URI (xmodal.db.locate); connect, the library, the CLI and the server ask it."""
from __future__ import annotations

from pathlib import Path

import pytest

from xmodal.db import Database, connect, locate
from xmodal.db.backends.milvus import client_kwargs
from xmodal.errors import InvalidInput


@pytest.mark.parametrize("uri, backend, path, address, database, scheme", [
    ("media.xmdb", "embedded", Path("media.xmdb"), None, None, None),
    ("milvus-lite:./m.db", "milvus-lite", Path("m.db"), None, None, None),
    ("milvus://10.0.0.5:19530", "milvus", None, "10.0.0.5:19530", None, "http"),
    ("milvus://10.0.0.5:19530/media/", "milvus", None, "10.0.0.5:19530", "media", "http"),
    ("milvus+https://db.example:443/x", "milvus", None, "db.example:443", "x", "https"),
])
def test_locate_names_the_backend_and_where_it_lives(uri, backend, path, address, database, scheme):
    where = locate(uri)
    assert (where.backend, where.path, where.address, where.database, where.scheme) == \
        (backend, path, address, database, scheme)
    assert where.embedded == (backend == "embedded") and where.uri == uri


@pytest.mark.parametrize("uri, words", [
    ("s3://bucket/x", "unknown database URI scheme"),
    ("milvus://", "HOST:PORT"),
    ("milvus-lite:", "milvus-lite:PATH.db"),
    ("", "empty"),
])
def test_malformed_uris_are_refused_naming_them(uri, words):
    with pytest.raises(InvalidInput, match=words):
        locate(uri)


def test_connect_dispatches_by_uri(tmp_path):
    db = connect(tmp_path / "e")
    assert isinstance(db, Database)
    db.close()
    assert client_kwargs(locate("milvus+https://h:1/d")) == {"uri": "https://h:1", "db_name": "d"}
    with pytest.raises(InvalidInput, match="must end in .db"):
        connect(f"milvus-lite:{tmp_path / 'm.sqlite'}")
