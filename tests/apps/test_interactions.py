"""The interaction store: events and incremental profiles in real database files."""
import numpy as np
import pytest

from xmodal.apps.interactions import InteractionStore, event_weight, items_of
from xmodal.apps.profile import SECONDS_PER_DAY
from xmodal.db import Database
from xmodal.errors import InvalidInput

DIM = 8
T0 = 1_700_000_000.0


@pytest.fixture()
def folder(tmp_path):
    return tmp_path / "lib.xmdb"


def _vec(i: int) -> np.ndarray:
    return np.random.default_rng(i).standard_normal(DIM).astype(np.float32)


def test_profile_survives_reopen_and_equals_a_rebuild(folder):
    with Database(str(folder)) as db:
        store = InteractionStore.in_database(db, "media", DIM)
        for i in range(6):
            store.record("ana", f"/m/{i}.png", "dislike" if i == 3 else "like", _vec(i), item_kind="image",
                         ts=T0 + i * SECONDS_PER_DAY)
        live = store.profile("ana")
    with Database(str(folder)) as db:
        store = InteractionStore.in_database(db, "media", DIM)
        stored = store.profile("ana")
        rebuilt = store._rebuild("ana")
    assert stored.interactions == 6 and stored.t_ref == T0 + 5 * SECONDS_PER_DAY
    np.testing.assert_allclose(stored.positive, live.positive, rtol=1e-5)
    np.testing.assert_allclose(stored.positive, rebuilt.positive, rtol=1e-5)
    np.testing.assert_allclose(stored.negative, rebuilt.negative, rtol=1e-5)
    assert stored.negative_mass == pytest.approx(1.0 * 0.5 ** (2 / 30))


def test_a_profile_left_behind_its_events_is_rebuilt(folder):
    with Database(str(folder)) as db:
        store = InteractionStore.in_database(db, "media", DIM)
        store.record("bo", "/m/1.png", "like", _vec(1), ts=T0)
        # An event written without its profile update (as after a crash between the two writes).
        store.events.upsert(["orphan"], {"item": _vec(2)[None, :]},
                            [{"user": "bo", "item": "/m/2.png", "event": "like", "weight": 1.0, "ts": T0 + 10,
                              "item_kind": "image"}])
        p = store.profile("bo")
    assert p.interactions == 2
    expected = _vec(1) / np.linalg.norm(_vec(1)) + _vec(2) / np.linalg.norm(_vec(2))
    np.testing.assert_allclose(p.positive, expected, rtol=1e-4)


def test_history_seen_popularity_and_forget(folder):
    with Database(str(folder)) as db:
        store = InteractionStore.in_database(db, "media", DIM)
        store.record("ana", "/m/a.png", "like", _vec(1), ts=T0)
        store.record("ana", "/m/b.png", "view", _vec(2), ts=T0 + 5)
        store.record("ana", "/m/c.png", "dislike", _vec(3), ts=T0 + 9)
        store.record("bo", "/m/a.png", "like", _vec(1), ts=T0 + 1)
        hist = store.history("ana")
        assert [h.item for h in hist] == ["/m/c.png", "/m/b.png", "/m/a.png"]
        assert [h.weight for h in hist] == [-1.0, 0.3, 1.0]
        assert items_of(hist) == ["/m/b.png", "/m/a.png"] and items_of(hist, positive=False) == ["/m/c.png"]
        assert store.seen("ana") == {"/m/a.png", "/m/b.png", "/m/c.png"}
        assert store.popularity().most_common(1) == [("/m/a.png", 2)]
        assert store.users() == ["ana", "bo"]
        assert store.forget("ana") == 3
        assert store.history("ana") == [] and store.users() == ["bo"]
        assert store.profile("ana").direction() is None
        store.forget_item("/m/a.png")
        assert store.profile("bo").interactions == 0


