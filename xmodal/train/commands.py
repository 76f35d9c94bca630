"""`xmodal train` and `xmodal eval`: adapt the shared space to your data, and measure any model.

    xmodal train --pairs pairs.jsonl --text-tower minilm --out runs/mine
    xmodal train --recipe xmodal-lite                      # rebuild a shipped model (make train)
    xmodal eval --models random,label-bridge,xmodal-lite --set tuxpaint-test --out runs/eval
    xmodal eval --set photos-val --no-speech     # real photographs (GCompris, scikit-image): model selection
    xmodal eval --set tuxpaint-sounds --models xmodal-lite   # sound head: text->sound, sound->image (held-out folders)
    xmodal eval --pairs my_test.jsonl --models xmodal-lite,runs/mine/model.npz,clip:/path/to/clip

Heavy imports happen inside the handlers so `xmodal --help` stays instant.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

EVAL_SETS = ("tuxpaint-test", "tuxpaint-val", "photos-val", "tuxpaint-sounds")
SOUND_SET = "tuxpaint-sounds"  # Tux Paint's sound effects, held-out folders (xmodal.eval.sound)


def add_commands(sub: "argparse._SubParsersAction") -> None:
    t = sub.add_parser("train", help="train projection heads (your PAIRS file, or a shipped model's recipe)",
                       description="Train projection heads over the frozen towers. PAIRS is a JSONL or CSV file "
                                   "with one image + text per line: fields image, text, and optionally language, "
                                   "group (held out together), category, item. See xmodal/datasets/pairs.py.")
    src = t.add_mutually_exclusive_group(required=True)
    src.add_argument("--pairs", help="JSONL/CSV of image path + text")
    src.add_argument("--recipe", help="rebuild a shipped model: xmodal-lite or xmodal-lite-multilingual")
    t.add_argument("--text-tower", default="minilm", choices=("minilm", "e5-multilingual"))
    t.add_argument("--out", help="run folder (checkpoint, history, summary, model.npz)")
    t.add_argument("--weights", help="(recipes) where to write the .npz; default: the shipped file in xmodal/encoders/weights")
    t.add_argument("--epochs", type=int)
    t.add_argument("--lr", type=float)
    t.add_argument("--batch-size", type=int)
    t.add_argument("--seed", type=int)
    t.add_argument("--device", help="cpu or cuda (default: cuda when present)")
    t.add_argument("--progress", action="store_true", help="progress bars even when not on a terminal")
    t.set_defaults(handler=_train)

    e = sub.add_parser("eval", help="Recall@K / median rank / zero-shot accuracy of encoders on a paired set")
    src = e.add_mutually_exclusive_group()
    src.add_argument("--set", default="photos-val,tuxpaint-test",
                     help=f"built-in set(s), comma-separated, evaluated side by side: {', '.join(EVAL_SETS)}")
    src.add_argument("--pairs", help="your own JSONL/CSV pairs (all of it is evaluated)")
    e.add_argument("--models", default="random,label-bridge,xmodal-lite-v1,xmodal-lite",
                   help="comma-separated encoder names, clip:/path, or paths to trained .npz heads")
    e.add_argument("--languages", help="comma-separated language codes (default: all in the set)")
    e.add_argument("--no-speech", action="store_true", help="skip speech→image (ASR is the slow part)")
    e.add_argument("--max-speech", type=int, default=None, metavar="N",
                   help="speech→image on at most N clips per language (ASR is the slow part)")
    e.add_argument("--out", default=None, help="folder for results.json and plot.png (default: data/runs/eval)")
    e.set_defaults(handler=_eval)


def _train(args: argparse.Namespace) -> int:
    from xmodal.train.trainer import with_overrides

    cfg = with_overrides(args.settings.train, epochs=args.epochs, learning_rate=args.lr, batch_size=args.batch_size,
                         seed=args.seed)
    show = True if args.progress else None
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    if args.recipe:
        from xmodal.encoders.lite import WEIGHTS_DIR
        from xmodal.train.recipes import train_recipe

        out = args.out or str(Path(args.settings.train.data_dir) / "runs" / args.recipe)
        weights = args.weights or str(WEIGHTS_DIR / f"{args.recipe}.npz")
        summary = train_recipe(args.recipe, out, weights, cfg, show, log, args.device)
    else:
        from xmodal.train.recipes import train_pairs

        if not args.out:
            from xmodal.errors import InvalidInput

            raise InvalidInput("xmodal train --pairs needs --out DIR (where the trained model goes)")
        summary = train_pairs(args.pairs, args.text_tower, args.out, cfg, show_progress=show, log=log, device=args.device)
    print(f"trained {summary['name']}: val R@10 {summary['val']['val_R@10']:.3f} (best epoch {summary['best_epoch']}); "
          f"weights {summary['weights']}")
    return 0


def load_model(spec: str):
    """An encoder from a CLI name: "random", a registry name, "clip:/path", or a trained ``.npz``."""
    if spec == "random":
        from xmodal.eval.baselines import RandomEncoder

        return RandomEncoder()
    if spec.endswith(".npz"):
        from xmodal.encoders.lite import XmodalLite

        return XmodalLite(weights=spec)
    from xmodal.encoders import get_encoder

    return get_encoder(spec)


def eval_pairs(set_name: str, languages: list[str] | None) -> list:
    """The pairs of a built-in evaluation set."""
    if set_name == "photos-val":
        from xmodal.datasets.gcompris import photo_validation_pairs

        return photo_validation_pairs(languages)
    from xmodal.datasets.tuxpaint import tuxpaint_splits

    return tuxpaint_splits()[set_name.split("-")[1]]


def _eval_sounds(models: list[str]) -> None:
    """Text -> sound and sound -> image of each model's sound head (models without one are skipped)."""
    from xmodal.encoders.sound import has_sound_head
    from xmodal.eval.sound import evaluate_sound_head, format_sound_table

    for spec in models:
        if not has_sound_head(spec):
            print(f"{spec}: no sound head, skipped on {SOUND_SET}", file=sys.stderr)
            continue
        print(f"evaluating {spec} on {SOUND_SET} ...", file=sys.stderr, flush=True)
        print(format_sound_table(spec, evaluate_sound_head(load_model(spec))))


