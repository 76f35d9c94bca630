"""Turns the database benchmark's JSON into target verdicts, the recall-QPS plot and the
``## Vector database`` section of BENCHMARKS.md (so the document never drifts from the data)."""
from __future__ import annotations

import re
import statistics
from pathlib import Path
from typing import Iterable

from benchmarks.db_settings import BenchDBSettings

SECTION = "## Vector database"
TARGETS = {  # the targets, as ratios or levels
    "batch_vs_faiss": 0.9, "single_vs_faiss": 0.75, "vs_fastest_peer": 10.0, "peer_recall": 0.95,
    "range_recall": 0.99, "filtered_recall": 0.99, "filtered_selectivity": "1", "upsert_vs_chroma": 20.0,
    "hnsw_upsert_vs_flat": 0.5, "recall_after_last_upsert": 0.95,
}


def _ok(kind_result: dict) -> bool:
    return "error" not in kind_result


def curves(out: dict) -> dict[str, list[dict]]:
    """Points per system label: ``xmodal:<kind>``, ``faiss:<kind>``, ``hnswlib``, ``peer:<name>``."""
    res: dict[str, list[dict]] = {}
    for kind in out["kinds"].values():
        if _ok(kind):
            for name, pts in kind["points"].items():
                res[name] = pts
    for name, peer in out["peers"].items():
        if "points" in peer:
            res[f"peer:{name}"] = peer["points"]
    return res


def best_at(points: Iterable[dict], level: float, key: str) -> dict | None:
    """The fastest point (by ``key``) whose recall reaches ``level``."""
    ok = [p for p in points if p["recall"] >= level and p.get(key)]
    return max(ok, key=lambda p: p[key]) if ok else None


def family(c: dict[str, list[dict]], prefix: str) -> list[dict]:
    return [dict(p, system=name) for name, pts in c.items() if name.startswith(prefix) for p in pts]


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


def matched_ratios(kind: dict, key: str) -> list[float]:
    """xmodal / raw FAISS speed at each identical search parameter of one kind."""
    pts = kind["points"]
    x, f = pts.get(f"xmodal:{kind['kind']}", []), pts.get(f"faiss:{kind['kind']}", [])
    return [px[key] / pf[key] for px, pf in zip(x, f) if px.get(key) and pf.get(key)]


