"""Shared test setup: offline model loading, one thread for BLAS/torch (2-core CI machines), and the
session's Milvus standalone server (started on first use)."""
import itertools
import os

import pytest

from tests.milvus.standalone import StandaloneMilvus

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

ARTIFACTS = os.path.join(os.path.dirname(__file__), "..", "test-artifacts")

_databases = itertools.count()
# The server's time tick (200 ms by default) is how long a strongly consistent read may wait for the
# writes before it; the tests read after every write, so the test server ticks faster.
TEST_SERVER_SETTINGS = {"proxy.timeTickInterval": 20}


@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory) -> str:
    """``HOST:PORT`` of a Milvus standalone server started for this test session, stopped after it."""
    server = StandaloneMilvus(tmp_path_factory.mktemp("milvus-standalone"), TEST_SERVER_SETTINGS)
    try:
        address = server.start()
    except Exception as exc:  # a missing package, a library the binary cannot load, a crash at start
        pytest.fail(f"cannot start the Milvus standalone server: {exc}", pytrace=False)
    yield address
    server.stop(graceful=False)  # its folder is a temporary one


@pytest.fixture
def milvus_uri(milvus_server) -> str:
    """A fresh Milvus database on the session's server, so tests never see each other's collections."""
    return f"milvus://{milvus_server}/t{next(_databases)}"

