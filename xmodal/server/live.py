"""Run the app on a loopback port inside this process (tests, benchmarks, notebooks).

Port 0 picks a free port; the real one is read back from the bound socket, so parallel runs never
collide.
"""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Iterator

from xmodal._optional import require
from xmodal.errors import InvalidInput, StorageError
from xmodal.server.auth import is_loopback

START_TIMEOUT_S = 60.0
POLL_S = 0.02


@contextmanager
def serve_in_thread(app, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning") -> Iterator[str]:
    """Yield the base URL (``http://127.0.0.1:PORT``) of ``app`` served by uvicorn; stop on exit."""
    if not is_loopback(host):
        raise InvalidInput(f"serve_in_thread binds loopback addresses only, not {host!r}")
    uvicorn = require("uvicorn", "server")
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level=log_level, lifespan="on"))
    thread = threading.Thread(target=server.run, name="xmodal-live-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise StorageError(f"the server did not start on {host}:{port}")
        time.sleep(POLL_S)
    bound = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{bound}"
    finally:
        server.should_exit = True
        thread.join(timeout=START_TIMEOUT_S)
