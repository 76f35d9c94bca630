"""Finding the media files under the paths a user names.

The walker only stats files (cheap); hashing and decoding happen later, and only for files whose
size or modification time changed, so re-scanning a large unchanged folder costs one ``stat`` each.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

from xmodal.db.storage import DB_FILE
from xmodal.errors import NotFound
from xmodal.media.kinds import AUDIO_EXTS, IMAGE_EXTS, KINDS, TEXT_EXTS, VIDEO_EXTS

# Extensions the walker picks up (the media layer's), by the kind they usually hold. The kind
# actually stored comes from magic-byte detection; this table only keeps unrelated files out.
EXTENSIONS: dict[str, frozenset[str]] = {"text": TEXT_EXTS, "image": IMAGE_EXTS, "audio": AUDIO_EXTS,
                                         "video": VIDEO_EXTS}
KIND_OF_EXTENSION: dict[str, str] = {ext: kind for kind, exts in EXTENSIONS.items() for ext in exts}
__all__ = ["KINDS", "FileEntry", "scan", "under", "kind_hint", "is_library_folder"]


@dataclass(frozen=True)
class FileEntry:
    """A candidate file: its absolute path and what ``stat`` says (the change signature)."""

    path: str
    size: int
    mtime: float
    kind_hint: str


def kind_hint(path: str | os.PathLike) -> str | None:
    return KIND_OF_EXTENSION.get(Path(path).suffix.lower())


def is_library_folder(path: str | os.PathLike) -> bool:
    """Whether ``path`` is an xmodal database folder (it holds the database file): its files are
    the library's own (thumbnails, index snapshots), never media to index."""
    return (Path(path) / DB_FILE).is_file()


def scan(paths: Iterable[str | os.PathLike], exclude: Iterable[str | os.PathLike] = (),
         on_unsupported: Callable[[str], None] | None = None) -> Iterator[FileEntry]:
    """Yield the supported files under ``paths`` (files or folders), sorted, each once.

    Files of a type xmodal does not read (``README.gz``, ``.docx``) are not yielded; each one's path
    goes to ``on_unsupported`` so the caller can say what it left out instead of dropping it silently.

    Hidden files and folders (a leading dot) are skipped, as are symlinked folders (loops), xmodal
    library folders and everything under ``exclude`` (the library being written: `xmodal index .`
    with the library inside the folder must not index the library's own thumbnails).
    A named path that does not exist raises :class:`NotFound` before anything is yielded.
    """
    paths = list(paths)
    roots = [Path(p).expanduser().resolve() for p in paths]
    for root, given in zip(roots, paths):
        if not root.exists():
            raise NotFound(f"{given}: no such file or folder")
    skip = [str(Path(p).expanduser().resolve()) for p in exclude]
    return _entries(roots, skip, on_unsupported)


def _entries(roots: list[Path], skip: list[str],
             on_unsupported: Callable[[str], None] | None) -> Iterator[FileEntry]:
    seen: set[str] = set()
    for root in roots:
        for path in _walk(root, skip):
            key = str(path)
            if key in seen:
                continue
            seen.add(key)
            hint = kind_hint(path)
            if hint is None:
                if on_unsupported is not None:
                    on_unsupported(key)
                continue
            try:
                st = path.stat()
            except OSError:
                continue  # vanished between listing and stat
            yield FileEntry(key, st.st_size, st.st_mtime, hint)


def _walk(root: Path, skip: list[str]) -> Iterator[Path]:
    if under(str(root), skip):
        return
    if root.is_file():
        yield root
        return
    if is_library_folder(root):
        return
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and not _own_folder(Path(dirpath) / d, skip))
        for name in sorted(filenames):
            if not name.startswith("."):
                yield Path(dirpath) / name


def _own_folder(folder: Path, skip: list[str]) -> bool:
    return under(str(folder), skip) or is_library_folder(folder)


def under(path: str, roots: Iterable[str]) -> bool:
    """Whether ``path`` is one of ``roots`` or inside one of them (for pruning and removal)."""
    for root in roots:
        if path == root or path.startswith(root.rstrip(os.sep) + os.sep):
            return True
    return False
