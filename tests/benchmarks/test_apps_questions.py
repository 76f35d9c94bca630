"""The QA question set and its halves: deterministic, every kind in both halves, later sets never move earlier questions."""
import json
import random
from collections import Counter

from benchmarks.bench_apps import QUESTIONS, split_questions


def _load() -> list[dict]:
    return json.loads(QUESTIONS.read_text())["questions"]


def test_the_split_is_deterministic_and_balanced_within_each_set_and_kind():
    qs = split_questions(_load())
    shuffled = _load()
    random.Random(7).shuffle(shuffled)
    again = {q["question"]: q["split"] for q in split_questions(shuffled)}
    assert {q["question"]: q["split"] for q in qs} == again  # the file's order does not matter
    groups = Counter((q.get("set", 1), q["expect"], q["modality"], q["split"]) for q in qs)
    for (s, e, m, half), n in groups.items():
        other = groups[(s, e, m, "test" if half == "val" else "val")]
        assert abs(n - other) <= 1, (s, e, m)


def test_adding_a_set_never_moves_an_earlier_question_to_the_other_half():
    everything = {q["question"]: q["split"] for q in split_questions(_load())}
    first_only = split_questions([q for q in _load() if q.get("set", 1) == 1])
    assert len(first_only) >= 100
    assert all(everything[q["question"]] == q["split"] for q in first_only)


def test_the_questions_are_well_formed():
    qs = _load()
    assert len(qs) >= 200 and len({q["question"] for q in qs}) == len(qs)
    for q in qs:
        assert q["expect"] in ("answer", "abstain", "evidence"), q["question"]
        if q["expect"] == "answer":
            assert q["path"] and q["text"], q["question"]
        if q["expect"] == "abstain":
            assert q["path"] is None, q["question"]
