"""How a (namespace, collection) pair maps onto one database collection name, and back.

The default namespace uses plain names, so a database indexed with the CLI is served as-is;
other namespaces prefix ``<namespace>__``. Namespaces cannot contain "_" and API collection names
cannot contain "__", so the mapping is unambiguous in both directions.
"""
from __future__ import annotations

import re

from xmodal.errors import InvalidInput
from xmodal.server.auth import DEFAULT_NAMESPACE

SEPARATOR = "__"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


def validate_collection_name(name: str, max_chars: int) -> str:
    if (not isinstance(name, str) or not _NAME_RE.match(name) or SEPARATOR in name
            or len(name) > max_chars):
        raise InvalidInput(f"collection name {name!r} is invalid: use letters, digits, '-' and single '_' "
                           f"(at most {max_chars} characters, starting with a letter or digit)")
    return name


def physical_name(namespace: str, name: str, max_chars: int) -> str:
    validate_collection_name(name, max_chars)
    return name if namespace == DEFAULT_NAMESPACE else f"{namespace}{SEPARATOR}{name}"


def split_physical(physical: str) -> tuple[str, str]:
    """(namespace, name) of a stored collection name."""
    ns, sep, rest = physical.partition(SEPARATOR)
    if sep and rest and re.match(r"^[A-Za-z0-9][A-Za-z0-9-]*$", ns):
        return ns, rest
    return DEFAULT_NAMESPACE, physical


def names_in(namespace: str, physical_names: list[str]) -> list[str]:
    out = []
    for p in physical_names:
        ns, name = split_physical(p)
        if ns == namespace:
            out.append(name)
    return sorted(out)
