"""A user's taste as two decayed vector sums (liked, disliked) that update in O(1) per interaction.

Each interaction adds ``weight * vector`` to the positive or the negative sum; every sum decays
exponentially with a half-life, so last week's likes outweigh last year's. Because decay is a
common factor, a sum kept at reference time ``t_ref`` is brought to any later time by one
multiplication -- the profile never needs the full history again (incremental update).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from xmodal.config import AppsConfig
from xmodal.errors import InvalidInput

__all__ = ["SECONDS_PER_DAY", "decay_factor", "Profile"]

SECONDS_PER_DAY = 86_400.0


def decay_factor(dt_seconds: float, half_life_days: float = AppsConfig.rec_half_life_days) -> float:
    """Weight multiplier after ``dt_seconds`` (negative dt, i.e. an older event, gives < 1 too)."""
    if half_life_days <= 0:
        raise InvalidInput(f"half-life must be positive, got {half_life_days} days")
    return math.pow(0.5, abs(dt_seconds) / (half_life_days * SECONDS_PER_DAY))


@dataclass
class Profile:
    """Decayed sums of liked and disliked item vectors, valid at ``t_ref`` (unix seconds)."""

    user: str
    dim: int
    positive: np.ndarray = field(default=None)  # type: ignore[assignment]
    negative: np.ndarray = field(default=None)  # type: ignore[assignment]
    t_ref: float = 0.0
    positive_mass: float = 0.0
    negative_mass: float = 0.0
    interactions: int = 0

    def __post_init__(self) -> None:
        if self.positive is None:
            self.positive = np.zeros(self.dim, dtype=np.float64)
        if self.negative is None:
            self.negative = np.zeros(self.dim, dtype=np.float64)
        self.positive = np.asarray(self.positive, dtype=np.float64)
        self.negative = np.asarray(self.negative, dtype=np.float64)

    def add(self, vector: np.ndarray, weight: float, ts: float | None = None,
            half_life_days: float = AppsConfig.rec_half_life_days) -> None:
        """Fold one interaction in; events older than ``t_ref`` are decayed to it instead."""
        v = np.asarray(vector, dtype=np.float64).reshape(-1)
        if v.shape[0] != self.dim:
            raise InvalidInput(f"profile of user {self.user!r} has dim {self.dim}, item vector has {v.shape[0]}")
        if not np.all(np.isfinite(v)):
            raise InvalidInput(f"item vector for user {self.user!r} contains NaN or infinity")
        ts = time.time() if ts is None else float(ts)
        if self.interactions == 0:
            self.t_ref = ts
        if ts > self.t_ref:
            f = decay_factor(ts - self.t_ref, half_life_days)
            self.positive *= f
            self.negative *= f
            self.positive_mass *= f
            self.negative_mass *= f
            self.t_ref = ts
            scale = 1.0
        else:
            scale = decay_factor(self.t_ref - ts, half_life_days)
        norm = np.linalg.norm(v)
        unit = v / norm if norm > 0 else v
        w = float(weight) * scale
        if w >= 0:
            self.positive += w * unit
            self.positive_mass += w
        else:
            self.negative += -w * unit
            self.negative_mass += -w
        self.interactions += 1

    def direction(self, which: str = "positive") -> np.ndarray | None:
        """Unit vector of the liked (or disliked) sum; None when there is nothing on that side."""
        s = self.positive if which == "positive" else self.negative
        n = np.linalg.norm(s)
        return None if n <= 1e-12 else (s / n).astype(np.float32)

    def to_payload(self) -> dict:
        return {"user": self.user, "t_ref": self.t_ref, "positive_mass": self.positive_mass,
                "negative_mass": self.negative_mass, "interactions": self.interactions}
