"""Recall@K and median rank on similarity matrices whose answers are known by construction."""
import numpy as np
import pytest

from xmodal.errors import InvalidInput
from xmodal.eval.metrics import chance_recall, ranks, recall_at, retrieval_metrics


def test_ranks_of_a_hand_made_matrix():
    sim = np.array([[0.9, 0.1, 0.0],    # correct 0 ranked first
                    [0.8, 0.7, 0.9],    # correct 1 below two others -> rank 3
                    [0.5, 0.6, 0.4]])   # correct 2 last -> rank 3
    correct = np.eye(3, dtype=bool)
    assert ranks(sim, correct).tolist() == [1.0, 3.0, 3.0]
    m = retrieval_metrics(sim, correct, ks=(1, 2))
    assert m["R@1"] == pytest.approx(1 / 3) and m["R@2"] == pytest.approx(1 / 3)
    assert m["median_rank"] == 3.0 and m["queries"] == 3


def test_best_of_several_correct_candidates_counts():
    sim = np.array([[0.1, 0.9, 0.5]])
    assert ranks(sim, np.array([[True, False, True]])).tolist() == [2.0]


def test_ties_count_half_so_a_constant_encoder_scores_chance():
    n = 10
    r = ranks(np.zeros((n, n)), np.eye(n, dtype=bool))
    assert r.tolist() == [1 + 0.5 * (n - 1)] * n
    assert recall_at(r, ks=(1,))["R@1"] == 0.0


def test_bad_inputs_raise_typed_errors():
    with pytest.raises(InvalidInput, match="same shape"):
        ranks(np.zeros((2, 2)), np.zeros((2, 3), bool))
    with pytest.raises(InvalidInput, match="no correct candidate"):
        ranks(np.zeros((2, 2)), np.array([[True, False], [False, False]]))
    with pytest.raises(InvalidInput, match="no queries"):
        recall_at(np.array([]))


def test_chance_recall():
    assert chance_recall(10, 200) == 0.05
    assert chance_recall(10, 5) == 1.0


def test_nan_scores_are_an_error_not_a_perfect_rank():
    sim = np.full((2, 2), np.nan)
    with pytest.raises(InvalidInput, match="NaN"):
        retrieval_metrics(sim, np.eye(2, dtype=bool))
