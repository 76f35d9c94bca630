"""API keys, scopes and namespaces: who is calling and what they may touch.

A key lives in one namespace (its own collections) and may be granted read access to others,
so two applications sharing one server cannot see each other's collections unless granted.
Scopes are ordered: admin implies write implies read.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from xmodal.config import ApiKey, ServerConfig
from xmodal.errors import Forbidden, InvalidInput, Unauthorized

SCOPES: tuple[str, ...] = ("read", "write", "admin")
DEFAULT_NAMESPACE = "default"
_HASH_PREFIX = "sha256:"
_NAMESPACE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*$")


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of one request."""

    name: str                    # a short, non-secret label for logs and metrics
    scopes: frozenset[str]
    namespace: str
    grants: frozenset[str]       # namespaces readable besides its own; "*" = all
    open_server: bool = False    # no keys configured: every namespace, every scope

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes

    def require(self, scope: str) -> None:
        if not self.has_scope(scope):
            raise Forbidden(f"this API key ({self.name}) lacks the {scope!r} scope")

    def namespace_for(self, requested: str | None, scope: str) -> str:
        """The namespace a request acts in, refusing one the key may not use for ``scope``."""
        self.require(scope)
        ns = requested or self.namespace
        validate_namespace(ns)
        if self.open_server or ns == self.namespace:
            return ns
        if scope == "read" and ("*" in self.grants or ns in self.grants):
            return ns
        raise Forbidden(f"namespace {ns!r} is not accessible to this API key ({self.name}) for {scope}")


def validate_namespace(ns: str, max_chars: int = 64) -> str:
    if not isinstance(ns, str) or not _NAMESPACE_RE.match(ns) or len(ns) > max_chars:
        raise InvalidInput(f"namespace {ns!r} is invalid: use letters, digits and '-' (at most {max_chars})")
    return ns


def _implied(scopes: Iterable[str]) -> frozenset[str]:
    out: set[str] = set()
    for s in scopes:
        if s not in SCOPES:
            raise InvalidInput(f"scope {s!r} is unknown: use one of {', '.join(SCOPES)}")
        out.update(SCOPES[: SCOPES.index(s) + 1])
    return frozenset(out)


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8")).digest()


class KeyRing:
    """Looks keys up in constant time per key (no timing oracle on the secret)."""

    def __init__(self, keys: Iterable[ApiKey]):
        self._entries: list[tuple[bytes, Principal]] = []
        for i, k in enumerate(keys):
            if not k.key:
                raise InvalidInput(f"API key #{i + 1} is empty")
            validate_namespace(k.namespace)
            for g in k.grants:
                if g != "*":
                    validate_namespace(g)
            if k.key.startswith(_HASH_PREFIX):
                try:
                    digest = bytes.fromhex(k.key[len(_HASH_PREFIX):])
                except ValueError as exc:
                    raise InvalidInput(f"API key #{i + 1}: {k.key[:16]}... is not valid sha256 hex") from exc
                label = f"{k.namespace}#{i + 1}"
            else:
                digest = _digest(k.key)
                label = f"{k.namespace}#{i + 1}"
            principal = Principal(name=label, scopes=_implied(k.scopes), namespace=k.namespace,
                                  grants=frozenset(k.grants))
            self._entries.append((digest, principal))

    @property
    def enabled(self) -> bool:
        return bool(self._entries)

    def authenticate(self, secret: str | None) -> Principal:
        if not self.enabled:
            return Principal(name="open", scopes=frozenset(SCOPES), namespace=DEFAULT_NAMESPACE,
                             grants=frozenset({"*"}), open_server=True)
        if not secret:
            raise Unauthorized("an API key is required: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'")
        digest = _digest(secret)
        found: Principal | None = None
        for known, principal in self._entries:
            if hmac.compare_digest(known, digest) and found is None:
                found = principal
        if found is None:
            raise Unauthorized("the API key is not valid")
        return found


def load_keys_file(path: str | Path) -> tuple[ApiKey, ...]:
    """Read ``[{"key": ..., "scopes": [...], "namespace": ..., "grants": [...]}, ...]`` from JSON."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidInput(f"keys file {p}: cannot be read ({exc.strerror or exc})") from exc
    except ValueError as exc:
        raise InvalidInput(f"keys file {p}: not valid JSON ({exc})") from exc
    if not isinstance(data, list) or not all(isinstance(d, dict) and isinstance(d.get("key"), str) for d in data):
        raise InvalidInput(f"keys file {p}: expected a JSON list of objects with a 'key' string")
    keys = tuple(ApiKey(key=d["key"], scopes=tuple(d.get("scopes", ("read",))),
                        namespace=d.get("namespace", DEFAULT_NAMESPACE), grants=tuple(d.get("grants", ())))
                 for d in data)
    KeyRing(keys)  # validate now, at start-up, with the file named in any error
    return keys


def hash_key(secret: str) -> str:
    """The ``sha256:<hex>`` form to store in a keys file instead of the secret."""
    return _HASH_PREFIX + hashlib.sha256(secret.encode("utf-8")).hexdigest()


def check_bind_safety(settings: ServerConfig, host: str) -> None:
    """Refuse to expose an unauthenticated server beyond this machine unless told to."""
    if settings.keys or settings.allow_open_public or is_loopback(host):
        return
    raise Forbidden(f"refusing to bind {host!r} without API keys: pass --keys FILE, "
                    "or --allow-open-public to serve everyone on the network without authentication")


def is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
