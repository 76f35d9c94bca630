"""Ctrl-C that waits for the current write to finish, so a stopped run never leaves half a batch,
and waits that Ctrl-C always ends."""
from __future__ import annotations

import os
import select
import signal
import threading
from contextlib import contextmanager
from typing import IO, Iterator

__all__ = ["deferred_interrupt", "wait_readable"]


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


def wait_readable(stream: IO | int) -> None:
    """Block until ``stream`` (a file or a descriptor) has input to read; Ctrl-C ends the wait with KeyboardInterrupt.

    Why not a plain ``readline()``: the kernel may hand SIGINT to any thread of the process (rich's
    refresh thread, FAISS / ONNX Runtime pools). Python then only sets a flag, and a main thread
    blocked in ``read()`` never wakes to see it. The wakeup fd is written by Python's handler on
    whichever thread ran it, so this wait always wakes and the flag is acted on at once.
    """
    if threading.current_thread() is not threading.main_thread():
        select.select([stream], [], [])
        return
    r, w = os.pipe()
    os.set_blocking(r, False)
    os.set_blocking(w, False)
    previous = signal.set_wakeup_fd(w, warn_on_full_buffer=False)
    try:
        while True:
            ready, _, _ = select.select([stream, r], [], [])
            if stream in ready:
                return
            os.read(r, 512)  # a signal came: its Python handler runs before the next select
    finally:
        signal.set_wakeup_fd(previous)
        os.close(r)
        os.close(w)
