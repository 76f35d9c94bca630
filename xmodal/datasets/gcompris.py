"""Real photographs with descriptions in up to 37 languages: a photo validation set (``photos-val``).

Tux Paint, emoji and Open Clip Art are all drawings; a model chosen only on drawings can get
worse on photographs without anyone noticing. GCompris (Debian ``gcompris-qt-data``, GPL-3;
the photos themselves come from Wikimedia Commons under their own free licences, see
:func:`attribution`) ships "explore" activities whose data are Wikimedia photographs, each with
a title and a short description (one to three sentences of facts about what is shown),
translated through Qt's ``.qm`` catalogues. Those, plus the scikit-image sample photographs
with captions written here, form ``photos-val``: a set for *choosing* between models, never
for training.

The data sit in Qt resource bundles (``.rcc``) and Qt translation catalogues (``.qm``); both
binary formats are read here in pure Python (no Qt needed) and the photos are extracted once
into the cache folder.
"""
from __future__ import annotations

import hashlib
import json
import re
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

from xmodal.config import cache_dir
from xmodal.errors import InvalidInput, NotFound
from xmodal.datasets.pairs import Pair
from xmodal.datasets.tuxpaint import normalize_language

GCOMPRIS_DIR = Path("/usr/share/gcompris-qt")
DEBIAN_COPYRIGHT = "/usr/share/doc/gcompris-qt-data/copyright"

# --- Qt resource files (.rcc) -------------------------------------------------------------
# Layout (qtbase src/tools/rcc/rcc.cpp, src/corelib/io/qresource.cpp): a header
# "qres", version, offsets of tree / data / names (all big-endian u32) and, from version 3,
# overall flags. The tree is an array of fixed-size nodes (14 bytes, plus an 8-byte mtime from
# version 2); node 0 is the root. A directory node gives its child count and the index of its
# first child; a file node gives the offset of its data ("u32 size, bytes"). Names are
# "u16 length, u32 hash, UTF-16BE".
_RCC_COMPRESSED, _RCC_DIRECTORY, _RCC_ZSTD = 0x01, 0x02, 0x04


def read_rcc(path: str | Path) -> dict[str, bytes]:
    """Every file in a Qt binary resource bundle: ``"activity/x/y.png"`` → decompressed bytes."""
    path = Path(path)
    try:
        return _read_rcc(path, path.read_bytes())
    except (struct.error, zlib.error, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path}: damaged Qt resource file ({exc})") from exc


def _read_rcc(path: Path, blob: bytes) -> dict[str, bytes]:
    if len(blob) < 20 or blob[:4] != b"qres":
        raise InvalidInput(f"{path}: not a Qt resource file (no 'qres' header)")
    version, tree, data, names = struct.unpack_from(">IIII", blob, 4)
    if version not in (1, 2, 3):
        raise InvalidInput(f"{path}: unsupported rcc format version {version}")
    node_size = 14 if version == 1 else 22

    def name_at(offset: int) -> str:
        (length,) = struct.unpack_from(">H", blob, names + offset)
        start = names + offset + 6
        return blob[start:start + 2 * length].decode("utf-16-be")

    def payload(offset: int, flags: int, where: str) -> bytes:
        (size,) = struct.unpack_from(">I", blob, data + offset)
        raw = blob[data + offset + 4:data + offset + 4 + size]
        if len(raw) != size:
            raise InvalidInput(f"{path}: {where} runs past the end of the file (damaged Qt resource file)")
        if flags & _RCC_ZSTD:
            raise InvalidInput(f"{path}: {where} is zstd-compressed, which this reader does not handle")
        if flags & _RCC_COMPRESSED:  # qCompress: u32 expected size, then a zlib stream
            (expected,) = struct.unpack_from(">I", raw, 0)
            out = zlib.decompress(raw[4:])
            if len(out) != expected:
                raise InvalidInput(f"{path}: {where} decompressed to {len(out)} bytes, header says {expected}")
            return out
        return raw

    files: dict[str, bytes] = {}
    stack: list[tuple[int, str]] = [(0, "")]
    seen: set[int] = set()
    while stack:
        index, prefix = stack.pop()
        if index in seen:
            raise InvalidInput(f"{path}: resource tree has a cycle at node {index}")
        seen.add(index)
        at = tree + index * node_size
        name_offset, flags = struct.unpack_from(">IH", blob, at)
        name = "" if index == 0 else name_at(name_offset)
        full = f"{prefix}/{name}" if prefix else name
        if flags & _RCC_DIRECTORY:
            count, first = struct.unpack_from(">II", blob, at + 6)
            stack.extend((first + k, full) for k in range(count))
        else:
            (data_offset,) = struct.unpack_from(">I", blob, at + 10)
            files[full] = payload(data_offset, flags, full)
    return files


