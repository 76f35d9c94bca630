"""Media libraries: upload files to index, index a server folder under the configured roots,
search by text / image / audio, similar items ("more like this"), thumbnails and originals.

Clients address items by ``ref``, the library's content-hash id: they never send a server path
except to POST /v1/media/index, where it must resolve inside a configured root.
"""
from __future__ import annotations

import json
import re
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

from fastapi import APIRouter, Depends, File, Form, Path as PathParam, Query, UploadFile
from fastapi.responses import FileResponse, JSONResponse

from xmodal.config import CONFIG
from xmodal.errors import Forbidden, InvalidInput, MediaError, NotFound, TooLarge
from xmodal.ingest.arguments import parse_where
from xmodal.ingest.files import KINDS
from xmodal.ingest.hashing import content_hash
from xmodal.ingest.layout import ROW_MODEL_FIELDS, parse_kinds
from xmodal.ingest.results import Item
from xmodal.server import uploads
from xmodal.server.auth import Principal
from xmodal.server.deps import get_state, principal
from xmodal.server.routes.collections import NamespaceQuery
from xmodal.server.safe_paths import is_inside, relative_display, resolve_under
from xmodal.server.schemas import IndexFolder, MediaResult, MediaSearchResponse, UploadedFile, UploadResponse
from xmodal.server.state import ServerState

router = APIRouter(prefix="/v1/media", tags=["media"])
LibraryQuery = Query(None, max_length=64, description="media library (collection); default: the server's")
KindQuery = Query(None, description="image, text, audio, video (repeat or comma-separate)")
RefQuery = Query(..., max_length=128, description="an item's ref, as returned by search or upload")
QUERY_KINDS = ("image", "audio", "video")  # a video query is searched by what is said in it
_REF_RE = re.compile(r"^[0-9a-f]{8,128}$")
# Payload fields that name server paths (clients get the display name and ref instead), and the
# library's own bookkeeping.
_PRIVATE_FIELDS = ("path", "paths", "thumbnail", *ROW_MODEL_FIELDS)


MIN_RELEVANCE_HELP = ("leave out results less relevant than this, in [0, 1]; omitted: the library's default cut "
                      "when its relevance is calibrated (no junk: an empty list means no good match); 0: everything")


# --- helpers -------------------------------------------------------------------------------
def _public_payload(payload: dict) -> dict:
    return json.loads(json.dumps({k: v for k, v in payload.items() if k not in _PRIVATE_FIELDS}, default=str))


def _result(state: ServerState, r: Any) -> MediaResult:
    evidence = {k: v for k, v in (r.evidence or {}).items() if v is not None}
    name = (r.payload or {}).get("name") or Path(r.path).name
    return MediaResult(ref=str(r.id), name=name, kind=r.kind, score=float(r.score), evidence=evidence,
                       scores={k: float(v) for k, v in (getattr(r, "scores", None) or {}).items()},
                       payload=_public_payload(r.payload or {}), relevance=float(getattr(r, "relevance", 0.0)),
                       signals={k: float(v) for k, v in (getattr(r, "signals", None) or {}).items()})


def limit_k(state: ServerState, k: int) -> int:
    if k < 1 or k > state.settings.max_k:
        raise InvalidInput(f"k={k} must be between 1 and {state.settings.max_k}")
    return k


def stored_item(state: ServerState, namespace: str, library: Optional[str], ref: str) -> Item:
    """Item ``ref`` of the caller's library (400 for a malformed ref, 404 if it is not there)."""
    if not _REF_RE.match(ref):
        raise InvalidInput(f"ref {ref!r} is malformed: expected the hex id returned by search or upload")
    try:
        return state.library(namespace, library).item(ref, paths=False)  # clients never name server paths
    except NotFound:
        raise NotFound(f"media {ref!r} is not in this library") from None


def _served_path(state: ServerState, namespace: str, item: Item, ref: str) -> Path:
    """The first of the item's files that lies (symlinks resolved) inside a folder this server serves."""
    bases = [*state.roots, state.upload_root / namespace]
    for p in item.paths:
        if p and Path(p).is_file() and is_inside(p, bases):
            return Path(p).resolve()
    raise Forbidden(f"media {ref!r}: its file is not inside a folder this server serves")


