"""FastAPI dependencies shared by the routes: the server state and the authenticated caller."""
from __future__ import annotations

from typing import Optional

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from xmodal.server.auth import Principal
from xmodal.server.state import ServerState

_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="an API key")
_bearer = HTTPBearer(auto_error=False, description="the API key as a bearer token")


def get_state(request: Request) -> ServerState:
    return request.app.state.xmodal


def principal(request: Request,
              x_api_key: Optional[str] = Security(_api_key_header),
              bearer: Optional[HTTPAuthorizationCredentials] = Security(_bearer),
              state: ServerState = Depends(get_state)) -> Principal:
    secret = x_api_key or (bearer.credentials if bearer else None)
    who = state.keyring.authenticate(secret.strip() if secret else None)
    request.state.principal = who
    return who
