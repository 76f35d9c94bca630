"""The pure pieces of ranking: query terms, keyword evidence, snippets, calibration, fusion, language."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from xmodal.errors import InvalidInput
from xmodal.ingest.extract import confident_ocr_blocks
from xmodal.ingest.keywords import KeywordIndex
from xmodal.ingest.ranking import (Calibration, Logistic, best_window, brier, calibration_path, code_terms,
                                   content_terms, fit_logistic, fuse, keyword_match, language_warning,
                                   load_calibration, prob_or, weighted_coverage)
from xmodal.media import OcrLine


def test_stop_words_and_one_letter_tokens_do_not_drive_keywords():
    assert content_terms("girls jumping off a boat into the sea") == ["girls", "jumping", "boat", "sea"]
    assert content_terms("show me a photo of the X-ray, 2 cats") == ["ray", "cats"]
    assert content_terms("the of and") == []
    assert content_terms("Café 咖啡") == ["cafe", "咖", "啡"]  # folded like FTS5; CJK one character each


def test_a_query_of_stop_words_matches_nothing_and_a_content_word_wins(tmp_path):
    kw = KeywordIndex(tmp_path / "kw.sqlite")
    kw.add([("r1", "i1", "text", "it is what it is and that is that, off and on, into the night"),
            ("r2", "i2", "text", "the boat sailed on the sea")])
    assert kw.search_passages("the and it is", 10) == []
    hits = kw.search_passages("girls jumping off a boat into the sea", 10)
    assert [h.item_id for h in hits] == ["i2"]
    assert kw.doc_freqs(["boat", "night", "absent"]) == {"boat": 1, "night": 1, "absent": 0}
    kw.add([("r3", "i3", "text", "我喜欢喝咖啡。Coffee, please")])
    hit = kw.search_passages("咖啡", 10)[0]
    assert hit.item_id == "i3" and hit.text == "我喜欢喝咖啡。Coffee, please"  # as written, not as tokenized


def test_code_like_terms_are_kept_whole():
    assert code_terms("how does tar --glob-deleteall work") == [["glob", "deleteall"]]
    assert code_terms("listed_incremental and v2.1") == [["listed_incremental"], ["v2", "1"]]


def test_a_rare_word_weighs_more_than_a_common_one():
    df = {"file": 90, "deleteall": 1}
    assert weighted_coverage(["file", "deleteall"], ["deleteall"], df, 100) > 0.8
    assert weighted_coverage(["file", "deleteall"], ["file"], df, 100) < 0.2
    assert weighted_coverage([], ["file"], df, 100) == 0.0


def test_an_exact_code_like_term_is_strong_evidence_and_its_parts_alone_are_not():
    df = {"glob": 3, "deleteall": 1}
    exact = keyword_match("glob-deleteall", "use --glob-deleteall to remove", df, 10, 0.02, 200)
    apart = keyword_match("glob-deleteall", "a glob pattern; deleteall is unrelated", df, 10, 0.02, 200)
    assert exact.exact_rare and not apart.exact_rare
    assert exact.coverage == apart.coverage == 1.0 and exact.terms == ("glob", "deleteall")
    rare = keyword_match("zygomorphic flowers", "zygomorphic petals", {"zygomorphic": 1, "flowers": 40}, 400,
                         0.02, 200)
    assert rare.exact_rare  # a word held by one passage in four hundred
    small = keyword_match("zygomorphic flowers", "zygomorphic petals", {"zygomorphic": 1}, 30, 0.02, 200)
    assert not small.exact_rare  # in a small library every word is "rare": no bonus
    incidental = keyword_match("a modern clothespin", "a modern compiler", {"modern": 1}, 400, 0.02, 200)
    assert not incidental.exact_rare  # the library has no clothespin at all: "modern" alone is no evidence


def test_the_snippet_is_the_stretch_holding_the_terms():
    text = ("Introduction. " * 40) + "Use --listed-incremental=FILE to make incremental backups. " + ("Appendix. " * 40)
    snip = best_window(text, ["listed", "incremental"], 120)
    assert "--listed-incremental=FILE" in snip and len(snip) <= 122
    assert snip.startswith("…") and snip.endswith("…")
    assert best_window("short text", ["absent"], 120) == "short text"


def test_fit_logistic_is_monotone_and_recovers_a_known_mapping():
    rng = np.random.default_rng(0)
    xs = rng.normal(0, 1, 4000)
    truth = Logistic(3.0, -1.0)
    ys = (rng.random(4000) < np.vectorize(truth)(xs)).astype(int)
    m = fit_logistic(xs, ys)
    assert abs(m.slope - 3.0) < 0.5 and abs(m.bias + 1.0) < 0.3
    grid = [m(x) for x in np.linspace(-3, 3, 50)]
    assert all(a < b for a, b in zip(grid, grid[1:]))
    assert brier([m(x) for x in xs], ys) < brier([0.5] * len(ys), ys)
    with pytest.raises(InvalidInput, match="slope"):
        fit_logistic(xs, 1 - ys)  # a score that falls with relevance is refused, not inverted
    with pytest.raises(InvalidInput, match="both classes"):
        fit_logistic([0.1, 0.2], [1, 1])


def test_probabilistic_or_fuses_agreeing_signals_without_passing_one():
    assert prob_or([]) == 0.0
    assert math.isclose(prob_or([0.5, 0.5]), 0.75)
    ranked = fuse({"visual": {"photo": 0.6, "doc": 0.05}, "keyword": {"doc": 0.3, "photo": 0.2}})
    assert [i for i, _ in ranked] == ["photo", "doc"]
    assert all(0.0 <= r <= 1.0 for _, r in ranked)


def test_the_shipped_calibration_is_monotone_and_fitted_on_the_validation_split():
    cal = load_calibration("xmodal-lite")
    data = json.loads(calibration_path("xmodal-lite").read_text())
    assert "validation" in data["fitted_on"] and data["command"].endswith("--model xmodal-lite")
    from xmodal.datasets.tuxpaint import tuxpaint_splits

    val_items = {p.item_id for p in tuxpaint_splits()["val"]}
    for field in ("visual", "text", "keyword"):
        assert cal.fields[field].slope > 0
        assert data["report"][field]["queries"] == len(val_items)
    assert cal.backgrounds["visual"].shape[0] == len(val_items)  # the held-out pictures, nothing else
    q = cal.backgrounds["visual"][0]
    m = cal.mapping("visual", q)
    scores = np.linspace(-0.2, 0.9, 30)
    rel = [m(s) for s in scores]
    assert all(a <= b for a, b in zip(rel, rel[1:])) and 0.0 <= rel[0] and rel[-1] <= 1.0
    assert load_calibration("no-such-model") is None


def test_a_damaged_calibration_is_named(tmp_path):
    bad = tmp_path / "m.json"
    bad.write_text('{"fields": {"text": {"slope": -1, "bias": 0}}}')
    with pytest.raises(InvalidInput, match="m.json"):
        load_calibration("m", bad)
    with pytest.raises(InvalidInput, match="keyword"):
        Calibration("m", {}).relevance("keyword", 0.5)


def test_low_confidence_ocr_lines_neither_match_nor_show():
    lines = [OcrLine("OPEN 24 HOURS", (0, 0, 10, 10), 0.93, block=0),
             OcrLine("~i ll:,; rn", (0, 10, 10, 20), 0.41, block=0),
             OcrLine("FRESH BREAD", (0, 30, 10, 40), 0.88, block=1),
             OcrLine("US OPEN", (0, 50, 10, 60), 0.35, block=2)]
    assert confident_ocr_blocks(lines, 0.6) == ["OPEN 24 HOURS", "FRESH BREAD"]
    assert confident_ocr_blocks(lines, 0.95) == []


def test_a_chinese_query_on_an_english_model_is_warned_about():
    warning = language_warning("一只红色的袋鼠", "xmodal-lite")
    assert warning and "xmodal-lite-multilingual" in warning and "English" in warning
    assert language_warning("一只红色的袋鼠", "xmodal-lite-multilingual") is None
    assert language_warning("a red kangaroo", "xmodal-lite") is None
    assert language_warning("un kangourou rouge", "minilm") is None  # Latin script: not judged here
