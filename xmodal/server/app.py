"""The application factory: one FastAPI app per settings, holding its own state (no globals),
so tests and embedders can run several servers in one process."""
from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from xmodal import __version__
from xmodal.config import CONFIG, Config, ServerConfig
from xmodal.server.http_errors import install_error_handlers
from xmodal.server.limits import BodyLimitMiddleware
from xmodal.server.metrics import MetricsMiddleware
from xmodal.server.routes import apps, collections, media, page, system, vectors
from xmodal.server.routes.page import STATIC_DIR
from xmodal.server.state import ServerState

__all__ = ["create_app", "STATIC_DIR"]

DESCRIPTION = """Cross-modal search over text, images, audio and video in one vector space.

Authenticate with `X-API-Key: <key>` or `Authorization: Bearer <key>` when the server has keys.
Scopes: **read** (list, get, search), **write** (upsert, delete, upload), **admin** (create / drop
collections, index server folders). Each key lives in a namespace; `?namespace=` reads another one
the key was granted. Errors are `{"error": {"code": ..., "message": ...}}`.
"""


def create_app(settings: ServerConfig | None = None, *, db: Any = None, config: Config | None = None):
    """Build the app. ``db`` lets an embedder share an already-open database object. ``config``:
    the settings of the database, encoders and decoders the server opens (default: read from the
    environment once, here, with ``Config.from_env()``)."""
    settings = settings or CONFIG.server
    state = ServerState(settings, db=db, config=config or Config.from_env())

    @asynccontextmanager
    async def lifespan(_app):
        yield
        state.close()

    app = FastAPI(title="xmodal", version=__version__, description=DESCRIPTION, lifespan=lifespan,
                  docs_url=None, redoc_url=None, openapi_url="/openapi.json")
    app.state.xmodal = state
    install_error_handlers(app)
    for r in (system.router, collections.router, vectors.router, media.router, apps.router, page.router):
        app.include_router(r)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(MetricsMiddleware, metrics=state.metrics)
    # Added last so it runs first: oversize bodies are refused before anything reads them.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_request_bytes)

    return app
