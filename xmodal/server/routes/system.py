"""Health, identity and metrics."""
from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends
from fastapi.responses import PlainTextResponse

from xmodal import __version__
from xmodal.server.auth import Principal
from xmodal.server.deps import get_state, principal
from xmodal.server.metrics import to_prometheus
from xmodal.server.schemas import Health, WhoAmI
from xmodal.server.state import ServerState

router = APIRouter(prefix="/v1", tags=["system"])


@router.get("/health", response_model=Health, summary="liveness; needs no key")
def health(state: ServerState = Depends(get_state)) -> Health:
    return Health(status="ok", version=__version__, auth_required=state.keyring.enabled)


@router.get("/whoami", response_model=WhoAmI, summary="what this key may do (the web page's login check)")
def whoami(who: Principal = Depends(principal), state: ServerState = Depends(get_state)) -> WhoAmI:
    return WhoAmI(namespace=who.namespace, scopes=sorted(who.scopes), grants=sorted(who.grants),
                  auth_required=state.keyring.enabled, default_library=state.settings.default_library,
                  max_upload_bytes=state.settings.max_upload_bytes)


@router.get("/metrics", summary="request counts, error counts, recent p50 / p99 latency per route",
            responses={200: {"content": {"application/json": {}, "text/plain": {}}}})
def metrics(format: Literal["json", "prometheus"] = "json", who: Principal = Depends(principal),  # noqa: A002
            state: ServerState = Depends(get_state)):
    who.require("read")
    snap = state.metrics.snapshot()
    if format == "prometheus":
        return PlainTextResponse(to_prometheus(snap), media_type="text/plain; version=0.0.4")
    return snap
