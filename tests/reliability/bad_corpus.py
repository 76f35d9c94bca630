"""The bad-input corpus: every class of broken or hostile file a user's folder can hold.

``build(folder)`` writes the files and returns {file name: the input class it stands for}.
`scripts/make_bad_inputs.py` writes the same corpus to a folder of your choice.
"""
from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

from PIL import Image


def _png_bytes(size=(32, 32), color=(200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
    return buf.getvalue()


def _jpeg_bytes() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 120, 200)).save(buf, "JPEG")
    return buf.getvalue()


def _bomb_png(side: int = 40_000) -> bytes:
    """A valid PNG header that declares side x side pixels (1.6 gigapixels) in a few KB."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)  # 8-bit greyscale
    row = b"\x00" + b"\x00" * side
    comp = zlib.compressobj(9)
    body = b"".join(comp.compress(row) for _ in range(64)) + comp.flush()  # a few rows only: truncated stream
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def _wav_header_only() -> bytes:
    return b"RIFF" + struct.pack("<I", 36 + 1_000_000) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, 16000, 32000, 2, 16) \
        + b"data" + struct.pack("<I", 1_000_000)


CORPUS = {
    # images
    "truncated.jpg": ("truncated image", lambda: _jpeg_bytes()[:200]),
    "zero.png": ("zero-byte file", lambda: b""),
    "bomb.png": ("decompression bomb", _bomb_png),
    "bad_crc.png": ("corrupt image (bad chunk data)", lambda: _png_bytes()[:40] + b"\xff" * 60 + _png_bytes()[100:]),
    "garbage.gif": ("corrupt image (garbage after GIF magic)", lambda: b"GIF89a" + bytes(range(256)) * 4),
    "not_svg.svg": ("corrupt SVG (not XML)", lambda: b"<svg <<<< this is not xml"),
    # audio / video
    "header_only.wav": ("corrupt audio (header, no samples)", _wav_header_only),
    "random.ogg": ("corrupt audio (random bytes)", lambda: b"OggS" + bytes((i * 37) % 256 for i in range(5000))),
    "zero.mp3": ("zero-byte audio", lambda: b""),
    "truncated.mp4": ("corrupt video (truncated container)", lambda: b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100),
    "garbage.mkv": ("corrupt video (random bytes)", lambda: b"\x1a\x45\xdf\xa3" + bytes((i * 91) % 256 for i in range(4000))),
    # documents
    "broken.pdf": ("PDF that fails to parse", lambda: b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\ngarbage garbage\n%%EOF"),
    "empty.pdf": ("zero-byte PDF", lambda: b""),
    "malformed.html": ("HTML the parser chokes on (found by atheris)", lambda: b"<![\xac\n\x06"),
    "binary_named.txt": ("binary file named .txt", lambda: bytes(range(256)) * 64),
}

# Files that are odd but legitimate: they must be indexed, not refused.
ACCEPTED = {
    "invalid_utf8.txt": ("text with invalid UTF-8 bytes", lambda: "caf\u00e9 menu: ".encode() + b"\xff\xfe\xc3(" + b" espresso and cake\n"),
    "text_named.jpg": ("mislabelled file (text named .jpg): indexed as text by its content",
                       lambda: b"just some words about a lighthouse, not an image\n" * 5),
}


def huge_text(path: Path, size: int) -> None:
    """A text file larger than the configured limit (written sparsely-fast, still real bytes)."""
    line = b"lorem ipsum dolor sit amet " * 40 + b"\n"
    with path.open("wb") as f:
        written = 0
        while written < size:
            f.write(line)
            written += len(line)


def build(folder: Path, include_accepted: bool = True) -> dict[str, str]:
    folder.mkdir(parents=True, exist_ok=True)
    classes = {}
    items = {**CORPUS, **(ACCEPTED if include_accepted else {})}
    for name, (what, make) in items.items():
        (folder / name).write_bytes(make())
        classes[name] = what
    return classes
