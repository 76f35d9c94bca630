"""Storing uploaded files: bounded in size, typed by content (magic bytes), named by their hash.

Content-addressed names mean a client-chosen filename never becomes a path on the server and the
same file uploaded twice is stored (and indexed) once.
"""
from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterable

from xmodal.errors import InvalidInput, MediaError, TooLarge
from xmodal.ingest.files import EXTENSIONS
from xmodal.media import detect_kind

_SAFE_SUFFIX = re.compile(r"^\.[A-Za-z0-9]{1,8}$")
_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9._ -]+")
_HASH_DIR_CHARS = 32
_MAX_STEM_CHARS = 100


@dataclass
class SavedUpload:
    """An upload kept as ``<dest>/<content hash>/<sanitised client name>``: unique by content, and
    the library still shows the name the user gave it."""

    name: str      # the client's filename, for display only
    path: Path
    kind: str
    size: int
    new: bool = True  # False when the same bytes were already stored


def detect(path: Path) -> str | None:
    return detect_kind(path)


def receive(stream: BinaryIO, filename: str | None, dest_dir: Path, max_bytes: int, chunk: int,
            allowed_kinds: Iterable[str], existing_ok: bool = True, for_indexing: bool = True) -> SavedUpload:
    """Copy an upload to ``dest_dir/<sha256><suffix>``, refusing oversize or unrecognised content."""
    display = (filename or "upload").replace("\x00", "")[-255:]
    dest_dir.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    fd, tmp_name = tempfile.mkstemp(dir=dest_dir, prefix=".incoming-")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            while True:
                block = stream.read(chunk)
                if not block:
                    break
                size += len(block)
                if size > max_bytes:
                    raise TooLarge(f"file {display!r} exceeds the upload limit of {max_bytes} bytes")
                digest.update(block)
                out.write(block)
        if size == 0:
            raise InvalidInput(f"file {display!r} is empty")
        suffix = Path(display).suffix.lower()
        if not _SAFE_SUFFIX.match(suffix):
            suffix = ""
        # detect_kind tie-breaks on the extension, so type the file under its claimed suffix.
        typed = tmp.with_name(tmp.name + suffix)
        tmp.rename(typed)
        tmp = typed
        kind = detect(tmp)
        allowed = set(allowed_kinds)
        if kind is None or kind not in allowed:
            raise MediaError(f"file {display!r}: content is {'not a recognised media type' if kind is None else kind}; "
                             f"accepted here: {', '.join(sorted(allowed))}")
        if for_indexing:  # the folder walker picks files by extension; a query file is read directly
            suffix = _suffix_for(tmp, kind, suffix, display)
        folder = dest_dir / digest.hexdigest()[:_HASH_DIR_CHARS]
        existing = sorted(folder.glob("*")) if folder.is_dir() else []
        if existing and existing_ok:
            return SavedUpload(name=display, path=existing[0], kind=kind, size=size, new=False)
        folder.mkdir(exist_ok=True)
        final = folder / (_safe_stem(display) + suffix)
        os.replace(tmp, final)
        return SavedUpload(name=display, path=final, kind=kind, size=size)
    finally:
        if tmp.exists():
            tmp.unlink()


def _suffix_for(path: Path, kind: str, claimed: str, display: str) -> str:
    """An extension the indexer recognises for ``kind``: the client's when it fits the content,
    else (images) the decoder's format name; a mismatch that cannot be fixed is refused."""
    known = EXTENSIONS.get(kind, ())
    if claimed in known:
        return claimed
    if kind == "image":
        from PIL import Image

        try:
            with Image.open(path) as im:
                fmt = f".{(im.format or '').lower()}"
        except Exception:  # noqa: BLE001 - SVG and other non-PIL images keep the check below
            fmt = ""
        fmt = {".jpeg": ".jpg", ".tiff": ".tif"}.get(fmt, fmt)
        if fmt in known:
            return fmt
    raise MediaError(f"file {display!r}: its name ends in {claimed or 'no extension'} but its content is {kind}; "
                     f"name it with one of {', '.join(known)}")


def _safe_stem(display: str) -> str:
    """The client's file name reduced to a harmless stem: no separators, no dots at the start."""
    stem = Path(display.replace("\\", "/")).name
    stem = Path(stem).stem if Path(stem).suffix else stem
    stem = _UNSAFE_CHARS.sub("_", stem).strip(" .-_")[:_MAX_STEM_CHARS]
    return stem or "upload"


def discard(path: Path, dest_root: Path) -> None:
    """Delete a stored upload and its hash folder (only ever inside ``dest_root``)."""
    path.unlink(missing_ok=True)
    parent = path.parent
    if parent != dest_root and dest_root in parent.parents:
        try:
            parent.rmdir()
        except OSError:
            pass
