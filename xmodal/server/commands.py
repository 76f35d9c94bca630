"""`xmodal serve`: the REST API and web page in one process."""
from __future__ import annotations

import argparse
import dataclasses
import os


def add_commands(subparsers) -> None:
    from xmodal.config import CONFIG

    s = CONFIG.server
    p = subparsers.add_parser("serve", help="serve the REST API and the web page",
                              description="Serve the REST API (OpenAPI at /openapi.json) and the web page at /.")
    p.add_argument("--db", default=None, help="database folder or URI (default: $XMODAL_DB or ./xmodal.db)")
    p.add_argument("--host", default=s.host, help=f"address to bind (default {s.host})")
    p.add_argument("--port", type=int, default=s.port, help=f"port (default {s.port})")
    p.add_argument("--keys", default=os.environ.get("XMODAL_KEYS_FILE"),
                   help='JSON file of API keys: [{"key": "...", "scopes": ["read"], "namespace": "app1", "grants": []}]'
                        " ($XMODAL_KEYS_FILE); without keys only loopback addresses may be bound")
    p.add_argument("--root", action="append", default=[], metavar="DIR",
                   help="a server folder that POST /v1/media/index may read (repeatable)")
    p.add_argument("--model", default=None,
                   help="encoder for libraries created through the server (existing ones keep theirs)")
    p.add_argument("--upload-dir", default=None, help="where uploaded media is kept (default <db>.uploads)")
    p.add_argument("--max-upload-mb", type=float, default=s.max_upload_bytes / 1e6, help="per-file upload limit")
    p.add_argument("--allow-open-public", action="store_true",
                   help="allow a non-loopback address without API keys (everyone on the network gets admin)")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    p.set_defaults(handler=_serve)
    h = subparsers.add_parser("hash-key", help="print the sha256: form of an API key for a keys file")
    h.add_argument("key")
    h.set_defaults(handler=lambda a: print(__import__("xmodal.server.auth", fromlist=["hash_key"]).hash_key(a.key)))


def _serve(args: argparse.Namespace) -> int:
    from xmodal._optional import require
    from xmodal.config import CONFIG
    from xmodal.server import create_app
    from xmodal.server.auth import check_bind_safety, load_keys_file

    settings = dataclasses.replace(
        CONFIG.server, db=args.db, host=args.host, port=args.port,
        keys=load_keys_file(args.keys) if args.keys else (), roots=tuple(args.root), upload_dir=args.upload_dir, model=args.model,
        max_upload_bytes=int(args.max_upload_mb * 1e6), allow_open_public=args.allow_open_public)
    check_bind_safety(settings, args.host)
    uvicorn = require("uvicorn", "server")
    app = create_app(settings, config=args.settings)
    print(f"xmodal: serving {settings.db or 'the default database'} on http://{args.host}:{args.port}/ "
          f"({'API keys required' if settings.keys else 'no authentication, loopback only'})", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0
