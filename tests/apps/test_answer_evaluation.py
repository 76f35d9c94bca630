"""How answers are judged: accuracy, abstention, path answers, the threshold chosen on one half,
the confidence rescaling and the reliability table (pure functions over judged rows)."""
import pytest

from xmodal.apps.evaluate import (answer_report, fit_answer_rescaling, fit_answer_threshold, is_path_answer,
                                  reliability)


def row(expect, conf, lead_right=False, top_right=False, answer="An answer. [1]", modality="passage"):
    return {"question": "q", "expect": expect, "modality": modality, "confidence": conf, "lead_right": lead_right,
            "top_right": top_right, "answer": answer, "path_answer": is_path_answer(answer)}


ROWS = [row("answer", 0.9, True), row("answer", 0.8, True), row("answer", 0.45, True), row("answer", 0.7, False),
        row("abstain", 0.3), row("abstain", 0.2), row("abstain", 0.5), row("abstain", 0.1),
        row("evidence", 0.2, top_right=True, answer=None, modality="image")]


def test_a_file_path_is_never_an_answer_but_a_sentence_naming_one_is():
    assert is_path_answer("/usr/share/doc/tar/README.gz [1]")
    assert is_path_answer("samples/media/images/lake.jpg [1]")
    assert not is_path_answer("The settings live in /etc/xmodal.conf and are read at start. [1]")
    assert not is_path_answer("Send bug reports to bug-gzip@gnu.org. [1]")
    assert not is_path_answer(None)


def test_report_counts_right_answers_abstentions_and_picture_requests():
    rep = answer_report(ROWS, threshold=0.6)
    assert rep["accuracy"] == pytest.approx(2 / 4)           # 0.45 abstains, 0.7 answers wrongly
    assert rep["abstained"] == 1.0 and rep["evidence_right"] == 1.0 and rep["path_answers"] == 0
    # Brier over answerable + unanswerable rows against "the lead unit is a right answer"
    expected = ((0.9 - 1) ** 2 + (0.8 - 1) ** 2 + (0.45 - 1) ** 2 + 0.7 ** 2 + 0.3 ** 2 + 0.2 ** 2 + 0.5 ** 2
                + 0.1 ** 2) / 8
    assert rep["brier"] == pytest.approx(expected, abs=1e-4)
    assert answer_report(ROWS, threshold=0.4)["abstained"] == 0.75


def test_the_threshold_keeps_abstention_then_maximises_accuracy():
    t = fit_answer_threshold(ROWS, min_abstain=0.9)
    rep = answer_report(ROWS, t)
    assert rep["abstained"] >= 0.9 and 0.5 < t <= 0.7         # above every unanswerable row, 0.45 lost
    assert rep["accuracy"] == 0.5
    loose = fit_answer_threshold(ROWS, min_abstain=0.7)
    assert loose < 0.45 < t and answer_report(ROWS, loose)["accuracy"] == 0.75


def test_rescaling_is_monotone_and_fitted_to_the_outcomes():
    slope, bias = fit_answer_rescaling(ROWS)
    assert slope > 0
    with pytest.raises(Exception, match="both classes"):
        fit_answer_rescaling([row("abstain", 0.3), row("abstain", 0.2)])


def test_reliability_bins_hold_every_forecast():
    table = reliability([0.05, 0.15, 0.95, 0.9, 1.0], [0, 0, 1, 1, 0], bins=10)
    assert sum(b["n"] for b in table) == 5
    top = table[-1]
    assert top["lo"] == 0.9 and top["n"] == 3 and top["observed"] == pytest.approx(2 / 3, abs=1e-3)


def test_a_picture_request_is_judged_by_asks_rule_not_by_the_threshold():
    """ask never answers a request to be shown a thing with text, so the report does not count a
    sure-looking confidence on one as a text answer; a request ask would answer (text wanted) does."""
    sure = row("evidence", 0.95, top_right=True, answer=None, modality="image")
    assert answer_report([sure], threshold=0.6)["evidence_right"] == 0.0
    assert answer_report([{**sure, "text_wanted": False}], threshold=0.6)["evidence_right"] == 1.0
    assert answer_report([{**sure, "text_wanted": False, "top_right": False}], threshold=0.6)["evidence_right"] == 0.0
