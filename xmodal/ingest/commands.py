"""`xmodal index | search | similar | info | rm`: the command-line face of :class:`Library`.

Handlers import the library (and through it numpy, torch, the database) only when they run, so
`xmodal --help` stays instant.
"""
from __future__ import annotations

import argparse
import difflib
import fcntl
import json
import os
import shutil
import sys
import threading
from pathlib import Path

from xmodal.config import CONFIG, default_db_path
from xmodal.errors import InvalidInput, NotFound, StorageError, XmodalError
from xmodal.ingest.arguments import parse_where
from xmodal.ingest.interrupts import wait_readable

__all__ = ["add_commands", "format_evidence"]


def _common(p: argparse.ArgumentParser, model: bool = True) -> None:
    p.add_argument("--db", default=None, metavar="DIR",
                   help="library folder, milvus-lite:PATH or milvus://HOST:PORT (default: $XMODAL_DB or ./xmodal.db)")
    p.add_argument("--collection", default=CONFIG.ingest.default_collection, metavar="NAME",
                   help="collection inside the library (default: %(default)s)")
    if model:
        p.add_argument("--model", default=None, metavar="NAME",
                       help=f"encoder (default: the one the collection was indexed with, else "
                            f"{CONFIG.encoders.default_model})")


def add_commands(sub) -> None:
    p = sub.add_parser("index", help="index files and folders of text, images, audio and video",
                       description="Index (or update) files and folders. Unchanged files are skipped, changed "
                                   "ones re-encoded, duplicates stored once; --prune forgets deleted files.")
    p.add_argument("paths", nargs="+", metavar="PATH")
    _common(p)
    p.add_argument("--workers", type=int, default=CONFIG.ingest.workers, metavar="N",
                   help="processes decoding and encoding in parallel (default: %(default)s)")
    p.add_argument("--ray", default=None, metavar="ADDRESS",
                   help="decode and encode on a Ray cluster ('local' starts one here); this process writes")
    p.add_argument("--prune", action="store_true", help="forget files under PATH that no longer exist")
    p.add_argument("--no-ocr", action="store_true", help="do not read text in images")
    p.add_argument("--no-speech", action="store_true", help="do not listen to audio and video (no transcript, no sound vector)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(handler=_index)

    p = sub.add_parser("search", help="search by text, image or speech across every kind of media")
    p.add_argument("query", nargs="?", help="text query (any language the model knows)")
    p.add_argument("--image", metavar="FILE", help="query by an image")
    p.add_argument("--audio", metavar="FILE", help="query by a clip: its words when it holds speech, else what it sounds like")
    _search_options(p)
    p.add_argument("--no-keyword", action="store_true", help="vectors only (no BM25 keyword matching)")
    p.add_argument("--min-relevance", type=float, default=None, metavar="R",
                   help=f"leave out results less relevant than R, in [0, 1] (default: {CONFIG.ingest.min_relevance} "
                        "where the model's relevance is calibrated)")
    p.add_argument("--fusion", choices=("calibrated", "rrf"), default=None,
                   help=f"how signals combine (default: {CONFIG.ingest.fusion})")
    p.set_defaults(handler=_search)

    p = sub.add_parser("similar", help="items most like a stored item (more like this)")
    p.add_argument("item", metavar="ITEM", help="path (or id) of an indexed item")
    _search_options(p, similar=True)
    p.set_defaults(handler=_similar)

    p = sub.add_parser("info", help="what a library holds")
    _common(p, model=False)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_info)

    p = sub.add_parser("rm", help="forget files or folders (the files on disk are not touched)")
    p.add_argument("paths", nargs="+", metavar="PATH")
    _common(p, model=False)
    p.set_defaults(handler=_rm)


