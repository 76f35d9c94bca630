"""The mixed offline folder the QA and relevance benchmarks index: what a person's folder holds.

Every part is built from material on this machine, deterministically, into ``dest/<part>/``:

- ``samples``: the bundled demo media (photos, documents, speech in five formats, a narrated video);
- ``debian``: a few packages' plain-text documentation from ``/usr/share/doc`` (gzip README, zlib FAQ,
  procps FAQ, GNU ed README, man-db FAQ, base-passwd README), un-gzipped to ``.txt``; a document a
  machine lacks is skipped and :func:`build` says which were written;
- ``signs``: notices rendered with a real TTF font, readable only through OCR;
- ``spoken``: Tux Paint's spoken English descriptions (``*_desc.ogg``) under neutral names
  (``spoken-003.ogg``), so only the transcript can find them;
- ``sounds``: Tux Paint sound effects under their own names (a sound effect holds no words:
  its name is all a library knows of it);
- ``stamps``: Tux Paint pictures of the *test* split (never trained on, never used for calibration)
  on white under neutral names (``stamp-007.png``);
- ``qa-stamps``: the fourteen named stamps of the QA picture requests (``giraffe.png``).

:func:`build` returns a manifest: for each part the files written and what each one is (the
Tux Paint item, its descriptions by language), from which the benchmarks derive their judgments.
"""
from __future__ import annotations

import gzip
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples" / "media"
STAMPS = Path("/usr/share/tuxpaint/stamps")
DOC = Path("/usr/share/doc")
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")
DEBIAN_DOCS = {  # name in the library -> source (gzip-compressed when it ends in .gz)
    "gzip-README.txt": "gzip/README.gz",
    "zlib-FAQ.txt": "zlib1g-dev/FAQ.gz",
    "procps-FAQ.txt": "procps/FAQ.gz",
    "ed-README.txt": "ed/README.gz",
    "man-db-FAQ.txt": "man-db/FAQ",
    "base-passwd-README.txt": "base-passwd/README",
}
SIGNS = {
    "museum-hours.png": "CITY MUSEUM\nOPEN TUESDAY TO SUNDAY\nCLOSED ON MONDAYS",
    "pool-rules.png": "SWIMMING POOL\nNO DIVING\nLIFEGUARD ON DUTY",
    "platform-4.png": "PLATFORM 4\nTRAINS TO LEEDS\nEVERY 20 MINUTES",
    "library-notice.png": "PUBLIC LIBRARY\nBOOKS DUE IN 14 DAYS\nQUIET PLEASE",
    "car-wash.png": "CAR WASH\nFULL SERVICE\n12 EUROS",
    "parking.png": "VISITOR PARKING\nMAXIMUM STAY\n2 HOURS",
}
QA_STAMPS = ["animals/mammals/giraffe.png", "animals/marsupials/kangaroo.png", "animals/mammals/cats/tiger.png",
             "food/fruit/pineapple.png", "vehicles/emergency/firetruck.png", "household/dishes/teapot.png",
             "space/planets/6_saturn.png", "animals/birds/owl.png", "animals/mammals/bears/bear.png",
             "food/fruit/banana.png", "vehicles/flight/planes/747.png", "household/tools/hammer.png",
             "plants/trees/palm_tree.png", "sports/ball/soccer_ball.png"]
# Spoken English descriptions (``<stem>_desc.ogg``); the ones with an attribute carry QA questions.
SPOKEN = ["animals/marsupials/kangaroo.png", "animals/birds/hen.png", "animals/mammals/wildboar.png",
          "animals/birds/tucan.png", "animals/mammals/rodents/beaver.png", "animals/mammals/bovines/yak.png",
          "animals/birds/seagull.png", "animals/mammals/aquatic/dolphin.png", "animals/mammals/camel/camel.png",
          "animals/mammals/equines/zebra.png", "animals/mammals/deer/wapiti.png", "animals/birds/owl.png",
          "animals/lizards/iguana.png", "animals/marsupials/koala.png", "animals/mammals/bovines/bison.png",
          "animals/birds/vulture.png", "animals/mammals/ferret.png", "animals/amphibians/frog.png",
          "animals/mammals/apes/chimp.png", "animals/mammals/apes/gorilla.png"]
SOUNDS = ["household/kettle.ogg", "household/vacuum_cleaner.ogg", "household/toilet.ogg",
          "household/tools/hammer.ogg", "household/tools/saw.ogg", "household/Washing-machine.ogg",
          "household/rubberduck.ogg", "hobbies/music/string/violin.ogg", "hobbies/music/string/cello.ogg",
          "hobbies/music/percussion/drumkit.ogg", "hobbies/music/percussion/cymbal_crash.ogg",
          "hobbies/camera_35mm.ogg", "space/apollo_lander.ogg", "symbols/faces/happy.ogg", "symbols/faces/sad.ogg"]


