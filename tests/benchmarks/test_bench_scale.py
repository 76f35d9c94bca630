"""The scale benchmark at a tiny N: its output schema, and that recall and bytes per vector are
measured right (a broken measure would publish wrong numbers in BENCHMARKS.md / SCALING.md)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks import bench_scale
from benchmarks.db_data import load
from benchmarks.db_measure import exact_topk_numpy
from benchmarks.db_systems import System

N, QUERIES = 5000, 40


class _Fixed(System):
    """Answers every batch with rows of a precomputed id table (the queries come in order)."""

    def __init__(self, ids: np.ndarray):
        self.ids, self.at = ids, 0

    def search(self, qs, params):
        out = self.ids[self.at:self.at + len(qs)]
        self.at += len(qs)
        return out.tolist()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    cache = tmp_path_factory.mktemp("scale-cache")
    s = bench_scale.settings(N, QUERIES, cache)
    return s, load(s.data, cache)


def test_recall_is_share_of_true_neighbours_found(tiny):
    s, ds = tiny
    truth = exact_topk_numpy(ds.base, ds.queries, s.data.k)  # independent of the FAISS ground truth
    exact = bench_scale.sweep_point(_Fixed(truth[:, ::-1].copy()), {}, ds)  # order does not matter
    assert exact["recall"] == 1.0
    half = truth.copy()
    half[:, 5:] = -1  # padding is never a hit
    assert bench_scale.sweep_point(_Fixed(half), {}, ds)["recall"] == 0.5
    wrong = (truth + 1) % ds.n
    assert bench_scale.sweep_point(_Fixed(wrong), {}, ds)["recall"] < 0.2
    assert exact["qps"] > 0 and exact["qps_per_cpu_s"] > 0


def test_unknown_kind_is_refused_by_name(tiny):
    s, _ = tiny
    with pytest.raises(ValueError, match="'lsh2'"):
        bench_scale.spec_for("lsh2", s)


def test_tiny_run_writes_every_measure(tiny, tmp_path):
    s, _ = tiny
    out = tmp_path / "scale.json"
    bench_scale.main_run(["flat", "ivf_flat"], N, QUERIES, s.cache, 600, out)
    doc = json.loads(out.read_text())
    assert set(doc["entries"]) == {f"{N}/flat", f"{N}/ivf_flat"}
    for e in doc["entries"].values():
        assert "error" not in e, e
        assert e["n"] == N and e["queries"] == QUERIES
        for system in ("faiss", "xmodal"):
            side = e[system]
            assert side["build_s"] >= 0 and side["disk_bytes_per_vector"] > 0
            assert set(side["ram_bytes_per_vector"]) == {"anon", "file", "total"}
            assert [p["params"] for p in side["points"]] == bench_scale.SWEEP.get(e["kind"], [{}])
            assert all(0.0 <= p["recall"] <= 1.0 for p in side["points"])
        assert e["ram_vs_faiss"] > 0
    flat = doc["entries"][f"{N}/flat"]
    # Both exact: recall must come out 1.0, and a flat FAISS file holds 4 bytes per dimension.
    assert flat["faiss"]["points"][0]["recall"] == 1.0 == flat["xmodal"]["points"][0]["recall"]
    assert 1536 <= flat["faiss"]["disk_bytes_per_vector"] < 1600
    assert 0.9 * 1536 < flat["faiss"]["ram_bytes_per_vector"]["anon"] < 1.5 * 1536
    ivf = doc["entries"][f"{N}/ivf_flat"]
    recalls = [p["recall"] for p in ivf["xmodal"]["points"]]
    assert recalls == sorted(recalls) and recalls[-1] == 1.0  # nprobe 64 > nlist: every list probed