# --- Qt translation catalogues (.qm) -------------------------------------------------------
# A magic number, then sections (u8 tag, u32 length). The Messages section (0x69) is a run of
# messages, each a run of tagged fields closed by tag 1 (qtbase src/corelib/kernel/qtranslator.cpp):
# translation (3, UTF-16BE; repeated for plural forms, the first is kept; length 0xFFFFFFFF
# means "untranslated"), source text (6, UTF-8), context (7), comment (8), each "u32 length,
# bytes"; tag 5 is an obsolete 4-byte field, tags 2 / 4 old UTF-16 source / context fields.
_QM_MAGIC = bytes.fromhex("3cb86418caef9c95cd211cbf60a1bddd")
_QM_MESSAGES = 0x69
_QM_END, _QM_TRANSLATION, _QM_OBSOLETE1 = 1, 3, 5
_QM_TEXT_FIELDS = {2: "source16", 4: "context16", 6: "source", 7: "context", 8: "comment"}


def read_qm(path: str | Path) -> dict[tuple[str, str], str]:
    """``(context, source text)`` → translation for every translated message of a ``.qm`` file."""
    path = Path(path)
    blob = path.read_bytes()
    try:
        return _read_qm(path, blob)
    except (struct.error, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path}: damaged Qt translation file ({exc})") from exc


def _read_qm(path: Path, blob: bytes) -> dict[tuple[str, str], str]:
    if blob[:16] != _QM_MAGIC:
        raise InvalidInput(f"{path}: not a Qt translation file (bad magic number)")
    pos, messages = 16, b""
    while pos + 5 <= len(blob):
        tag, length = struct.unpack_from(">BI", blob, pos)
        if tag == _QM_MESSAGES:
            messages = blob[pos + 5:pos + 5 + length]
        pos += 5 + length
    out: dict[tuple[str, str], str] = {}
    pos, fields, translation = 0, {}, None
    while pos < len(messages):
        tag = messages[pos]
        pos += 1
        if tag == _QM_END:
            source = fields.get("source") or fields.get("source16") or ""
            context = fields.get("context") or fields.get("context16") or ""
            if translation and source:
                out.setdefault((context, source), translation)
            fields, translation = {}, None
        elif tag == _QM_OBSOLETE1:
            pos += 4
        elif tag == _QM_TRANSLATION or tag in _QM_TEXT_FIELDS:
            (length,) = struct.unpack_from(">I", messages, pos)
            pos += 4
            if length == 0xFFFFFFFF:
                continue
            raw = messages[pos:pos + length]
            pos += length
            if tag == _QM_TRANSLATION:
                translation = translation or raw.decode("utf-16-be", errors="replace")
            else:
                name = _QM_TEXT_FIELDS[tag]
                fields[name] = raw.decode("utf-16-be" if name.endswith("16") else "utf-8", errors="replace")
        else:
            raise InvalidInput(f"{path}: unknown message field tag {tag} at byte {pos - 1} of the messages section")
    return out


