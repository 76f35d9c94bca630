"""Writing a library: bring its rows in step with folders of media, attach and detach paths, remove.

Why a class apart from :class:`~xmodal.ingest.library.Library`: indexing is the one place that
writes rows, and it follows a strict order (keywords, then child rows, then the item row last, so
a crash leaves orphans the next run overwrites, never a half-stored item). Rows follow
:mod:`xmodal.ingest.layout`; the keyword index, failure log and thumbnails sit in the
:class:`~xmodal.ingest.store.SideStore`.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np

from xmodal.config import Config
from xmodal.errors import InvalidInput, NotFound
from xmodal.ingest.encode import Encoded
from xmodal.ingest.files import FileEntry, scan, under
from xmodal.ingest.hashing import content_hash
from xmodal.ingest.interrupts import deferred_interrupt
from xmodal.ingest.layout import (ITEM_ROWS, PARENT, Role, base_payload, child_id, child_payload, files_patch,
                                  item_payload)
from xmodal.ingest.plan import Plan, StoredState, make_plan
from xmodal.ingest.results import Failure, IndexReport
from xmodal.ingest.store import SideStore
from xmodal.ingest.workers import Job, LocalRunner, Options
from xmodal.progress import progress as progress_bars

__all__ = ["Indexer", "stored_state"]


def stored_state(col) -> StoredState:
    """The files each stored item came from (the incremental state a run compares against)."""
    if col is None:
        return StoredState()
    return StoredState.from_items((r.id, r.payload.get("files") or {}) for r in col.scroll(where=ITEM_ROWS))


class Indexer:
    """Writes one collection. ``collection(create)`` returns it (created on the first write);
    ``encoder()`` loads the model only when something must be encoded."""

    def __init__(self, collection: Callable[[bool], object], store: SideStore, model: str,
                 encoder: Callable[[], object], settings: Config | None = None):
        self._collection = collection
        # The library's: batch size and workers here, handed to the decoders and encoders of every worker.
        self.settings = settings or Config()
        self.store = store
        self.model = model
        self._encoder = encoder

    def index(self, paths: Sequence[str], exclude: Sequence[Path], prune: bool = False, workers: int | None = None,
              ocr: bool = True, speech: bool = True, progress: bool | None = None, runner=None,
              on_batch: Callable[[IndexReport], None] | None = None) -> IndexReport:
        """See :meth:`xmodal.ingest.library.Library.index`."""
        paths = [str(p) for p in paths]
        if not paths:
            raise InvalidInput("index: name at least one file or folder")
        t0 = time.perf_counter()
        report = IndexReport()
        roots = [str(Path(p).expanduser().resolve()) for p in paths]
        # NotFound for a missing path is raised here, before anything changes.
        entries_iter = scan(paths, exclude=exclude, on_unsupported=report.note_unsupported)
        col = self._collection(True)
        state = stored_state(col)
        with progress_bars(progress) as bars:
            try:
                t_scan = bars.add_task("scan", total=None)
                block = self.settings.ingest.hash_block_bytes
                plan = make_plan(entries_iter, state, lambda path: content_hash(path, block), roots, prune,
                                 on_file=lambda e: bars.advance(t_scan, 1))
                bars.update(t_scan, total=bars.tasks[t_scan].completed)
                for entry in plan.unchanged:
                    report.skipped[entry.kind_hint] += 1
                for entry, reason in plan.failed:
                    report.failed.append(Failure(entry.path, entry.kind_hint, reason))
                self._apply_attachments(col, plan, report)
                jobs = []
                for digest, files in plan.encode.items():
                    known = self.store.failures.known(files[0])
                    if known is None:
                        jobs.append(Job(digest, files[0].path))
                    else:  # failed before and unchanged since: report it again, do not re-read it
                        report.failed += [Failure(f.path, known[0] or f.kind_hint, known[1]) for f in files]
                        report.known_failures += 1
                self._encode_and_write(col, jobs, plan, report, bars, workers, ocr, speech, runner, on_batch)
                for path in plan.removed:
                    self._detach(col, path, state.by_path[path].item_id)
                    report.removed += 1
            except KeyboardInterrupt:
                report.interrupted = True
        report.seconds = time.perf_counter() - t0
        return report

    def remove(self, paths: Iterable[str | os.PathLike], uri: str) -> int:
        """See :meth:`xmodal.ingest.library.Library.remove`."""
        col = self._collection(False)
        state = stored_state(col)
        targets: list[str] = []
        for p in paths:
            absolute = str(Path(p).expanduser().resolve())
            matched = [s for s in state.by_path if under(s, [absolute])]
            if not matched:
                raise NotFound(f"{p}: not in the library {uri}")
            targets += matched
        for path in dict.fromkeys(targets):
            self._detach(col, path, state.by_path[path].item_id)
        return len(set(targets))

    def _apply_attachments(self, col, plan: Plan, report: IndexReport) -> None:
        """Duplicates of stored items and touched-but-identical files: payload updates only."""
        for digest, entries in plan.attach.items():
            rec = col.get([digest])
            if not rec:
                continue
            files = dict(rec[0].payload.get("files") or {})
            for e in entries:
                is_new_path = e.path not in files
                files[e.path] = {"size": e.size, "mtime": e.mtime}
                kind = rec[0].payload.get("kind", e.kind_hint)
                (report.duplicates if is_new_path else report.skipped)[kind] += 1
            self._set_files(col, digest, files)
            for e in entries:
                old = plan.detach.pop(e.path, None)
                if old is not None and old != digest:
                    self._detach(col, e.path, old)

    def _encode_and_write(self, col, jobs: list[Job], plan: Plan, report: IndexReport, bars, workers, ocr, speech,
                          runner, on_batch=None) -> None:
        if not jobs:
            return
        size = self.settings.ingest.batch_files
        batches = [jobs[i:i + size] for i in range(0, len(jobs), size)]
        tasks = {ph: bars.add_task(ph, total=len(jobs)) for ph in ("decode", "encode", "write")}
        opts = Options(model=self.model, thumbs_dir=str(self.store.thumbs_dir), ocr=ocr, speech=speech,
                       settings=self.settings)
        n_workers = self.settings.ingest.workers if workers is None else workers
        if runner is None:
            runner = LocalRunner(opts, n_workers, encoder=self._encoder() if n_workers <= 1 else None)
        for outcomes in runner.run(batches, on_progress=lambda ph, n: bars.advance(tasks[ph], n)):
            good = []
            for out in outcomes:
                if out.encoded is None:
                    reason = out.error or "unknown error"
                    # Every file with these bytes failed, not only the one that was decoded.
                    for entry in plan.encode[out.job.digest]:
                        report.failed.append(Failure(entry.path, out.kind or entry.kind_hint, reason))
                        self.store.failures.record(entry, out.kind, reason)
                else:
                    good.append(out)
            with deferred_interrupt():  # a batch is written whole or not at all
                if good:
                    self.store.failures.forget([e.path for o in good for e in plan.encode[o.job.digest]])
                    report.rows_written += self._write(col, [(o.job.digest, o.encoded, plan.encode[o.job.digest])
                                                             for o in good])
                    for o in good:
                        kind = o.encoded.kind
                        report.indexed[kind] = report.indexed.get(kind, 0) + 1
                        # same new content under several names in this run: stored once
                        report.duplicates[kind] = report.duplicates.get(kind, 0) + len(plan.encode[o.job.digest]) - 1
                        for e in plan.encode[o.job.digest]:
                            old = plan.detach.pop(e.path, None)
                            if old is not None:
                                self._detach(col, e.path, old)
                bars.advance(tasks["write"], len(outcomes))
            if on_batch is not None:
                on_batch(report)

    def _write(self, col, items: list[tuple[str, Encoded, list[FileEntry]]]) -> int:
        """Upsert the rows of a batch of items, grouped by the set of vector fields they carry."""
        now = time.time()
        groups: dict[tuple, tuple[list, dict, list]] = {}
        kw_rows = []
        stored_fields = set(col.vector_fields)
        for digest, enc, entries in items:
            files = {e.path: {"size": e.size, "mtime": e.mtime} for e in entries}
            base = base_payload(digest, [e.path for e in entries], entries[0].size, entries[0].mtime, enc.kind,
                                enc.mime, enc.meta)
            child_n = 0
            for row, kw in zip(enc.rows, enc.keywords):
                row.vectors = {f: v for f, v in row.vectors.items() if f in stored_fields}
                if not row.vectors:  # a field this collection predates (a sound row in an older library)
                    continue
                evidence = {"time": row.time, "end": row.end, "text": row.text}
                if row.role == Role.ITEM:
                    rid = digest
                    payload = item_payload(base, files, now, {"thumbnail": enc.meta.get("thumbnail"), **evidence})
                    kw = " ".join(filter(None, [enc.meta.get("name"), kw]))
                else:
                    child_n += 1
                    rid = child_id(digest, child_n)
                    payload = child_payload(base, row.role, digest, {**evidence, "asr_logprob": row.asr_logprob})
                key = (row.role == Role.ITEM, *sorted(row.vectors))
                ids, vecs, payloads = groups.setdefault(key, ([], {f: [] for f in key[1:]}, []))
                ids.append(rid)
                for f in key[1:]:
                    vecs[f].append(row.vectors[f])
                payloads.append(payload)
                kw_rows.append((rid, digest, enc.kind, kw))
        n = 0
        # Keywords, then children, then item rows last: the item row is what marks the content as
        # stored, so a crash in between leaves orphans (keyword rows, child rows) that the next run
        # overwrites, never an item that is searchable by vector but missing from the keyword index.
        self.store.keywords.delete_items([d for d, _, _ in items])
        self.store.keywords.add(kw_rows)
        for key, (ids, vecs, payloads) in sorted(groups.items(), key=lambda kv: kv[0][0]):
            col.upsert(ids, {f: np.stack(v) for f, v in vecs.items()}, payloads=payloads)
            n += len(ids)
        return n

    def _set_files(self, col, digest: str, files: Mapping[str, Mapping]) -> None:
        patch = files_patch(files)
        col.update_payload([digest], patch)
        child_ids = [r.id for r in col.scroll(where={PARENT: digest})]
        if child_ids:
            col.update_payload(child_ids, {k: v for k, v in patch.items() if k != "files"})

    def _detach(self, col, path: str, item_id: str) -> None:
        """``path`` no longer holds item ``item_id``'s content: forget it, and the item when it was
        the last path."""
        rec = col.get([item_id])
        if not rec:
            return
        files = dict(rec[0].payload.get("files") or {})
        files.pop(path, None)
        if files:
            self._set_files(col, item_id, files)
        else:
            col.delete(where={PARENT: item_id})
            col.delete(ids=[item_id])
            self.store.forget_items([item_id])
