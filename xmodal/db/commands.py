"""`xmodal export` / `xmodal import`: move a collection between backends or to / from Parquet.

Both are resumable: run the same command again after an interruption and it carries on from the
last batch written (``--restart`` starts over).
"""
from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from xmodal.config import IngestConfig, MilvusConfig, default_db_path

__all__ = ["add_commands"]


def _transfer_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--batch", type=int, default=None, metavar="N",
                   help=f"rows per batch (and per Parquet part file) (default: {MilvusConfig.transfer_batch_rows})")
    p.add_argument("--checkpoint", type=Path, default=None, metavar="FILE",
                   help="where to record progress (default: inside a Parquet export, else the user cache)")
    p.add_argument("--restart", action="store_true", help="ignore an earlier interrupted run and start over")
    p.add_argument("--json", action="store_true", help="print the report as JSON")


def add_commands(sub) -> None:
    p = sub.add_parser("export", help="copy a collection to another database or to Parquet files",
                       description="Stream a collection (vectors, payloads, schema, metadata) to another backend "
                                   "(a folder, milvus-lite:PATH.db, milvus://HOST:PORT/DB) or to parquet:FOLDER.")
    p.add_argument("--db", default=None, metavar="URI",
                   help="database to read (default: $XMODAL_DB or ./xmodal.db)")
    # The media library's collection: what `xmodal index` writes unless told otherwise.
    p.add_argument("--collection", default=IngestConfig.default_collection, metavar="NAME",
                   help="collection to export (default: %(default)s)")
    p.add_argument("--to", required=True, metavar="DEST", help="parquet:FOLDER or a database uri")
    p.add_argument("--as", dest="as_name", default=None, metavar="NAME",
                   help="collection name at the destination (default: the same name)")
    _transfer_options(p)
    p.set_defaults(handler=_export)

    p = sub.add_parser("import", help="load a collection from Parquet files (or another database)",
                       description="Load an `xmodal export` Parquet folder, or a collection of another database, "
                                   "into --db.")
    p.add_argument("source", metavar="SOURCE", help="parquet:FOLDER (or an export folder), or a database uri")
    p.add_argument("--db", default=None, metavar="URI",
                   help="database to write (default: $XMODAL_DB or ./xmodal.db)")
    p.add_argument("--collection", default=None, metavar="NAME",
                   help="collection to write (default: the exported collection's name)")
    p.add_argument("--from-collection", default=None, metavar="NAME",
                   help="collection to read when SOURCE is a database")
    _transfer_options(p)
    p.set_defaults(handler=_import)


def _db(args) -> str:
    return str(args.db or default_db_path())


def _source_uri(text: str, from_collection: str | None) -> str:
    """Without --from-collection the source is a Parquet export, prefixed or not."""
    from xmodal.db.transfer import PARQUET_PREFIX

    if from_collection is None and not text.startswith(PARQUET_PREFIX):
        return PARQUET_PREFIX + text
    return text


def _report(report, as_json: bool) -> int:
    if as_json:
        print(json.dumps(asdict(report)))
        return 0
    note = f", {report.skipped} already done by an earlier run" if report.skipped else ""
    note += " (the source had changed since the checkpoint: started over)" if report.restarted else ""
    print(f"{report.source} -> {report.sink}: {report.rows} rows in {report.batches} batches, "
          f"{report.seconds:.1f} s{note}")
    return 0


def _export(args) -> int:
    from xmodal.db.transfer import copy

    report = copy(_db(args), args.collection, args.to, args.as_name or args.collection, args.checkpoint,
                  args.batch, args.restart, settings=args.settings)
    return _report(report, args.json)


def _import(args) -> int:
    from xmodal.db.transfer import copy

    report = copy(_source_uri(args.source, args.from_collection), args.from_collection, _db(args),
                  args.collection or args.from_collection, args.checkpoint, args.batch, args.restart,
                  settings=args.settings)
    return _report(report, args.json)
