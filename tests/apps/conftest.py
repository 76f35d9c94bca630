"""Real media for the application tests, generated here: a spoken recording (espeak-ng), a sign
drawn with a real TTF font, a text document and Tux Paint stamps; indexed once per module."""
from __future__ import annotations

import subprocess
import wave
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

# A cross-modal model that needs no training run (the trained default may not be built on CI).
MODEL = "label-bridge"
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
STAMPS = Path("/usr/share/tuxpaint/stamps")
SILENCE_S = 3.0
FIRST_LINE = "Good morning and welcome to the garden club."
SPOKEN_ANSWER = "The spare key is hidden under the blue flower pot."
SIGN_LINES = ("PARKING LEVEL 3", "CLOSED FOR REPAIRS")
DOCUMENT = ("Pancakes need flour, eggs and milk. Whisk everything together and fry the batter in butter "
            "until golden. Serve them warm with maple syrup.")


def _espeak(text: str, out: Path) -> None:
    subprocess.run(["espeak-ng", "-s", "150", "-w", str(out), text], check=True, capture_output=True)


def spoken_recording(out: Path) -> float:
    """A WAV: an unrelated sentence, SILENCE_S of silence, then the answer. Returns when the answer starts."""
    parts = []
    for i, text in enumerate((FIRST_LINE, SPOKEN_ANSWER)):
        wav = out.with_name(f"part{i}.wav")
        _espeak(text, wav)
        with wave.open(str(wav)) as w:
            params = w.getparams()
            parts.append(w.readframes(w.getnframes()))
        wav.unlink()
    rate, width = params.framerate, params.sampwidth
    gap = b"\x00" * int(SILENCE_S * rate) * width
    with wave.open(str(out), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(parts[0] + gap + parts[1])
    return len(parts[0]) / (rate * width) + SILENCE_S


def sign_image(out: Path) -> None:
    img = Image.new("RGB", (560, 220), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(FONT, 40)
    for i, line in enumerate(SIGN_LINES):
        draw.text((30, 40 + i * 80), line, fill=(10, 10, 10), font=font)
    img.save(out)


def stamp_on_white(rel: str, out: Path, side: int = 256) -> None:
    img = Image.open(STAMPS / rel).convert("RGBA")
    img.thumbnail((side, side))
    canvas = Image.new("RGBA", (side, side), (255, 255, 255, 255))
    canvas.paste(img, ((side - img.width) // 2, (side - img.height) // 2), img)
    canvas.convert("RGB").save(out)


@pytest.fixture(scope="module")
def qa_library(tmp_path_factory):
    """(library, folder, {"recording": path, "answer_start": s, "sign": path, "dog": path})."""
    import xmodal

    base = tmp_path_factory.mktemp("qa")
    media = base / "media"
    media.mkdir()
    info = {"recording": media / "garden-news.wav", "sign": media / "car-park.png",
            "dog": media / "dog.png", "doc": media / "pancakes.txt"}
    info["answer_start"] = spoken_recording(info["recording"])
    sign_image(info["sign"])
    stamp_on_white("animals/mammals/dogs/dog.png", info["dog"])
    info["doc"].write_text(DOCUMENT, encoding="utf-8")
    lib = xmodal.open(str(base / "lib.xmdb"), model=MODEL)
    report = lib.index([str(media)], progress=False)
    assert not report.failed, report.failed
    yield lib, media, {k: (str(v.resolve()) if isinstance(v, Path) else v) for k, v in info.items()}
    lib.close()


def copy_stamps(rels: list[str], dest: Path) -> dict[str, str]:
    """Stamps on white as PNGs in ``dest``; returns {absolute path: top-level category}."""
    dest.mkdir(parents=True, exist_ok=True)
    out = {}
    for rel in rels:
        target = dest / Path(rel).name
        stamp_on_white(rel, target)
        out[str(target.resolve())] = rel.split("/")[0]
    return out


ANIMALS = ["animals/mammals/dogs/dog.png", "animals/mammals/elephant.png", "animals/mammals/giraffe.png",
           "animals/mammals/cats/tiger.png", "animals/marsupials/kangaroo.png", "animals/mammals/bears/bear.png",
           "animals/mammals/equines/zebra.png"]
VEHICLES = ["vehicles/flight/planes/747.png", "vehicles/emergency/firetruck.png", "vehicles/auto/sedan.png",
            "vehicles/ship/cartoon/tugboat.png", "vehicles/auto/beetle.png"]
FOOD = ["food/fruit/banana.png", "food/fruit/pineapple.png", "food/fruit/apple_red.png",
        "food/fruit/strawberry.png", "food/fruit/pear.png"]
ELEPHANT_TEXT = "A big grey elephant with long tusks and a trunk walks across the savanna."
# The label bridge without its OCR pass: the stamps hold no text, and OCR would triple indexing time.
REC_MODEL = "label-bridge-no-ocr"


@pytest.fixture(scope="module")
def rec_library(tmp_path_factory):
    """(library, {path: category}, text document path): Tux Paint animals, vehicles and food + one text."""
    import xmodal
    from xmodal.encoders import register_encoder
    from xmodal.encoders.label_bridge import LabelBridgeEncoder

    register_encoder(REC_MODEL, lambda: LabelBridgeEncoder(ocr=False), replace=True)
    base = tmp_path_factory.mktemp("rec")
    cats = copy_stamps(ANIMALS + VEHICLES + FOOD, base / "media")
    doc = base / "media" / "elephant-story.txt"
    doc.write_text(ELEPHANT_TEXT, encoding="utf-8")
    lib = xmodal.open(str(base / "lib.xmdb"), model=REC_MODEL)
    report = lib.index([str(base / "media")], ocr=False, speech=False, progress=False)
    assert not report.failed, report.failed
    yield lib, cats, str(doc.resolve())
    lib.close()
