"""A media library: one database collection + the encoder it was indexed with + a keyword index.

Layout of a local library folder ``media.xmdb/``: the vector database's own files, plus
``_ingest/<collection>/`` holding the BM25 keyword index, the failure log and thumbnails.
Items are keyed by content hash, so the same bytes under two names are one item with two paths;
chunks, OCR text, video frames and transcript segments are child rows pointing at their item
through the ``parent`` payload field and are grouped back into items at search time.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from xmodal.config import CONFIG, cache_dir
from xmodal.errors import InvalidInput, ModelMismatch, NotFound
from xmodal.ingest.encode import Encoded, fields_for
from xmodal.ingest.failures import FailureLog
from xmodal.ingest.extract import VISUAL
from xmodal.ingest.files import KINDS, FileEntry, scan, under
from xmodal.ingest.fusion import rrf
from xmodal.ingest.hashing import content_hash
from xmodal.ingest.keywords import KeywordIndex
from xmodal.ingest.plan import StoredState, make_plan
from xmodal.ingest.ranking import (Calibration, content_terms, evidence_order, field_signal, fuse, keyword_signal,
                                   language_warning, load_calibration, signal_name)
from xmodal.ingest.sound import is_speech, query_sound_vector
from xmodal.ingest.results import Failure, IndexReport, SearchResult, SearchResults
from xmodal.ingest.interrupts import deferred_interrupt
from xmodal.ingest.workers import Job, LocalRunner, Options

SIDE_FOLDER = "_ingest"
KEYWORD_LIST = "keyword"
BACKFILL = "~all"  # suffix of the unfloored twin of a vector list
OCR_LIST = ":ocr"  # suffix of the list of OCR rows of a text field
PAYLOAD_SCHEMA: dict[str, str] = {
    "path": "str", "paths": "list[str]", "name": "str", "kind": "str", "mime": "str", "size": "int",
    "hash": "str", "mtime": "float", "width": "int", "height": "int", "duration": "float",
    "language": "str", "thumbnail": "str", "parent": "str", "role": "str", "time": "float",
    "end": "float", "text": "str", "files": "json", "indexed_at": "float",
}
# Item-level fields copied onto child rows so filters (`where`) select chunks / frames too.
INHERITED = ("path", "paths", "name", "kind", "mime", "size", "hash", "mtime", "width", "height",
             "duration", "language")


def _side_folder(uri: str) -> Path:
    """Where a library keeps its keyword index and thumbnails: inside a local library folder, or
    (for a Milvus server) in the user's cache, keyed by the address."""
    if "://" in uri or uri.startswith("milvus-lite:"):
        local = uri.split(":", 1)[1] if uri.startswith("milvus-lite:") else None
        if local:
            return Path(local + ".xmodal")
        return cache_dir() / "libraries" / hashlib.sha1(uri.encode()).hexdigest()[:16]
    return Path(uri) / SIDE_FOLDER


