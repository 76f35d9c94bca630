"""OCR of text drawn with real fonts comes back right, with boxes where it was drawn."""
from pathlib import Path

import pytest
from PIL import Image

from tests.media.helpers import CJK_FONT, text_image
from xmodal.errors import MediaError
from xmodal.media import ocr, ocr_lines


@pytest.fixture(autouse=True)
def fresh_cache(tmp_path, monkeypatch) -> Path:
    """Every test reads pictures afresh: results cached by an earlier run must not hide a regression."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("XMODAL_CACHE", str(cache))
    return cache


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


def _ocr_in_subprocess(tmp_path: Path, engine: str, image: Path):
    """Run OCR where tesseract is not on PATH (a machine without the Debian package)."""
    import os
    import subprocess
    import sys

    empty_bin = tmp_path / "bin"
    empty_bin.mkdir(exist_ok=True)
    # The engine comes from the environment, read once at start-up as the CLI does.
    code = ("import sys\nfrom xmodal.config import Config\nfrom xmodal.media import ocr\n"
            "from xmodal.errors import MissingDependency\n"
            "try:\n    print('TEXT:' + ocr(sys.argv[1], Config.from_env().media).replace(chr(10), ' '))\n"
            "except MissingDependency as exc:\n    print('MISSING:' + str(exc))\n")
    env = {**os.environ, "PATH": str(empty_bin), "XMODAL_OCR_ENGINE": engine}
    out = subprocess.run([sys.executable, "-c", code, str(image)], capture_output=True, text=True, env=env,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()[-1]


def test_rapidocr_fallback_reads_text_without_tesseract(tmp_path: Path):
    path = tmp_path / "sign.png"
    text_image(["The quick brown fox", "jumps over 42 lazy dogs"]).save(path)
    line = _ocr_in_subprocess(tmp_path, "auto", path)
    assert line.startswith("TEXT:")
    assert line[5:].split() == "The quick brown fox jumps over 42 lazy dogs".split()


def test_forcing_tesseract_where_missing_names_the_apt_package(tmp_path: Path):
    path = tmp_path / "sign.png"
    text_image(["hello"]).save(path)
    line = _ocr_in_subprocess(tmp_path, "tesseract", path)
    assert line.startswith("MISSING:") and "apt-get install tesseract-ocr" in line


def test_results_are_cached_per_picture_and_a_damaged_entry_is_recomputed(fresh_cache: Path):
    img = text_image(["Cached words here"])
    first = ocr_lines(img)
    files = list((fresh_cache / "ocr").rglob("*.json"))
    assert len(files) == 1 and first[0].text == "Cached words here"
    files[0].write_text('[["planted", [0, 0, 1, 1], 0.9, 0]]')
    assert [ln.text for ln in ocr_lines(img.copy())] == ["planted"]  # same pixels: read from the cache
    files[0].write_text("{not json")
    assert ocr_lines(img) == first
    assert ocr(text_image(["Other words"])) == "Other words"
    assert len(list((fresh_cache / "ocr").rglob("*.json"))) == 2


def test_many_pictures_in_one_batch_keep_their_own_text(tmp_path: Path):
    from xmodal.media import ocr_lines_many, ocr_many

    pictures = [text_image(["First image words"]), Image.new("RGB", (300, 200), "white"),
                text_image(["Second picture here", "with two lines"], size=(800, 120))]
    assert ocr_many(pictures) == ["First image words", "", "Second picture here\n\nwith two lines"]
    batch = ocr_lines_many(pictures)
    assert [ln.text for ln in batch[2]] == ["Second picture here", "with two lines"]
    assert batch[2][1].box[1] > batch[2][0].box[3]  # boxes belong to their own picture