def _eval(args: argparse.Namespace) -> int:
    from xmodal.errors import InvalidInput
    from xmodal.eval.evaluator import CrossModalEvaluator
    from xmodal.eval.report import format_table, plot, write_json

    languages = args.languages.split(",") if args.languages else None
    if args.pairs:
        from xmodal.datasets.pairs import read_pairs

        sets = [(Path(args.pairs).stem, read_pairs(args.pairs))]
    else:
        names = [s.strip() for s in args.set.split(",") if s.strip()]
        unknown = [n for n in names if n not in EVAL_SETS]
        if unknown or not names:
            raise InvalidInput(f"--set {args.set!r}: unknown set(s) {', '.join(unknown) or '(none)'}; "
                               f"known: {', '.join(EVAL_SETS)}")
        sets = [(n, eval_pairs(n, languages)) for n in names if n != SOUND_SET]
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    if not args.pairs and SOUND_SET in names:
        _eval_sounds(models)
    results = []
    if not sets:
        return 0
    for name, pairs in sets:  # every model on the same images and queries, set by set
        ev = CrossModalEvaluator(pairs, name=name, languages=languages, speech=not args.no_speech,
                                 max_speech=args.max_speech, media=args.settings.media)
        for spec in models:
            print(f"evaluating {spec} on {name} ...", file=sys.stderr, flush=True)
            results.append(ev(load_model(spec), model_name=spec))
    print(format_table(results))
    out = Path(args.out or Path(args.settings.train.data_dir) / "runs" / "eval")
    write_json(results, out / "results.json")
    plot(results, out / "plot.png")
    print(f"wrote {out / 'results.json'} and {out / 'plot.png'}", file=sys.stderr)
    return 0