def evaluate_targets(out: dict, s: BenchDBSettings) -> dict:
    c = curves(out)
    xm, fa = family(c, "xmodal:"), family(c, "faiss:")
    peers = family(c, "peer:")
    t: dict = {"levels": {}}
    for level in s.sweep.recall_levels:
        row = {}
        for key in ("qps_single", "qps_batch"):
            bx, bf = best_at(xm, level, key), best_at(fa, level, key)
            bp = best_at(peers, level, key)
            row[key] = {"xmodal": bx, "faiss": bf, "fastest_peer": bp,
                        "xmodal_vs_faiss": _ratio(bx and bx[key], bf and bf[key]),
                        "xmodal_vs_peer": _ratio(bx and bx[key], bp and bp[key])}
        t["levels"][str(level)] = row
    matched = {}
    for name, kind in out["kinds"].items():
        if _ok(kind):
            rb, rs = matched_ratios(kind, "qps_batch"), matched_ratios(kind, "qps_single")
            matched[name] = {"batch_median": round(statistics.median(rb), 3) if rb else None,
                             "batch_min": round(min(rb), 3) if rb else None,
                             "single_median": round(statistics.median(rs), 3) if rs else None,
                             "single_min": round(min(rs), 3) if rs else None}
    t["matched"] = matched
    verdicts = []

    def verdict(name: str, value, target, met: bool | None, detail: str) -> None:
        verdicts.append({"target": name, "value": value, "goal": target, "met": met, "detail": detail})

    # Same recall: the best of every kind on each side, at each recall level.
    for key, goal, label in (("qps_batch", TARGETS["batch_vs_faiss"], "batch-100 QPS vs raw FAISS"),
                             ("qps_single", TARGETS["single_vs_faiss"], "single-query QPS vs raw FAISS")):
        ratios = {lvl: t["levels"][lvl][key]["xmodal_vs_faiss"] for lvl in t["levels"]}
        vals = [r for r in ratios.values() if r is not None]
        verdict(label, ratios, f">= {goal}x at the same recall", bool(vals) and min(vals) >= goal,
                "best xmodal kind / best raw FAISS structure at recall@10 >= each level")
    lvl = str(TARGETS["peer_recall"])
    for key in ("qps_single", "qps_batch"):
        r = t["levels"].get(lvl, {}).get(key, {}).get("xmodal_vs_peer")
        peer = (t["levels"].get(lvl, {}).get(key, {}).get("fastest_peer") or {}).get("system")
        verdict(f"{key.replace('qps_', '')} QPS vs fastest peer at recall >= {lvl}", r,
                f">= {TARGETS['vs_fastest_peer']}x", None if r is None else r >= TARGETS["vs_fastest_peer"],
                f"fastest peer: {peer}")
    hn = out["kinds"].get("hnsw", {})
    if "range" in hn:
        rg = hn["range"]
        ex = rg["exact_faiss_range_scan"]
        for name in ("xmodal_threshold_search", "xmodal_range_search"):
            r = rg[name]
            faster_b, faster_1 = _ratio(r["qps_batch"], ex["qps_batch"]), _ratio(r["qps_single"], ex["qps_single"])
            verdict(name.replace("xmodal_", "").replace("_", " "),
                    {"recall": r["recall"], "speed_vs_exact_batch": faster_b, "speed_vs_exact_single": faster_1},
                    f"recall >= {TARGETS['range_recall']}, faster than the exact scan",
                    r["recall"] >= TARGETS["range_recall"] and (faster_b or 0) > 1 and (faster_1 or 0) > 1,
                    f"{r['mean_results']} results per query on average")
    if "filtered" in hn:
        for sel, row in hn["filtered"].items():
            r = row["xmodal"]
            goal = TARGETS["filtered_recall"] if sel == TARGETS["filtered_selectivity"] else None
            verdict(f"filtered recall@10 at {sel}% selectivity", r["recall"],
                    f">= {goal}" if goal else "(reported)", None if goal is None else r["recall"] >= goal,
                    f"speed vs brute force on the allowed rows: batch "
                    f"{_ratio(r['qps_batch'], row['brute_force_subset']['qps_batch'])}x, single "
                    f"{_ratio(r['qps_single'], row['brute_force_subset']['qps_single'])}x")
    chroma = out["peers"].get("chroma", {})
    if "ingest_rate" in chroma and _ok(hn):
        for kind in ("hnsw", "flat"):
            k = out["kinds"].get(kind, {})
            if _ok(k) and k:
                r = _ratio(k["xmodal_upsert_rate"], chroma["ingest_rate"])
                verdict(f"upsert with persistence ({kind}) vs Chroma", r, f">= {TARGETS['upsert_vs_chroma']}x",
                        r is not None and r >= TARGETS["upsert_vs_chroma"],
                        f"xmodal {k['xmodal_upsert_rate']:.0f}/s vs Chroma {chroma['ingest_rate']:.0f}/s "
                        f"(batches of 1000, each committed to disk)")
    flat, hnsw = out["kinds"].get("flat", {}), out["kinds"].get("hnsw", {})
    if flat and hnsw and _ok(flat) and _ok(hnsw):
        r = _ratio(hnsw["xmodal_upsert_rate"], flat["xmodal_upsert_rate"])
        verdict("hnsw upsert with persistence vs flat", r, f">= {TARGETS['hnsw_upsert_vs_flat']}x",
                r is not None and r >= TARGETS["hnsw_upsert_vs_flat"],
                f"hnsw {hnsw['xmodal_upsert_rate']:.0f}/s vs flat {flat['xmodal_upsert_rate']:.0f}/s "
                f"(acknowledged = durable and searchable; indexed by the background folder at "
                f"{hnsw.get('xmodal_indexed_rate', 0):.0f}/s)")
        fresh = hnsw.get("xmodal_after_last_upsert") or {}
        if fresh:
            verdict("hnsw recall@10 right after the last upsert", fresh["recall_at_k"],
                    f">= {TARGETS['recall_after_last_upsert']}",
                    fresh["recall_at_k"] >= TARGETS["recall_after_last_upsert"],
                    f"{fresh['growing_rows']:,} rows not yet folded into the index; the last batch "
                    f"found first: {fresh['last_batch_found_first']:.1%}")
    t["verdicts"] = verdicts
    return t


