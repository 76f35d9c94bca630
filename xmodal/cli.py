"""The `xmodal` command: a thin dispatcher over each area's own sub-commands.

Each area module defines ``add_commands(subparsers)``; its handlers import heavy libraries
lazily, so `xmodal --help` stays instant.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from xmodal.errors import XmodalError

# Areas that contribute sub-commands; a missing module (not yet built) is skipped.
COMMAND_MODULES = (
    "xmodal.ingest.commands",
    "xmodal.apps.commands",
    "xmodal.train.commands",
    "xmodal.server.commands",
    "xmodal.db.commands",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xmodal", description="Cross-modal semantic search over your media.")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        module.add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from xmodal import __version__

        print(__version__)
        return 0
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except XmodalError as exc:
        print(f"xmodal: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("xmodal: interrupted; everything written so far is kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