# --- GCompris photographs ------------------------------------------------------------------
# Activities whose pictures are photographs with a sentence about each, and the zero-shot
# category of their photos. Other activities with .webp files were looked at and left out:
# drawings (lang, babymatch, clickgame fish), paintings (paintings, the Van Gogh boards of
# details), photos without a caption (categorization, erase, babyshapes), planet renderings
# (solar_system).
ACTIVITIES = {
    "explore_monuments": "building",
    "explore_world_animals": "animal",
    "explore_farm_animals": "animal",
    "explore_world_music": "people playing music",
    "details": "building",
}
_RESOURCE = "gcompris/src/activities/{}/resource/"
_FORMAT_VERSION = 1  # bump when the extraction below changes, so caches are rebuilt
_FIELD = re.compile(r'"(\w+)"\s*:\s*(qsTr\(\s*)?"((?:[^"\\]|\\.)*)"')
_BLOCK = re.compile(r"\{[^{}]*\}")
_INSTRUCTION = re.compile(r'property\s+string\s+instruction\s*:\s*qsTr\(\s*"((?:[^"\\]|\\.)*)"\s*\)')
_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|.)")
_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r"}


@dataclass(frozen=True)
class GcomprisPhoto:
    """One extracted photograph: its English title and description plus their translations."""

    resource: str  # path inside the activity's .rcc, e.g. gcompris/src/activities/x/resource/y.webp
    image: str  # the extracted file in the cache
    activity: str
    category: str
    title: str
    texts: dict[str, str]  # language → description ("en" from the source strings)
    attribution: dict[str, str]  # Copyright / License / Source / Comment from the activity's README


def _unescape(literal: str) -> str:
    """A QML string literal's body as the text lupdate stored (the .qm source text)."""
    def one(m: re.Match) -> str:
        esc = m.group(1)
        return chr(int(esc[1:], 16)) if esc[0] == "u" and len(esc) == 5 else _SIMPLE_ESCAPES.get(esc, esc)
    return _ESCAPE.sub(one, literal)


def _readme_attributions(files: dict[str, bytes]) -> dict[str, dict[str, str]]:
    """Resource path → licence fields, from the ``README`` files listing each picture's author."""
    out: dict[str, dict[str, str]] = {}
    for path, data in files.items():
        if not path.endswith("/README"):
            continue
        folder = path.rsplit("/", 1)[0]
        for block in re.split(r"\n\s*\n", data.decode("utf-8", errors="replace")):
            fields: dict[str, str] = {}
            names: list[str] = []
            key = ""
            for line in block.splitlines():
                m = re.match(r"^(Copyright|License|Source|Comment|Files):\s*(.*)$", line)
                if m:
                    key = m.group(1)
                    if key == "Files":
                        names += m.group(2).split()
                    else:
                        fields[key.lower()] = m.group(2).strip()
                elif line.strip() and (key == "Files" or "." in line.strip() and " " not in line.strip()):
                    names.append(line.strip())
                elif line.strip() and key:
                    fields[key.lower()] = f"{fields.get(key.lower(), '')} {line.strip()}".strip()
            for name in names:
                out[f"{folder}/{name}"] = fields
    return out


def _captions(activity: str, files: dict[str, bytes]) -> list[tuple[str, str, str, str]]:
    """(resource, qsTr context, title, English description) for each captioned photograph."""
    base = _RESOURCE.format(activity)
    found: list[tuple[str, str, str, str]] = []
    for path in sorted(p for p in files if p.startswith(base + "board/") and p.endswith(".qml")):
        context = path.rsplit("/", 1)[1][:-len(".qml")]
        text = files[path].decode("utf-8")
        if activity == "details":  # one photo per board: the background, captioned by the instruction
            m = _INSTRUCTION.search(text)
            bg = re.search(r'"pixmapfile"\s*:\s*"([^"]+)"\s*,\s*"type"\s*:\s*"SHAPE_BACKGROUND_IMAGE"', text)
            if m and bg:
                caption = _unescape(m.group(1))
                found.append((base + bg.group(1), context, caption, caption))
            continue
        for block in _BLOCK.findall(text):
            fields = {m.group(1): (_unescape(m.group(3)), bool(m.group(2))) for m in _FIELD.finditer(block)}
            if "image2" in fields and fields.get("text", ("", False))[1]:
                found.append((fields["image2"][0].removeprefix("qrc:/"), context,
                              fields.get("title", ("", False))[0], fields["text"][0]))
    return found