def _search(state: ServerState, lib: Any, k: int, min_score: Optional[float], min_relevance: Optional[float],
            **query: Any) -> MediaSearchResponse:
    """``min_relevance`` None: the library's default cut (calibrated results under it are junk to a
    person, as the CLI says "no good match"); 0 lists everything."""
    t0 = time.perf_counter()
    results = lib.search(k=k, min_relevance=min_relevance, **query)
    state.warm_models.add(lib.model)
    out = [_result(state, r) for r in results if min_score is None or r.score >= min_score]
    return MediaSearchResponse(results=out, took_ms=round((time.perf_counter() - t0) * 1000, 2),
                               query_text=getattr(results, "query_text", None), warning=getattr(results, "warning", None),
                               query_language=getattr(results, "query_language", None))


def _index(state: ServerState, lib: Any, paths: list[str], prune: bool = False, ocr: bool = True,
           speech: bool = True, progress: Optional[dict] = None) -> dict:
    def on_batch(report: Any) -> None:  # a background job shows how far it got
        if progress is not None:
            progress.update(state="indexing", items_written=report.encoded, failed=len(report.failed))

    # One worker: the encoder already loaded in this process is shared instead of forking more.
    report = lib.index(paths, prune=prune, workers=1, progress=False, ocr=ocr, speech=speech, on_batch=on_batch)
    state.warm_models.add(lib.model)
    state.metrics.add_indexed(report.encoded)
    return report.to_dict()


# --- routes --------------------------------------------------------------------------------
@router.post("/upload", response_model=UploadResponse, status_code=201,
             summary="upload files and index them (typed by content; all or none)")
def upload(files: list[UploadFile] = File(..., description="images, audio, video, text, PDF"),
           ocr: bool = Query(True, description="read text in images and video frames (slower)"),
           speech: bool = Query(True, description="transcribe speech in audio and video (slower)"),
           library: Optional[str] = LibraryQuery, namespace: Optional[str] = NamespaceQuery,
           who: Principal = Depends(principal), state: ServerState = Depends(get_state)) -> UploadResponse:
    ns = who.namespace_for(namespace, "write")
    s = state.settings
    name = library or s.default_library
    state.physical(ns, name)  # validates the name before anything is written
    if len(files) > s.max_files_per_upload:
        raise TooLarge(f"upload: {len(files)} files exceed the limit of {s.max_files_per_upload} per request")
    dest = state.upload_dir(ns, name)
    stored: list[uploads.SavedUpload] = []
    fresh: list[Path] = []
    with state.write_lock:
        try:
            for f in files:
                sf = uploads.receive(f.file, f.filename, dest, s.max_upload_bytes, s.upload_chunk_bytes,
                                     KINDS, existing_ok=True)
                if sf.new:
                    fresh.append(sf.path)
                stored.append(sf)
            lib = state.library(ns, name, create=True)
            report = _index(state, lib, [str(sf.path) for sf in stored], ocr=ocr, speech=speech)
            if report["failed"]:
                bad = report["failed"][0]
                if fresh:
                    done = [str(p) for p in fresh if str(p) != bad["path"]]
                    if done:
                        try:
                            lib.remove(done)
                        except NotFound:
                            pass
                shown = next((sf.name for sf in stored if str(sf.path) == bad["path"]), bad["path"])
                raise MediaError(f"file {shown!r} could not be indexed: {bad['reason']}")
        except BaseException:
            for p in fresh:  # nothing half-done stays behind
                uploads.discard(p, state.upload_root)
            raise
    out = []
    for sf in stored:
        try:
            ref = lib.item(content_hash(sf.path), paths=False).id
        except NotFound:
            ref = ""
        out.append(UploadedFile(name=sf.name, ref=ref, kind=sf.kind, bytes=sf.size))
    report.pop("failed", None)
    return UploadResponse(files=out, report=report)


@router.post("/index", summary="index a server-side folder or file (only inside the configured roots)",
             responses={202: {"description": "background job started"}})