class Library:
    """Index folders of mixed media and search them by text, image or speech.

    Open with :func:`xmodal.open`. The model is fixed when the collection is first written and
    remembered in its metadata; opening it with another model raises :class:`ModelMismatch`.
    """

    def __init__(self, db, uri: str, collection: str, model: str | None = None):
        self.db = db
        self.uri = uri
        self.collection_name = collection
        stored = self._collection_or_none()
        stored_model = stored.metadata.get("model") if stored is not None else None
        if model is not None and stored_model is not None and model != stored_model:
            raise ModelMismatch(
                f"collection {collection!r} in {uri} was indexed with model {stored_model!r}; "
                f"it cannot be queried or extended with {model!r} (drop the --model option or use a new --collection)")
        self.model = stored_model or model or CONFIG.encoders.default_model
        self.side = _side_folder(uri)
        self._encoder = None
        self._keywords: KeywordIndex | None = None
        self._failures: FailureLog | None = None
        self._calibration: Calibration | None | bool = False  # False: not looked up yet

    # ----------------------------------------------------------------- opening
    @classmethod
    def open(cls, path: str | os.PathLike, collection: str | None = None, model: str | None = None,
             mode: str = "auto") -> "Library":
        """``mode`` is the local database's: "auto" writes when no other process does, "r" only
        reads (never takes the writer lock, so readers never stand in a writer's way), "w" insists
        on writing. Milvus URIs ignore it (the server arbitrates)."""
        from xmodal.db import connect

        uri = str(path)
        local = not (uri.startswith("milvus-lite:") or "://" in uri)
        db = connect(uri, mode=mode) if local else connect(uri)
        return cls(db, uri, collection or CONFIG.ingest.default_collection, model)

    def own_paths(self) -> list[Path]:
        """The files and folders this library keeps on the local disk (never indexed as media)."""
        out = [self.side]
        if self.uri.startswith("milvus-lite:"):
            out.append(Path(self.uri.split(":", 1)[1]))
        elif "://" not in self.uri:
            out.append(Path(self.uri))
        return out

    def close(self) -> None:
        for side in (self._keywords, self._failures):
            if side is not None:
                side.close()
        self._keywords = self._failures = None
        self.db.close()

    def __enter__(self) -> "Library":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def encoder(self):
        """The encoder, loaded on first use (loading a model costs seconds; `info` never needs it)."""
        if self._encoder is None:
            from xmodal.encoders import get_encoder

            self._encoder = get_encoder(self.model)
        return self._encoder

    @property
    def calibration(self) -> Calibration | None:
        """The model's score-to-relevance mappings (see :mod:`xmodal.ingest.ranking`); ``None`` for a
        model nobody calibrated yet, whose searches fall back to reciprocal-rank fusion."""
        if self._calibration is False:
            self._calibration = load_calibration(self.model)
        return self._calibration  # type: ignore[return-value]

    @property
    def keywords(self) -> KeywordIndex:
        if self._keywords is None:
            self._keywords = KeywordIndex(self.side / self.collection_name / CONFIG.ingest.keyword_file)
        return self._keywords

    @property
    def failures(self) -> FailureLog:
        if self._failures is None:
            self._failures = FailureLog(self.side / self.collection_name / CONFIG.ingest.failure_file)
        return self._failures

    @property
    def thumbs_dir(self) -> Path:
        return self.side / self.collection_name / "thumbs"

    def _collection_or_none(self):
        if self.db.has_collection(self.collection_name):
            return self.db.collection(self.collection_name)
        return None

    def _collection(self, create: bool = False):
        col = self._collection_or_none()
        if col is None and create:
            from xmodal.db import VectorField

            enc = self.encoder
            vectors = {f: VectorField(dim=enc.dim, metric="cosine", index="hnsw") for f in fields_for(enc)}
            col = self.db.create_collection(
                self.collection_name, vectors=vectors, payload_schema=PAYLOAD_SCHEMA,
                metadata={"model": self.model, "dim": enc.dim, "fields": list(vectors), "created_by": "xmodal.ingest"})
        return col

    # ---------------------------------------------------------------- indexing
    def index(self, paths: Iterable[str | os.PathLike], prune: bool = False, workers: int | None = None,
              ocr: bool = True, speech: bool = True, progress: bool | None = None, runner=None,
              on_batch: Callable[[IndexReport], None] | None = None) -> IndexReport:
        """Bring the library in step with ``paths`` (files or folders): encode new and changed files,
        skip unchanged ones without reading them, store duplicates once, and with ``prune`` forget
        files that disappeared from under ``paths``. One bad file never stops the run; Ctrl-C stops
        it with everything written so far kept (the report says ``interrupted``). The library's own
        folders are never scanned, even when they lie under ``paths``.

        ``on_batch(report)`` runs after each batch is durably written (the report so far), so a
        caller can announce progress that is already safe (and tests can act on it, not on timing)."""
        from xmodal.progress import progress as progress_bars

        paths = [str(p) for p in paths]
        if not paths:
            raise InvalidInput("index: name at least one file or folder")
        t0 = time.perf_counter()
        report = IndexReport()
        roots = [str(Path(p).expanduser().resolve()) for p in paths]
        entries_iter = scan(paths, exclude=self.own_paths())  # raises NotFound for a missing path before anything changes
        col = self._collection(create=True)
        state = self._stored_state(col)
        with progress_bars(progress) as bars:
            try:
                t_scan = bars.add_task("scan", total=None)
                plan = make_plan(entries_iter, state, content_hash, roots, prune,
                                 on_file=lambda e: bars.advance(t_scan, 1))
                bars.update(t_scan, total=bars.tasks[t_scan].completed)
                for entry in plan.unchanged:
                    report.skipped[entry.kind_hint] += 1
                for entry, reason in plan.failed:
                    report.failed.append(Failure(entry.path, entry.kind_hint, reason))
                self._apply_attachments(col, plan, report)
                jobs = []
                for digest, files in plan.encode.items():
                    known = self.failures.known(files[0])
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

    def _stored_state(self, col) -> StoredState:
        items = ((r.id, r.payload.get("files") or {}) for r in col.scroll(where={"role": "item"}))
        return StoredState.from_items(items)

    def _apply_attachments(self, col, plan, report: IndexReport) -> None:
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

    def _encode_and_write(self, col, jobs: list[Job], plan, report: IndexReport, bars, workers, ocr, speech,
                          runner, on_batch=None) -> None:
        if not jobs:
            return
        size = CONFIG.ingest.batch_files
        batches = [jobs[i:i + size] for i in range(0, len(jobs), size)]
        tasks = {ph: bars.add_task(ph, total=len(jobs)) for ph in ("decode", "encode", "write")}
        opts = Options(model=self.model, thumbs_dir=str(self.thumbs_dir), ocr=ocr, speech=speech)
        n_workers = CONFIG.ingest.workers if workers is None else workers
        if runner is None:
            runner = LocalRunner(opts, n_workers, encoder=self.encoder if n_workers <= 1 else None)
        for outcomes in runner.run(batches, on_progress=lambda ph, n: bars.advance(tasks[ph], n)):
            good = []
            for out in outcomes:
                if out.encoded is None:
                    reason = out.error or "unknown error"
                    # Every file with these bytes failed, not only the one that was decoded.
                    for entry in plan.encode[out.job.digest]:
                        report.failed.append(Failure(entry.path, out.kind or entry.kind_hint, reason))
                        self.failures.record(entry, out.kind, reason)
                else:
                    good.append(out)
            with deferred_interrupt():  # a batch is written whole or not at all
                if good:
                    self.failures.forget([e.path for o in good for e in plan.encode[o.job.digest]])
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
            base = _drop_none({
                "path": entries[0].path, "paths": [e.path for e in entries], "name": Path(entries[0].path).name,
                "kind": enc.kind, "mime": enc.mime, "size": entries[0].size, "hash": digest,
                "mtime": entries[0].mtime, "width": enc.meta.get("width"), "height": enc.meta.get("height"),
                "duration": enc.meta.get("duration"), "language": enc.meta.get("language")})
            child_n = 0
            for row, kw in zip(enc.rows, enc.keywords):
                row.vectors = {f: v for f, v in row.vectors.items() if f in stored_fields}
                if not row.vectors:  # a field this collection predates (a sound row in an older library)
                    continue
                if row.role == "item":
                    rid = digest
                    payload = {**base, "role": "item", "files": files, "indexed_at": now,
                               **_drop_none({"thumbnail": enc.meta.get("thumbnail"), "time": row.time,
                                             "end": row.end, "text": row.text})}
                    kw = " ".join(filter(None, [enc.meta.get("name"), kw]))
                else:
                    child_n += 1
                    rid = f"{digest}:{child_n}"
                    payload = {**base, "role": row.role, "parent": digest,
                               **_drop_none({"time": row.time, "end": row.end, "text": row.text})}
                key = (row.role == "item", *sorted(row.vectors))
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
        self.keywords.delete_items([d for d, _, _ in items])
        self.keywords.add(kw_rows)
        for key, (ids, vecs, payloads) in sorted(groups.items(), key=lambda kv: kv[0][0]):
            col.upsert(ids, {f: np.stack(v) for f, v in vecs.items()}, payloads=payloads)
            n += len(ids)
        return n

    def _set_files(self, col, digest: str, files: Mapping[str, Mapping]) -> None:
        paths = sorted(files)
        main = paths[0]
        patch = {"files": dict(files), "paths": paths, "path": main, "name": Path(main).name,
                 "size": int(files[main]["size"]), "mtime": float(files[main]["mtime"])}
        col.update_payload([digest], patch)
        child_ids = [r.id for r in col.scroll(where={"parent": digest})]
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
            col.delete(where={"parent": item_id})
            col.delete(ids=[item_id])
            self.keywords.delete_items([item_id])
            (self.thumbs_dir / f"{item_id}.jpg").unlink(missing_ok=True)  # named by content hash

    def drop(self) -> None:
        """Delete the whole collection and its keyword index (the media files are not touched)."""
        if self._keywords is not None:
            self._keywords.close()
            self._keywords = None
        if self.db.has_collection(self.collection_name):
            self.db.drop_collection(self.collection_name)
        if self._failures is not None:
            self._failures.close()
            self._failures = None
        shutil.rmtree(self.side / self.collection_name, ignore_errors=True)  # keywords, failures, thumbnails

    def remove(self, paths: Iterable[str | os.PathLike]) -> int:
        """Forget files (or everything under folders) whether or not they still exist on disk.
        Returns the number of paths removed; a path the library does not hold raises NotFound."""
        col = self._collection_or_none()
        state = self._stored_state(col) if col is not None else StoredState()
        targets: list[str] = []
        for p in paths:
            absolute = str(Path(p).expanduser().resolve())
            matched = [s for s in state.by_path if under(s, [absolute])]
            if not matched:
                raise NotFound(f"{p}: not in the library {self.uri}")
            targets += matched
        for path in dict.fromkeys(targets):
            self._detach(col, path, state.by_path[path].item_id)
        return len(set(targets))

    # ------------------------------------------------------------------ search
    def search(self, text: str | None = None, image: Any = None, audio: str | os.PathLike | None = None,
               kind: str | Sequence[str] | None = None, where: Mapping | None = None, k: int = 10,
               keyword: bool = True, min_relevance: float | None = 0.0, fusion: str | None = None
               ) -> SearchResults:
        """Items best matching a text, an image (path or PIL image) or a speech clip, over every
        vector field and BM25 keyword matches, best first by ``relevance`` in [0, 1].

        Text and speech queries: each signal's raw score goes through the model's calibration and
        the signals are fused by probabilistic OR (``fusion="calibrated"``, the default of
        ``CONFIG.ingest.fusion``), so kinds compete on one scale; ``fusion="rrf"`` orders by
        reciprocal-rank fusion instead. Results under ``min_relevance`` are left out (``None``: the
        default cut ``CONFIG.ingest.min_relevance`` when the relevance is calibrated, else none).
        A model without a calibration (see ``python -m xmodal.ingest.calibrate``) falls back to
        RRF, with the best cosine as relevance; ``results.calibrated`` says which one you got."""
        if sum(q is not None for q in (text, image, audio)) != 1:
            raise InvalidInput("search: give exactly one of text=, image= or audio=")
        if text is not None and not str(text).strip():
            raise InvalidInput("search: the text query is empty")
        kinds = _kinds(kind)
        k = _positive_k(k)
        fusion = fusion or CONFIG.ingest.fusion
        if fusion not in ("calibrated", "rrf"):
            raise InvalidInput(f"fusion must be 'calibrated' or 'rrf', not {fusion!r}")
        if min_relevance is not None and not 0.0 <= float(min_relevance) <= 1.0:
            raise InvalidInput(f"min_relevance must lie in [0, 1], got {min_relevance!r}")
        out = SearchResults()
        if text is not None:
            out.warning = language_warning(str(text), self.model)
        col = self._collection_or_none()
        if col is None:
            return out
        self._check_model(col)
        sound = None
        if audio is not None:
            text, out.query_language = self._transcribe_query(audio)
            if is_speech(text):
                out.query_text = text
                out.warning = language_warning(text, self.model)
            else:  # a bark, a bell: searched by what it sounds like (xmodal.ingest.sound)
                sound, keyword, out.query_language = query_sound_vector(self.encoder, audio), False, None
        if image is not None:
            vec = self.encoder.encode_image([self._load_query_image(image)])[0]
            rankings, rows = self._vector_rankings(col, vec, "image", kinds, where, k)
            results = self._fuse(col, rankings, rows, k)
        else:
            if "text" not in self.encoder.modalities:
                raise InvalidInput(f"model {self.model!r} cannot encode text queries")
            vec = self.encoder.encode_text([text], mode="query")[0] if sound is None else sound
            if fusion == "calibrated" and self.calibration is not None:
                results = self._calibrated(col, vec, text, kinds, where, k, keyword)
                out.calibrated = True
            else:
                rankings, rows = self._vector_rankings(col, vec, "text", kinds, where, k)
                if keyword:
                    kw_rank, kw_rows = self._keyword_ranking(col, text, kinds, where, k)
                    rankings[KEYWORD_LIST] = kw_rank
                    rows[KEYWORD_LIST] = kw_rows
                results = self._fuse(col, rankings, rows, k)
        if min_relevance is None:
            min_relevance = CONFIG.ingest.min_relevance if out.calibrated else 0.0
        out.extend(r for r in results if r.relevance >= min_relevance)
        return out

    def similar(self, item: str | os.PathLike, k: int = 10, kind: str | Sequence[str] | None = None,
                where: Mapping | None = None) -> SearchResults:
        """More like this: items nearest to a stored item (named by path or id), itself excluded, of
        the item's own kind unless ``kind`` names others (``"all"``: every kind). ``relevance`` is
        the best cosine similarity (an item-to-item calibration is not fitted yet)."""
        k = _positive_k(k)
        col = self._collection_or_none()
        if col is None:
            raise NotFound(f"{item}: the library {self.uri} is empty")
        item_id = self._resolve_item(col, str(item))
        rec = col.get([item_id], with_vectors=True)[0]
        # More like a photo means photos: other kinds only when asked for (kind="all" or a list).
        kinds = None if kind == "all" else (_kinds(kind) or [rec.payload.get("kind")])
        rankings: dict = {}
        rows: dict = {}
        for field, vec in (rec.vectors or {}).items():
            r, rw = self._vector_rankings(col, np.asarray(vec, np.float32), field, kinds, where, k + 1)
            rankings.update(r)
            rows.update(rw)
        for name in rankings:
            rankings[name] = [i for i in rankings[name] if i != item_id]
        out = SearchResults()
        out.extend(self._fuse(col, rankings, rows, k))
        return out

    def _check_model(self, col) -> None:
        stored = col.metadata.get("model")
        if stored is not None and stored != self.model:
            raise ModelMismatch(f"collection {self.collection_name!r} was indexed with {stored!r}, not {self.model!r}")

    def _resolve_item(self, col, item: str) -> str:
        if col.get([item]):
            return item
        path = str(Path(item).expanduser().resolve())
        for r in col.scroll(where={"role": "item"}):
            if path in (r.payload.get("files") or {}):
                return r.id
        raise NotFound(f"{item}: not in the library {self.uri} (index it first)")

    def _load_query_image(self, image: Any):
        from PIL import Image

        if isinstance(image, Image.Image):
            return image.convert("RGB")
        if not Path(image).is_file():
            raise NotFound(f"{image}: no such image file")
        from xmodal.media import load_image

        return load_image(Path(image))

    def _transcribe_query(self, audio: str | os.PathLike) -> tuple[str, str | None]:
        """What a speech query says, and the language it was said in."""
        if not Path(audio).is_file():
            raise NotFound(f"{audio}: no such audio file")
        from xmodal.media import transcribe

        segments = transcribe(Path(audio))
        text = " ".join(s.text.strip() for s in segments).strip()
        return text, (segments[0].language if segments else None)

    def _row_budget(self, k: int) -> int:
        return max(k * CONFIG.ingest.candidate_multiplier, CONFIG.ingest.min_candidates)

    def _where(self, kinds: list[str] | None, where: Mapping | None) -> dict | None:
        parts = []
        if kinds:
            parts.append({"kind": {"$in": kinds}})
        if where:
            parts.append(dict(where))
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else {"$and": parts}

    def _vector_rankings(self, col, vec: np.ndarray, source: str, kinds, where, k: int):
        """One ranked list of item ids per vector field, each item keeping its best-matching row.

        Only rows whose similarity stands out among the field's nearest rows (all kinds) vote; when
        no field has such a row the lists are kept whole, so a query always gets its nearest items.
        """
        q = np.asarray(vec, np.float32)[None, :]
        budget = self._row_budget(k)
        flt = self._where(kinds, where)
        raw: dict[str, list] = {}
        floors: dict[str, float] = {}
        for field in col.vector_fields:
            hits = col.search(field, q, k=budget, where=flt)[0]
            ref = col.search(field, q, k=budget, where=self._where(None, where))[0] if kinds else hits
            raw[field] = hits
            floors[field] = _floor([h.score for h in ref])
        lists: dict[str, list] = {}
        for f, hits in raw.items():
            # Text read off a picture is a second voice for an image that already votes with its
            # pixels: it gets its own, lighter list (see CONFIG.ingest.ocr_weight).
            lists[f"{source}->{f}"] = [h for h in hits if h.score >= floors[f] and _role(h) != "ocr"]
            ocr_hits = [h for h in hits if h.score >= floors[f] and _role(h) == "ocr"]
            if ocr_hits:
                lists[f"{source}->{f}{OCR_LIST}"] = ocr_hits
        # The whole lists vote too, with a small weight: they only order the items no field vouched
        # for, so a query still gets k results.
        lists.update({f"{source}->{f}{BACKFILL}": hits for f, hits in raw.items()})
        rankings: dict[str, list[str]] = {}
        rows: dict[str, dict[str, Any]] = {}
        for name, hits in lists.items():
            best: dict[str, Any] = {}
            for h in hits:
                item_id = (h.payload or {}).get("parent") or h.id
                if item_id not in best:
                    best[item_id] = h
            rankings[name] = list(best)
            rows[name] = best
        return rankings, rows

    def _keyword_ranking(self, col, text: str, kinds, where, k: int):
        from xmodal.db.api import Hit

        hits = self.keywords.search(text, self._row_budget(k), kinds)
        if not hits:
            return [], {}
        floor = hits[0][2] * CONFIG.ingest.keyword_min_ratio
        hits = [h for h in hits if h[2] >= floor]
        recs = {r.id: r for r in col.get([r for r, _, _ in hits])}
        check = self._payload_check(col, where)
        best: dict[str, Any] = {}
        for row_id, item_id, score in hits:
            rec = recs.get(row_id)
            if rec is None or item_id in best or (check is not None and not check(rec.payload)):
                continue  # stale keyword row, or filtered out
            best[item_id] = Hit(row_id, score, rec.payload)
        return list(best), best

    def _calibrated(self, col, vec: np.ndarray, text: str, kinds, where, k: int, keyword: bool
                    ) -> list[SearchResult]:
        """Every candidate row's score -> relevance through the model's calibration, one signal per
        vector field plus keywords, each item keeping its best row; items ranked by the
        probabilistic OR of their signals (see :mod:`xmodal.ingest.ranking`)."""
        cal, cfg = self.calibration, CONFIG.ingest
        q = np.asarray(vec, np.float32)[None, :]
        flt = self._where(kinds, where)
        signals: dict[str, dict[str, float]] = {}
        rows: dict[str, dict[str, Any]] = {}
        for field in col.vector_fields:
            hits = col.search(field, q, k=self._row_budget(k), where=flt)[0]
            signals[field], rows[field] = field_signal(field, hits, cal.mapping(field, q[0]), cfg.ocr_weight)
        if keyword:
            signals[KEYWORD_LIST], rows[KEYWORD_LIST] = self._keyword_signal(col, text, kinds, where, k)
        fused = fuse(signals)[:k]
        items = {r.id: r for r in col.get([i for i, _ in fused])}
        out = []
        for item_id, relevance in fused:
            rec = items.get(item_id)
            if rec is None:
                continue
            payload = dict(rec.payload)
            matched = evidence_order(signals, item_id, payload.get("kind", ""))
            evidence, scores = _evidence([(n, rows[n][item_id]) for _, n in matched])
            named = {(signal_name(n, _role(rows[n][item_id])) if n != KEYWORD_LIST else n): round(r, 4)
                     for r, n in sorted(matched, reverse=True)}
            out.append(SearchResult(path=payload.get("path", ""), kind=payload.get("kind", ""),
                                    score=round(relevance, 6), evidence=evidence, payload=payload, id=str(item_id),
                                    scores=scores, relevance=round(relevance, 4), signals=named))
        return out

    def _keyword_signal(self, col, text: str, kinds, where, k: int) -> tuple[dict, dict]:
        """Keyword relevance per item (see :func:`ranking.keyword_signal`), stale or filtered rows left out."""
        from xmodal.db.api import Hit

        cfg = CONFIG.ingest
        hits = self.keywords.search_passages(text, self._row_budget(k), kinds)
        recs = {r.id: r for r in col.get(list(dict.fromkeys(h.row_id for h in hits)))} if hits else {}
        check = self._payload_check(col, where)
        hits = [h for h in hits if h.row_id in recs and (check is None or check(recs[h.row_id].payload))]
        df = self.keywords.doc_freqs(content_terms(text))
        relevance, best = keyword_signal(text, hits, df, self.keywords.count(),
                                         self.calibration.mapping(KEYWORD_LIST), cfg.rare_term_relevance,
                                         cfg.rare_term_max_share, cfg.rare_term_min_passages, cfg.evidence_chars)
        return relevance, {i: Hit(h.row_id, h.score, {**recs[h.row_id].payload, "text": snippet})
                           for i, (h, snippet) in best.items()}

    def _payload_check(self, col, where: Mapping | None):
        if not where:
            return None
        from xmodal.db.filters import evaluate, parse_filter

        node = parse_filter(where, col.payload_schema)
        return lambda payload: evaluate(node, payload, col.payload_schema)

    def _fuse(self, col, rankings: dict, rows: dict, k: int) -> list[SearchResult]:
        weights = {name: _list_weight(name) for name in rankings}
        fused = rrf(rankings, weights)[:k]
        items = {r.id: r for r in col.get([i for i, _ in fused])}
        out = []
        for item_id, score in fused:
            rec = items.get(item_id)
            if rec is None:
                continue
            ranks = sorted((lst.index(item_id), _LIST_PREFERENCE(name), name)
                           for name, lst in rankings.items() if item_id in rows[name])
            evidence, scores = _evidence([(name, rows[name][item_id]) for _, _, name in ranks])
            payload = dict(rec.payload)
            cosine = max((v for n, v in scores.items() if n != KEYWORD_LIST), default=0.0)
            out.append(SearchResult(path=payload.get("path", ""), kind=payload.get("kind", ""), score=float(score),
                                    evidence=evidence, payload=payload, id=str(item_id), scores=scores,
                                    relevance=round(min(1.0, max(0.0, cosine)), 4)))
        return out

    # -------------------------------------------------------------------- info
    def info(self) -> dict:
        """What the library holds: items by kind, rows, model, vector fields, keyword passages."""
        col = self._collection_or_none()
        out: dict = {"library": self.uri, "collection": self.collection_name, "model": self.model,
                     "items": 0, "by_kind": dict.fromkeys(KINDS, 0), "rows": 0, "fields": [], "paths": 0}
        if col is None:
            return out
        out["fields"] = sorted(col.vector_fields)
        out["rows"] = col.count()
        for kind in KINDS:
            out["by_kind"][kind] = col.count(where={"role": "item", "kind": kind})
        out["items"] = sum(out["by_kind"].values())
        out["paths"] = sum(len(r.payload.get("files") or {}) for r in col.scroll(where={"role": "item"}))
        out["keyword_passages"] = self.keywords.count()
        out["collections"] = self.db.list_collections()
        return out


