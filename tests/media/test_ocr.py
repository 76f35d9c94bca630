"""OCR of text drawn with real fonts comes back right, with boxes where it was drawn."""
from pathlib import Path

import pytest
from PIL import Image

from tests.media.helpers import CJK_FONT, text_image
from xmodal.errors import MediaError
from xmodal.media import ocr, ocr_lines


def test_english_lines_are_read_back():
    img = text_image(["The quick brown fox", "jumps over 42 lazy dogs"])
    assert ocr(img).split() == "The quick brown fox jumps over 42 lazy dogs".split()


def test_lines_have_boxes_in_original_pixels_and_confidences(tmp_path: Path):
    img = text_image(["Invoice number 7731", "Total due 120 EUR"], size=(700, 120))
    path = tmp_path / "scan.png"
    img.save(path)
    lines = ocr_lines(path)
    assert [ln.text for ln in lines] == ["Invoice number 7731", "Total due 120 EUR"]
    first, second = lines
    assert 20 <= first.box[0] <= 40 and first.box[1] < 120 <= second.box[1]  # drawn at x=30, rows of 120 px
    assert all(0.5 < ln.confidence <= 1.0 for ln in lines)


def test_chinese_text_is_read_with_chi_sim():
    img = text_image(["今天天气很好"], size=(500, 120), font_path=CJK_FONT, font_size=56)
    assert ocr(img).replace(" ", "") == "今天天气很好"


def test_picture_without_text_gives_empty_string():
    import skimage.data

    assert ocr(Image.fromarray(skimage.data.coffee())) == ""


def test_unreadable_image_raises_media_error(tmp_path: Path):
    path = tmp_path / "scan.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    with pytest.raises(MediaError, match="scan.png"):
        ocr(path)
