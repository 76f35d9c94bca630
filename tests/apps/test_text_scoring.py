"""Sentence splitting and keyword scoring: the units answers are made of and their keyword half."""
from xmodal.apps.keywords import bm25_scores, coverage, keyword_scores, tokenize
from xmodal.apps.sentences import split_lines, split_sentences


def test_sentences_keep_offsets_and_skip_abbreviations():
    text = "Dr. Smith arrived at 9 a.m. on Monday.  The train to Cambridge leaves from platform four! Why?"
    spans = split_sentences(text)
    assert [s.text for s in spans] == [
        "Dr. Smith arrived at 9 a.m. on Monday.",
        "The train to Cambridge leaves from platform four!",
        "Why?",
    ]
    for s in spans:
        assert text[s.start:s.end] == s.text


def test_blank_line_ends_a_sentence_and_cjk_punctuation_splits():
    spans = split_sentences("Volcanoes\n\nA volcano erupts. 大熊猫吃竹子。它们很可爱。")
    assert [s.text for s in spans] == ["Volcanoes", "A volcano erupts.", "大熊猫吃竹子。", "它们很可爱。"]


def test_ocr_lines_are_units():
    text = "FRESH BREAD\n\n  OPEN 24 HOURS \n"
    lines = split_lines(text)
    assert [s.text for s in lines] == ["FRESH BREAD", "OPEN 24 HOURS"]
    assert text[lines[1].start:lines[1].end] == "OPEN 24 HOURS"


def test_tokenize_folds_plurals_stopwords_and_cjk():
    assert tokenize("Where are the Dogs' bones?") == tokenize("dog bone") == ["dog", "bon"]
    assert tokenize("mixed baking tuned") == tokenize("mix bake tune")
    assert tokenize("Café boxes") == ["café", "box"]
    assert tokenize("a photo in the video") == []          # words naming the container, not content
    assert tokenize("大熊猫") == ["大", "熊", "猫"]


def test_bm25_prefers_the_unit_with_the_rare_query_term():
    docs = [tokenize(t) for t in ["the train leaves from platform four",
                                  "the weather is sunny", "a train is a train"]]
    scores = bm25_scores(tokenize("which platform does the train leave from"), docs)
    assert scores[0] > scores[2] > scores[1] == 0.0


def test_keyword_scores_are_bounded_and_absolute():
    texts = ["The next train to Cambridge leaves from platform four.", "Tomorrow will be sunny."]
    s = keyword_scores("Which platform does the Cambridge train leave from?", texts)
    assert 0.5 < s[0] <= 1.0 and s[1] == 0.0
    # The best of a set that shares only one incidental word is not scored as a full match.
    weak = keyword_scores("Which platform does the Cambridge train leave from?", ["A train set for kids."])
    assert weak[0] < 0.5
    assert coverage([], ["x"]) == 0.0


def test_rare_coverage_weighs_the_question_words_that_tell_candidates_apart():
    from xmodal.apps.keywords import rare_coverage, tokenize

    q = tokenize("How much does visitor parking cost per hour?")
    docs = [tokenize("VISITOR PARKING MAXIMUM STAY 2 HOURS"), tokenize("Parking for visitors is free."),
            tokenize("Visitor parking costs 2 euros per hour."), tokenize("The museum is open daily.")]
    rare = rare_coverage(q, docs)
    assert all(0.0 <= r <= 1.0 for r in rare)
    assert rare[2] == max(rare) and rare[2] > rare[0] > rare[3] == 0.0
    # Plain coverage counts words: the sign holds most of them; rarity tells it is missing the point.
    from xmodal.apps.keywords import coverage
    assert coverage(q, docs[0]) / coverage(q, docs[2]) > rare[0] / rare[2]
    assert rare_coverage([], docs) == [0.0] * 4 and rare_coverage(q, []) == []
