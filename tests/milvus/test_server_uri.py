"""``milvus://HOST:PORT/DB`` against a real Milvus gRPC server process (Milvus Lite's server mode,
the protocol a standalone Milvus speaks): the database is created on first use, data survives a
reconnect, and collections in different databases do not see each other."""
from __future__ import annotations

import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from xmodal.db import connect
from xmodal.db.api import VectorField
from xmodal.errors import StorageError

STARTUP_S = 60


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "milvus_lite", "server", "--data-dir",
                             str(tmp_path_factory.mktemp("milvus-server")), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        assert proc.poll() is None, proc.stderr.read().decode()
        time.sleep(0.2)
    yield f"127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=30)


def test_server_uri_creates_the_database_and_keeps_data_across_connections(server):
    db = connect(f"milvus://{server}/media")
    col = db.create_collection("photos", {"v": VectorField(4, "cosine")}, {"kind": "str"}, metadata={"model": "m"})
    col.upsert([1, "b"], {"v": np.eye(4)[:2]}, [{"kind": "image"}, {"kind": "text"}])
    db.close()
    again = connect(f"milvus://{server}/media")
    col = again.collection("photos")
    assert col.metadata == {"model": "m"} and col.count() == 2
    assert [h.id for h in col.search("v", np.eye(4)[1:2], k=1, where={"kind": "text"})[0]] == ["b"]
    other = connect(f"milvus://{server}/archive")
    assert other.list_collections() == [] and again.list_collections() == ["photos"]
    other.close()
    again.close()


def test_unreachable_server_is_a_storage_error_naming_it():
    port = _free_port()
    with pytest.raises(StorageError, match=str(port)):
        connect(f"milvus://127.0.0.1:{port}/x")
