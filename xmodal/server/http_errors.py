"""The one error shape of the API: ``{"error": {"code": ..., "message": ...}}`` with a fitting status.

Statuses come from each :class:`xmodal.errors.XmodalError` subclass's ``code``, so a new error class
in a lower layer gets a sensible answer here without the server knowing where it was raised.
"""
from __future__ import annotations

import logging

from xmodal import errors as xe

log = logging.getLogger("xmodal.server")

# code -> HTTP status. Codes not listed fall back through the class hierarchy (see status_for).
STATUS_BY_CODE: dict[str, int] = {
    xe.InvalidInput.code: 400,
    xe.TooLarge.code: 413,
    xe.NotFound.code: 404,
    xe.AlreadyExists.code: 409,
    xe.ModelMismatch.code: 409,
    xe.ReadOnlyError.code: 409,
    xe.MediaError.code: 415,
    xe.Unauthorized.code: 401,
    xe.Forbidden.code: 403,
    xe.MissingDependency.code: 501,
    xe.UnsupportedByBackend.code: 501,
    xe.StorageError.code: 503,
    "validation_error": 422,
    "internal_error": 500,
}


def status_for(exc: xe.XmodalError) -> int:
    """The status of an xmodal error: its own code, else its nearest ancestor's code."""
    for cls in type(exc).__mro__:
        code = getattr(cls, "code", None)
        if code in STATUS_BY_CODE:
            return STATUS_BY_CODE[code]
    return 400


def error_body(code: str, message: str) -> dict:
    return {"error": {"code": code, "message": message}}


def scrub(request, message: str) -> str:
    state = getattr(request.app.state, "xmodal", None)
    return state.scrub(message) if state is not None else message


def install_error_handlers(app) -> None:
    """Turn every failure into the JSON error shape; never leak a traceback to the client."""
    from fastapi import Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException as StarletteHTTPException

    @app.exception_handler(xe.XmodalError)
    async def _xmodal_error(request: Request, exc: xe.XmodalError) -> JSONResponse:
        status = status_for(exc)
        headers = {"WWW-Authenticate": 'ApiKey realm="xmodal"'} if status == 401 else None
        return JSONResponse(error_body(exc.code, scrub(request, str(exc))), status_code=status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for err in exc.errors()[:5]:
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
            parts.append(f"{where or 'request'}: {err.get('msg', 'invalid')}")
        return JSONResponse(error_body("validation_error", "; ".join(parts) or "invalid request"), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse(error_body("internal_error", f"{type(exc).__name__}: the server failed; see its log"),
                            status_code=500)
