"""CLI sub-commands of the applications layer: ask, recommend, like / dislike, history.

    xmodal ask "When does the train leave?" [--image FILE] [--db DIR] [--k 5] [--kind audio] [--where JSON]
               [--no-llm] [--json]
    xmodal like USER PATH... [--event like|save|click|view|skip|dislike]    xmodal dislike USER PATH...
    xmodal recommend USER [--k 10] [--kind image] [--where JSON] [--diversity 0.3] [--include-seen] [--json]
    xmodal recommend --item PATH [--across-kinds] [--json]                   ("more like this")
    xmodal history USER [--forget]

Handlers import the heavy layers only when they run, so ``xmodal --help`` stays instant. They open
the library with the CLI's settings (``args.settings``, ``Config.from_env()``); the apps read theirs
from it (``lib.settings.apps``). This face and the server are the only readers of ``CONFIG`` here.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from xmodal.config import CONFIG
from xmodal.ingest.arguments import parse_where

__all__ = ["add_commands"]


def _kind_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kind", default=None, metavar="KINDS",
                   help="comma-separated: image,text,audio,video (as in `xmodal search`)")


def _where_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--where", default=None, metavar="FILTER",
                   help='payload filter as JSON, e.g. \'{"size": {"$lt": 100000}}\'')


def _where(args) -> dict | None:
    return parse_where(args.where)


def _db_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", default=None, metavar="DIR",
                   help="library folder, milvus-lite:PATH or milvus://HOST:PORT (default: $XMODAL_DB or ./xmodal.db)")
    p.add_argument("--collection", default=CONFIG.ingest.default_collection, metavar="NAME",
                   help="collection inside the library (default: %(default)s)")


def _open(args, mode: str = "auto"):
    """``mode="r"`` for commands that only read: they never take the writer lock from `xmodal index`."""
    import xmodal
    from xmodal.config import default_db_path

    return xmodal.open(args.db or str(default_db_path()), collection=args.collection, mode=mode,
                       settings=getattr(args, "settings", None))


def _print_json(obj) -> None:
    print(json.dumps(obj, ensure_ascii=False, indent=2))


def add_commands(sub) -> None:
    p = sub.add_parser("ask", help="answer a question from the library, with cited evidence",
                       description="Extractive answer with citations; a generated one too when XMODAL_LLM_URL is set.")
    p.add_argument("question")
    p.add_argument("--image", type=Path, default=None, help="an image the question is about")
    p.add_argument("-k", "--k", type=int, default=None, help="evidence items to show (default from config)")
    _kind_arg(p)
    p.add_argument("--no-llm", action="store_true", help="never call the LLM endpoint")
    _where_arg(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    _db_arg(p)
    p.set_defaults(handler=_ask)

    for name, event in (("like", "like"), ("dislike", "dislike")):
        p = sub.add_parser(name, help=f"record that a user {name}s items (feeds `xmodal recommend`)")
        p.add_argument("user")
        p.add_argument("paths", nargs="+", type=str)
        if name == "like":
            p.add_argument("--event", default="like", help="like, save, click, view, skip or dislike")
        _db_arg(p)
        p.set_defaults(handler=_like, default_event=event)

    p = sub.add_parser("recommend", help="recommend items for a user, or items like a given one")
    p.add_argument("user", nargs="?", default=None)
    p.add_argument("--item", default=None, help="recommend items like this indexed file instead")
    p.add_argument("--across-kinds", action="store_true", help="with --item: allow other kinds than the item's")
    p.add_argument("-k", "--k", type=int, default=10, help="number of items (default: %(default)s)")
    _kind_arg(p)
    p.add_argument("--diversity", type=float, default=None, help="0 = nearest first .. 1 = most diverse")
    p.add_argument("--include-seen", action="store_true", help="also recommend items the user interacted with")
    _where_arg(p)
    p.add_argument("--json", action="store_true")
    _db_arg(p)
    p.set_defaults(handler=_recommend)

    p = sub.add_parser("history", help="a user's recorded interactions, newest first")
    p.add_argument("user")
    p.add_argument("--forget", action="store_true", help="delete the user's interactions and profile")
    _db_arg(p)
    p.set_defaults(handler=_history)


def _ask(args) -> int:
    from xmodal.apps.qa import ask

    with _open(args, mode="r") as lib:
        ans = ask(lib, args.question, image=args.image, k=args.k, kinds=args.kind, where=_where(args),
                  llm=None if args.no_llm else "auto")
    if ans.warning:
        print(f"xmodal: warning: {ans.warning}", file=sys.stderr)
    if args.json:
        _print_json(ans.to_dict())
        return 0
    if ans.answer is None:
        print(f"not found (confidence {ans.confidence:.2f})")
    else:
        print(f"{ans.answer}\n(confidence {ans.confidence:.2f})")
    if ans.generated is not None:
        print(f"\ngenerated: {ans.generated}")
    if ans.llm_error:
        print(f"xmodal: warning: {ans.llm_error}; the extractive answer stands alone", file=sys.stderr)
    for i, e in enumerate(ans.evidence, 1):
        quote = f"  {e.text}" if e.text else ""
        print(f"[{i}] {e.score:.2f} {e.source:10s} {e.citation()}{quote}")
    return 0


def _like(args) -> int:
    from xmodal.apps.recommend import record_interaction

    event = getattr(args, "event", None) or args.default_event
    with _open(args) as lib:
        for path in args.paths:
            it = record_interaction(lib, args.user, path, event)
            print(f"{args.user} {it.event} {it.item}")
    return 0


def _recommend(args) -> int:
    from xmodal.apps.recommend import more_like_this, recommend
    from xmodal.errors import InvalidInput

    if (args.user is None) == (args.item is None):
        raise InvalidInput("give either a USER or --item PATH")
    with _open(args) as lib:
        if args.item is not None:
            recs = more_like_this(lib, args.item, args.k, across_kinds=args.across_kinds, kinds=args.kind,
                                  where=_where(args), diversity=args.diversity or 0.0)
        else:
            recs = recommend(lib, args.user, args.k, kinds=args.kind, where=_where(args), diversity=args.diversity,
                             exclude_seen=not args.include_seen)
    if args.json:
        _print_json([r.to_dict() for r in recs])
        return 0
    if not recs:
        print("nothing to recommend yet: record likes with `xmodal like USER PATH`")
    for i, r in enumerate(recs, 1):
        why = f"  (like {r.because})" if r.because else ""
        print(f"{i:2d}. {r.score:.3f} {r.kind:6s} {r.path}{why}")
    return 0


def _history(args) -> int:
    from xmodal.apps.recommend import interactions

    import datetime as dt

    with _open(args) as lib:
        store = interactions(lib)
        if args.forget:
            print(f"forgot {store.forget(args.user)} interactions of {args.user}")
            return 0
        for it in store.history(args.user):
            when = dt.datetime.fromtimestamp(it.ts, dt.timezone.utc).strftime("%Y-%m-%d %H:%M")
            print(f"{when} {it.event:8s} {it.weight:+.1f} {it.item}")
    return 0
