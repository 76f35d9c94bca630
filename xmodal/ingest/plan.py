"""Incremental indexing: decide, per scanned file, whether it needs encoding at all.

The collection is the source of truth: every item row records the files it came from with their
size and mtime. A file whose signature is unchanged is skipped without reading it; otherwise it is
hashed, and only content never seen before is decoded and encoded. Content already stored under
another name is attached to that item (duplicates are stored once with all their paths).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping

from xmodal.ingest.files import FileEntry, under

__all__ = ["StoredFile", "StoredState", "Plan", "make_plan"]


@dataclass(frozen=True)
class StoredFile:
    item_id: str
    size: int
    mtime: float


@dataclass
class StoredState:
    """What the library already holds: path -> (item, signature) and item -> its paths."""

    by_path: dict[str, StoredFile] = field(default_factory=dict)
    paths_of: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def from_items(cls, items: Iterable[tuple[str, Mapping[str, Mapping]]]) -> "StoredState":
        """Build from ``(item_id, files)`` pairs where ``files`` maps path -> {size, mtime}."""
        state = cls()
        for item_id, files in items:
            state.paths_of[item_id] = list(files)
            for path, sig in files.items():
                state.by_path[path] = StoredFile(item_id, int(sig["size"]), float(sig["mtime"]))
        return state


@dataclass
class Plan:
    unchanged: list[FileEntry] = field(default_factory=list)
    # content hash -> the files holding it (first one is the item's main path); to decode + encode.
    encode: dict[str, list[FileEntry]] = field(default_factory=dict)
    # existing item -> files to (re)attach to it: duplicates, renames, touched-but-same content.
    attach: dict[str, list[FileEntry]] = field(default_factory=dict)
    # path -> the item it must leave once its new content is safely written (changed files).
    detach: dict[str, str] = field(default_factory=dict)
    # paths to forget: under the scanned roots and gone (only with prune=True), or emptied to 0 bytes.
    removed: list[str] = field(default_factory=list)
    failed: list[tuple[FileEntry, str]] = field(default_factory=list)


def make_plan(entries: Iterable[FileEntry], state: StoredState, hasher: Callable[[str], str],
              roots: Iterable[str] = (), prune: bool = False,
              on_file: Callable[[FileEntry], None] | None = None) -> Plan:
    """Sort scanned files into unchanged / to encode / to attach, hashing only changed ones.

    ``hasher`` may raise ``OSError`` (unreadable file); that file is reported, the rest go on.
    """
    plan = Plan()
    seen: set[str] = set()
    for entry in entries:
        seen.add(entry.path)
        if on_file is not None:
            on_file(entry)
        known = state.by_path.get(entry.path)
        if known is not None and known.size == entry.size and known.mtime == entry.mtime:
            plan.unchanged.append(entry)
            continue
        if entry.size == 0:  # nothing to decode; and all empty files would share one hash
            plan.failed.append((entry, f"{entry.path}: empty file (0 bytes)"))
            if known is not None:  # it held content before: that content no longer is this file's
                plan.removed.append(entry.path)
            continue
        try:
            digest = hasher(entry.path)
        except OSError as exc:
            plan.failed.append((entry, f"cannot read: {exc.strerror or exc}"))
            continue
        if known is not None and known.item_id == digest:
            plan.attach.setdefault(digest, []).append(entry)  # touched, same bytes: refresh signature
            continue
        if known is not None:
            plan.detach[entry.path] = known.item_id
        if digest in state.paths_of:
            plan.attach.setdefault(digest, []).append(entry)
        else:
            plan.encode.setdefault(digest, []).append(entry)
    if prune:
        root_list = list(roots)
        plan.removed += sorted(p for p in state.by_path if p not in seen and under(p, root_list))
    return plan
