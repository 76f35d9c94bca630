"""Build samples/: the small mixed-media folder that `make demo` indexes and queries.

Everything comes from offline sources on this machine so the folder can be rebuilt anywhere the
setup ran: Tux Paint stamps (GPL-2), openclipart (public domain), scikit-image sample photos,
twemoji (CC-BY 4.0, fetched with `npm pack` into a temporary folder), text written here, speech
synthesised with espeak-ng and a short narrated video assembled with ffmpeg.

Run: .venv/bin/python scripts/build_samples.py [--out samples]
The items are chosen to be distinct and recognisable so every demo query has one right answer.
"""
from __future__ import annotations

import argparse
import io
import shutil
import subprocess
import sys
import tarfile
import tempfile
import wave
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, ImageOps

STAMPS = Path("/usr/share/tuxpaint/stamps")
OPENCLIPART = Path("/usr/share/openclipart/svg")
TWEMOJI_PACKAGE = "emoji-datasource-twitter"
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")
SIDE = 320  # pixel side of the raster samples: small files, still recognisable

DOCS = {
    "guitar-tuning.md": (
        "# How to tune a guitar\n\n"
        "A standard six-string guitar is tuned E A D G B E, from the thickest string to the thinnest.\n"
        "Pluck each string, compare it with a tuner or with the fifth fret of the string below, and turn the\n"
        "tuning peg until the two notes match. Acoustic and electric guitars are tuned the same way.\n"
    ),
    "volcanoes.txt": (
        "Volcanoes\n\n"
        "A volcano is an opening in the crust of the earth through which lava, ash and gas escape.\n"
        "When magma rises and pressure builds, the volcano erupts; lava flows down its slopes and ash\n"
        "clouds can travel for hundreds of kilometres.\n"
    ),
    "panda.txt": (
        "大熊猫\n\n大熊猫生活在中国四川的竹林里，每天要吃很多竹子。它们身体是黑白两色的，非常可爱。\n"
    ),
}
HTML_DOC = ("bicycle-repair.html", (
    "<!doctype html><html><head><title>Fixing a flat bicycle tyre</title></head><body>"
    "<h1>Fixing a flat bicycle tyre</h1><p>Take the wheel off the bicycle, lever the tyre off the rim and pull"
    " out the inner tube. Find the puncture by pumping air into the tube and listening for the hiss, patch it,"
    " then refit the tube and tyre and pump it up again.</p><script>var ignored = 1;</script></body></html>"
))
PDF_DOC = ("coffee-brewing.pdf", [
    "Brewing coffee at home",
    "Grind the coffee beans just before brewing.",
    "Use water just off the boil and about sixty grams of coffee per litre.",
    "Pour slowly over the grounds and let the cup rest for a minute before drinking.",
])
SPEECH = {
    "weather-forecast.wav": "Tomorrow will be sunny with a light wind from the west.",
    "bread-recipe.mp3": "To bake bread, mix flour, water, salt and yeast, then knead the dough.",
    "train-announcement.ogg": "The next train to Cambridge leaves from platform four.",
    "birthday-message.flac": "Happy birthday! We hope you enjoy the chocolate cake.",
    "meeting-note.m4a": "Remember to water the tomato plants in the garden on Friday.",
}
# The narrated video: (stamp, narration); each scene lasts SCENE_S seconds.
VIDEO_SCENES = [
    ("animals/mammals/dogs/dog.png", "Here is a dog."),
    ("vehicles/flight/planes/747.png", "Now an airplane flies in the sky."),
    ("food/pizza.png", "Finally, a pizza for dinner."),
]
SCENE_S = 4  # long pauses between lines let speech recognition split them into segments
VIDEO_FPS = 2
QUERY_SPEECH = "Show me a guitar."


