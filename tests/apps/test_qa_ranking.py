"""Sentence-level ranking, calibration and the not-found rule, with the real sentence encoder."""
import pytest

from xmodal.apps.qa import Unit, compose_answer, expand_units, rank_units
from xmodal.apps.library_access import sentence_encoder


@pytest.fixture(scope="module")
def encoder():
    return sentence_encoder()


UNITS = [
    Unit("docs/volcano.txt", "text", "passage", 0.4,
         "A volcano is an opening in the crust of the earth. When magma rises and pressure builds, the volcano "
         "erupts. Lava flows down its slopes and ash clouds can travel for hundreds of kilometres."),
    Unit("audio/train.ogg", "audio", "transcript", 0.3, "The next train to Cambridge leaves from platform four.",
         time=4.2, end=7.9),
    Unit("audio/train.ogg", "audio", "transcript", 0.3, "Please mind the gap.", time=0.0, end=4.2),
    Unit("img/sign.png", "image", "ocr", 0.2, "FRESH BREAD\nOPEN 24 HOURS"),
    Unit("img/cat.jpg", "image", "image", 0.05),
]


def test_passages_become_sentences_and_ocr_becomes_lines():
    units = expand_units(UNITS)
    texts = [u.text for u in units]
    assert "When magma rises and pressure builds, the volcano erupts." in texts
    assert "OPEN 24 HOURS" in texts and "FRESH BREAD" in texts
    assert sum(1 for u in units if u.path == "audio/train.ogg") == 2     # segments stay whole


def test_the_sentence_that_holds_the_answer_ranks_first_with_its_time(encoder):
    ev = rank_units("Which platform does the Cambridge train leave from?", UNITS, encoder)
    assert ev[0].path == "audio/train.ogg" and ev[0].time == pytest.approx(4.2)
    assert "platform four" in ev[0].text
    answer, conf, ordered, n_cited = compose_answer(ev)
    assert "platform four" in answer and answer.endswith("[1]") and n_cited == 1
    assert ordered[0] is ev[0]
    assert conf >= 0.5 and ev[0].score > ev[1].score


def test_an_ocr_line_answers_a_question_about_a_sign(encoder):
    ev = rank_units("When is the bakery open?", UNITS, encoder)
    assert (ev[0].path, ev[0].source, ev[0].text) == ("img/sign.png", "ocr", "OPEN 24 HOURS")


def test_a_question_the_evidence_cannot_answer_is_not_found(encoder):
    ev = rank_units("What is the capital of Peru?", UNITS, encoder)
    answer, conf, ordered, n_cited = compose_answer(ev)
    assert answer is None and n_cited == 0 and conf < 0.4 and len(ordered) == len(ev)
    assert compose_answer([]) == (None, 0.0, [], 0)


def test_a_picture_answers_a_visual_question_but_its_ocr_line_answers_a_textual_one():
    from xmodal.apps.qa import Evidence

    sign_img = Evidence("img/sign.png", "image", 0.95, "image")
    sign_ocr = Evidence("img/sign.png", "image", 0.6, "ocr", "OPEN 24 HOURS")
    cat = Evidence("img/cat.jpg", "image", 0.9, "image")
    answer, conf, ordered, n = compose_answer([sign_img, cat, sign_ocr])
    assert answer == "OPEN 24 HOURS [1]" and n == 1 and conf == 0.95
    assert ordered == [sign_ocr, cat]                       # the sign's picture is redundant now
    answer, conf, ordered, n = compose_answer([cat, sign_img])
    assert answer == "img/cat.jpg [1]" and ordered[0] is cat


def test_duplicate_units_are_merged(encoder):
    ev = rank_units("Which platform?", UNITS[1:2] * 3, encoder)
    assert len(ev) == 1
