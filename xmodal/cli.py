"""The `xmodal` command: a thin dispatcher over each area's own sub-commands.

Each area module defines ``add_commands(subparsers)``; its handlers import heavy libraries
lazily, so `xmodal --help` stays instant.

What the dispatcher owns, for every sub-command alike: usage errors shown with the sub-command's
own usage and a close-match suggestion, commands that only read refusing to run (and to create
anything) where there is no library, a closed pipe (`xmodal search ... | head -1`) ending the
command quietly, and model-loading progress bars kept off unless the user asked for them.
"""
from __future__ import annotations

import argparse
import difflib
import importlib
import os
import re
import sys
from typing import Any, NoReturn

from xmodal.config import Config, default_db_path
from xmodal.errors import NotFound, XmodalError

# Areas that contribute sub-commands (each module's add_commands adds its parsers).
COMMAND_MODULES = (
    "xmodal.ingest.commands",
    "xmodal.apps.commands",
    "xmodal.train.commands",
    "xmodal.server.commands",
    "xmodal.db.commands",
)
# Sub-commands that need an existing library: without one they would only print "no results"
# (and, opening it, create an empty library folder where the user mistyped a path).
NEEDS_LIBRARY = frozenset({"search", "similar", "info", "rm", "ask", "recommend", "like", "dislike", "history",
                           "export"})
# transformers prints a "Loading weights 103/103" bar per model load (and the hub one per
# download); this turns them off unless the user asked for them (HF_HUB_DISABLE_PROGRESS_BARS=0).
QUIET_MODEL_LOADING = {"HF_HUB_DISABLE_PROGRESS_BARS": "1"}
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what `git log | head` reports


class Parser(argparse.ArgumentParser):
    """argparse that suggests the closest option or command on a typo."""

    subcommands: dict[str, argparse.ArgumentParser] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # No prefix matching: `--k` must not silently mean `--kind` (it gets "did you mean -k?").
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        bad = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if bad:
            choices = re.findall(r"'([^']*)'", bad.group(2))
            message += _suggestion(bad.group(1), choices)
        super().error(message)

    def option_names(self) -> list[str]:
        """Every option this parser accepts (read off its help, which lists groups too)."""
        return list(dict.fromkeys(re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", self.format_help())))

    def unrecognized(self, extra: list[str]) -> NoReturn:
        """Report arguments this (sub-)parser does not know, with this parser's usage."""
        options = self.option_names()
        hints = "".join(_suggestion(a.split("=", 1)[0], options) for a in extra if a.startswith("-"))
        self.error(f"unrecognized arguments: {' '.join(extra)}{hints}")


def _suggestion(word: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def build_parser() -> Parser:
    parser = Parser(prog="xmodal", description="Cross-modal semantic search over your media.")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_commands(sub)
    parser.subcommands = sub.choices
    return parser


def require_library(db: str | os.PathLike | None, collection: str | None = None) -> None:
    """Raise NotFound naming the path when ``db`` holds no library (or not ``collection``).

    Opens nothing for writing, so a mistyped ``--db`` leaves no folder behind. Milvus URIs are
    left to their server."""
    from xmodal.db import connect, locate

    uri = str(db or default_db_path())
    if not locate(uri).embedded:
        return
    from xmodal.ingest.files import is_library_folder

    if not is_library_folder(uri):
        raise NotFound(f"no library at {uri} (create one with: xmodal index FOLDER --db {uri})")
    if collection is None:
        return
    db_handle = connect(uri, mode="r")
    try:
        names = db_handle.list_collections()
    finally:
        db_handle.close()
    if collection not in names:
        held = f"it holds {', '.join(names)}; choose one with --collection" if names else "it is empty"
        raise NotFound(f"no library at {uri} for collection {collection!r} ({held})")


def main(argv: list[str] | None = None) -> int:
    for name, value in QUIET_MODEL_LOADING.items():
        os.environ.setdefault(name, value)
    try:
        code = _main(argv)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit-time flush
        return code
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, and keep Python's exit-time flush of
        # stdout from raising again.
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):  # stdout is no file (redirected inside a program)
            pass
        return EXIT_BROKEN_PIPE


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        (parser.subcommands.get(args.command) or parser).unrecognized(extra)
    if args.version:
        from xmodal import __version__

        print(__version__)
        return 0
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        # The environment is read once, here; handlers pass args.settings down (issue 13).
        args.settings = Config.from_env()
        if args.command in NEEDS_LIBRARY:
            require_library(getattr(args, "db", None), getattr(args, "collection", None))
        return int(args.handler(args) or 0)
    except XmodalError as exc:
        print(f"xmodal: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("xmodal: interrupted; everything written so far is kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
