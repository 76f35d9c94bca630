"""How a (namespace, collection) pair maps onto one database collection name, and back.

The default namespace uses plain names, so a database indexed with the CLI is served as-is (its
side collections, e.g. ``media__interactions``, included). Other namespaces live under the reserved
prefix ``ns_<namespace>__`` (a namespace's "-" stored as "_", which namespaces cannot contain), a
form both the embedded engine and Milvus accept. API names may not start with the prefix, so no
name in one namespace can reach another's collections.
"""
from __future__ import annotations

import re

from xmodal.errors import InvalidInput
from xmodal.server.auth import DEFAULT_NAMESPACE

PREFIX = "ns_"
SEPARATOR = "__"
_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def validate_collection_name(name: str, max_chars: int) -> str:
    if (not isinstance(name, str) or not _NAME_RE.match(name) or name.startswith(PREFIX)
            or len(name) > max_chars):
        raise InvalidInput(f"collection name {name!r} is invalid: start with a letter, then letters, digits "
                           f"and '_' (at most {max_chars} characters; the prefix {PREFIX!r} is reserved)")
    return name


def physical_name(namespace: str, name: str, max_chars: int) -> str:
    validate_collection_name(name, max_chars)
    if namespace == DEFAULT_NAMESPACE:
        return name
    return f"{PREFIX}{namespace.replace('-', '_')}{SEPARATOR}{name}"


def split_physical(physical: str) -> tuple[str, str]:
    """(namespace, name) of a stored collection name."""
    if physical.startswith(PREFIX):
        ns, sep, rest = physical[len(PREFIX):].partition(SEPARATOR)
        if sep and ns and rest:
            return ns.replace("_", "-"), rest
    return DEFAULT_NAMESPACE, physical


def names_in(namespace: str, physical_names: list[str]) -> list[str]:
    return sorted(name for ns, name in map(split_physical, physical_names) if ns == namespace)
