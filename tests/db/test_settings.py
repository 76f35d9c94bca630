"""Settings are per database: two databases in one process, each tuned differently, each use
their own (issue 13). The environment is read by ``Config.from_env()`` when called, not at import."""
from __future__ import annotations

import faiss
import numpy as np
import pytest

from tests.db.brute import knn, recall
from xmodal.config import Config, DBConfig
from xmodal.db import Database, VectorField, connect
from xmodal.errors import InvalidInput

N, DIM, K = 3000, 32, 1


def level0_neighbours(folder) -> int:
    """Links per node on the bottom layer of the HNSW snapshot a database wrote (2 x M in FAISS)."""
    (snapshot,) = (folder / "indexes").glob("c*/v.faiss")
    index = faiss.read_index(str(snapshot))  # held: .hnsw points into it
    return int(index.hnsw.nb_neighbors(0))


def test_two_databases_in_one_process_use_their_own_hnsw_settings(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, DIM)).astype(np.float32)
    q = rng.standard_normal((200, DIM)).astype(np.float32)
    truth = knn(q, x, list(range(N)), K, "l2")
    # The same field declaration (no M, no ef): only the databases' settings differ.
    wide = Database(tmp_path / "wide", settings=Config(db=DBConfig(hnsw_m=6, hnsw_ef_search=256)))
    greedy = connect(tmp_path / "greedy", settings=Config(db=DBConfig(hnsw_m=16, hnsw_ef_search=1)))
    found = {}
    for name, db in (("wide", wide), ("greedy", greedy)):
        col = db.create_collection("c", vectors={"v": VectorField(DIM, "l2", "hnsw")})
        col.upsert(list(range(N)), {"v": x})
        col.wait_for_maintenance()  # the rows are in the graph, not only in the exact growing part
        assert col.index_info()["v"]["growing"] == 0
        found[name] = recall([[h.id for h in r] for r in col.search("v", q, k=K)], truth)
    wide.close()
    greedy.close()  # both write their index snapshots: the FAISS graphs they built
    assert level0_neighbours(tmp_path / "wide") == 2 * 6
    assert level0_neighbours(tmp_path / "greedy") == 2 * 16
    # efSearch 256 finds nearly every true neighbour despite the sparser graph; efSearch 1 (a greedy
    # walk) misses many despite the denser one.
    assert found["wide"] >= 0.95
    assert found["greedy"] <= found["wide"] - 0.1


def test_a_field_param_still_beats_the_database_default(tmp_path):
    with Database(tmp_path / "d", settings=Config(db=DBConfig(hnsw_m=6))) as db:
        col = db.create_collection("c", vectors={"v": VectorField(8, "l2", "hnsw", {"M": 10})})
        col.upsert(list(range(50)), {"v": np.random.default_rng(1).standard_normal((50, 8)).astype(np.float32)})
    assert level0_neighbours(tmp_path / "d") == 2 * 10


def test_limits_are_per_database(tmp_path):
    with Database(tmp_path / "short", settings=Config(db=DBConfig(max_id_length=4))) as short, \
            Database(tmp_path / "long") as long:
        vectors = {"v": VectorField(2, "l2")}
        with pytest.raises(InvalidInput, match="1..4 characters"):
            short.create_collection("c", vectors=vectors).upsert(["abcde"], {"v": np.ones((1, 2), np.float32)})
        long.create_collection("c", vectors=vectors).upsert(["abcde"], {"v": np.ones((1, 2), np.float32)})
        assert long.collection("c").count() == 1


def test_bad_synchronous_level_is_refused_naming_the_setting(tmp_path):
    with pytest.raises(InvalidInput, match="sqlite_synchronous 'SOMETIMES'"):
        Database(tmp_path / "d", settings=Config(db=DBConfig(sqlite_synchronous="SOMETIMES")))


def test_environment_set_after_import_takes_effect_through_from_env(monkeypatch):
    monkeypatch.setenv("XMODAL_THREADS", "3")
    monkeypatch.setenv("XMODAL_FAISS_THREADS", "2")
    monkeypatch.setenv("XMODAL_DB_SYNC", "full")
    settings = Config.from_env()
    assert settings.encoders.torch_threads == 3 and settings.media.asr_threads == 3
    assert settings.db.faiss_threads == 2 and settings.db.sqlite_synchronous == "FULL"
    assert Config().encoders.torch_threads == 1  # the defaults never read the environment
    monkeypatch.setenv("XMODAL_THREADS", "many")
    with pytest.raises(InvalidInput, match="XMODAL_THREADS"):
        Config.from_env()


def test_the_environment_reaches_a_database_opened_with_from_env(tmp_path, monkeypatch):
    monkeypatch.setenv("XMODAL_DB_SYNC", "FULL")
    with Database(tmp_path / "d", settings=Config.from_env()) as db:
        db.create_collection("c", vectors={"v": VectorField(2, "l2")})
        level = db._storage.query("PRAGMA synchronous")[0][0]
    assert level == 2  # SQLite's number for FULL (NORMAL, the default, is 1)
