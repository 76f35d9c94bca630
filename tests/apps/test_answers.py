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


def test_a_lead_in_is_joined_with_what_it_introduces_and_alone_reads_as_a_fragment():
    text = ("Please send bug reports to <bug-gzip@gnu.org>.\n\nBug reports should ideally include:\n\n"
            "    * The complete output of \"gzip -V\"\n    * The hardware and operating system (try \"uname -a\")\n")
    spans = answer_spans(text, "passage")
    assert "Bug reports should ideally include:" not in spans
    joined = next(s for s in spans if s.startswith("Bug reports should ideally include:"))
    assert 'gzip -V' in joined and sentence_quality(joined, "passage") == 1.0
    assert sentence_quality("Bug reports should ideally include:", "passage") <= 0.5  # nothing after it
    ev = rank_units("What should a gzip bug report include?", [Unit("doc/gzip-README.txt", "text", "passage", 0.6,
                                                                    text)], sentence_encoder())
    assert "gzip -V" in ev[0].text


def test_a_piece_its_window_cut_off_is_marked_and_reads_as_a_fragment():
    from xmodal.apps.answers import CUT_MARK
    from xmodal.media.chunking import chunk_text

    doc = ("What systems are supported? Linux 2.4 and 2.6 are commonly tested and expected to work well. "
           "SMP is well supported.")
    windows = chunk_text(doc, words=12, overlap=8)
    first, last = windows[0].text, windows[-1].text  # the first ends "... commonly tested and"
    spans = answer_spans(first, "passage", window_words=12)
    assert spans[-1].endswith("commonly tested and" + CUT_MARK)
    assert sentence_quality(spans[-1], "passage") <= 0.6
    assert answer_spans(first, "passage")[-1].endswith("tested and")  # no window size known: nothing marked
    # The last window and a whole document end where the text ends: nothing of them is cut.
    assert not any(s.endswith(CUT_MARK) for s in answer_spans(last, "passage", window_words=12))
    listed = "Bug reports should include:\n\n* the output of gzip -V\n* the hardware"
    assert not any(s.endswith(CUT_MARK) for s in answer_spans(listed, "passage", window_words=200))
    whole = next(s for s in answer_spans(doc, "passage", window_words=12) if s.startswith("Linux"))
    assert sentence_quality(whole, "passage") == 1.0


def test_ask_marks_the_cut_end_of_a_long_documents_window(tmp_path):
    import xmodal
    from xmodal.apps.answers import CUT_MARK
    from xmodal.apps.qa import ask

    filler = " ".join(f"Line {i} of the manual says nothing about ports." for i in range(40))
    (tmp_path / "manual.txt").write_text(filler + " The server listens on port 8088 unless told otherwise. "
                                         + filler)
    lib = xmodal.open(str(tmp_path / "lib.xmdb"), model="label-bridge")
    try:
        lib.index([str(tmp_path / "manual.txt")], ocr=False, speech=False, progress=False)
        ans = ask(lib, "Which port does the server listen on?", llm=None)
    finally:
        lib.close()
    texts = [e.text for e in ans.evidence if e.text]
    assert "The server listens on port 8088 unless told otherwise." in texts[0]
    assert not texts[0].endswith(CUT_MARK)


@pytest.mark.parametrize("request_text", ["a cup of coffee", "Show me a photo of a cat", "an erupting volcano",
                                          "pictures of a bicycle"])
def test_a_request_to_be_shown_a_thing_is_not_answered_by_a_sentence(request_text):
    from xmodal.apps.answers import answer_type_factor, wants_picture

    assert wants_picture(request_text)
    sentence = "Pour slowly over the grounds and let the cup rest for a minute before drinking."
    assert answer_type_factor(request_text, sentence) < 1.0
    ev = rank_units(request_text, [Unit("doc/coffee.txt", "text", "passage", 0.6, sentence)], sentence_encoder())
    asked = rank_units("What should rest before drinking?", [Unit("doc/coffee.txt", "text", "passage", 0.6, sentence)],
                       sentence_encoder())
    assert ev[0].factors["type"] < 1.0 and asked[0].factors["type"] == 1.0


@pytest.mark.parametrize("question", ["What is a volcano?", "Which animal is in this photo?", "Is a cat a pet?",
                                      "the default compression level of gzip that the README gives for every file"])
def test_questions_are_not_picture_requests(question):
    from xmodal.apps.answers import wants_picture

    assert not wants_picture(question)


def test_a_pointer_to_elsewhere_in_the_text_reads_less_like_an_answer():
    assert sentence_quality("See below for a comparison of zip and gzip.", "passage") <= 0.5
    assert sentence_quality("As described above, the header differs.", "passage") <= 0.5
    # A pointer to another place is the answer to "where" questions: it keeps its weight.
    assert sentence_quality("See the contrib/delphi directory in the zlib distribution.", "passage") == 1.0