def _fit(img: Image.Image, side: int = SIDE) -> Image.Image:
    """Stamps are transparent cut-outs: put them on white and fit them in a square."""
    img = img.convert("RGBA")
    img.thumbnail((side, side))
    canvas = Image.new("RGBA", (side, side), (255, 255, 255, 255))
    canvas.paste(img, ((side - img.width) // 2, (side - img.height) // 2), img)
    return canvas.convert("RGB")


def _svg_to_image(svg: Path, side: int = SIDE) -> Image.Image:
    import cairosvg

    png = cairosvg.svg2png(url=str(svg), output_width=side)
    return Image.open(io.BytesIO(png))


def _skimage(name: str) -> Image.Image:
    from skimage import data

    return Image.fromarray(getattr(data, name)())


def _twemoji(tmp: Path, codepoints: list[str]) -> dict[str, Image.Image]:
    """`npm pack` the twemoji package into ``tmp`` and read a few 64-px PNGs from the tarball."""
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("npm is needed to fetch twemoji (apt-get install npm)")
    subprocess.run([npm, "pack", TWEMOJI_PACKAGE, "--silent"], cwd=tmp, check=True, stdout=subprocess.DEVNULL)
    tgz = next(tmp.glob(f"{TWEMOJI_PACKAGE}-*.tgz"))
    out = {}
    with tarfile.open(tgz) as tar:
        for cp in codepoints:
            member = tar.extractfile(f"package/img/twitter/64/{cp}.png")
            out[cp] = Image.open(io.BytesIO(member.read())).convert("RGBA").resize((256, 256), Image.LANCZOS)
    return out


def _espeak(text: str, wav: Path, speed: int = 140) -> None:
    subprocess.run(["espeak-ng", "-s", str(speed), "-w", str(wav), text], check=True)


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def _pdf(lines: list[str]) -> bytes:
    """A minimal one-page PDF with real (extractable) Helvetica text, no PDF library needed."""
    text_ops = ["BT", "/F1 14 Tf", "72 720 Td", "18 TL"]
    for line in lines:
        safe = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        text_ops.append(f"({safe}) Tj T*")
    text_ops.append("ET")
    stream = "\n".join(text_ops).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, obj in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + obj + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _sign(text: str) -> Image.Image:
    """A shop sign: an image whose only content is text, so OCR is the way to find it."""
    img = Image.new("RGB", (480, 200), (250, 250, 235))
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(str(FONT), 44)
    draw.rectangle([8, 8, 471, 191], outline=(30, 30, 120), width=6)
    lines = text.split("\n")
    for i, line in enumerate(lines):
        w = draw.textlength(line, font=font)
        draw.text(((480 - w) / 2, 40 + i * 64), line, fill=(30, 30, 120), font=font)
    return img


def _video(out: Path, tmp: Path) -> None:
    """Scenes of stamps, each narrated at its start, muxed into a small H.264 + AAC MP4."""
    frames = tmp / "frames"
    frames.mkdir()
    n = 0
    rate = None
    pcm = bytearray()
    for stamp, line in VIDEO_SCENES:
        img = _fit(Image.open(STAMPS / stamp), 240).resize((320, 240))
        for _ in range(SCENE_S * VIDEO_FPS):
            img.save(frames / f"f{n:04d}.png")
            n += 1
        wav = tmp / f"scene{len(pcm)}.wav"
        _espeak(line, wav)
        with wave.open(str(wav)) as w:
            rate = rate or w.getframerate()
            speech = w.readframes(w.getnframes())
        scene_bytes = SCENE_S * rate * 2
        pcm += speech[:scene_bytes] + b"\x00" * max(0, scene_bytes - len(speech))
    track = tmp / "track.wav"
    with wave.open(str(track), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(bytes(pcm))
    _ffmpeg("-framerate", str(VIDEO_FPS), "-i", str(frames / "f%04d.png"), "-i", str(track),
            "-c:v", "libx264", "-pix_fmt", "yuv420p", "-r", str(VIDEO_FPS), "-c:a", "aac", "-b:a", "48k",
            "-shortest", str(out))


def build(out: Path) -> None:
    media, queries = out / "media", out / "queries"
    for d in (media / "images", media / "documents", media / "audio", media / "video", queries):
        d.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        emoji = _twemoji(tmp, ["1f3b8", "1f30b"])
        images = media / "images"
        _skimage("chelsea").save(images / "cat.jpg", quality=85)
        _skimage("coffee").save(images / "coffee-cup.tiff", compression="tiff_deflate")
        _skimage("rocket").resize((213, 320)).save(images / "rocket.webp", quality=80)
        _fit(Image.open(STAMPS / "food/fruit/apple_red.png")).save(images / "red-apple.png")
        shutil.copy(STAMPS / "vehicles/cycle/bluebike.svg", images / "bicycle.svg")
        elephant = _fit(Image.open(STAMPS / "animals/mammals/elephant.png"))
        elephant.save(images / "elephant.jpg", quality=85)
        _fit(Image.open(STAMPS / "animals/birds/penguin.png")).save(images / "penguin.bmp")
        guitar = _fit(emoji["1f3b8"], 256)
        guitar.convert("P", palette=Image.ADAPTIVE).save(images / "guitar.gif")
        _fit(emoji["1f30b"], 256).save(images / "volcano.png")
        _fit(_svg_to_image(OPENCLIPART / "recreation/music/violin_colour_ganson.svg")).save(
            images / "violin.png")
        _sign("FRESH BREAD\nOPEN 24 HOURS").save(images / "bakery-sign.png")

        docs = media / "documents"
        for name, text in DOCS.items():
            (docs / name).write_text(text, encoding="utf-8")
        (docs / HTML_DOC[0]).write_text(HTML_DOC[1], encoding="utf-8")
        (docs / PDF_DOC[0]).write_bytes(_pdf(PDF_DOC[1]))

        audio = media / "audio"
        for name, text in SPEECH.items():
            wav = tmp / (Path(name).stem + ".wav")
            _espeak(text, wav)
            target = audio / name
            if target.suffix == ".wav":
                _ffmpeg("-i", str(wav), "-ar", "16000", "-ac", "1", str(target))
            else:
                _ffmpeg("-i", str(wav), "-ar", "16000", "-ac", "1", "-b:a", "32k", str(target))

        _video(media / "video" / "city-tour.mp4", tmp)

        # Queries live outside media/ so they are never indexed themselves.
        ImageOps.mirror(elephant.crop((20, 30, 300, 300))).resize((240, 232)).save(
            queries / "elephant-photo.jpg", quality=80)
        wav = tmp / "q.wav"
        _espeak(QUERY_SPEECH, wav)
        _ffmpeg("-i", str(wav), "-ar", "16000", "-ac", "1", str(queries / "say-guitar.wav"))
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"built {out} ({total / 1e6:.1f} MB)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "samples")
    args = ap.parse_args(argv)
    build(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
