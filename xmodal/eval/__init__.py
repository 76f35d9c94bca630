"""Evaluation of cross-modal encoders: Recall@K, median rank, zero-shot accuracy (see evaluator.py)."""
from xmodal.eval.evaluator import CrossModalEvaluator
from xmodal.eval.metrics import ranks, recall_at, retrieval_metrics

__all__ = ["CrossModalEvaluator", "ranks", "recall_at", "retrieval_metrics"]
