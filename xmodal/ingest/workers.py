"""Running decode + encode over batches of files, in this process or in a local process pool.

Kept apart from the library so another runner (e.g. Ray, behind ``--ray ADDRESS``) can plug in
beside :class:`LocalRunner`: a runner takes batches of :class:`Job` and yields lists of
:class:`Outcome`, in any order, and reports progress through the ``on_progress`` callback.
"""
from __future__ import annotations

import multiprocessing as mp
import traceback
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

from xmodal.config import Config
from xmodal.encoders import get_encoder
from xmodal.errors import MediaError, XmodalError
from xmodal.ingest.encode import Encoded, encode_decoded
from xmodal.ingest.extract import Decoded, decode
from xmodal.media import detect_kind

__all__ = ["Progress", "Job", "Outcome", "Options", "process_batch", "LocalRunner"]

Progress = Callable[[str, int], None]  # (phase, n) with phase "decode" | "encode"


@dataclass(frozen=True)
class Job:
    digest: str
    path: str


@dataclass
class Outcome:
    job: Job
    encoded: Encoded | None = None
    kind: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class Options:
    model: str
    thumbs_dir: str | None
    ocr: bool = True
    speech: bool = True
    settings: Config | None = None  # the library's: the encoder's and the decoders' (travels to workers)


def _reason(exc: BaseException) -> str:
    """A one-line reason for the failure list: our errors already name the file and problem."""
    if isinstance(exc, XmodalError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _detect(path: str, settings: Config | None) -> str:
    kind = detect_kind(path, (settings or Config()).media)
    if kind is None:
        raise MediaError(f"{path}: not a recognised text, image, audio or video file")
    return kind


def process_batch(encoder, jobs: list[Job], opts: Options, on_progress: Progress | None = None) -> list[Outcome]:
    """Decode each job (one bad file only fails itself), then encode the good ones together."""
    outcomes: list[Outcome] = []
    decoded: list[tuple[Outcome, Decoded]] = []
    thumbs = Path(opts.thumbs_dir) if opts.thumbs_dir else None
    for job in jobs:
        out = Outcome(job)
        try:
            out.kind = _detect(job.path, opts.settings)
            decoded.append((out, decode(job.path, out.kind, job.digest, thumbs, ocr=opts.ocr, speech=opts.speech,
                                        settings=opts.settings)))
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # noqa: BLE001 - any decoder failure is this file's failure
            out.error = _reason(exc)
        outcomes.append(out)
        if on_progress:
            on_progress("decode", 1)
    if decoded:
        try:
            for (out, _), enc in zip(decoded, encode_decoded(encoder, [d for _, d in decoded])):
                out.encoded = enc
        except KeyboardInterrupt:
            raise
        except Exception:  # noqa: BLE001 - isolate the item that breaks the batch
            for out, dec in decoded:
                try:
                    out.encoded = encode_decoded(encoder, [dec])[0]
                except Exception as exc:  # noqa: BLE001
                    out.error = f"cannot encode: {_reason(exc)}"
        if on_progress:
            on_progress("encode", len(decoded))
    return outcomes


class LocalRunner:
    """``workers == 1``: everything in this process (the encoder is loaded once, here).
    ``workers > 1``: a spawn-started process pool, each worker loading the encoder once."""

    def __init__(self, opts: Options, workers: int = 1, encoder=None):
        self.opts = opts
        self.workers = max(1, int(workers))
        self._encoder = encoder

    def run(self, batches: Iterable[list[Job]], on_progress: Progress | None = None) -> Iterator[list[Outcome]]:
        if self.workers == 1:
            for batch in batches:
                yield process_batch(self._get_encoder(), batch, self.opts, on_progress)
            return
        yield from self._run_pool(batches, on_progress)

    def _get_encoder(self):
        if self._encoder is None:
            self._encoder = get_encoder(self.opts.model, settings=self.opts.settings)
        return self._encoder

    def _run_pool(self, batches: Iterable[list[Job]], on_progress: Progress | None) -> Iterator[list[Outcome]]:
        ctx = mp.get_context("spawn")  # torch + fork is unsafe; spawn is the portable choice
        pool = ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_init_worker, initargs=(self.opts,))
        pending: set[Future] = set()
        it = iter(batches)
        finished = False
        try:
            exhausted = False
            while True:
                while not exhausted and len(pending) < 2 * self.workers:
                    batch = next(it, None)
                    if batch is None:
                        exhausted = True
                        break
                    pending.add(pool.submit(_work, batch))
                if not pending:
                    finished = True
                    break
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    outcomes = fut.result()
                    if on_progress:
                        on_progress("decode", len(outcomes))
                        on_progress("encode", sum(o.encoded is not None for o in outcomes))
                    yield outcomes
        finally:
            if not finished:
                # Ctrl-C (or an error upstream): nobody will write the batches in flight, and the
                # workers only read and encode, so stop them now instead of letting them finish.
                for proc in list((getattr(pool, "_processes", None) or {}).values()):
                    proc.terminate()
            pool.shutdown(wait=finished, cancel_futures=True)


_WORKER: dict = {}


def _init_worker(opts: Options) -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and cancels work
    _WORKER["opts"] = opts
    _WORKER["encoder"] = get_encoder(opts.model, settings=opts.settings)


def _work(jobs: list[Job]) -> list[Outcome]:
    try:
        return process_batch(_WORKER["encoder"], jobs, _WORKER["opts"])
    except Exception as exc:  # noqa: BLE001 - a crashed batch fails its files, not the run
        return [Outcome(j, error=f"worker error: {_reason(exc)}\n{traceback.format_exc(limit=2)}") for j in jobs]
