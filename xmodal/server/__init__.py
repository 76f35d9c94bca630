"""The REST server and web page: one process that holds the models and the database and shares them.

Kept import-light (FastAPI is imported only by :func:`create_app`), so `xmodal --help` stays instant.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from xmodal._optional import require

if TYPE_CHECKING:  # pragma: no cover
    from xmodal.config import ServerConfig

__all__ = ["create_app"]


def create_app(settings: "ServerConfig | None" = None, **kwargs: Any):
    """Build the FastAPI application (see :func:`xmodal.server.app.create_app`)."""
    require("fastapi", "server")  # the heavy boundary: FastAPI loads here, with an error naming the extra
    from xmodal.server.app import create_app as _create_app

    return _create_app(settings, **kwargs)