def index_folder(body: IndexFolder, namespace: Optional[str] = NamespaceQuery,
                 who: Principal = Depends(principal), state: ServerState = Depends(get_state)):
    ns = who.namespace_for(namespace, "admin")
    name = body.library or state.settings.default_library
    state.physical(ns, name)
    target = resolve_under(body.path, state.roots, what="path")

    progress: dict = {"state": "waiting for the writer lock"}  # another process may be writing

    def work() -> dict:
        with state.write_lock.patient() if body.background else state.write_lock:
            progress.update(state="indexing", items_written=0, failed=0)
            lib = state.library(ns, name, create=True)
            report = _index(state, lib, [str(target)], prune=body.prune, ocr=body.ocr, speech=body.speech,
                            progress=progress)
            progress["state"] = "written"
        for f in report.get("failed", []):
            f["path"] = relative_display(Path(f["path"]), state.roots)
        return {"path": relative_display(target, state.roots), "report": report}

    if not body.background:
        return work()
    job = state.jobs.start(ns, "index", work, describe_error=lambda exc: state.scrub(str(exc)), progress=progress)
    return JSONResponse(job.to_dict(), status_code=202)


@router.get("/jobs/{job_id}", summary="state and result of a background job of this namespace")
def job_status(job_id: str = PathParam(..., max_length=64), namespace: Optional[str] = NamespaceQuery,
               who: Principal = Depends(principal), state: ServerState = Depends(get_state)) -> dict:
    ns = who.namespace_for(namespace, "read")
    return state.jobs.get(ns, job_id).to_dict()


@router.get("/search", response_model=MediaSearchResponse, summary="search a library with text")
def search_text(q: str = Query(..., min_length=1, max_length=CONFIG.server.max_query_chars),
                kind: Optional[list[str]] = KindQuery,
                where: Optional[str] = Query(None, max_length=10_000, description="JSON filter on payload fields"),
                k: int = Query(CONFIG.server.default_k), min_score: Optional[float] = None,
                min_relevance: Optional[float] = Query(None, ge=0.0, le=1.0, description=MIN_RELEVANCE_HELP),
                library: Optional[str] = LibraryQuery, namespace: Optional[str] = NamespaceQuery,
                who: Principal = Depends(principal), state: ServerState = Depends(get_state)) -> MediaSearchResponse:
    ns = who.namespace_for(namespace, "read")
    lib = state.library(ns, library)
    return _search(state, lib, limit_k(state, k), min_score, min_relevance, text=q, kind=parse_kinds(kind),
                   where=parse_where(where, "where"))


@router.post("/search", response_model=MediaSearchResponse,
             summary="search with text or an uploaded image / speech clip (multipart form)")
def search_form(text: Optional[str] = Form(None, max_length=CONFIG.server.max_query_chars),
                file: Optional[UploadFile] = File(None, description="query image or audio clip"),
                kind: Optional[list[str]] = Form(None), where: Optional[str] = Form(None, max_length=10_000),
                k: int = Form(CONFIG.server.default_k), min_score: Optional[float] = Form(None),
                min_relevance: Optional[float] = Form(None, ge=0.0, le=1.0, description=MIN_RELEVANCE_HELP),
                library: Optional[str] = LibraryQuery, namespace: Optional[str] = NamespaceQuery,
                who: Principal = Depends(principal), state: ServerState = Depends(get_state)) -> MediaSearchResponse:
    ns = who.namespace_for(namespace, "read")
    s = state.settings
    has_text = bool(text and text.strip())
    if (file is None) == (not has_text):
        raise InvalidInput("search: give either 'text' or a query 'file' (image or audio), not both or neither")
    lib = state.library(ns, library)
    query: dict[str, Any] = {"kind": parse_kinds(kind), "where": parse_where(where, "where")}
    k = limit_k(state, k)
    if file is None:
        return _search(state, lib, k, min_score, min_relevance, text=text, **query)
    qdir = state.upload_root / ".queries"
    qdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=qdir) as tmp:
        sf = uploads.receive(file.file, file.filename, Path(tmp), s.max_upload_bytes, s.upload_chunk_bytes, QUERY_KINDS,
                             for_indexing=False)
        as_param = "image" if sf.kind == "image" else "audio"  # browsers record speech as webm "video"
        return _search(state, lib, k, min_score, min_relevance, **{as_param: str(sf.path)}, **query)