def _is_photograph(attribution: dict[str, str]) -> bool:
    """The READMEs say "based on an original painting" for the Van Gogh boards of ``details``."""
    return "painting" not in attribution.get("comment", "").lower()


def _catalogues(root: Path) -> dict[str, Path]:
    """Language code (Tux Paint style: fr, pt-BR, zh-TW) → .qm file; English comes from the source."""
    out = {}
    for qm in sorted((root / "translations").glob("gcompris_*.qm")):
        code = normalize_language(qm.stem[len("gcompris_"):])
        if code != "en":
            out[code] = qm
    return out


def _cache_key(root: Path) -> str:
    h = hashlib.sha256(f"v{_FORMAT_VERSION}".encode())
    for f in [*(root / "rcc" / f"{a}.rcc" for a in sorted(ACTIVITIES)), *_catalogues(root).values()]:
        st = f.stat()
        h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def _extract(root: Path, folder: Path) -> list[dict]:
    catalogues = {code: read_qm(path) for code, path in _catalogues(root).items()}
    records: list[dict] = []
    seen: set[str] = set()
    for activity, category in ACTIVITIES.items():
        files = read_rcc(root / "rcc" / f"{activity}.rcc")
        credits = _readme_attributions(files)
        for resource, context, title, description in _captions(activity, files):
            if resource in seen:
                continue
            if resource not in files:
                raise InvalidInput(f"GCompris {activity}: {context}.qml names {resource!r}, "
                                   f"which is not in {activity}.rcc")
            credit = credits.get(resource, {})
            if not _is_photograph(credit):
                continue
            seen.add(resource)
            texts = {"en": description}
            for code, catalogue in catalogues.items():
                translated = catalogue.get((context, description))
                if translated and translated.strip():
                    texts[code] = translated.strip()
            target = folder / resource
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(files[resource])
            records.append({"resource": resource, "activity": activity, "category": category,
                            "title": title, "texts": texts, "attribution": credit})
    return records


def gcompris_photos(root: str | Path = GCOMPRIS_DIR, cache: str | Path | None = None) -> list[GcomprisPhoto]:
    """Every captioned GCompris photograph, extracted once into ``cache`` (default: the xmodal cache).

    The cache folder is keyed on the package files' sizes and times, so an upgrade of
    ``gcompris-qt-data`` re-extracts; later calls only read a small JSON index.
    """
    root = Path(root)
    if not (root / "rcc").is_dir():
        raise NotFound(f"GCompris data folder {str(root / 'rcc')!r} does not exist: apt-get install gcompris-qt-data")
    folder = Path(cache or cache_dir() / "gcompris") / _cache_key(root)
    index = folder / "photos.json"
    if not index.is_file():
        records = _extract(root, folder)
        tmp = index.with_suffix(".tmp")
        tmp.write_text(json.dumps(records, ensure_ascii=False, indent=1), encoding="utf-8")
        tmp.replace(index)
    records = json.loads(index.read_text(encoding="utf-8"))
    return [GcomprisPhoto(image=str(folder / r["resource"]), **r) for r in records]


