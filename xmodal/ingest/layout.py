"""The library's row model, in one place: what a row is, how it is keyed, what its payload holds.

One row per item, keyed by the content hash of its bytes (the same bytes under two names are one
item with two paths). Each item may have child rows -- text chunks, OCR blocks, video frames,
transcript segments -- keyed ``<hash>:<n>``, pointing at their item through the ``parent`` payload
field, carrying their evidence (``time``, ``end``, ``text``) and a copy of the item's filterable
fields (so ``where`` filters select children too). Everything that reads or writes rows (the
indexer, search, the read API of :class:`~xmodal.ingest.library.Library`) goes through these names;
nothing above ``xmodal.ingest`` needs to know them.
"""
from __future__ import annotations

import enum
import hashlib
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from xmodal.config import cache_dir
from xmodal.db import locate
from xmodal.errors import InvalidInput
from xmodal.ingest.files import KINDS

__all__ = ["Role", "ROLE", "PARENT", "PAYLOAD_SCHEMA", "INHERITED", "SIDE_FOLDER", "TRUNCATION_MARK",
           "ROW_MODEL_FIELDS", "child_id", "item_of", "role_of", "is_item", "ITEM_ROWS", "children_of", "row_filter",
           "item_filter", "parse_kinds", "positive_k", "base_payload", "item_payload", "child_payload", "files_patch",
           "side_folder", "main_field"]


class Role(enum.StrEnum):
    """What a row stands for: the item itself, or one piece of it."""

    ITEM = "item"
    CHUNK = "chunk"    # a passage of a document
    OCR = "ocr"        # a block of text read off a picture
    FRAME = "frame"    # a video frame
    SPEECH = "speech"  # a transcript segment
    SOUND = "sound"    # what an audio file or a video's sound track sounds like (xmodal.ingest.sound)


ROLE = "role"  # payload key: the row's Role
PARENT = "parent"  # payload key of a child row: its item's id
PAYLOAD_SCHEMA: dict[str, str] = {
    "path": "str", "paths": "list[str]", "name": "str", "kind": "str", "mime": "str", "size": "int",
    "hash": "str", "mtime": "float", "width": "int", "height": "int", "duration": "float",
    "language": "str", "thumbnail": "str", PARENT: "str", ROLE: "str", "time": "float",
    "end": "float", "text": "str", "files": "json", "indexed_at": "float",
}
# Item-level fields copied onto child rows so filters (`where`) select chunks / frames too.
INHERITED = ("path", "paths", "name", "kind", "mime", "size", "hash", "mtime", "width", "height",
             "duration", "language")
SIDE_FOLDER = "_ingest"  # inside a local library folder: what lives beside the vector database
TRUNCATION_MARK = "…"  # ends a row's evidence text that was cut short (the whole passage is in the store)
ITEM_ROWS: dict[str, str] = {ROLE: Role.ITEM.value}  # the filter that selects item rows only
# The row model's own bookkeeping in a payload (which row this is, where its files were seen):
# of no meaning to a reader of an item.
ROW_MODEL_FIELDS = (ROLE, PARENT, "files", "indexed_at")


# ----------------------------------------------------------------------------- ids and roles
def child_id(item_id: str, n: int) -> str:
    """The id of an item's ``n``-th child row (1-based)."""
    return f"{item_id}:{n}"


def item_of(row_id: str, payload: Mapping[str, Any] | None) -> str:
    """The id of the item a row belongs to (its own id for an item row)."""
    return (payload or {}).get(PARENT) or row_id


def role_of(payload: Mapping[str, Any] | None) -> Role:
    return Role((payload or {}).get(ROLE, Role.ITEM.value))


def is_item(payload: Mapping[str, Any] | None) -> bool:
    return role_of(payload) is Role.ITEM


def main_field(kind: str, fields: Sequence[str]) -> str | None:
    """The vector field that carries what an item is: its picture for images and videos, else its
    text; whichever it has when it lacks that one."""
    order = ("visual", "text") if kind in ("image", "video") else ("text", "visual")
    return next((f for f in (*order, *fields) if f in fields), None)