@router.get("/similar", response_model=MediaSearchResponse, summary="items like an indexed one ('more like this')")
def similar(ref: str = RefQuery, k: int = Query(CONFIG.server.default_k), kind: Optional[list[str]] = KindQuery,
            library: Optional[str] = LibraryQuery, namespace: Optional[str] = NamespaceQuery,
            who: Principal = Depends(principal), state: ServerState = Depends(get_state)) -> MediaSearchResponse:
    ns = who.namespace_for(namespace, "read")
    stored_item(state, ns, library, ref)
    lib = state.library(ns, library)
    t0 = time.perf_counter()
    results = lib.similar(ref, k=limit_k(state, k), kind=parse_kinds(kind))
    state.warm_models.add(lib.model)
    return MediaSearchResponse(results=[_result(state, r) for r in results],
                               took_ms=round((time.perf_counter() - t0) * 1000, 2))


@router.get("/info", summary="size and model of a library, and whether the model is loaded yet")
def info(library: Optional[str] = LibraryQuery, namespace: Optional[str] = NamespaceQuery,
         who: Principal = Depends(principal), state: ServerState = Depends(get_state)) -> dict:
    ns = who.namespace_for(namespace, "read")
    out = dict(state.library(ns, library).info())
    out.pop("library", None)  # a server path
    out["collections"] = [c for c in out.get("collections", []) if c == state.physical(ns, library or state.settings.default_library)]
    # model_ready: False until this process ran the model once (the first search then waits for it);
    # ocr_min_confidence: the floor (0..1) under which ingest drops OCR lines, for clients that show OCR text.
    out["model_ready"] = out.get("model") in state.warm_models
    out["ocr_min_confidence"] = CONFIG.ingest.ocr_line_min_confidence
    return json.loads(json.dumps(out, default=str))


@router.get("/thumbnail", summary="JPEG thumbnail of an indexed image or video",
            responses={200: {"content": {"image/jpeg": {}}}})
def thumbnail(ref: str = RefQuery, library: Optional[str] = LibraryQuery, namespace: Optional[str] = NamespaceQuery,
              who: Principal = Depends(principal), state: ServerState = Depends(get_state)) -> FileResponse:
    ns = who.namespace_for(namespace, "read")
    item = stored_item(state, ns, library, ref)
    thumb = item.thumbnail
    lib = state.library(ns, library)
    if not thumb or not Path(thumb).is_file() or not is_inside(thumb, [lib.store.thumbs_dir]):
        raise NotFound(f"media {ref!r} ({item.kind}) has no thumbnail")
    return FileResponse(Path(thumb).resolve(), media_type="image/jpeg",
                        headers={"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"})


@router.get("/file", summary="the original file of an item (only from the roots or the uploads)")
def original(ref: str = RefQuery, library: Optional[str] = LibraryQuery, namespace: Optional[str] = NamespaceQuery,
             who: Principal = Depends(principal), state: ServerState = Depends(get_state)) -> FileResponse:
    ns = who.namespace_for(namespace, "read")
    item = stored_item(state, ns, library, ref)
    path = _served_path(state, ns, item, ref)
    return FileResponse(path, media_type=item.mime or None,
                        headers={"Content-Security-Policy": "sandbox", "X-Content-Type-Options": "nosniff",
                                 "Cache-Control": "private, max-age=3600"})


@router.delete("", summary="remove an item from a library (its uploaded copy is deleted too)")
def remove(ref: str = RefQuery, library: Optional[str] = LibraryQuery, namespace: Optional[str] = NamespaceQuery,
           who: Principal = Depends(principal), state: ServerState = Depends(get_state)) -> dict:
    ns = who.namespace_for(namespace, "write")
    paths = stored_item(state, ns, library, ref).paths
    lib = state.library(ns, library)
    with state.write_lock:
        lib.remove(paths)
        mine = state.upload_root / ns
        for p in paths:
            if is_inside(p, [mine]):
                uploads.discard(Path(p).resolve(), state.upload_root)
    return {"removed": ref}