def attribution(photo: GcomprisPhoto) -> str:
    """A credit line for one photograph (author, licence, Wikimedia source) as its README gives it."""
    a = photo.attribution
    if not a:  # one photo (aulaPalatina.webp) has no README entry
        return (f"{photo.title or photo.resource}: no credit in the activity's README; covered by "
                f"{DEBIAN_COPYRIGHT} (Files: *, GPL-3+)")
    parts = [a.get("copyright", "unknown author"), a.get("license", "licence not stated")]
    if a.get("source"):
        parts.append(a["source"])
    elif a.get("comment"):
        parts.append(a["comment"])
    return f"{photo.title or photo.resource}: " + "; ".join(parts)


def load_gcompris_photos(languages: list[str] | None = None, cache: str | Path | None = None,
                         root: str | Path = GCOMPRIS_DIR) -> list[Pair]:
    """One :class:`Pair` per (photo, language that translates its description); item ``gcompris:<resource>``."""
    pairs: list[Pair] = []
    for photo in gcompris_photos(root, cache):
        for lang, text in photo.texts.items():
            if languages is None or lang in languages:
                pairs.append(Pair(image=photo.image, text=text, language=lang, group=f"gcompris/{photo.activity}",
                                  category=photo.category, item=f"gcompris:{photo.resource}"))
    return pairs


# --- scikit-image sample photographs -----------------------------------------------------
# File in skimage/data → (caption written for this set, zero-shot category). Only the
# photographs: synthetic pictures (colour wheel, phantom, chessboard, logo) and the blurred
# clock are left out.
SKIMAGE_PHOTOS = {
    "astronaut.png": ("a smiling astronaut in an orange spacesuit holding her helmet, an American flag behind her",
                      "person"),
    "camera.png": ("a black and white photo of a man looking through a camera on a tripod in a park", "person"),
    "chelsea.png": ("close-up of the face of a tabby cat looking at the camera", "animal"),
    "coffee.png": ("a cup of coffee on a red saucer with a spoon, on a wooden table", "food"),
    "rocket.jpg": ("a rocket standing on its launch pad between towers at dusk", "vehicle"),
    "motorcycle_left.png": ("a red motorcycle parked in a garage with shelves of boxes behind it", "vehicle"),
    "coins.png": ("rows of old silver coins on a dark background", "object"),
    "moon.png": ("the grey cratered surface of the Moon", "space"),
    "hubble_deep_field.jpg": ("many small colourful galaxies on a black sky, a deep field telescope image", "space"),
    "text.png": ("handwritten numbers and sums on a sheet of paper", "writing"),
    "grass.png": ("a black and white close-up of grass", "nature"),
    "gravel.png": ("a black and white close-up of gravel", "nature"),
    "brick.png": ("a black and white photo of a brick wall", "building"),
    "retina.jpg": ("the retina at the back of a human eye, with its blood vessels", "medicine"),
    "ihc.png": ("a microscope image of stained tissue cells", "medicine"),
}


def load_skimage_photos() -> list[Pair]:
    """The scikit-image sample photographs (public domain / CC0, see skimage/data/README.txt), in English."""
    try:
        import skimage.data
    except ImportError as exc:
        raise NotFound("scikit-image is not installed (pip install 'xmodal[train]')") from exc
    folder = Path(skimage.data.__file__).parent
    pairs = []
    for name, (caption, category) in SKIMAGE_PHOTOS.items():
        image = folder / name
        if not image.is_file():
            raise NotFound(f"scikit-image sample photo {name!r} is missing from {str(folder)!r}")
        pairs.append(Pair(image=str(image), text=caption, language="en", group="skimage",
                          category=category, item=f"skimage:{name}"))
    return pairs


def photo_validation_pairs(languages: list[str] | None = None, cache: str | Path | None = None) -> list[Pair]:
    """``photos-val``: GCompris and scikit-image photographs, for choosing models on real photos.

    Tux Paint stamps are left out: its few photographic stamps cannot be told from drawings
    reliably without looking, and the test split must stay untouched anyway.
    """
    pairs = load_gcompris_photos(languages, cache)
    if languages is None or "en" in languages:
        pairs += load_skimage_photos()
    return pairs
