"""The answer-confidence model: features of the best text unit and its rivals, a small logistic
model over them fitted on the validation half only, and how `compose_answer` uses it."""
import math
import random

import pytest

from xmodal.apps.answers import (ANSWER_FEATURES, answer_confidence, answer_features, check_confidence_model,
                                 unit_factors)
from xmodal.apps.evaluate import fit_answer_confidence, loo_brier, model_confidences, validation_rows
from xmodal.apps.qa import Evidence, compose_answer
from xmodal.config import CONFIG
from xmodal.errors import InvalidInput


def unit(path, text, dense, cov=0.5, source="passage", question="What does gzip use?"):
    f = unit_factors(dense, cov, text, source, question=question)
    score = f["words"] * f["quality"] * f["type"] * f["relevance"] * f["asr"]
    return Evidence(path, "text", score, source, text, factors=f)


def synthetic_rows(n, seed, split):
    """Rows whose outcome follows the score and the margin; ``noise`` carries nothing."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        score, margin = rng.gauss(0, 1.5), abs(rng.gauss(0, 1))
        p = 1 / (1 + math.exp(-(1.5 * score + 1.0 * margin - 0.5)))
        right = rng.random() < p
        feats = {f: 0.0 for f in ANSWER_FEATURES}
        feats.update(score=score, margin=margin, dense=rng.random(), keyword=rng.random())
        rows.append({"question": f"q{i}", "split": split, "expect": "answer" if right or i % 3 else "abstain",
                     "lead_right": right, "features": feats, "confidence": 0.5})
    return rows


def test_features_read_the_lead_its_rival_and_how_many_units_agree():
    lead = unit("docs/gzip.txt", "Gzip uses the Lempel-Ziv coding LZ77 for compression.", 0.8, 0.8)
    same = unit("docs/gzip.txt", "The format was designed to accommodate several compression methods.", 0.6)
    other = unit("docs/zlib.txt", "zlib uses deflate for compression of data.", 0.5)
    picture = Evidence("img/cat.jpg", "image", 0.99, "image")
    f = answer_features([picture, lead, same, other])
    assert set(f) == set(ANSWER_FEATURES)
    assert f["agreement"] == pytest.approx(0.5)           # one of the two next text units is from gzip.txt
    assert f["margin"] > 0 and f["score"] == pytest.approx(math.log(lead.score / (1 - lead.score)), abs=1e-6)
    close = answer_features([lead, unit("docs/zlib.txt", lead.text + " Really.", 0.8, 0.8)])
    assert close["margin"] < f["margin"]                   # a rival as good as the lead: less sure
    assert answer_features([picture]) == {}


def test_the_fit_uses_only_validation_rows():
    val = synthetic_rows(50, 1, "val")
    test = synthetic_rows(50, 2, "test")
    flipped = [{**r, "lead_right": not r["lead_right"], "expect": "answer"} for r in test]
    a, _ = fit_answer_confidence(validation_rows(val + test))
    b, _ = fit_answer_confidence(validation_rows(val + flipped))
    assert a == b                                          # test rows, however labelled, change nothing
    c, _ = fit_answer_confidence(val + flipped)            # (they would, were they passed in)
    assert c != a
    with pytest.raises(InvalidInput, match="no validation rows"):
        validation_rows(test)


def test_the_fitted_model_is_sane_and_strongly_regularised():
    val = synthetic_rows(50, 3, "val")
    model, l2 = fit_answer_confidence(val)
    w = dict(model)
    assert w["score"] > 0 and w["margin"] > 0              # the signals that drive the outcome
    assert l2 >= 1.0
    low, high = (answer_confidence({**val[0]["features"], "score": s}, model) for s in (-2.0, 2.0))
    assert 0.0 < low < high < 1.0                          # monotone in the score
    # Strong regularisation: the weight on a pure-noise feature stays small next to the score's.
    assert abs(w["dense"]) < 0.5 * w["score"] and abs(w["keyword"]) < 0.5 * w["score"]
    loose, _ = fit_answer_confidence(val, l2=1e-3)
    assert abs(dict(loose)["score"]) > abs(w["score"])
    confs = [r["confidence"] for r in model_confidences(val, model)]
    assert all(0 < p < 1 for p in confs)
    with pytest.raises(InvalidInput, match="both outcomes"):
        fit_answer_confidence([r for r in val if not r["lead_right"]])


def test_compose_answer_abstains_on_the_models_confidence():
    lead = unit("docs/gzip.txt", "Gzip uses the Lempel-Ziv coding LZ77 for compression.", 0.8, 0.8)
    ev = [lead, unit("docs/zlib.txt", "zlib uses deflate for compression of data.", 0.5)]
    sure = (("bias", 5.0),)
    unsure = (("bias", -5.0), ("score", 0.1))
    answer, conf, _, n = compose_answer(ev, sure, threshold=0.5)
    assert answer and n >= 1 and conf == pytest.approx(1 / (1 + math.exp(-5)))
    answer, conf, _, n = compose_answer(ev, unsure, threshold=0.5)
    assert answer is None and n == 0 and conf < 0.5


def test_a_request_to_be_shown_a_thing_gets_no_text_answer_however_sure_the_model_is(tmp_path):
    """A learned confidence could outweigh the request's penalty (it answered "a kangaroo" with the
    one-word transcript "Kangaroo."); the rule is not a weight: no text answers a request."""
    lead = unit("audio/kangaroo.ogg", "Kangaroo.", 0.9, 0.9)
    sure = (("bias", 5.0),)
    answer, conf, ev, n = compose_answer([lead], sure, threshold=0.5, text_wanted=False)
    assert answer is None and n == 0 and conf == 0.0 and ev == [lead]
    assert compose_answer([lead], sure, threshold=0.5)[0]  # the same unit answers when text is wanted

    import xmodal
    from xmodal.apps.qa import ask

    (tmp_path / "kangaroo.txt").write_text("Kangaroo.")
    (tmp_path / "notes.txt").write_text("The kangaroo is a marsupial that lives in Australia.")
    lib = xmodal.open(str(tmp_path / "lib.xmdb"), model="label-bridge")
    try:
        lib.index([str(tmp_path)], ocr=False, speech=False, progress=False)
        shown = ask(lib, "a kangaroo", llm=None)
        asked = ask(lib, "Where does the kangaroo live?", llm=None)
    finally:
        lib.close()
    assert shown.answer is None and shown.confidence == 0.0 and shown.evidence
    assert asked.answer and "Australia" in asked.answer


def test_a_bad_model_is_refused_naming_the_feature():
    with pytest.raises(InvalidInput, match="'colour'"):
        check_confidence_model((("bias", 0.0), ("colour", 1.0)))
    with pytest.raises(InvalidInput, match="'score'"):
        check_confidence_model((("score", float("nan")),))
    with pytest.raises(InvalidInput, match="'margin'"):
        answer_confidence({"score": 1.0}, (("score", 1.0), ("margin", 1.0)))


def test_the_default_model_is_valid_and_rises_with_every_feature():
    weights = check_confidence_model(CONFIG.apps.qa_conf_model)
    assert weights.get("score", 0.0) > 0
    assert all(w > 0 for name, w in weights.items() if name != "bias")  # each feature: more means likelier right


def test_leave_one_out_prefers_the_features_that_carry_the_outcome():
    val = synthetic_rows(40, 5, "val")
    assert loo_brier(val, ("score", "margin"), 3.0) < loo_brier(val, ("dense", "keyword"), 3.0)
