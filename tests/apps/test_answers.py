"""Which evidence text can be the answer: FAQ questions carry their replies, a bare question answers nothing."""
import pytest

from xmodal.apps.answers import answer_spans, sentence_quality
from xmodal.apps.qa import sentence_encoder
from xmodal.apps.qa import Unit, compose_answer, rank_units

FAQ = ("11. Can zlib handle .zip archives?\n    Not by itself, no.  See the directory contrib/minizip in the zlib\n"
       "    distribution.\n\n12. Can zlib handle .Z files?\n    No, sorry.  You have to spawn an uncompress or gunzip "
       "subprocess, or adapt the code of uncompress on your own.")


def test_a_faq_question_is_joined_with_its_reply_and_the_reply_stays_a_unit():
    spans = answer_spans(FAQ, "passage")
    zip_unit = next(s for s in spans if s.startswith("Can zlib handle .zip"))
    assert zip_unit.endswith("contrib/minizip in the zlib distribution.")  # not the next entry's number
    assert "Not by itself, no. See the directory contrib/minizip in the zlib distribution." in spans
    assert not any(s.endswith("?") for s in spans)
    assert answer_spans("OPEN 24 HOURS\nFRESH BREAD", "ocr") == ["OPEN 24 HOURS", "FRESH BREAD"]


def test_a_question_with_no_reply_reads_less_like_an_answer():
    assert sentence_quality("Why does ps print long user names as numbers?", "passage") <= 0.3
    assert sentence_quality("User names are printed as numbers when the column is too narrow.", "passage") == 1.0


@pytest.mark.parametrize("question, fragment", [("Can zlib handle .zip archives?", "minizip"),
                                                ("Can zlib read .Z files?", "uncompress")])
def test_the_answer_to_a_faq_question_quotes_the_reply(question, fragment):
    ev = rank_units(question, [Unit("doc/zlib-FAQ.txt", "text", "passage", 0.6, FAQ)], sentence_encoder())
    answer, conf, _, _ = compose_answer(ev)
    assert fragment in ev[0].text and answer is not None and fragment in answer


def test_sentence_vectors_are_encoded_once_per_process():
    from xmodal.apps.answers import passage_vectors

    real = sentence_encoder()
    calls = []

    class Counting:
        name = "counting-" + real.name
        dim = real.dim

        def encode_text(self, texts, mode):
            calls.append(list(texts))
            return real.encode_text(texts, mode=mode)

    enc = Counting()
    texts = ["Lava flows down the slopes.", "The train leaves from platform four."]
    first = passage_vectors(enc, texts)
    again = passage_vectors(enc, [texts[1], "A new sentence.", texts[0]])
    assert calls == [texts, ["A new sentence."]]
    assert (again[0] == first[1]).all() and (again[2] == first[0]).all()
    assert abs(float(first[0] @ real.encode_text([texts[0]], mode="passage")[0]) - 1.0) < 1e-4


def test_a_number_or_time_question_needs_a_number_or_time_in_the_answer():
    from xmodal.apps.answers import answer_type_factor

    assert answer_type_factor("When does the swimming pool open?", "SWIMMING POOL NO DIVING") < 1.0
    assert answer_type_factor("When does the swimming pool open?", "OPEN DAILY FROM 7 AM") == 1.0
    assert answer_type_factor("On which day is the museum closed?", "CLOSED ON MONDAYS") == 1.0
    assert answer_type_factor("How much coffee per litre?", "about sixty grams of coffee per litre") == 1.0
    assert answer_type_factor("How many calories are in the cake?", "We hope you enjoy the cake!") < 1.0
    assert answer_type_factor("Who is the author of the FAQ?", "They were contributed by other authors.") < 1.0
    assert answer_type_factor("Who wrote a new ps in 1997?", "Starting in 1997, Albert Cahalan wrote it.") == 1.0
    assert answer_type_factor("Where do I report bugs?", "Report bugs to bug-ed@gnu.org") == 1.0


def test_a_short_signs_lines_also_answer_together():
    from xmodal.apps.answers import whole_signs

    lines = [Unit("signs/car-wash.png", "image", "ocr", 0.3, "CAR WASH FULL SERVICE"),
             Unit("signs/car-wash.png", "image", "ocr", 0.2, "12 EUROS"),
             Unit("docs/a.txt", "text", "passage", 0.2, "Washing cars by hand.")]
    units = whole_signs(lines)
    assert [u.text for u in units[3:]] == ["CAR WASH FULL SERVICE 12 EUROS"] and units[3].source == "ocr"
    ev = rank_units("How much does a full service car wash cost?", lines, sentence_encoder())
    assert "12 EUROS" in ev[0].text
    assert whole_signs([Unit("scan.png", "image", "ocr", 0.2, "x" * 150), Unit("scan.png", "image", "ocr", 0.2,
                                                                             "y" * 150)])[2:] == []
