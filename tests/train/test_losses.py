"""The training objectives against values worked out by hand on 2x2 batches."""
import math

import pytest
import torch

from xmodal.train.losses import LogitScale, distillation_loss, info_nce, reconstruction_loss

EYE = torch.eye(2)


def test_info_nce_matches_hand_computed_value_on_orthogonal_pairs():
    # logits = I: each row's cross-entropy is -log(e / (e + 1)) = log(1 + e^-1), both directions equal.
    assert info_nce(EYE, EYE, 1.0).item() == pytest.approx(math.log(1 + math.exp(-1)), abs=1e-6)


def test_info_nce_temperature_sharpens_the_loss():
    # With scale 10 the correct logit is 10 and the wrong 0: log(1 + e^-10).
    assert info_nce(EYE, EYE, 10.0).item() == pytest.approx(math.log(1 + math.exp(-10)), abs=1e-6)


def test_info_nce_counts_duplicate_descriptions_as_shared_positives():
    # Both texts declared the same description: each row's target is (0.5, 0.5) over logits (1, 0),
    # CE = -0.5*log(e/(e+1)) - 0.5*log(1/(e+1)) = log(1 + e) - 0.5, in both directions.
    both = torch.ones(2, 2, dtype=torch.bool)
    assert info_nce(EYE, EYE, 1.0, both).item() == pytest.approx(math.log(1 + math.e) - 0.5, abs=1e-6)


def test_info_nce_rejects_a_mask_of_the_wrong_shape():
    with pytest.raises(ValueError, match="positives mask"):
        info_nce(EYE, EYE, 1.0, torch.ones(3, 3, dtype=torch.bool))


def test_logit_scale_starts_at_inverse_temperature_and_is_clamped():
    s = LogitScale(init_temperature=0.07, max_scale=100.0)
    assert s().item() == pytest.approx(1 / 0.07, rel=1e-5)
    with torch.no_grad():
        s.log_scale.fill_(10.0)
    assert s().item() == pytest.approx(100.0, rel=1e-5)


def test_reconstruction_loss_is_the_mean_squared_error_of_the_decoder():
    decoder = torch.nn.Identity()
    shared = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    target = torch.tensor([[0.0, 0.0], [0.0, 3.0]])
    # squared errors 1, 0, 0, 4 -> mean 1.25
    assert reconstruction_loss(shared, decoder, target).item() == pytest.approx(1.25)


def test_distillation_is_zero_when_student_matches_teacher_and_positive_otherwise():
    teacher = EYE * 0.5
    # student logits = 5 * I = teacher / 0.1: identical distributions.
    assert distillation_loss(EYE, EYE, 5.0, teacher, teacher_temperature=0.1).item() == pytest.approx(0.0, abs=1e-6)
    # Teacher indifferent (uniform rows), student confident: KL(u || p) with p = (e/(e+1), 1/(e+1)).
    p = math.e / (math.e + 1)
    expected = 0.5 * math.log(0.5 / p) + 0.5 * math.log(0.5 / (1 - p))
    got = distillation_loss(EYE, EYE, 1.0, torch.zeros(2, 2), teacher_temperature=0.1).item()
    assert got == pytest.approx(expected, abs=1e-6)
