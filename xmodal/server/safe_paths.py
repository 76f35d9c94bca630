"""Every file path the API takes or serves goes through here: no traversal, no symlink escapes.

A path is accepted only if, after resolving ``..`` and every symlink, it lies inside one of the
allowed base folders. Checking the resolved path (not the string) is what defeats encoded dots,
absolute paths and links that point out of a root.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from xmodal.errors import Forbidden, InvalidInput, NotFound


def resolve_under(user_path: str, bases: Iterable[Path], what: str = "path") -> Path:
    """The real path of ``user_path`` if it is inside one of ``bases``; relative paths are tried
    against each base in turn."""
    if not isinstance(user_path, str) or not user_path or "\x00" in user_path:
        raise InvalidInput(f"{what} {user_path!r} is empty or contains a NUL byte")
    bases = [Path(b).resolve() for b in bases]
    if not bases:
        raise Forbidden(f"{what} {user_path!r}: the server has no folders configured for this (see --root)")
    candidate = Path(user_path)
    tries = [candidate] if candidate.is_absolute() else [b / candidate for b in bases]
    for t in tries:
        real = Path(os.path.realpath(t))
        if any(_inside(real, b) for b in bases):
            if not real.exists():
                raise NotFound(f"{what} {user_path!r} does not exist")
            return real
    raise Forbidden(f"{what} {user_path!r} is outside the folders this server may read")


def is_inside(path: str | Path, bases: Iterable[Path]) -> bool:
    real = Path(os.path.realpath(path))
    return any(_inside(real, Path(b).resolve()) for b in bases)


def _inside(real: Path, base: Path) -> bool:
    return real == base or base in real.parents


def relative_display(path: Path, bases: Iterable[Path]) -> str:
    """A path as clients see it: relative to the base that holds it, so server layout stays private."""
    for b in bases:
        b = Path(b).resolve()
        if _inside(path, b):
            return str(path.relative_to(b)) or "."
    return path.name
