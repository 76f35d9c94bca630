"""Content hashes: the identity of an item, so one file under several names is stored once."""
from __future__ import annotations

import hashlib
import os

from xmodal.config import IngestConfig

__all__ = ["HASH_HEX_CHARS", "content_hash"]

HASH_HEX_CHARS = 32  # 128-bit BLAKE2b: collisions are not a practical concern for a media library


def content_hash(path: str | os.PathLike, block_bytes: int = IngestConfig.hash_block_bytes) -> str:
    """Hex BLAKE2b-128 of the file's bytes, read in blocks of ``block_bytes`` so large videos need
    no memory (the block size changes the speed only, never the hash)."""
    h = hashlib.blake2b(digest_size=HASH_HEX_CHARS // 2)
    with open(path, "rb") as f:
        while block := f.read(block_bytes):
            h.update(block)
    return h.hexdigest()