def _search_options(p: argparse.ArgumentParser, similar: bool = False) -> None:
    _common(p)
    p.add_argument("--kind", default=None, metavar="KINDS",
                   help="comma-separated: image,text,audio,video" + (" or all (default: the item's own kind)"
                                                                     if similar else ""))
    p.add_argument("--where", default=None, metavar="FILTER",
                   help='JSON payload filter, e.g. \'{"size": {"$lt": 100000}}\'')
    p.add_argument("-k", type=int, default=10, help="number of results (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="print one JSON array, best first")


def _open(args, mode: str = "r"):
    """Readers open read-only: they never hold the writer lock, so `xmodal index` can run beside
    a search (or a server) on the same library."""
    from xmodal.ingest.library import Library

    return Library.open(args.db or default_db_path(), collection=args.collection,
                        model=getattr(args, "model", None), mode=mode, settings=getattr(args, "settings", None))


def _open_for_writing(args):
    """Open as the one writer, waiting (with a message) while another process writes, so a second
    `xmodal index` queues behind the first instead of failing after loading its models."""
    from xmodal.db import locate

    uri = str(args.db or default_db_path())
    if not locate(uri).embedded:
        return _open(args, mode="auto")
    folder = Path(uri)
    while True:
        _wait_for_writer(folder)
        try:
            return _open(args, mode="w")
        except StorageError:
            if _writer_free(folder):
                raise  # not another writer: a real problem
            # another writer took the lock between our wait and our open: wait again


def _writer_free(folder: Path) -> bool:
    from xmodal.db.locks import ProcessLock

    lock = ProcessLock(folder)
    if not lock.path.exists():  # no xmodal process ever opened it for writing
        return True
    if lock.try_acquire():
        lock.release()
        return True
    return False


def _wait_for_writer(folder: Path) -> None:
    from xmodal.db.locks import ProcessLock

    if _writer_free(folder):
        return
    lock = ProcessLock(folder)
    print(f"xmodal: {folder} is being written by another process (pid {lock.holder()}); "
          "waiting for it to finish (Ctrl-C to stop)", file=sys.stderr, flush=True)
    # A thread blocks on the lock (until the writer closes or dies) and says so through a pipe; the
    # main thread waits on the pipe, where Ctrl-C always ends the wait (see wait_readable).
    r, w = os.pipe()

    def take_and_release() -> None:
        with open(lock.path, "a+") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            os.write(w, b"1")
        except OSError:  # the main thread stopped waiting (Ctrl-C)
            pass
        finally:
            os.close(w)

    threading.Thread(target=take_and_release, name="xmodal-wait-writer", daemon=True).start()
    try:
        wait_readable(r)
    finally:
        os.close(r)


def _console():
    from rich.console import Console

    return Console(stderr=False)


def _index(args) -> int:
    _check_index_input(args)
    uri = str(args.db or default_db_path())
    created = not os.path.exists(uri)
    lib = _open_for_writing(args)
    try:
        runner = None
        if args.ray:
            from xmodal.ingest.distributed import ray_runner

            runner = ray_runner(lib, args.ray, workers=args.workers, ocr=not args.no_ocr, speech=not args.no_speech)
        report = lib.index(args.paths, prune=args.prune, workers=args.workers, ocr=not args.no_ocr,
                           speech=not args.no_speech, runner=runner, on_batch=_pause_hook())
    except BaseException:
        try:
            wrote = bool(lib.db.list_collections())
        except XmodalError:
            wrote = True  # cannot tell: keep it
        lib.close()
        if created and not wrote:  # a failed first run leaves no empty library behind
            _remove_empty_library(Path(uri))
        raise
    lib.close()
    if args.json:
        print(json.dumps(report.to_dict(), default=str))
    else:
        report.render(_console())
    if report.interrupted:
        print("xmodal: interrupted; everything written so far is kept", file=sys.stderr)
        return 130
    return 0


def _check_index_input(args) -> None:
    """What can be checked before a library is created or a model loaded: the paths exist and the
    model is one xmodal knows."""
    from xmodal.ingest.files import scan

    scan(args.paths)  # NotFound names the first missing path
    if args.model is not None:
        from xmodal.encoders.registry import list_encoders

        names = list_encoders()
        prefixes = [n.split(":", 1)[0] + ":" for n in names if ":" in n]
        if args.model not in names and not args.model.startswith(tuple(prefixes)):
            close = difflib.get_close_matches(args.model, names, n=1)
            hint = f"; did you mean {close[0]}?" if close else f"; available: {', '.join(names)}"
            raise NotFound(f"unknown model {args.model!r}{hint}")


def _remove_empty_library(folder: Path) -> None:
    """Delete a library folder this run created and never wrote to (only xmodal's own files)."""
    from xmodal.ingest.files import is_library_folder

    if folder.is_dir() and is_library_folder(folder):
        shutil.rmtree(folder, ignore_errors=True)


def _pause_hook():
    """Test hook: with XMODAL_PAUSE_AFTER_BATCH=N the run announces the N-th written batch on
    stderr and waits for a line on stdin, so tests interrupt or race it on an event, not on speed."""
    after = int(os.environ.get("XMODAL_PAUSE_AFTER_BATCH", "0") or 0)
    if after <= 0:
        return None
    count = [0]

    def on_batch(report) -> None:
        count[0] += 1
        if count[0] == after:
            print(f"xmodal: paused after batch {after} ({report.encoded} items written); press Enter to go on",
                  file=sys.stderr, flush=True)
            wait_readable(sys.stdin)
            sys.stdin.readline()

    return on_batch


def _search(args) -> int:
    given = [x for x in (args.query, args.image, args.audio) if x is not None]
    if len(given) != 1:
        raise InvalidInput("search: give a text QUERY, or --image FILE, or --audio FILE (exactly one)")
    with _open(args) as lib:
        results = lib.search(text=args.query, image=args.image, audio=args.audio, kind=args.kind,
                             where=parse_where(args.where), k=args.k, keyword=not args.no_keyword,
                             min_relevance=args.min_relevance, fusion=args.fusion)
    if results.warning:
        print(f"xmodal: warning: {results.warning}", file=sys.stderr)
    heard = results.query_text and (f"({results.query_language}) " if results.query_language else "") + results.query_text
    _print_results(results, args.json, heard=heard)
    return 0


def _similar(args) -> int:
    with _open(args) as lib:
        results = lib.similar(args.item, k=args.k, kind=args.kind, where=parse_where(args.where))
    _print_results(results, args.json)
    return 0


def _print_results(results, as_json: bool, heard: str | None = None) -> None:
    if as_json:
        print(json.dumps([r.to_dict() for r in results], ensure_ascii=False, default=str))
        return
    from rich.table import Table

    console = _console()
    if heard:
        console.print(f"heard: [italic]{heard}[/]")
    if not results:
        console.print("no good match")
        return
    table = Table(show_lines=False)
    for col in ("#", "relevance", "kind", "path", "matched", "evidence"):
        table.add_column(col, overflow="fold")
    for i, r in enumerate(results, 1):
        table.add_row(str(i), f"{r.relevance:.2f}", r.kind, _shown(r.path), ",".join(r.signals) or "-",
                      format_evidence(r.evidence))
    console.print(table)


def _shown(path: str) -> str:
    """Paths under the current folder are shown relative to it (shorter tables)."""
    import os

    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def format_evidence(ev: dict) -> str:
    """``@1:05-1:09 "the quoted passage"`` - time span (when any) and the matching text."""
    parts = []
    if ev.get("time") is not None:
        span = _clock(ev["time"])
        if ev.get("end") is not None:
            span += f"-{_clock(ev['end'])}"
        parts.append(f"@{span}")
    if ev.get("text"):
        parts.append(f'"{ev["text"]}"')
    if ev.get("match"):
        parts.append(f"({ev['match']})")
    return " ".join(parts)


def _clock(seconds: float) -> str:
    m, s = divmod(float(seconds), 60)
    return f"{int(m)}:{s:04.1f}"


def _info(args) -> int:
    with _open(args) as lib:
        info = lib.info()
    if args.json:
        print(json.dumps(info, default=str))
        return 0
    console = _console()
    console.print(f"library {info['library']}  collection {info['collection']}  model {info['model']}")
    console.print(f"{info['items']} items ({info['paths']} paths, {info['rows']} rows); vector fields: "
                  f"{', '.join(info['fields']) or '-'}")
    for kind, n in info["by_kind"].items():
        console.print(f"  {kind:6} {n}")
    return 0


def _rm(args) -> int:
    with _open_for_writing(args) as lib:
        n = lib.remove(args.paths)
    print(f"removed {n} path{'s' if n != 1 else ''}")
    return 0