# ----------------------------------------------------------------------------- filters
def children_of(item_ids: Sequence[str]) -> dict:
    """The filter selecting the child rows of ``item_ids``."""
    return {PARENT: {"$in": list(item_ids)}}


def _and(parts: list[dict]) -> dict | None:
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else {"$and": parts}


def row_filter(kinds: Sequence[str] | None, where: Mapping | None) -> dict | None:
    """Rows of any role whose item is of ``kinds`` and passes ``where`` (None: every row)."""
    return _and(([{"kind": {"$in": list(kinds)}}] if kinds else []) + ([dict(where)] if where else []))


def item_filter(kinds: Sequence[str] | None = None, where: Mapping | None = None) -> dict:
    """Item rows of ``kinds`` that pass ``where``."""
    rest = row_filter(kinds, where)
    return dict(ITEM_ROWS) if rest is None else {"$and": [dict(ITEM_ROWS), rest]}


# ----------------------------------------------------------------------------- argument checks
def parse_kinds(kind: str | Sequence[str] | None) -> list[str] | None:
    """``"image,text"``, ``["image"]`` or ``["image,text", "audio"]`` (a repeated query parameter)
    -> a checked list of kinds (None: every kind)."""
    if kind is None:
        return None
    items = [kind] if isinstance(kind, str) else [str(k) for k in kind]
    kinds = [k.strip() for item in items for k in item.split(",") if k.strip()]
    bad = [k for k in kinds if k not in KINDS]
    if bad:
        raise InvalidInput(f"kind {bad[0]!r} is not one of {', '.join(KINDS)}")
    return kinds or None


def positive_k(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k <= 0:
        raise InvalidInput(f"k must be a positive integer, got {k!r}")
    return int(k)


# ----------------------------------------------------------------------------- payloads
def _drop_none(d: Mapping[str, Any]) -> dict:
    return {k: v for k, v in d.items() if v is not None}


def item_payload(base: Mapping[str, Any], files: Mapping[str, Mapping], indexed_at: float,
                 evidence: Mapping[str, Any]) -> dict:
    """An item row: its filterable ``base`` fields, ``files`` = {path: {size, mtime}} (the
    incremental state), when it was indexed, and its own evidence (thumbnail, time, end, text)."""
    return {**base, ROLE: Role.ITEM.value, "files": dict(files), "indexed_at": indexed_at, **_drop_none(evidence)}


def child_payload(base: Mapping[str, Any], role: str, item_id: str, evidence: Mapping[str, Any]) -> dict:
    """A child row: the item's filterable fields, its role, its item, its evidence (time, end, text; a
    transcript segment's ``asr_logprob``)."""
    return {**base, ROLE: Role(role).value, PARENT: item_id, **_drop_none(evidence)}


def base_payload(digest: str, paths: Sequence[str], size: int, mtime: float, kind: str, mime: str,
                 meta: Mapping[str, Any]) -> dict:
    """The item-level fields every row of an item carries (see ``INHERITED``)."""
    return _drop_none({
        "path": paths[0], "paths": list(paths), "name": Path(paths[0]).name, "kind": kind, "mime": mime,
        "size": size, "hash": digest, "mtime": mtime, "width": meta.get("width"), "height": meta.get("height"),
        "duration": meta.get("duration"), "language": meta.get("language")})


def files_patch(files: Mapping[str, Mapping]) -> dict:
    """The payload update of an item whose set of files changed (the first path, sorted, is its
    main one); children take it all but ``files``."""
    paths = sorted(files)
    main = paths[0]
    return {"files": dict(files), "paths": paths, "path": main, "name": Path(main).name,
            "size": int(files[main]["size"]), "mtime": float(files[main]["mtime"])}


# ----------------------------------------------------------------------------- where things live
def side_folder(uri: str) -> Path:
    """Where a library keeps what lives beside its vector database (keyword index, failure log,
    thumbnails): inside a local library folder, beside a Milvus Lite file, or (for a Milvus server)
    in the user's cache, keyed by the address."""
    where = locate(uri)
    if where.embedded:
        return where.path / SIDE_FOLDER
    if where.path is not None:  # Milvus Lite: beside its file
        return Path(f"{where.path}.xmodal")
    return cache_dir() / "libraries" / hashlib.sha1(uri.encode()).hexdigest()[:16]
