"""MMR re-ranking, intra-list diversity and the decayed, incremental user profile."""
import numpy as np
import pytest

from xmodal.apps.diversity import intra_list_diversity, mmr
from xmodal.apps.profile import SECONDS_PER_DAY, Profile, decay_factor
from xmodal.errors import InvalidInput


def _clusters(rng, n_per=6, dim=16):
    """Three tight clusters; cluster 0 is the most relevant to the query."""
    centers = np.eye(dim)[:3]
    vecs = np.concatenate([c + 0.05 * rng.standard_normal((n_per, dim)) for c in centers])
    query = centers[0] * 0.8 + centers[1] * 0.45 + centers[2] * 0.4
    rel = vecs @ query / np.linalg.norm(vecs, axis=1)
    return vecs, rel, np.repeat(np.arange(3), n_per)


def test_mmr_with_lambda_one_is_the_relevance_order():
    rng = np.random.default_rng(0)
    vecs, rel, _ = _clusters(rng)
    assert mmr(rel, vecs, 5, 1.0) == list(np.argsort(-rel)[:5])


def test_mmr_raises_diversity_at_bounded_relevance_cost():
    rng = np.random.default_rng(1)
    vecs, rel, labels = _clusters(rng)
    plain = mmr(rel, vecs, 6, 1.0)
    diverse = mmr(rel, vecs, 6, 0.7)
    assert len(set(labels[plain])) == 1                      # nearest neighbours: one cluster only
    assert len(set(labels[diverse])) == 3                    # MMR covers all three
    assert intra_list_diversity(vecs[diverse]) > intra_list_diversity(vecs[plain]) + 0.3
    assert len(set(diverse)) == len(diverse)                 # no item twice
    cost = 1 - rel[diverse].mean() / rel[plain].mean()
    assert 0 < cost < 0.35
    assert diverse[0] == plain[0]                            # the best item stays first


def test_mmr_rejects_bad_arguments():
    with pytest.raises(InvalidInput, match="lambda"):
        mmr([1.0], np.ones((1, 2)), 1, 1.5)
    with pytest.raises(InvalidInput, match="k must be positive"):
        mmr([1.0], np.ones((1, 2)), 0, 0.5)
    with pytest.raises(InvalidInput, match="2 relevance scores but 1 vectors"):
        mmr([1.0, 2.0], np.ones((1, 2)), 1, 0.5)
    assert intra_list_diversity(np.ones((1, 3))) == 0.0


def test_decay_halves_per_half_life():
    assert decay_factor(30 * SECONDS_PER_DAY, 30) == pytest.approx(0.5)
    assert decay_factor(0, 30) == 1.0
    with pytest.raises(InvalidInput, match="half-life"):
        decay_factor(1.0, 0)


def test_profile_follows_recent_likes_and_keeps_dislikes_apart():
    a, b, c = np.eye(3)
    p = Profile("ana", 3)
    t0 = 1_700_000_000.0
    p.add(a, 1.0, t0)
    p.add(b, 1.0, t0 + 60 * SECONDS_PER_DAY)      # two half-lives later: a weighs a quarter of b
    d = p.direction()
    assert d[1] > 3.5 * d[0] > 0
    p.add(c, -1.0, t0 + 60 * SECONDS_PER_DAY)
    assert p.direction("negative") == pytest.approx(c)
    assert p.direction()[2] == 0.0
    assert p.interactions == 3 and p.positive_mass == pytest.approx(1.25)


def test_profile_is_order_independent_incremental_sum():
    rng = np.random.default_rng(3)
    vecs = rng.standard_normal((8, 5))
    times = 1_700_000_000.0 + rng.uniform(0, 90, 8) * SECONDS_PER_DAY
    weights = rng.choice([1.0, 0.5, -1.0], 8)
    forward, shuffled = Profile("u", 5), Profile("u", 5)
    for i in range(8):
        forward.add(vecs[i], weights[i], times[i])
    for i in rng.permutation(8):
        shuffled.add(vecs[i], weights[i], times[i])
    assert forward.t_ref == shuffled.t_ref
    np.testing.assert_allclose(forward.positive, shuffled.positive, atol=1e-9)
    np.testing.assert_allclose(forward.negative, shuffled.negative, atol=1e-9)


def test_profile_rejects_wrong_vectors_unchanged():
    p = Profile("u", 3)
    with pytest.raises(InvalidInput, match="dim 3"):
        p.add(np.ones(4), 1.0, 0.0)
    with pytest.raises(InvalidInput, match="NaN"):
        p.add(np.array([1.0, np.nan, 0.0]), 1.0, 0.0)
    assert p.interactions == 0 and p.direction() is None
