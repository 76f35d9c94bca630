"""The library's typed read API and row model, on the real mixed-media library (indexed once per session)."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from tests.ingest.conftest import SAMPLES
from xmodal.db import VectorField
from xmodal.errors import NotFound
from xmodal.ingest import Item, Role, StoredRow
from xmodal.ingest.keywords import KeywordIndex
from xmodal.ingest.layout import PARENT, TRUNCATION_MARK, child_id, item_filter
from xmodal.media import chunk_text, load_text

DOC = SAMPLES / "documents" / "guitar-tuning.md"  # one passage, longer than the evidence kept in a row


def _collection(lib):
    return lib.db.collection(lib.collection_name)


def test_an_item_is_found_by_ref_or_by_path_and_only_items_are(mixed):
    lib, _, _, _ = mixed
    by_path = lib.item(str(DOC))
    assert isinstance(by_path, Item) and by_path.kind == "text" and by_path.path == str(DOC.resolve())
    by_ref = lib.item(by_path.id, with_vectors=True)
    assert by_ref.id == by_path.id and by_ref.vector is not None and by_ref.vector.shape == (lib.dim,)
    with pytest.raises(NotFound, match="not in the library"):
        lib.item(str(DOC), paths=False)  # a server's clients give refs, never paths
    with pytest.raises(NotFound, match="not in the library"):
        lib.item(child_id(by_path.id, 1))  # a child row is not an item
    with pytest.raises(NotFound, match="nowhere.txt: not in the library"):
        lib.item_vectors([str(DOC.resolve()), "/nowhere.txt"])


def test_items_at_paths_honour_the_kind_and_payload_filters(mixed):
    lib, _, _, _ = mixed
    cat = str((SAMPLES / "images" / "cat.jpg").resolve())
    asked = [cat, str(DOC.resolve()), "/not/indexed.png"]
    assert {Path(p).name: it.kind for p, it in lib.items(asked).items()} == {"cat.jpg": "image", DOC.name: "text"}
    assert list(lib.items(asked, kinds=["image"])) == [cat]
    assert lib.items(asked, where={"name": DOC.name}).keys() == {str(DOC.resolve())}


def test_every_row_follows_the_layout(mixed):
    lib, _, _, _ = mixed
    col = _collection(lib)
    items = {r.id for r in col.scroll(where=item_filter())}
    children = [r for r in col.scroll() if r.id not in items]
    assert children and len(items) == lib.info()["items"]
    for r in children:
        parent, n = r.id.rsplit(":", 1)
        assert r.payload[PARENT] == parent in items and int(n) >= 1
        assert Role(r.payload["role"]) is not Role.ITEM


def test_nearest_rows_of_many_items_match_one_search_per_item(mixed):
    """The batched read gives exactly the rows the old per-item, per-field searches gave."""
    lib, _, _, _ = mixed
    col = _collection(lib)
    ids = [r.id for r in lib.search(text="volcano eruption lava", k=4)]
    q = lib.encoder.encode_text(["volcano eruption lava", "how to tune a guitar"], mode="query")
    rows = lib.nearest_rows(ids, q, 3)
    assert list(rows) == ids
    for item_id in ids:
        got = rows[item_id]
        assert all(isinstance(r, StoredRow) and r.item_id == item_id for r in got)
        assert got[0].id == item_id and got[0].role is Role.ITEM
        expected = {h.id for f in col.vector_fields for per_query in col.search(f, q, k=3, where={PARENT: item_id})
                    for h in per_query}
        assert {r.id for r in got[1:]} == expected
        assert len({r.id for r in got}) == len(got)


def test_passages_are_the_stored_whole_text_behind_cut_evidence(mixed):
    lib, _, _, _ = mixed
    doc = lib.item(str(DOC))
    rows = lib.nearest_rows([doc.id], lib.encoder.encode_text(["tuning"], mode="query"), 50)[doc.id]
    cut = [r for r in rows if r.text.endswith(TRUNCATION_MARK)]
    assert cut and any(r.role is Role.ITEM for r in cut), "the sample's passages are longer than the evidence"
    chunks = [c.text for c in chunk_text(load_text(DOC))]  # what the source file says, chunked as ingest did
    whole = lib.passages(rows)
    for r in cut:
        assert whole[r.id] in chunks, r.id  # an item row's passage leaves the file name (indexed with it) out
        assert " ".join(whole[r.id].split()).startswith(r.text.removesuffix(TRUNCATION_MARK).rstrip())
    assert all(whole[r.id] == r.text for r in rows if r.text and r not in cut)


def test_companion_collections_live_beside_the_library(mixed):
    lib, _, _, _ = mixed
    side = lib.companion_collection("__notes", {"v": VectorField(dim=4, metric="cosine")}, {"user": "str"})
    side.upsert(["a"], {"v": np.ones((1, 4), np.float32)}, [{"user": "ana"}])
    again = lib.companion_collection("__notes", {"v": VectorField(dim=4, metric="cosine")}, {"user": "str"})
    assert again.count() == 1 and lib.collection_name + "__notes" in lib.info()["collections"]
    lib.db.drop_collection(lib.collection_name + "__notes")


def test_the_side_store_holds_keywords_failures_and_thumbnails(mixed):
    lib, _, _, _ = mixed
    folder = lib.store.folder
    assert lib.store.keywords.path.parent == folder and lib.store.failures.path.parent == folder
    assert lib.store.keywords.count() == lib.info()["keyword_passages"] > 0
    cat = lib.item(str(SAMPLES / "images" / "cat.jpg"))
    assert Path(cat.thumbnail) == lib.store.thumbnail(cat.id) and lib.store.thumbnail(cat.id).is_file()


def test_keyword_passages_by_row_id_survive_deletes_and_an_older_index(tmp_path):
    path = tmp_path / "keywords.sqlite"
    kw = KeywordIndex(path)
    kw.add([("a:1", "a", "text", "Ein  Vulkan\nspeit Lava."), ("a:2", "a", "text", "火山 喷发"),
            ("b", "b", "image", "bakery sign")])
    assert kw.passages(["a:1", "a:2", "b", "zzz"]) == {"a:1": "Ein  Vulkan\nspeit Lava.", "a:2": "火山 喷发",
                                                        "b": "bakery sign"}
    kw.delete_items(["a"])
    kw.add([("a:1", "a", "text", "replaced")])
    assert kw.passages(["a:1", "a:2", "b"]) == {"a:1": "replaced", "b": "bakery sign"}
    kw.close()
    with sqlite3.connect(path) as conn:  # as written before row ids had a lookup table
        conn.execute("DROP TABLE passage_rows")
    kw = KeywordIndex(path)
    assert kw.passages(["a:1", "b"]) == {"a:1": "replaced", "b": "bakery sign"}
    kw.close()
