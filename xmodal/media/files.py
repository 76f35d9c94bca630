"""Reading a user's file with the errors every loader reports the same way (named file, plain reason)."""
from __future__ import annotations

import os
from pathlib import Path

from xmodal.errors import MediaError

__all__ = ["read_file"]


def read_file(path: str | os.PathLike, *, prefix: int | None = None, max_bytes: int | None = None,
              limit_name: str = "") -> bytes:
    """The file's bytes (only the first ``prefix`` when given). Files over ``max_bytes`` are refused
    before reading, naming ``limit_name`` (the config field that sets the limit)."""
    path = Path(path)
    try:
        if max_bytes is not None:
            size = path.stat().st_size
            if size > max_bytes:
                raise MediaError(f"{path}: {size} bytes is larger than the limit of {max_bytes}"
                                 + (f" ({limit_name})" if limit_name else ""))
        with open(path, "rb") as fh:
            return fh.read(prefix) if prefix is not None else fh.read()
    except FileNotFoundError as exc:
        raise MediaError(f"{path}: file not found") from exc
    except IsADirectoryError as exc:
        raise MediaError(f"{path}: is a directory, not a file") from exc
    except OSError as exc:
        raise MediaError(f"{path}: cannot read ({exc.strerror or exc})") from exc
