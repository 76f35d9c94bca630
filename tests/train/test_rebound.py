"""Re-basing trained heads on the photo vocabulary with a bounded residual (xmodal.train.rebound)."""
import numpy as np
import torch

from xmodal.encoders.label_bridge import class_text_vectors
from xmodal.encoders.lite import WEIGHTS_DIR
from xmodal.encoders.projection import load_heads
from xmodal.train.rebound import main, rebound


def test_rebound_bounds_the_residual_and_swaps_the_vocabulary(tmp_path):
    out = rebound(WEIGHTS_DIR / "xmodal-lite-v1.npz", tmp_path / "h.npz", max_residual=0.1)
    heads, meta = load_heads(out)
    old, old_meta = load_heads(WEIGHTS_DIR / "xmodal-lite-v1.npz")
    assert meta["max_residual"] == 0.1 and meta["label_vocabulary"] == "wordnet" and meta["text_head"] == "identity"
    assert old_meta.get("max_residual") is None
    np.testing.assert_allclose(heads.image.bridge.labels.detach().numpy(), class_text_vectors("minilm", "wordnet"),
                               atol=2e-3)  # stored as float16
    feats = torch.from_numpy(np.random.default_rng(0).normal(3.0, 5.0, (8, 1280)).astype(np.float32))
    with torch.no_grad():
        z = heads.image.residual((feats - heads.image.mean) / heads.image.std)
        z_old = old.image.residual((feats - old.image.mean) / old.image.std)
        np.testing.assert_allclose(z.numpy(), z_old.numpy(), rtol=1e-5, atol=1e-5)  # same residual, then bounded
        assert float(z_old.norm(dim=1).min()) > 0.1
        logits = torch.zeros(8, 1000)
        v = heads.image(feats, logits)
    assert torch.allclose(v.norm(dim=1), torch.ones(8), atol=1e-5)


def test_rebound_command_writes_the_file(tmp_path, capsys):
    assert main([str(WEIGHTS_DIR / "xmodal-lite-v1.npz"), str(tmp_path / "x.npz"), "--max-residual", "0.2"]) == 0
    assert (tmp_path / "x.npz").is_file() and "wrote" in capsys.readouterr().out
    assert load_heads(tmp_path / "x.npz")[1]["max_residual"] == 0.2
