"""Shared test setup: offline model loading and one thread for BLAS/torch (2-core CI machines)."""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

ARTIFACTS = os.path.join(os.path.dirname(__file__), "..", "test-artifacts")
