"""The registry resolves names lazily, caches one model per process, and fails clearly."""
from pathlib import Path

import numpy as np
import pytest
import skimage.data
from PIL import Image

from tests.media.helpers import speak
from xmodal.encoders import BaseEncoder, Encoder, get_encoder, list_encoders, register_encoder
from xmodal.errors import AlreadyExists, InvalidInput, MediaError, NotFound


def test_builtin_names_are_listed():
    names = list_encoders()
    for n in ("minilm", "e5-multilingual", "efficientnet-lite0", "label-bridge", "xmodal-lite",
              "xmodal-lite-multilingual", "clip:<path or hub id>"):
        assert n in names


def test_one_instance_per_name_and_protocol_kept():
    enc = get_encoder("minilm")
    assert get_encoder("minilm") is enc
    assert isinstance(enc, Encoder) and enc.dim == 384 and enc.modalities == frozenset({"text", "audio"})
    v = enc.encode_text(["hello world", "goodbye"], mode="passage")
    assert v.shape == (2, 384) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert enc.encode_text([]).shape == (0, 384)


def test_image_only_encoder_refuses_text_and_text_encoder_refuses_images():
    img_enc = get_encoder("efficientnet-lite0")
    v = img_enc.encode_image(Image.fromarray(skimage.data.coffee()))
    assert v.shape == (1, 1280)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    with pytest.raises(InvalidInput, match="efficientnet-lite0.*cannot encode text"):
        img_enc.encode_text(["a cup"])
    with pytest.raises(InvalidInput, match="minilm.*cannot encode image"):
        get_encoder("minilm").encode_image([Image.new("RGB", (4, 4))])
    with pytest.raises(InvalidInput, match="text #1"):
        get_encoder("minilm").encode_text(["ok", 42])


def test_audio_goes_through_speech_recognition(tmp_path: Path):
    enc = get_encoder("minilm")
    wav = speak("Where is the nearest train station", tmp_path / "q.wav")
    a = enc.encode_audio(wav)
    t = enc.encode_text(["where is the nearest train station", "I like strawberry ice cream"])
    assert a.shape == (1, 384) and (t @ a[0])[0] > 0.8 > (t @ a[0])[1]
    silent = tmp_path / "silence.wav"
    import wave

    with wave.open(str(silent), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000)
        w.writeframes(np.zeros(16000, np.int16).tobytes())
    with pytest.raises(MediaError, match="silence.wav.*no speech"):
        enc.encode_audio(silent)


class _Constant(BaseEncoder):
    name = "constant"
    dim = 3
    modalities = frozenset({"text"})

    def __init__(self, scale: float = 1.0):
        self.scale = scale

    def _encode_text(self, texts, mode):
        return np.tile([self.scale, 0.0, 0.0], (len(texts), 1))


def test_register_custom_and_prefix_encoders():
    register_encoder("test-constant", _Constant)
    enc = get_encoder("test-constant")
    assert enc.encode_text(["a"]).tolist() == [[1.0, 0.0, 0.0]]
    with pytest.raises(AlreadyExists):
        register_encoder("test-constant", _Constant)
    register_encoder("test-constant", lambda: _Constant(2.0), replace=True)
    assert get_encoder("test-constant") is not enc  # cache dropped on replace
    register_encoder("testfam", lambda arg: _Constant(float(arg)), prefix=True)
    assert get_encoder("testfam:5").scale == 5.0
    with pytest.raises(InvalidInput):
        register_encoder("bad:name", _Constant)
    with pytest.raises(InvalidInput):
        register_encoder("nofactory", "not-a-module-path")


def test_unknown_and_undeclared_modules_fail_clearly():
    with pytest.raises(NotFound, match="unknown encoder 'nope'"):
        get_encoder("nope")
    register_encoder("future-model", "xmodal.encoders.not_written_yet:Model")
    with pytest.raises(NotFound, match="future-model.*xmodal.encoders.not_written_yet"):
        get_encoder("future-model")
    with pytest.raises(InvalidInput, match="needs an argument"):
        get_encoder("clip:")
