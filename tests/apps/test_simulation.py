"""The simulated interaction log and the ranking metrics the recommender is judged by."""
import math

import pytest

from xmodal.apps.evaluate import answer_bearing, rank_metrics, summarise_qa
from xmodal.apps.qa import Evidence
from xmodal.apps.simulate import SimulationSpec, leave_last_out, simulate_log
from xmodal.errors import InvalidInput

ITEMS = {f"/m/{c}/{i}.png": c for c in ("animals", "food", "vehicles", "space") for i in range(12)}


def test_users_mostly_like_their_categories_and_the_log_is_reproducible():
    spec = SimulationSpec(users=30, noise=0.1, dislike_share=0.1, seed=7)
    users, events = simulate_log(ITEMS, spec)
    assert (users, events) == simulate_log(ITEMS, spec)
    prefs = {u.name: set(u.categories) for u in users}
    likes = [e for e in events if e.event in ("like", "view")]
    in_pref = sum(ITEMS[e.item] in prefs[e.user] for e in likes) / len(likes)
    assert in_pref > 0.8
    dislikes = [e for e in events if e.event == "dislike"]
    assert dislikes and all(ITEMS[e.item] not in prefs[e.user] for e in dislikes)
    for u in users:
        ts = [e.ts for e in events if e.user == u.name]
        assert ts == sorted(ts) and spec.events_per_user[0] <= len(ts) <= spec.events_per_user[1]


def test_leave_last_out_holds_out_each_users_latest_like():
    users, events = simulate_log(ITEMS, SimulationSpec(users=10, seed=1))
    train, held = leave_last_out(events)
    assert len(train) == len(events) - len(held)
    for u, item in held.items():
        latest = max((e for e in events if e.user == u and e.event == "like"), key=lambda e: e.ts)
        assert latest.item == item
        assert all(e.ts <= latest.ts for e in train if e.user == u and e.item == item)


def test_too_few_categories_is_an_error():
    with pytest.raises(InvalidInput, match="at least two categories"):
        simulate_log({"/a.png": "x", "/b.png": "x"})


def test_rank_metrics():
    assert rank_metrics(["a", "b", "c"], "a", 10) == (1.0, 1.0)
    assert rank_metrics(["a", "b", "c"], "c", 10) == (1.0, pytest.approx(1 / math.log2(4)))
    assert rank_metrics(["a", "b", "c"], "c", 2) == (0.0, 0.0)


def test_answer_bearing_needs_file_fragment_and_time():
    q = {"path": "audio/train.ogg", "text": "platform", "time": 5.0}
    good = Evidence("/x/audio/train.ogg", "audio", 0.9, "transcript", "Platform four.", 4.0, 6.0)
    assert answer_bearing(good, q)
    assert not answer_bearing(Evidence("/x/audio/train.ogg", "audio", 0.9, "transcript", "Platform four.", 9.0, 10.0), q)
    assert not answer_bearing(Evidence("/x/audio/other.ogg", "audio", 0.9, "transcript", "Platform four.", 4.0, 6.0), q)
    assert not answer_bearing(good, {"path": None})
    assert answer_bearing(Evidence("/x/img/b.png", "image", 0.9, "image"), {"path": ["img/a.png", "img/b.png"]})
    rows = [{"modality": "ocr", "answerable": True, "rank": 1, "found": True, "confidence": 0.9},
            {"modality": "ocr", "answerable": True, "rank": 3, "found": True, "confidence": 0.5},
            {"modality": "none", "answerable": False, "rank": None, "found": False, "confidence": 0.1}]
    s = summarise_qa(rows)
    assert s["calibration"]["brier"] == pytest.approx((0.1 ** 2 + 0.5 ** 2 + 0.1 ** 2) / 3, abs=1e-4)
    assert s["calibration"]["mean_confidence_when_right"] == 0.9
    assert s["by_modality"]["ocr"]["top1"] == 0.5 and s["by_modality"]["ocr"]["top3"] == 1.0
    assert s["not_found"]["correctly_not_found"] == 1.0
