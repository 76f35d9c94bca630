"""``milvus://HOST:PORT/DB`` against the session's Milvus standalone server: the database is created on
first use, data survives a reconnect, and collections in different databases do not see each other."""
from __future__ import annotations

import numpy as np
import pytest

from tests.milvus.standalone import free_port
from xmodal.db import connect
from xmodal.db.api import VectorField
from xmodal.errors import StorageError


def test_server_uri_creates_the_database_and_keeps_data_across_connections(milvus_server):
    db = connect(f"milvus://{milvus_server}/media")
    col = db.create_collection("photos", {"v": VectorField(4, "cosine")}, {"kind": "str"}, metadata={"model": "m"})
    col.upsert([1, "b"], {"v": np.eye(4)[:2]}, [{"kind": "image"}, {"kind": "text"}])
    db.close()
    again = connect(f"milvus://{milvus_server}/media")
    col = again.collection("photos")
    assert col.metadata == {"model": "m"} and col.count() == 2
    assert [h.id for h in col.search("v", np.eye(4)[1:2], k=1, where={"kind": "text"})[0]] == ["b"]
    other = connect(f"milvus://{milvus_server}/archive")
    assert other.list_collections() == [] and again.list_collections() == ["photos"]
    other.close()
    again.close()


def test_unreachable_server_is_a_storage_error_naming_it():
    port = free_port()
    with pytest.raises(StorageError, match=str(port)):
        connect(f"milvus://127.0.0.1:{port}/x")
