"""Decode any image a user may drop in a folder into a safe, upright RGB ``PIL.Image``.

Why a wrapper around ``PIL.Image.open``: real folders hold phone photos with EXIF rotation,
animated GIFs, SVG drawings, palette PNGs with transparency, truncated downloads and
decompression bombs. Every caller (the towers, ingestion, the server's thumbnails) must see the
same upright RGB pixels and the same typed errors.
"""
from __future__ import annotations

import io
import math
import os
from pathlib import Path
from typing import Union

from PIL import Image, ImageOps, UnidentifiedImageError

from xmodal._optional import require
from xmodal.config import MediaConfig
from xmodal.errors import MediaError
from xmodal.media.files import read_file

__all__ = ["ImageInput", "SVG_SIGNATURES", "HEIF_BRANDS", "load_image"]

ImageInput = Union[str, os.PathLike, Image.Image]

SVG_SIGNATURES = (b"<svg", b"<?xml")


# ISO-BMFF brands of HEIF stills (iPhone photos are HEIC).
HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1")
_HEIF_READY = False


def _register_heif() -> None:
    """Teach Pillow HEIC/HEIF through pillow-heif, only once a HEIF file is actually met."""
    global _HEIF_READY
    if not _HEIF_READY:
        require("pillow_heif", "media", "pillow-heif").register_heif_opener()
        _HEIF_READY = True


def _is_svg(path: Path, head: bytes) -> bool:
    if path.suffix.lower() in (".svg", ".svgz"):
        return True
    text = head.lstrip()[:512].lower()
    return text.startswith(b"<svg") or (text.startswith(b"<?xml") and b"<svg" in head.lower())


def _rasterise_svg(path: Path, data: bytes, max_side: int, min_side: int) -> Image.Image:
    cairosvg = require("cairosvg", "media")
    try:
        png = cairosvg.svg2png(bytestring=data, output_width=None)
        img = Image.open(io.BytesIO(png))
        if max(img.size) > max_side or min(img.size) < min_side:
            # Re-render at a sensible size rather than resample a tiny or huge raster.
            w, h = img.size
            scale = (max_side if max(img.size) > max_side else min_side) / max(w, h)
            png = cairosvg.svg2png(bytestring=data, output_width=max(1, round(w * scale)),
                                   output_height=max(1, round(h * scale)))
            img = Image.open(io.BytesIO(png))
        img.load()
    except Exception as exc:  # cairosvg raises many unrelated types on bad XML
        raise MediaError(f"{path}: cannot rasterise SVG ({type(exc).__name__}: {exc})") from exc
    return img


def _to_rgb(img: Image.Image) -> Image.Image:
    """Flatten transparency onto white (what a viewer shows) and convert to RGB."""
    if img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info):
        img = img.convert("RGBA")
        background = Image.new("RGB", img.size, (255, 255, 255))
        background.paste(img, mask=img.getchannel("A"))
        return background
    if img.mode != "RGB":
        return img.convert("RGB")
    return img


def load_image(source: ImageInput, *, min_side: int | None = None, max_pixels: int | None = None,
               settings: MediaConfig | None = None) -> Image.Image:
    """Open ``source`` as an upright RGB image.

    ``min_side``: the caller only needs the shorter side to be at least this many pixels (the
    towers need 256); JPEGs are then decoded at a reduced scale with ``draft()``, which is several
    times faster than decoding full size and resizing. ``settings``: the pixel limit (unless
    ``max_pixels`` is given) and the sizes SVGs are rendered at.
    """
    settings = settings or MediaConfig()
    if isinstance(source, Image.Image):
        img = source
        if getattr(img, "is_animated", False):
            img.seek(0)
        return _to_rgb(ImageOps.exif_transpose(img) if hasattr(img, "getexif") else img)
    path = Path(source)
    data = read_file(path)
    if not data:
        raise MediaError(f"{path}: empty file (0 bytes)")
    if _is_svg(path, data[:1024]):
        return _to_rgb(_rasterise_svg(path, data, settings.svg_max_side, settings.svg_min_side))
    if data[4:8] == b"ftyp" and data[8:12] in HEIF_BRANDS:
        _register_heif()
    max_pixels = max_pixels or settings.max_image_pixels
    try:
        img = Image.open(io.BytesIO(data))
        w, h = img.size
        if w * h > max_pixels:
            if img.format == "JPEG":
                # JPEG can be decoded at 1/2, 1/4, 1/8 scale without ever holding the full raster.
                # draft() picks the smallest power-of-two scale >= the size asked for, so asking
                # for half the target guarantees landing under the limit when 1/8 suffices.
                factor = 2 * math.sqrt(w * h / max_pixels)
                img.draft("RGB", (max(1, math.floor(w / factor)), max(1, math.floor(h / factor))))
                if img.size[0] * img.size[1] > max_pixels:
                    raise MediaError(f"{path}: image of {w}x{h} pixels exceeds the limit of {max_pixels}")
            else:
                raise MediaError(f"{path}: image of {w}x{h} pixels exceeds the limit of {max_pixels} "
                                 "(decompression-bomb guard, see MediaConfig.max_image_pixels)")
        elif min_side and img.format == "JPEG" and min(w, h) >= 2 * min_side:
            scale = min_side / min(w, h)
            img.draft("RGB", (max(1, round(w * scale)), max(1, round(h * scale))))
        if getattr(img, "is_animated", False):
            img.seek(0)
        img.load()
        img = ImageOps.exif_transpose(img)
    except MediaError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise MediaError(f"{path}: not a decodable image ({exc})") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise MediaError(f"{path}: corrupt or truncated image ({exc})") from exc
    return _to_rgb(img)
