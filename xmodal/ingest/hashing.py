"""Content hashes: the identity of an item, so one file under several names is stored once."""
from __future__ import annotations

import hashlib
import os

from xmodal.config import CONFIG

__all__ = ["HASH_HEX_CHARS", "content_hash"]

HASH_HEX_CHARS = 32  # 128-bit BLAKE2b: collisions are not a practical concern for a media library


def content_hash(path: str | os.PathLike) -> str:
    """Hex BLAKE2b-128 of the file's bytes, read in blocks so large videos need no memory."""
    h = hashlib.blake2b(digest_size=HASH_HEX_CHARS // 2)
    with open(path, "rb") as f:
        while block := f.read(CONFIG.ingest.hash_block_bytes):
            h.update(block)
    return h.hexdigest()
