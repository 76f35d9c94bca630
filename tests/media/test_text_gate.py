"""The text gate: tesseract reads only pictures in which RapidOCR's detector and recogniser find
text; photos without text cost no tesseract process, and a picture is read once whoever asks."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from tests.media.helpers import CJK_FONT, FONT, text_image
from xmodal.ingest.extract import decode
from xmodal.media import ocr_lines, ocr_many
from xmodal.media.text_gate import text_gate

skimage_data = pytest.importorskip("skimage.data")
PHOTOS = ["coffee", "chelsea", "astronaut", "rocket", "camera"]


@pytest.fixture
def tesseract_log(tmp_path, monkeypatch) -> Path:
    """Every picture tesseract is asked to read, logged by a wrapper on PATH (the real program runs)."""
    log = tmp_path / "tesseract.log"
    shim = tmp_path / "bin" / "tesseract"
    shim.parent.mkdir()
    shim.write_text(f'#!/bin/sh\ncase "$*" in *tsv*) echo "$1" >> {log} ;; esac\nexec /usr/bin/tesseract "$@"\n')
    shim.chmod(shim.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{shim.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("XMODAL_CACHE", str(tmp_path / "cache"))
    log.write_text("")
    return log


def _runs(log: Path) -> int:
    return len(log.read_text().splitlines())


def _caption_on_photo() -> Image.Image:
    img = Image.fromarray(skimage_data.chelsea()).convert("RGB")
    draw = ImageDraw.Draw(img)
    draw.text((20, 250), "CAT OF THE YEAR", font=ImageFont.truetype(FONT, 40), fill="white",
              stroke_width=3, stroke_fill="black")
    return img


def test_photos_without_text_do_not_pass_and_text_does():
    gate = text_gate()
    for name in PHOTOS:
        assert not gate.has_text(Image.fromarray(getattr(skimage_data, name)()).convert("RGB")), name
    assert gate.has_text(text_image(["Invoice number 7731", "Total due 120 EUR"]))
    assert gate.has_text(text_image(["今天天气很好"], size=(500, 120), font_path=CJK_FONT, font_size=56))
    assert gate.has_text(_caption_on_photo())
    assert not gate.has_text(Image.new("RGB", (640, 480), "white"))


def test_small_print_on_a_wide_picture_is_seen(tesseract_log):
    """A detector looking at every picture at 480 px misses 16 px letters on a 1600 px page (they
    shrink to 5 px) although tesseract reads them: big pictures are looked at with more pixels."""
    page = text_image(["Terms apply to all orders placed before Friday", "Call 555 0199 for the opening hours"],
                      size=(1600, 40), font_size=16)
    assert text_gate().has_text(page)
    assert "Terms apply to all orders placed before Friday" in ocr_many([page])[0]
    assert _runs(tesseract_log) == 1


def test_gate_skips_tesseract_on_photos_and_keeps_what_it_reads(tesseract_log):
    photo = Image.fromarray(skimage_data.coffee()).convert("RGB")
    assert ocr_lines(photo) == []
    assert _runs(tesseract_log) == 0  # no tesseract process for a photo without text
    sign = text_image(["The quick brown fox", "jumps over 42 lazy dogs"])
    gated = ocr_lines(sign)
    ungated = ocr_lines(sign, gate=False)  # the same answer, from the cache the gated run filled
    assert [ln.text for ln in gated] == ["The quick brown fox", "jumps over 42 lazy dogs"]
    assert gated == ungated and _runs(tesseract_log) == 1
    caption = _caption_on_photo()
    assert ocr_lines(caption) == ocr_lines(caption, gate=False) and _runs(tesseract_log) == 2  # passed: read


def test_what_ingestion_read_is_not_read_again(tmp_path, tesseract_log):
    """Ingestion reads a picture; an encoder asking for its text later (the label bridge does)
    gets the cached answer, keyed by the pixels, without a second tesseract run."""
    path = tmp_path / "poster.png"
    text_image(["Summer concert tonight"]).save(path)
    decoded = decode(str(path), "image", "digest", ocr=True)
    assert [u.text for u in decoded.units if u.role == "ocr"] == ["Summer concert tonight"]
    assert _runs(tesseract_log) == 1
    item = next(u.content for u in decoded.units if u.role == "item")
    assert ocr_many([item]) == ["Summer concert tonight"]  # what LabelBridgeEncoder.encode_image calls
    assert _runs(tesseract_log) == 1