# --------------------------------------------------------------------------- plot
def _frontier(points: list[dict], key: str) -> list[dict]:
    """Pareto frontier: for rising recall, only points faster than every higher-recall one."""
    pts = sorted((p for p in points if p.get(key)), key=lambda p: -p["recall"])
    front, best = [], 0.0
    for p in pts:
        if p[key] > best:
            front.append(p)
            best = p[key]
    return sorted(front, key=lambda p: p["recall"])


def plot_recall_qps(out: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    c = curves(out)
    systems = {"xmodal (best kind)": family(c, "xmodal:"), "raw FAISS (same structures)": family(c, "faiss:"),
               "xmodal hnsw": c.get("xmodal:hnsw", []), "xmodal ivf_flat": c.get("xmodal:ivf_flat", []),
               "hnswlib": c.get("hnswlib", [])}
    for name in out["peers"]:
        rows = out["peers"][name].get("rows")
        systems[f"{name} ({rows:,} rows)" if rows else name] = c.get(f"peer:{name}", [])
    fig, axes = plt.subplots(1, 2, figsize=(14, 6))
    for ax, key, title in ((axes[0], "qps_single", "one query per call"),
                           (axes[1], "qps_batch", f"batches of {out['batch']} queries")):
        for name, pts in systems.items():
            front = _frontier(pts, key)
            if not front:
                continue
            per_kind = name.startswith("xmodal ") and not name.startswith("xmodal (")
            style = "--" if name.startswith("raw FAISS") else ":" if per_kind else "-"
            width = 3.0 if name.startswith("xmodal (") else 1.0 if per_kind else 1.5
            ax.plot([p["recall"] for p in front], [p[key] for p in front], style, marker="o", ms=4, lw=width,
                    label=name, zorder=3 if name.startswith("xmodal (") else 2, alpha=0.7 if per_kind else 1.0)
        ax.set_yscale("log")
        ax.set_xlabel("recall@10")
        ax.set_ylabel("queries per second (log)")
        ax.set_title(f"{title}, {out['threads']} thread")
        ax.grid(True, which="both", alpha=0.3)
        ax.axvline(0.95, color="grey", lw=0.8)
    axes[1].legend(fontsize=8, loc="lower left")
    fig.suptitle(f"{out['n']:,} x {out['dim']} vectors, {out['queries']:,} queries (Pareto frontier per system)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------- markdown
def _f(x, digits: int = 0) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{x:,.{digits}f}"
    return str(x)


def _mark(met: bool | None) -> str:
    return "n/a" if met is None else ("**met**" if met else "**not met**")


def render(out: dict) -> str:
    t = out["targets"]
    levels = list(t["levels"])
    lines = [SECTION, "",
             f"`python -m benchmarks.run --only db`"
             f"{' (' + str(out['seconds']) + ' s here)' if out.get('seconds') else ''}. Data: {out['dataset']}. "
             f"Exact ground truth by FAISS `IndexFlatIP`; recall@{out['k']} over all {out['queries']:,} queries "
             f"(peers: over the queries their time budget allowed). {out['threads']} search thread on "
             f"{out['machine']}: absolute numbers are noisy, the ratios (measured in the same run, "
             f"alternating at each sweep point, best of two) are what count.", "",
             "### Targets", "", "| target | goal | measured | verdict | detail |", "|---|---|---|---|---|"]
    for v in t["verdicts"]:
        val = v["value"]
        if isinstance(val, dict):
            val = ", ".join(f"{k}: {_f(x, 3) if isinstance(x, float) else _f(x)}" for k, x in val.items())
        elif isinstance(val, float):
            val = f"{val:.3f}"
        lines.append(f"| {v['target']} | {v['goal']} | {val} | {_mark(v['met'])} | {v['detail']} |")
    lines += ["", f"![recall-QPS](benchmarks/results/{out['plot']})", "",
              "### Best QPS at a recall level", "",
              "Fastest sweep point reaching the level (index kind / parameters in brackets).", "",
              "| recall@10 ≥ | mode | xmodal | raw FAISS | xmodal / FAISS | fastest peer | xmodal / peer |",
              "|---|---|---|---|---|---|---|"]
    for lvl in levels:
        for key in ("qps_single", "qps_batch"):
            r = t["levels"][lvl][key]

            def cell(p):
                return "–" if not p else f"{p[key]:,.0f} ({p['system'].split(':', 1)[-1]} {p['params'] or ''})"

            lines.append(f"| {lvl} | {key[4:]} | {cell(r['xmodal'])} | {cell(r['faiss'])} | "
                         f"{_f(r['xmodal_vs_faiss'], 2) if r['xmodal_vs_faiss'] else '–'} | {cell(r['fastest_peer'])} | "
                         f"{_f(r['xmodal_vs_peer'], 1) if r['xmodal_vs_peer'] else '–'} |")
    lines += ["", "### Every index kind: xmodal vs raw FAISS with the same structure", "",
              "Ratios at identical search parameters (median and worst over the sweep). Build = upserts in "
              "batches of 1000 with payloads, each committed to SQLite (xmodal) vs `train` + `add` in memory (FAISS).",
              "", "| kind | FAISS structure | xmodal build s | FAISS build s | xmodal RSS MiB | FAISS RSS MiB | "
                  "best recall | batch ratio med / min | single ratio med / min |",
              "|---|---|---|---|---|---|---|---|---|"]
    for name, k in out["kinds"].items():
        if not _ok(k):
            lines.append(f"| {name} | – | – | – | – | – | – | – | {k['error'][:160]} |")
            continue
        b = k["build"]
        xb, fb = b.get(f"xmodal:{name}", {}), b.get(f"faiss:{name}", {})
        m = t["matched"].get(name, {})
        rec = max(p["recall"] for p in k["points"][f"xmodal:{name}"])
        lines.append(f"| {name} | `{k['faiss_structure']}`{' + refine x' + str(k['refine_factor']) if k['refine_factor'] > 1 else ''}"
                     f" | {_f(xb.get('seconds'), 1)} | {_f(fb.get('seconds'), 1)} | {_f(xb.get('rss_delta_mb'))} | "
                     f"{_f(fb.get('rss_delta_mb'))} | {rec:.3f} | {_f(m.get('batch_median'), 2)} / {_f(m.get('batch_min'), 2)} | "
                     f"{_f(m.get('single_median'), 2)} / {_f(m.get('single_min'), 2)} |")
    hn = out["kinds"].get("hnsw", {})
    if _ok(hn) and "hnswlib" in hn.get("build", {}):
        b = hn["build"]["hnswlib"]
        lines += ["", f"hnswlib (M {BenchDBSettings().sweep.hnswlib_m}) built in {b['seconds']:.1f} s, "
                      f"{b['rss_delta_mb']:.0f} MiB."]
    lines += ["", "### Sweeps", "", "| system | params | recall@10 | QPS single | QPS batch |", "|---|---|---|---|---|"]
    for name, pts in curves(out).items():
        for p in pts:
            lines.append(f"| {name} | {p['params'] or '–'} | {p['recall']:.4f} | {_f(p['qps_single'])} | {_f(p['qps_batch'])} |")
    if _ok(hn) and "filtered" in hn:
        lines += ["", "### Filtered search (payload `pct < s`: exactly s % of rows)", "",
                  "| selectivity | rows allowed | system | recall@10 | QPS single | QPS batch |", "|---|---|---|---|---|---|"]
        for sel, row in hn["filtered"].items():
            for name in ("xmodal", "brute_force_subset", "faiss_hnsw_bitmap_ef64"):
                p = row[name]
                lines.append(f"| {sel}% | {row['rows_allowed']:,} | {name} | {p['recall']:.4f} | "
                             f"{_f(p['qps_single'])} | {_f(p['qps_batch'])} |")
        for pname, peer in out["peers"].items():
            for sel, p in (peer.get("filtered") or {}).items():
                lines.append(f"| {sel}% | – | {pname} ({peer['rows']:,} rows) | {p['recall']:.4f} | {_f(p['qps_single'])} | – |")
    if _ok(hn) and "range" in hn:
        rg = hn["range"]
        lines += ["", f"### Range / threshold search (similarity ≥ {rg['min_similarity']}, i.e. cosine distance ≤ "
                      f"{rg['radius']}; xmodal collection: hnsw)", "",
                  "| method | recall | precision | results / query | QPS single | QPS batch |", "|---|---|---|---|---|---|"]
        for name in ("exact_faiss_range_scan", "xmodal_threshold_search", "xmodal_range_search"):
            p = rg[name]
            lines.append(f"| {name} | {p['recall']:.4f} | {p['precision']:.4f} | {p['mean_results']} | "
                         f"{_f(p['qps_single'])} | {_f(p['qps_batch'])} |")
    lines += ["", "### Peers", "",
              "Each in its own `.venv-bench` process (`scripts/setup_bench.sh`), bounded in time; ingest in batches "
              "of 1000 into a persistent store.", "",
              "| peer | index | rows | ingest rows/s | index build s | RSS MiB | disk MiB | note |", "|---|---|---|---|---|---|---|---|"]
    for name, p in out["peers"].items():
        if "error" in p:
            lines.append(f"| {name} | – | – | – | – | – | – | {p['error'][:200]} |")
            continue
        note = "ingest stopped by its time budget" if p.get("truncated") else ""
        lines.append(f"| {name} | {p['index']} | {p['rows']:,} | {_f(p['ingest_rate'])} | {_f(p['index_build_s'], 1)} | "
                     f"{_f(p['rss_delta_mb'])} | {_f(p['disk_mb'])} | {note} |")
    lines += ["", "xmodal upsert rate per kind (rows/s, batches of 1000 with payloads, committed): " + ", ".join(
        f"{n} {k['xmodal_upsert_rate']:,.0f}" for n, k in out["kinds"].items() if _ok(k)) + ".", ""]
    lines += ["### Caveats", ""] + [f"- {c}" for c in caveats(out)] + [""]
    return "\n".join(lines)


def caveats(out: dict) -> list[str]:
    """What this run did not measure, or measured on less than everything, said plainly."""
    from benchmarks.db_systems import KINDS

    notes = []
    missing = [k for k in KINDS if k not in out["kinds"]]
    if missing:
        notes.append(f"index kinds not measured in this run: {', '.join(missing)}.")
    for name, k in out["kinds"].items():
        if not _ok(k):
            notes.append(f"kind `{name}`: {k['error'][:300]}")
    for name, p in out["peers"].items():
        if "error" in p:
            notes.append(f"peer `{name}`: {p['error'][:300]}")
        elif p.get("rows", 0) < out["n"]:
            why = ("its ingest time budget ran out" if p.get("truncated") else
                   "capped in PeerSettings.rows: its ingest or index build does not fit the time bound at 200k")
            notes.append(f"peer `{name}` holds {p['rows']:,} of {out['n']:,} rows ({why}); its QPS is "
                         f"therefore flattered against systems searching all {out['n']:,}.")
    notes.extend(out.get("notes", []))
    notes.append("`kdtree` is not benchmarked at 384 dimensions: a k-d tree there visits nearly every leaf "
                 "(xmodal offers it for low-dimensional fields).")
    return notes


def write_markdown(out: dict, path: Path) -> None:
    """Replace (or append) this area's section of BENCHMARKS.md, leaving the others untouched."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    section = render(out).rstrip() + "\n"
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text, count=1)
    else:
        text = text.rstrip() + "\n\n" + section
    path.write_text(text)


def rerender(results_dir: Path) -> None:
    """Rebuild verdicts, plot and BENCHMARKS.md section from an existing db.json (no measuring)."""
    import json

    path = results_dir / "db.json"
    out = json.loads(path.read_text())
    out["targets"] = evaluate_targets(out, BenchDBSettings())
    plot_recall_qps(out, results_dir / out.get("plot", "db_recall_qps.png"))
    path.write_text(json.dumps(out, indent=2, default=str))
    write_markdown(out, results_dir.parent.parent / "BENCHMARKS.md")


if __name__ == "__main__":
    rerender(Path(__file__).resolve().parent / "results")
