"""Training objectives for projection heads: contrastive, reconstruction and distillation.

All take L2-normalised shared vectors. InfoNCE follows CLIP (symmetric cross-entropy over the
batch similarity matrix, learnable temperature stored as a log-scale and clamped so it cannot
run away). Reconstruction keeps the shared vector informative about each tower's features
(useful when the heads are wide enough to discard them). Distillation matches a teacher's
similarity matrix -- the label bridge, or a user's CLIP -- so a little paired data cannot pull
the space far from what the teacher already knows.
"""
from __future__ import annotations

from xmodal._optional import require
from xmodal.config import TrainConfig
from xmodal.encoders.projection import LogitScale

__all__ = ["LogitScale", "distillation_loss", "info_nce", "reconstruction_loss"]

torch = require("torch", "models")
F = torch.nn.functional


def _soft_targets(positives: "torch.Tensor | None", n: int, m: int, device) -> "torch.Tensor":
    if positives is None:
        if n != m:
            raise ValueError(f"InfoNCE without a positives mask needs a square batch, got {n}x{m}")
        return torch.eye(n, device=device)
    pos = positives.to(device=device, dtype=torch.float32)
    if pos.shape != (n, m):
        raise ValueError(f"positives mask has shape {tuple(pos.shape)}, expected {(n, m)}")
    return pos


def _soft_cross_entropy(logits: "torch.Tensor", targets: "torch.Tensor") -> "torch.Tensor":
    """Mean cross-entropy against target rows normalised to sum 1 (rows without positives are skipped)."""
    mass = targets.sum(dim=1)
    keep = mass > 0
    t = targets[keep] / mass[keep, None]
    return -(t * F.log_softmax(logits[keep], dim=1)).sum(dim=1).mean()


def info_nce(image: "torch.Tensor", text: "torch.Tensor", scale: "torch.Tensor | float",
             positives: "torch.Tensor | None" = None) -> "torch.Tensor":
    """Symmetric InfoNCE: mean of image→text and text→image cross-entropy over the batch.

    ``positives[i, j]`` marks text j as a correct match for image i (default: the diagonal);
    several positives per row (duplicate descriptions in a batch) share the target mass
    instead of being pushed apart as false negatives.
    """
    logits = scale * image @ text.T
    targets = _soft_targets(positives, logits.shape[0], logits.shape[1], logits.device)
    return 0.5 * (_soft_cross_entropy(logits, targets) + _soft_cross_entropy(logits.T, targets.T))


def reconstruction_loss(shared: "torch.Tensor", decoder: "torch.nn.Module", target: "torch.Tensor") -> "torch.Tensor":
    """Mean squared error of decoding the shared vector back to a tower's (standardised) features."""
    return F.mse_loss(decoder(shared), target)


def distillation_loss(image: "torch.Tensor", text: "torch.Tensor", scale: "torch.Tensor | float",
                      teacher_similarity: "torch.Tensor",
                      teacher_temperature: float = TrainConfig.distillation_temperature) -> "torch.Tensor":
    """KL(teacher ‖ student) between row-wise (and column-wise) softmaxes of the similarity matrices.

    ``teacher_similarity`` is the teacher's image×text cosine matrix for the same batch, sharpened by
    ``teacher_temperature`` (the trainer's ``TrainConfig.distillation_temperature``).
    """
    tt = teacher_temperature
    student = scale * image @ text.T
    teacher = teacher_similarity / tt

    def kl(s: "torch.Tensor", t: "torch.Tensor") -> "torch.Tensor":
        return F.kl_div(F.log_softmax(s, dim=1), F.log_softmax(t, dim=1), log_target=True, reduction="batchmean")

    return 0.5 * (kl(student, teacher) + kl(student.T, teacher.T))