def find_stamp(rel: str) -> Path | None:
    """A stamp by its path under the Tux Paint stamps folder, else the first file of that name."""
    p = STAMPS / rel
    if p.is_file():
        return p
    hits = sorted(STAMPS.rglob(Path(rel).name))
    return hits[0] if hits else None


def stamp_on_white(src: Path, out: Path, side: int = 256) -> None:
    """A transparent cut-out on white, fitted in a square (what a drawing in a folder looks like)."""
    from PIL import Image

    img = Image.open(src).convert("RGBA")
    img.thumbnail((side, side))
    canvas = Image.new("RGBA", (side, side), (255, 255, 255, 255))
    canvas.paste(img, ((side - img.width) // 2, (side - img.height) // 2), img)
    canvas.convert("RGB").save(out)


def sign(text: str, out: Path) -> None:
    """A notice whose only content is text: dark letters on a light board."""
    from PIL import Image, ImageDraw, ImageFont

    lines = text.split("\n")
    img = Image.new("RGB", (640, 90 + 70 * len(lines)), (248, 248, 240))
    draw = ImageDraw.Draw(img)
    size = 42
    while size > 16 and max(draw.textlength(line, font=ImageFont.truetype(str(FONT), size)) for line in lines) > 560:
        size -= 2  # every line inside the board, with a margin OCR needs
    font = ImageFont.truetype(str(FONT), size)
    draw.rectangle([6, 6, img.width - 7, img.height - 7], outline=(20, 40, 90), width=5)
    for i, line in enumerate(lines):
        w = draw.textlength(line, font=font)
        draw.text(((img.width - w) / 2, 45 + i * 70), line, fill=(20, 40, 90), font=font)
    img.save(out)


def _debian(dest: Path) -> dict:
    out = {}
    for name, rel in DEBIAN_DOCS.items():
        src = DOC / rel
        if not src.is_file():
            continue
        raw = gzip.decompress(src.read_bytes()) if src.suffix == ".gz" else src.read_bytes()
        (dest / name).write_bytes(raw)
        out[name] = {"source": str(src)}
    return out


def _test_stamps(dest: Path, n: int) -> dict:
    from xmodal.datasets.tuxpaint import tuxpaint_splits

    test = [p for p in tuxpaint_splits()["test"] if p.image.endswith(".png")]
    by_item: dict[str, dict] = {}
    for p in test:
        by_item.setdefault(p.item_id, {"image": p.image, "descriptions": {}})["descriptions"].setdefault(
            p.language, p.text)
    out = {}
    for i, (item, info) in enumerate(list(by_item.items())[:n]):
        name = f"stamp-{i:03d}.png"
        stamp_on_white(Path(info["image"]), dest / name)
        out[name] = {"item": item, "descriptions": info["descriptions"]}
    return out


def build(dest: Path, parts: tuple[str, ...], stamps: int = 60) -> dict:
    """Write the named ``parts`` under ``dest`` (see the module docstring); returns the manifest
    ``{part: {file name: facts}}``."""
    from xmodal.datasets.tuxpaint import parse_description_file

    manifest: dict[str, dict] = {}
    for part in parts:
        d = dest / part
        d.mkdir(parents=True, exist_ok=True)
        if part == "samples":
            shutil.copytree(SAMPLES, d, dirs_exist_ok=True)  # copy2: mtimes kept, re-runs read nothing
            manifest[part] = {str(p.relative_to(d)): {} for p in sorted(d.rglob("*")) if p.is_file()}
        elif part == "debian":
            manifest[part] = _debian(d)
        elif part == "signs":
            for name, text in SIGNS.items():
                sign(text, d / name)
            manifest[part] = {name: {"text": text} for name, text in SIGNS.items()}
        elif part == "spoken":
            manifest[part] = {}
            for i, rel in enumerate(SPOKEN):
                png = find_stamp(rel)
                clip = png.with_name(png.stem + "_desc.ogg") if png else None
                if clip is None or not clip.is_file():
                    continue
                name = f"spoken-{i:03d}.ogg"
                shutil.copy2(clip, d / name)
                desc = parse_description_file(png.with_suffix(".txt")) if png.with_suffix(".txt").is_file() else {}
                manifest[part][name] = {"item": str(png.relative_to(STAMPS)), "text": desc.get("en", "")}
        elif part == "sounds":
            manifest[part] = {}
            for rel in SOUNDS:
                src = STAMPS / rel
                if src.is_file():
                    shutil.copy2(src, d / src.name)
                    manifest[part][src.name] = {"item": rel}
        elif part == "stamps":
            manifest[part] = _test_stamps(d, stamps)
        elif part == "qa-stamps":
            manifest[part] = {}
            for rel in QA_STAMPS:
                src = find_stamp(rel)
                if src is not None:
                    shutil.copy2(src, d / src.name)
                    manifest[part][src.name] = {"item": rel}
        else:
            raise ValueError(f"mixed media: no part named {part!r}")
    return manifest