def _role(hit) -> str:
    return (hit.payload or {}).get("role", "item")


def _list_weight(name: str) -> float:
    if name == KEYWORD_LIST:
        return CONFIG.ingest.keyword_weight
    if name.endswith(BACKFILL):
        return CONFIG.ingest.backfill_weight
    return CONFIG.ingest.ocr_weight if name.endswith(OCR_LIST) else 1.0


def _floor(scores: list[float]) -> float:
    """mean + z * std of a field's nearest-row similarities (-inf when too few to judge)."""
    if len(scores) < 3:
        return float("-inf")
    arr = np.asarray(scores, np.float64)
    return float(arr.mean() + CONFIG.ingest.field_floor_z * arr.std())


def _LIST_PREFERENCE(name: str) -> int:  # noqa: N802 - used as a sort key
    """On equal ranks, quote image evidence first (a frame's time is exact), then passages, then keywords."""
    order = 3 if name.endswith(BACKFILL) else 0
    name = name.removesuffix(BACKFILL).removesuffix(OCR_LIST)
    if name.endswith("->" + VISUAL):
        return order
    return order + (2 if name == KEYWORD_LIST else 1)


def _drop_none(d: Mapping[str, Any]) -> dict:
    return {k: v for k, v in d.items() if v is not None}


def _kinds(kind: str | Sequence[str] | None) -> list[str] | None:
    if kind is None:
        return None
    kinds = [k.strip() for k in kind.split(",")] if isinstance(kind, str) else [str(k) for k in kind]
    kinds = [k for k in kinds if k]
    bad = [k for k in kinds if k not in KINDS]
    if bad:
        raise InvalidInput(f"kind {bad[0]!r} is not one of {', '.join(KINDS)}")
    return kinds or None


