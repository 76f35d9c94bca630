"""One exception hierarchy for the whole system.

Every error a user can cause derives from :class:`XmodalError`, so callers (the CLI, the
server) can map them to clear messages and status codes without knowing which layer raised.
Messages always name the item and the problem.
"""
from __future__ import annotations


class XmodalError(Exception):
    """Base of every error xmodal raises on purpose."""

    code: str = "xmodal_error"


class InvalidInput(XmodalError, ValueError):
    """The caller passed something malformed (wrong dimension, NaN, bad filter, k <= 0, ...)."""

    code = "invalid_input"


class NotFound(XmodalError, KeyError):
    """A named thing (collection, field, item, encoder) does not exist."""

    code = "not_found"

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain.
        return str(self.args[0]) if self.args else ""


class AlreadyExists(XmodalError):
    code = "already_exists"


class StorageError(XmodalError, OSError):
    """The on-disk store cannot be read or written (disk full, locked, corrupt, newer format)."""

    code = "storage_error"


class ReadOnlyError(StorageError):
    """A write was attempted on a database opened read-only (e.g. held by another process)."""

    code = "read_only"


class MediaError(XmodalError):
    """A media file cannot be decoded: names the file and the reason."""

    code = "media_error"


class MissingDependency(XmodalError, ImportError):
    """An optional package or system tool is not installed; the message says how to install it."""

    code = "missing_dependency"


class UnsupportedByBackend(XmodalError, NotImplementedError):
    """A database backend cannot do the requested feature (named in the message)."""

    code = "unsupported_by_backend"


class ModelMismatch(XmodalError):
    """A query used a different model than the one the collection was indexed with."""

    code = "model_mismatch"


class Unauthorized(XmodalError):
    """No API key, or one the server does not know (the REST server answers 401)."""

    code = "unauthorized"


class Forbidden(XmodalError, PermissionError):
    """A known caller asked for something outside its scopes, namespace or allowed folders."""

    code = "forbidden"


class TooLarge(InvalidInput):
    """An upload, request body or batch exceeds a configured limit (named in the message)."""

    code = "too_large"


class LLMError(XmodalError):
    """The configured chat endpoint (XMODAL_LLM_URL) failed or answered something unusable."""

    code = "llm_error"
