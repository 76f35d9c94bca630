"""Decoding and encoding as a Ray Data job on a Ray cluster (``xmodal index --ray ADDRESS``).

:class:`RayRunner` has the shape of :class:`xmodal.ingest.workers.LocalRunner` (``run(batches,
on_progress)`` yields lists of :class:`~xmodal.ingest.workers.Outcome`), so the library's indexing
loop is unchanged: the cluster decodes and encodes, and this process -- the only writer -- stores the
rows in whichever backend the library was opened on (embedded folder, Milvus Lite, Milvus server).
One writer keeps the library's bookkeeping (keyword index, duplicate detection) in one place; the
expensive part, the models, scales out.

Each batch of files is one row of a Ray Dataset; ``map_batches`` runs it through a pool of encoder
actors (each loads the model once). Files up to the library's ``settings.ingest.ray_max_ship_bytes``
travel inside the job, so workers need no shared filesystem; larger files are read at their path,
which must then be visible on the workers (NFS, a mounted bucket). Thumbnails are made on the workers and written
here. The cluster's Python environment needs xmodal with its ``models`` and ``media`` extras.
"""
from __future__ import annotations

import os
import pickle
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Iterable, Iterator

from xmodal._optional import require
from xmodal.config import Config
from xmodal.errors import InvalidInput
from xmodal.ingest.workers import Job, Options, Outcome, Progress

__all__ = ["LOCAL", "RayRunner", "RayEncoder", "ray_runner"]

LOCAL = "local"  # start a private Ray instance on this machine


class RayRunner:
    """Runs batches of :class:`Job` on Ray. ``address``: ``local`` (a private instance here), ``auto``
    (the cluster this machine belongs to), ``HOST:PORT`` or ``ray://HOST:10001`` (Ray Client)."""

    def __init__(self, opts: Options, address: str = LOCAL, workers: int | None = None,
                 ship_files: bool = True):
        if not address:
            raise InvalidInput("--ray needs an address: local, auto, HOST:PORT or ray://HOST:PORT")
        if workers is not None and workers < 1:
            raise InvalidInput(f"--workers must be at least 1, got {workers}")
        self.opts = opts
        self.ingest = (opts.settings or Config()).ingest  # the library's: CPUs per actor, what ships
        self.address = address
        self.workers = workers
        self.ship_files = ship_files

    def _connect(self):
        ray = require("ray", "ray")
        started = False
        if not ray.is_initialized():
            kwargs: dict = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
            if self.address == LOCAL:
                kwargs["num_cpus"] = self.workers or os.cpu_count() or 1
            ray.init(address=self.address, **kwargs)
            started = True
        return ray, started

    def run(self, batches: Iterable[list[Job]], on_progress: Progress | None = None) -> Iterator[list[Outcome]]:
        ray, started = self._connect()
        try:
            require("ray.data", "ray", package="ray[data]")
            rows = [{"batch": pickle.dumps(self._pack(b))} for b in batches]
            if not rows:
                return
            actors = self.workers or max(1, int(ray.cluster_resources().get("CPU", 1) // self.ingest.ray_actor_cpus))
            actors = min(actors, len(rows))
            ds = ray.data.from_items(rows, override_num_blocks=len(rows))
            ds = ds.map_batches(RayEncoder, fn_constructor_args=(self.opts, self.ship_files), batch_size=1,
                                compute=ray.data.ActorPoolStrategy(size=actors),
                                num_cpus=self.ingest.ray_actor_cpus)
            for row in ds.iter_rows():
                outcomes = self._unpack(pickle.loads(row["outcomes"]))
                if on_progress:
                    on_progress("decode", len(outcomes))
                    on_progress("encode", sum(o.encoded is not None for o in outcomes))
                yield outcomes
        finally:
            if started:
                ray.shutdown()

    def _pack(self, batch: list[Job]) -> list[tuple[Job, bytes | None]]:
        """Jobs with their file bytes when they may travel (small enough, shipping on)."""
        out = []
        for job in batch:
            data = None
            if self.ship_files:
                try:
                    if os.path.getsize(job.path) <= self.ingest.ray_max_ship_bytes:
                        data = Path(job.path).read_bytes()
                except OSError:
                    data = None  # the worker reports the file's own error when it opens it
            out.append((job, data))
        return out

    def _unpack(self, results: list[tuple[Outcome, bytes | None]]) -> list[Outcome]:
        """Write thumbnails made on the workers into the library's thumbnail folder."""
        outcomes = []
        for out, thumb in results:
            if thumb is not None and out.encoded is not None and self.opts.thumbs_dir:
                dest = Path(self.opts.thumbs_dir) / f"{out.job.digest}.jpg"
                dest.parent.mkdir(parents=True, exist_ok=True)
                if not dest.exists():
                    tmp = dest.with_suffix(".tmp")
                    tmp.write_bytes(thumb)
                    tmp.replace(dest)
                out.encoded.meta["thumbnail"] = str(dest)
            outcomes.append(out)
        return outcomes


class RayEncoder:
    """A Ray actor: loads the encoder once, then decodes + encodes one batch of files per call."""

    def __init__(self, opts: Options, ship_files: bool):
        from xmodal.encoders import get_encoder

        self.opts = opts
        self.ship_files = ship_files
        self.encoder = get_encoder(opts.model, settings=opts.settings)

    def __call__(self, rows: dict) -> dict:
        return {"outcomes": [pickle.dumps(self._one(pickle.loads(b))) for b in rows["batch"]]}

    def _one(self, packed: list[tuple[Job, bytes | None]]) -> list[tuple[Outcome, bytes | None]]:
        from xmodal.ingest.workers import process_batch

        with tempfile.TemporaryDirectory(prefix="xmodal-ray-") as tmp:
            local_jobs, originals = [], {}
            for i, (job, data) in enumerate(packed):
                if data is None:
                    local_jobs.append(job)
                    continue
                folder = Path(tmp) / str(i)  # keep the file name: it is indexed as the item's name
                folder.mkdir()
                local = folder / Path(job.path).name
                local.write_bytes(data)
                local_jobs.append(Job(job.digest, str(local)))
                originals[str(local)] = job
            thumbs = Path(tmp) / "thumbs"
            opts = replace(self.opts, thumbs_dir=str(thumbs))
            outcomes = process_batch(self.encoder, local_jobs, opts)
            results = []
            for out in outcomes:
                original = originals.get(out.job.path)
                if original is not None:
                    if out.error:  # name the user's file, not the worker's copy
                        out.error = out.error.replace(out.job.path, original.path)
                    out.job = original
                thumb = None
                if out.encoded is not None and out.encoded.meta.get("thumbnail"):
                    thumb = Path(out.encoded.meta["thumbnail"]).read_bytes()
                results.append((out, thumb))
            return results


def ray_runner(library, address: str, workers: int | None = None, ocr: bool = True, speech: bool = True,
               ship_files: bool = True) -> RayRunner:
    """The runner for ``library.index(paths, runner=...)``: what ``xmodal index --ray ADDRESS`` builds."""
    opts = Options(model=library.model, thumbs_dir=str(library.store.thumbs_dir), ocr=ocr, speech=speech,
                   settings=library.settings)
    return RayRunner(opts, address, workers, ship_files)