def _positive_k(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k <= 0:
        raise InvalidInput(f"k must be a positive integer, got {k!r}")
    return int(k)


def _same_moment(evidence: Mapping[str, Any], row: Mapping[str, Any]) -> bool:
    """Whether a row's text can be quoted for the evidence's moment: either has no time, or the
    row's span (time..end, or its frame interval) covers the evidence's time."""
    t, at = row.get("time"), evidence.get("time")
    if t is None or at is None:
        return True
    end = row.get("end")
    end = end if end is not None else t + CONFIG.media.video_frame_interval_s
    return t - CONFIG.media.video_frame_interval_s / 2 <= at <= end


def _evidence(matches: list[tuple[str, Any]]) -> tuple[dict, dict]:
    """Evidence from the best-ranked list's row, completed by other lists' rows that agree with it
    (same time, or no time), plus each list's raw score."""
    evidence: dict = {}
    scores: dict = {}
    for name, hit in matches:
        scores.setdefault(name.removesuffix(BACKFILL).removesuffix(OCR_LIST), round(float(hit.score), 6))
    for i, (name, hit) in enumerate(matches):
        p = hit.payload or {}
        t = p.get("time")
        if i == 0:
            evidence["match"] = "keyword" if name == KEYWORD_LIST else p.get("role", "item")
            for key in ("time", "end", "text"):
                if p.get(key) not in (None, ""):
                    evidence[key] = p[key]
        elif "text" not in evidence and p.get("text") and _same_moment(evidence, p):
            evidence["text"] = p["text"]
            if t is not None and "time" not in evidence:
                evidence["time"] = t
    return evidence, scores
