"""Background jobs for work too long for one request (indexing a large folder).

A job runs in a daemon thread; clients poll GET /v1/media/jobs/{id}. Jobs belong to a namespace and
are invisible to other namespaces. Finished jobs are kept (bounded) so a late poll still sees the report.
"""
from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable

from xmodal.errors import NotFound, XmodalError

JOB_ID_BYTES = 12


@dataclass
class BackgroundJob:
    id: str
    namespace: str
    kind: str
    state: str = "queued"          # queued | running | done | failed
    created: float = field(default_factory=time.time)
    finished: float | None = None
    result: dict | None = None
    error: dict | None = None
    progress: dict = field(default_factory=dict)  # filled in by the work while it runs (e.g. items written)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "state": self.state, "created": self.created,
                "finished": self.finished, "result": self.result, "error": self.error,
                "progress": dict(self.progress)}


class JobRegistry:
    def __init__(self, keep: int):
        self._jobs: OrderedDict[str, BackgroundJob] = OrderedDict()
        self._lock = threading.Lock()
        self.keep = keep

    def start(self, namespace: str, kind: str, work: Callable[[], dict],
              describe_error: Callable[[Exception], str] = str, progress: dict | None = None) -> BackgroundJob:
        """Run ``work`` in a thread; ``progress`` (a dict the work updates) is shown while it runs."""
        job = BackgroundJob(id=secrets.token_hex(JOB_ID_BYTES), namespace=namespace, kind=kind)
        if progress is not None:
            job.progress = progress
        with self._lock:
            self._jobs[job.id] = job
            while len(self._jobs) > self.keep:
                oldest = next(iter(self._jobs.values()))
                if oldest.state in ("queued", "running"):
                    break
                self._jobs.popitem(last=False)

        def run() -> None:
            job.state = "running"
            try:
                job.result = work()
                job.state = "done"
            except Exception as exc:  # noqa: BLE001 - a job reports its failure instead of dying silently
                code = exc.code if isinstance(exc, XmodalError) else "internal_error"
                job.error = {"code": code, "message": describe_error(exc)}
                job.state = "failed"
            finally:
                job.finished = time.time()

        threading.Thread(target=run, name=f"xmodal-job-{job.id[:8]}", daemon=True).start()
        return job

    def get(self, namespace: str, job_id: str) -> BackgroundJob:
        job = self._jobs.get(job_id)
        if job is None or job.namespace != namespace:
            raise NotFound(f"job {job_id!r} does not exist in namespace {namespace!r}")
        return job
