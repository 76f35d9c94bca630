"""Ctrl-C that waits for the current write to finish, so a stopped run never leaves half a batch."""
from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator

__all__ = ["deferred_interrupt"]


@contextmanager
def deferred_interrupt() -> Iterator[None]:
    """Hold SIGINT inside the block and raise KeyboardInterrupt right after it, if one came.

    Only the main thread can own signal handlers; elsewhere (e.g. a server's worker thread) the
    block runs as is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[object] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt
