"""Turning evaluator results into what people read: a table, a JSON file and a PNG plot."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from xmodal._optional import require

DIRECTIONS = (("text_to_image", "text→image"), ("image_to_text", "image→text"))


def rows(results: Sequence[dict], metric: str = "R@10") -> list[dict]:
    """Flat rows (model, language, direction, R@1, R@5, R@10, median rank) for tables and plots."""
    out = []
    for r in results:
        for lang, d in r.get("languages", {}).items():
            for key, label in DIRECTIONS:
                m = d[key]
                out.append({"model": r["model"], "set": r.get("set", ""), "language": lang, "direction": label,
                            **{k: m[k] for k in m if k.startswith("R@")}, "median_rank": m["median_rank"],
                            "queries": m["queries"]})
        sp = r.get("speech_to_image")
        if sp and "median_rank" in sp:
            for lang, d in sp.get("languages", {}).items():
                for key, label in (("speech_to_image", "speech→image"), ("typed_text_to_image", "same stamps typed→image")):
                    m = d[key]
                    out.append({"model": r["model"], "set": r.get("set", ""), "language": lang, "direction": label,
                                **{k: m[k] for k in m if k.startswith("R@")}, "median_rank": m["median_rank"],
                                "queries": m["queries"]})
    return out


def format_table(results: Sequence[dict], markdown: bool = False) -> str:
    """Models side by side, one line per (language, direction), plus zero-shot accuracy."""
    table = rows(results)
    if not table:
        return "(no results)"
    ks = [k for k in table[0] if k.startswith("R@")]
    header = ["set", "model", "language", "direction", *ks, "median rank", "queries"]
    lines = [[t["set"], t["model"], t["language"], t["direction"], *[f"{t[k]:.3f}" for k in ks],
              f"{t['median_rank']:g}", str(t["queries"])] for t in table]
    for r in results:
        zs = r.get("zero_shot")
        if zs:
            lines.append([r.get("set", ""), r["model"], "en", f"zero-shot ({zs['classes']} classes)",
                          f"acc {zs['accuracy']:.3f}", *[""] * (len(ks) - 1), f"majority {zs['majority_class']:.3f}",
                          str(zs["images"])])
    if markdown:
        out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        out += ["| " + " | ".join(line) + " |" for line in lines]
        return "\n".join(out)
    widths = [max(len(str(x)) for x in col) for col in zip(header, *lines)]
    fmt = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths))  # noqa: E731
    return "\n".join([fmt(header), fmt(["-" * w for w in widths]), *[fmt(line) for line in lines]])


def write_json(results: Sequence[dict], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(list(results), indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    return path


def plot(results: Sequence[dict], path: str | Path, metric: str = "R@10") -> Path:
    """Grouped bars: ``metric`` per (language, direction), one bar per model."""
    matplotlib = require("matplotlib", "train")
    matplotlib.use("Agg")
    plt = require("matplotlib.pyplot", "train", "matplotlib")
    table = rows(results)
    several = len({t["set"] for t in table}) > 1

    def label(t: dict) -> str:
        return (f"{t['set']} " if several else "") + f"{t['language']} {t['direction']}"

    groups = list(dict.fromkeys(label(t) for t in table))
    queries = {label(t): t["queries"] for t in table}
    models = list(dict.fromkeys(t["model"] for t in table))
    value = {(t["model"], label(t)): t.get(metric, 0.0) for t in table}
    width = 0.8 / max(len(models), 1)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(groups) * max(1, len(models)) / 2), 4))
    for i, m in enumerate(models):
        xs = [g + i * width for g in range(len(groups))]
        ax.bar(xs, [value.get((m, grp), 0.0) for grp in groups], width, label=m)
    ax.set_xticks([g + width * (len(models) - 1) / 2 for g in range(len(groups))])
    ax.set_xticklabels([f"{g} (n={queries[g]})" for g in groups], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel(metric)
    ax.set_ylim(0, 1)
    ax.set_title(", ".join(dict.fromkeys(r.get("set", "") for r in results)) or metric)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