def test_bad_input_stores_nothing(folder):
    with Database(str(folder)) as db:
        store = InteractionStore.in_database(db, "media", DIM)
        store.record("ana", "/m/a.png", "like", _vec(1), ts=T0)
        before = store.profile("ana")
        with pytest.raises(InvalidInput, match="unknown interaction event 'adore'"):
            store.record("ana", "/m/b.png", "adore", _vec(2))
        with pytest.raises(InvalidInput, match="user must be a non-empty string"):
            store.record("  ", "/m/b.png", "like", _vec(2))
        with pytest.raises(InvalidInput, match=r"vector of item '/m/b.png' must be 8 finite numbers"):
            store.record("ana", "/m/b.png", "like", np.full(DIM, np.nan))
        with pytest.raises(InvalidInput, match="weight must be finite"):
            store.record("ana", "/m/b.png", "like", _vec(2), weight=float("inf"))
        assert store.events.count() == 1
        after = store.profile("ana")
        np.testing.assert_array_equal(before.positive, after.positive)
    assert event_weight("custom", 2.5) == 2.5


def test_a_store_records_by_its_own_event_weights_and_half_life(folder):
    """Settings handed to the store, not the global CONFIG, weigh events and decay the profile."""
    from dataclasses import replace

    from xmodal.config import CONFIG, AppsConfig

    mine = replace(AppsConfig(), rec_event_weights={"view": 0.9, "meh": -0.2}, rec_half_life_days=1.0,
                   rec_history_limit=1)
    with Database(str(folder)) as db:
        store = InteractionStore.in_database(db, "media", DIM, settings=mine)
        assert store.record("ana", "/m/a.png", "view", _vec(1), ts=T0).weight == 0.9  # 0.3 by default
        assert store.record("ana", "/m/b.png", "meh", _vec(2), ts=T0 + SECONDS_PER_DAY).weight == -0.2
        with pytest.raises(InvalidInput, match="unknown interaction event 'like'; known: meh, view"):
            store.record("ana", "/m/c.png", "like", _vec(3))
        p = store.profile("ana")
        assert p.positive_mass == pytest.approx(0.9 * 0.5)  # one day at a one-day half-life (30 by default)
        assert [h.item for h in store.history("ana")] == ["/m/b.png"]  # rec_history_limit=1
        default = InteractionStore.in_database(db, "media", DIM)
        assert len(default.history("ana")) == 2 and default.settings == CONFIG.apps == AppsConfig()


def test_concurrent_recording_loses_no_event_in_the_profile(folder):
    from concurrent.futures import ThreadPoolExecutor

    with Database(str(folder)) as db:
        store = InteractionStore.in_database(db, "media", DIM)
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda i: store.record("ana", f"/m/{i}.png", "like", _vec(i), ts=T0), range(24)))
        # The stored row itself, not the self-healing read: no read-modify-write lost an update.
        row = store.profiles.get(["ana"])[0].payload
        assert row["interactions"] == 24 and row["positive_mass"] == pytest.approx(24.0)
        p = store.profile("ana")
        np.testing.assert_allclose(p.positive, store._rebuild("ana").positive, rtol=1e-4)


def test_co_liked_scores_items_liked_together_by_other_users(folder):
    with Database(str(folder)) as db:
        store = InteractionStore.in_database(db, "media", DIM)
        likes = {"u1": ["a", "b"], "u2": ["a", "b", "pop"], "u3": ["a", "c", "pop"], "u4": ["pop", "d"],
                 "u5": ["pop"], "u6": ["pop"], "me": ["a"]}
        for user, items in likes.items():
            for i, item in enumerate(items):
                store.record(user, f"/m/{item}", "like", _vec(i), ts=T0 + i)
        store.record("u4", "/m/a", "dislike", _vec(9), ts=T0 + 9)     # a dislike is no co-like
        co = store.co_liked("me", ["/m/a"])
    assert set(co) == {"/m/b", "/m/c", "/m/pop"}                       # d: its liker never liked a
    assert co["/m/b"] == pytest.approx(2 / np.sqrt(3 * 2))
    assert co["/m/b"] > co["/m/c"] > co["/m/pop"]   # liked by two co-likers, but by everyone: no win
    assert store.co_liked("me", []) == {}
