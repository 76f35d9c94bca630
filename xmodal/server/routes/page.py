"""The web page: one static HTML file plus bundled CSS / JS (no CDN), served by the API process."""
from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, RedirectResponse

router = APIRouter(include_in_schema=False)
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; "
                               "style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@router.get("/")
def index() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", headers=_SECURITY_HEADERS)


@router.get("/favicon.ico")
def favicon() -> RedirectResponse:
    return RedirectResponse("/static/favicon.svg")


@router.get("/api")
def api_reference() -> FileResponse:
    """A readable, bundled rendering of /openapi.json (Swagger UI would need a CDN)."""
    return FileResponse(STATIC_DIR / "api.html", headers=_SECURITY_HEADERS)
