"""Recommendation over a real library of Tux Paint stamps: profiles, negatives, MMR, filters, CLI."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from xmodal.apps.diversity import intra_list_diversity
from xmodal.apps.recommend import interactions, more_like_this, recommend, record_interaction
from xmodal.errors import InvalidInput, NotFound

T0 = 1_700_000_000.0


def _p(cats, name):
    return next(p for p in cats if Path(p).name == name)


def _names(recs):
    return [Path(r.path).name for r in recs]


def test_a_user_who_liked_animals_gets_animals_first_and_no_item_twice(rec_library):
    lib, cats, _ = rec_library
    for i, name in enumerate(("dog.png", "elephant.png", "tiger.png")):
        record_interaction(lib, "ana", _p(cats, name), "like", ts=T0 + i)
    recs = recommend(lib, "ana", 6, kinds=["image"], now=T0 + 10)
    paths = [r.path for r in recs]
    assert len(paths) == len(set(paths)) == 6
    assert not {"dog.png", "elephant.png", "tiger.png"} & set(_names(recs))       # seen items excluded
    assert [cats[p] for p in paths[:3]] == ["animals"] * 3, _names(recs)
    assert all(r.because in {_p(cats, n) for n in ("dog.png", "elephant.png", "tiger.png")} for r in recs[:3])


def test_negative_feedback_moves_items_down(rec_library):
    lib, cats, _ = rec_library
    record_interaction(lib, "bo", _p(cats, "dog.png"), "like", ts=T0)
    before = recommend(lib, "bo", 12, kinds=["image"], diversity=0.0, now=T0 + 5)
    disliked = before[0].path
    vecs = lib.item_vectors([r.path for r in before])
    neighbour = max(before[1:], key=lambda r: float(vecs[r.path] @ vecs[disliked]))
    record_interaction(lib, "bo", disliked, "dislike", ts=T0 + 1)
    # exclude_seen=False keeps the disliked item itself in the running, to see where it lands.
    after = recommend(lib, "bo", 12, kinds=["image"], diversity=0.0, exclude_seen=False, now=T0 + 5)
    order = [r.path for r in after if r.path != _p(cats, "dog.png")]
    assert disliked not in order[:1]
    assert disliked not in order or order.index(disliked) > 0
    before_rank = [r.path for r in before].index(neighbour.path)
    assert neighbour.path not in order or order.index(neighbour.path) >= before_rank
    score_after = {r.path: r.score for r in after}
    assert score_after.get(neighbour.path, float("-inf")) < neighbour.score


def test_mmr_raises_diversity_at_a_bounded_relevance_cost(rec_library):
    lib, cats, _ = rec_library
    for i, name in enumerate(("dog.png", "giraffe.png", "747.png")):
        record_interaction(lib, "cy", _p(cats, name), "like", ts=T0 + i)
    plain = recommend(lib, "cy", 6, kinds=["image"], diversity=0.0, now=T0 + 9)
    diverse = recommend(lib, "cy", 6, kinds=["image"], diversity=0.5, now=T0 + 9)
    vec = lambda recs: np.stack(list(lib.item_vectors([r.path for r in recs]).values()))  # noqa: E731
    assert intra_list_diversity(vec(diverse)) > intra_list_diversity(vec(plain))
    assert np.mean([r.score for r in diverse]) >= 0.8 * np.mean([r.score for r in plain])
    assert len({cats[r.path] for r in diverse}) >= len({cats[r.path] for r in plain})
    assert diverse[0].path == plain[0].path


def test_more_like_this_same_kind_or_across_kinds(rec_library):
    lib, cats, doc = rec_library
    elephant = _p(cats, "elephant.png")
    same = more_like_this(lib, elephant, 5)
    assert elephant not in [r.path for r in same] and {r.kind for r in same} == {"image"}
    assert cats[same[0].path] == "animals" and same[0].because == elephant
    across = more_like_this(lib, elephant, 20, across_kinds=True)
    assert doc in [r.path for r in across]
    only_text = more_like_this(lib, elephant, 3, kinds=["text"])
    assert [r.path for r in only_text] == [doc]


def test_filters_and_cold_start(rec_library):
    lib, cats, _ = rec_library
    record_interaction(lib, "di", _p(cats, "banana.png"), "like", ts=T0)
    recs = recommend(lib, "di", 10, kinds=["image"], where={"name": {"$ne": "pear.png"}}, now=T0 + 1)
    assert "pear.png" not in _names(recs) and all(r.kind == "image" for r in recs)
    assert recommend(lib, "di", 3, kinds=["text"], now=T0 + 1)[0].kind == "text"
    # A user with no likes gets what others liked most, minus what they have seen.
    record_interaction(lib, "newbie", _p(cats, "dog.png"), "view", weight=-0.1, ts=T0)
    cold = recommend(lib, "newbie", 3)
    assert cold and cold[0].because is None and _p(cats, "dog.png") not in [r.path for r in cold]
    popular = interactions(lib).popularity()
    assert cold[0].score == max(popular[r.path] for r in cold)


def test_bad_input_raises_and_stores_nothing(rec_library, tmp_path):
    lib, cats, _ = rec_library
    store = interactions(lib)
    n = store.events.count()
    with pytest.raises(NotFound, match="nowhere.png: not in the library"):
        record_interaction(lib, "eve", str(tmp_path / "nowhere.png"), "like")
    with pytest.raises(InvalidInput, match="unknown interaction event 'love'"):
        record_interaction(lib, "eve", _p(cats, "dog.png"), "love")
    with pytest.raises(InvalidInput, match="k must be a positive integer"):
        recommend(lib, "eve", 0)
    with pytest.raises(InvalidInput, match="diversity must lie in"):
        more_like_this(lib, _p(cats, "dog.png"), 3, diversity=2.0)
    with pytest.raises(NotFound, match="ghost.png"):
        more_like_this(lib, "ghost.png")
    with pytest.raises(InvalidInput, match="kind 'photo' is not one of"):
        recommend(lib, "eve", 3, kinds=["photo"])
    assert store.events.count() == n and store.history("eve") == []


def test_items_other_users_liked_together_move_up_with_the_collaborative_weight(rec_library):
    lib, cats, _ = rec_library
    dog, pineapple = _p(cats, "dog.png"), _p(cats, "pineapple.png")
    for i, fan in enumerate(("gus", "gil", "gwen")):                  # an odd taste, shared by three users
        record_interaction(lib, fan, dog, "like", ts=T0 + i)
        record_interaction(lib, fan, pineapple, "like", ts=T0 + i)
    record_interaction(lib, "hal", dog, "like", ts=T0 + 5)
    content = [r.path for r in recommend(lib, "hal", 17, kinds=["image"], diversity=0.0, collaborative=0.0,
                                         now=T0 + 6)]
    hybrid = [r.path for r in recommend(lib, "hal", 17, kinds=["image"], diversity=0.0, collaborative=1.0,
                                        now=T0 + 6)]
    assert hybrid.index(pineapple) < content.index(pineapple)
    assert hybrid[0] == pineapple
    with pytest.raises(InvalidInput, match="collaborative weight"):
        recommend(lib, "hal", 3, collaborative=-1.0)


def test_evaluation_harness_on_a_simulated_log(rec_library):
    from xmodal.apps.evaluate import evaluate_recommender
    from xmodal.apps.simulate import SimulationSpec

    lib, cats, _ = rec_library
    spec = SimulationSpec(users=12, events_per_user=(6, 8), seed=3)
    out = evaluate_recommender(lib, cats, spec, k=5, kinds=["image"], show_progress=False)
    assert out["users"] == 12 and out["k"] == 5
    for method in ("popularity", "nearest_neighbour", "hybrid", "mmr"):
        m = out[method]
        assert 0.0 <= m["hit_rate@5"] <= 1.0 and 0.0 <= m["ndcg@5"] <= m["hit_rate@5"]
    # Content and co-likes know the users' tastes; popularity does not.
    assert out["hybrid"]["preferred_category_share"] > out["popularity"]["preferred_category_share"]
    assert out["mmr"]["intra_list_diversity"] >= out["hybrid"]["intra_list_diversity"]


def test_profiles_persist_and_cli_commands(rec_library, capsys):
    lib, cats, _ = rec_library
    from xmodal.cli import main

    import xmodal

    dog, owl = _p(cats, "dog.png"), _p(cats, "zebra.png")
    argv_db = ["--db", lib.uri]
    lib.close()  # the CLI is the writer now, as in a separate process (this is the module's last test)
    assert main(["like", "fay", dog, owl, *argv_db]) == 0
    assert main(["dislike", "fay", _p(cats, "sedan.png"), *argv_db]) == 0
    capsys.readouterr()
    assert main(["recommend", "fay", "-k", "4", "--kind", "image", "--json", *argv_db]) == 0
    recs = json.loads(capsys.readouterr().out)
    assert len(recs) == 4 and {"path", "kind", "score", "because"} <= set(recs[0])
    assert dog not in [r["path"] for r in recs]
    top = Path(recs[0]["path"]).name
    assert main(["recommend", "fay", "--k", "4", "--kind", "image,video", "--json", "--where",
                 json.dumps({"name": {"$ne": top}}), *argv_db]) == 0
    assert top not in [Path(r["path"]).name for r in json.loads(capsys.readouterr().out)]
    assert main(["recommend", "fay", "--where", "{not json", *argv_db]) == 1
    assert main(["recommend", "--item", dog, "--k", "2", "--json", *argv_db]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 2
    assert main(["history", "fay", *argv_db]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 3 and "dislike" in out
    with xmodal.open(lib.uri) as reopened:                 # the profile persisted, as stored incrementally
        p = interactions(reopened).profile("fay")
        assert p.interactions == 3 and p.negative_mass > 0 and p.positive_mass > 0
    assert main(["recommend", *argv_db]) == 1          # neither USER nor --item: a typed error
    assert main(["history", "fay", "--forget", *argv_db]) == 0
    with xmodal.open(lib.uri) as reopened:
        assert interactions(reopened).history("fay") == []
