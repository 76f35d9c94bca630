"""Encoders hold their own settings (issue 13): two configurations in one process each take effect,
and an environment variable set after import reaches an encoder through ``Config.from_env()``."""
from __future__ import annotations

import numpy as np
import pytest

from xmodal.config import Config, EncoderConfig
from xmodal.encoders import get_encoder
from xmodal.encoders.towers import configure_torch_threads
from xmodal.errors import InvalidInput

# Two passages that differ only after their fourth word.
SAME_START = ["a red bicycle leans against the old stone wall",
              "a red bicycle leans beside a quiet mountain lake"]


def test_two_encoders_in_one_process_use_their_own_settings():
    default = get_encoder("minilm")
    short = get_encoder("minilm", settings=Config(encoders=EncoderConfig(text_max_tokens=6)))
    assert short is not default and short.settings.text_max_tokens == 6
    assert get_encoder("minilm", settings=Config()) is default  # the same settings share one encoder
    a, b = short.encode_text(SAME_START, mode="passage")
    assert float(a @ b) > 0.9999  # only "[CLS] a red bicycle leans [SEP]" is read: the same vector
    a, b = default.encode_text(SAME_START, mode="passage")
    assert float(a @ b) < 0.95  # the default reads on, and the passages differ


def test_environment_set_after_import_reaches_the_encoder(monkeypatch):
    torch = pytest.importorskip("torch")
    monkeypatch.setenv("XMODAL_THREADS", "2")
    try:
        encoder = get_encoder("minilm", settings=Config.from_env())
        assert encoder.settings.torch_threads == 2
        backend = encoder.tower.backend  # ONNX Runtime by default (queries never import torch)
        if backend.name == "onnx":
            assert backend.session.get_session_options().intra_op_num_threads == 2
        else:
            assert torch.get_num_threads() == 2  # torch's pool, sized when the tower loaded
        assert encoder.encode_text("a cat").shape == (1, encoder.dim)
        monkeypatch.setenv("XMODAL_TEXT_BACKEND", "torch")
        get_encoder("minilm", settings=Config.from_env())
        assert torch.get_num_threads() == 2  # the torch backend sizes torch's pool
    finally:
        configure_torch_threads(1)  # the pool is process-wide: leave it as the other tests expect


def test_settings_of_the_wrong_type_are_refused():
    with pytest.raises(InvalidInput, match="settings must be an xmodal.config.Config"):
        get_encoder("minilm", settings=EncoderConfig())


def test_vectors_do_not_depend_on_batching_settings():
    texts = [f"picture number {i} of a small harbour" for i in range(7)]
    one = get_encoder("minilm").encode_text(texts)
    batched = get_encoder("minilm", settings=Config(encoders=EncoderConfig(text_batch_size=3))).encode_text(texts)
    np.testing.assert_allclose(one, batched, atol=1e-5)


def test_a_registered_factory_without_a_settings_parameter_still_builds():
    from xmodal.encoders import register_encoder
    from xmodal.encoders.text import MiniLMEncoder

    register_encoder("old-style-minilm", lambda: MiniLMEncoder(), replace=True)  # predates settings
    takes = []
    register_encoder("new-style-minilm", lambda settings=None: takes.append(settings) or MiniLMEncoder(settings),
                     replace=True)
    configured = Config(encoders=EncoderConfig(text_batch_size=5))
    assert get_encoder("old-style-minilm", settings=configured).encode_text("a cat").shape == (1, 384)
    get_encoder("new-style-minilm", settings=configured)
    assert takes == [configured]
