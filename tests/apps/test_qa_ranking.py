"""Sentence-level ranking, calibration and the not-found rule, with the real sentence encoder."""
import pytest

from xmodal.apps.qa import Unit, compose_answer, expand_units, rank_units, sentence_encoder


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


def test_a_picture_is_evidence_never_the_answer():
    from xmodal.apps.qa import Evidence

    sign_img = Evidence("img/sign.png", "image", 0.95, "image")
    sign_ocr = Evidence("img/sign.png", "image", 0.6, "ocr", "OPEN 24 HOURS")
    cat = Evidence("img/cat.jpg", "image", 0.9, "image")
    answer, conf, ordered, n = compose_answer([sign_img, cat, sign_ocr])
    assert answer == "OPEN 24 HOURS [1]" and n == 1 and conf == 0.6  # the text's own confidence
    assert ordered == [sign_ocr, cat]                       # the sign's picture is redundant now
    answer, conf, ordered, n = compose_answer([cat, sign_img])
    assert answer is None and n == 0 and conf == 0.0 and ordered == [cat, sign_img]  # abstain, show the pictures
    weak = Evidence("docs/a.txt", "text", 0.2, "passage", "Cats sleep a lot.")
    assert compose_answer([cat, weak])[:2] == (None, 0.2)


def test_fragments_headings_synopses_and_paths_read_less_like_answers():
    from xmodal.apps.qa import sentence_quality

    good = sentence_quality("The lake was a deep turquoise colour in the morning light.", "passage")
    assert good == 1.0
    for bad in ("src", "tar --list [-f ARCHIVE] [OPTIONS] [FILE...]", "/usr/share/doc/tar/README.gz",
                "Colour Options And Settings", "# Installation"):
        assert sentence_quality(bad, "passage") <= 0.6 * good, bad
    assert sentence_quality("Use tar -t to list the members of an archive.", "passage") == 1.0
    assert sentence_quality("OPEN 24 HOURS", "ocr") == 1.0      # a sign is short by nature
    assert sentence_quality("bread", "ocr") < 0.5


def test_a_synopsis_loses_to_the_sentence_that_answers(encoder):
    # The synopsis holds more of the question's words (it wins on words alone: 0.96 vs 0.69).
    units = [Unit("man/tar.txt", "text", "passage", 0.5, "tar --list [-f ARCHIVE] [OPTIONS] [MEMBER...]"),
             Unit("man/tar.txt", "text", "passage", 0.5, "The -t option shows which files an archive holds.")]
    ev = rank_units("How do I list the contents of a tar archive?", units, encoder)
    assert ev[0].text.startswith("The -t option") and ev[1].score < 0.4


def test_confidence_weighs_retrieval_relevance_and_speech_recognition(encoder):
    from dataclasses import replace

    from xmodal.apps.qa import asr_factor, relevance_factor

    assert relevance_factor(None) == 1.0 and relevance_factor(1.0) == 1.0 and relevance_factor(0.0) < 1.0
    assert asr_factor(None) == 1.0 and asr_factor(-0.1) > 0.95 and asr_factor(-1.5) < 0.1
    seg = UNITS[1]
    q = "Which platform does the Cambridge train leave from?"
    clear = rank_units(q, [seg], encoder)[0].score
    garbled = rank_units(q, [replace(seg, asr_logprob=-1.4)], encoder)[0].score
    unlikely = rank_units(q, [replace(seg, relevance=0.0)], encoder)[0].score
    assert garbled < clear / 5 and unlikely < clear


def test_duplicate_units_are_merged(encoder):
    ev = rank_units("Which platform?", UNITS[1:2] * 3, encoder)
    assert len(ev) == 1
