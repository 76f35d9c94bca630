"""Tables for BENCHMARKS.md ("Scale on one machine") and the recall / QPS plot from
``benchmarks/results/scale.json`` (written by ``benchmarks.bench_scale``).

    python -m benchmarks.scale_report   # prints the markdown, writes benchmarks/results/scale.png
"""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the file-only backend)

from benchmarks.db_settings import REPO  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
KIND_ORDER = ("flat", "hnsw", "ivf_flat", "ivf_pq", "opq", "sq8")


def entries(doc: dict) -> list[dict]:
    """Entries sorted by N, then the usual kind order."""
    def key(e: dict) -> tuple:
        kind = e.get("kind", "")
        return (e.get("n", 0), KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER))
    return sorted(doc.get("entries", {}).values(), key=key)


def _n(x: float | None, digits: int = 0) -> str:
    return "–" if x is None else f"{x:,.{digits}f}"


def _ratio(a: float | None, b: float | None) -> str:
    return "–" if a is None or not b else f"{a / b:.2f}×"


def _side(e: dict, system: str) -> dict:
    return e.get(system) or {}


def memory_table(doc: dict) -> str:
    rows = ["| N | kind | build s, wall / CPU: xmodal (FAISS) | RAM bytes/vector serving: xmodal (FAISS) → ratio "
            "| xmodal RAM: anon + file pages | disk bytes/vector: xmodal folder (FAISS file; without the "
            "re-ranking copy) | xmodal upsert rows/s |",
            "|---|---|---|---|---|---|---|"]
    for e in entries(doc):
        x, f = _side(e, "xmodal"), _side(e, "faiss")
        xr, fr = x.get("ram_bytes_per_vector", {}), f.get("ram_bytes_per_vector", {})
        note = f" ({e['error']})" if e.get("error") else ""
        bare = f.get("disk_bytes_per_vector_without_refine")
        alone = f"; {_n(bare)}" if bare is not None else ""
        rows.append(
            f"| {e['n']:,} | {e['kind']}{note} | {_n(x.get('build_s'), 1)} / {_n(x.get('build_cpu_s'), 1)} "
            f"({_n(f.get('build_s'), 1)} / {_n(f.get('build_cpu_s'), 1)}) "
            f"| {_n(xr.get('total'))} ({_n(fr.get('total'))}) → {_ratio(xr.get('total'), fr.get('total'))} "
            f"| {_n(xr.get('anon'))} + {_n(xr.get('file'))} "
            f"| {_n(x.get('disk_bytes_per_vector'))} ({_n(f.get('disk_bytes_per_vector'))}{alone}) "
            f"| {_n(x.get('upsert_rows_per_s'))} |")
    return "\n".join(rows)


def recall_table(doc: dict) -> str:
    rows = ["| N | kind | setting | recall@10: xmodal (FAISS) | QPS: xmodal (FAISS) "
            "| QPS per CPU-second: xmodal (FAISS) → ratio |",
            "|---|---|---|---|---|---|"]
    for e in entries(doc):
        fpts = _side(e, "faiss").get("points", [])
        xpts = _side(e, "xmodal").get("points", [])
        for i, fp in enumerate(fpts):
            xp = xpts[i] if i < len(xpts) else {}
            setting = ", ".join(f"{k}={v}" for k, v in fp["params"].items()) or "–"
            rows.append(
                f"| {e['n']:,} | {e['kind']} | {setting} | {_n(xp.get('recall'), 3)} ({_n(fp['recall'], 3)}) "
                f"| {_n(xp.get('qps'))} ({_n(fp['qps'])}) "
                f"| {_n(xp.get('qps_per_cpu_s'))} ({_n(fp['qps_per_cpu_s'])}) "
                f"→ {_ratio(xp.get('qps_per_cpu_s'), fp['qps_per_cpu_s'])} |")
    return "\n".join(rows)


def largest(doc: dict) -> dict[str, dict]:
    """Per kind, the entry at the largest N that measured both systems (what a projection starts from)."""
    out: dict[str, dict] = {}
    for e in entries(doc):
        if (e.get("xmodal") or {}).get("points") and (e.get("faiss") or {}).get("points"):
            out[e["kind"]] = e  # entries() is sorted by N, so the last one wins
    return out


def projection_table(doc: dict, n: int = 100_000_000, node_gib: float = 64.0, load_limit: float = 0.9,
                     target_qps: float = 100.0) -> str:
    """Memory and CPU for ``n`` vectors, scaled linearly from the largest measured N.

    Milvus query nodes: the FAISS structure's bytes per vector (the index file without xmodal's
    re-ranking copy: Milvus builds the same structures and searches without it) loaded under
    Milvus's rule that loaded data stays below ``load_limit`` of query-node memory; one replica.
    CPU: a search visits every sealed segment, so CPU per query grows linearly with N at the same
    per-segment settings: cores = target QPS x (n / N) / (QPS per CPU-second at N). The embedded
    engine on one machine: xmodal's measured serving RAM and disk (folder + float32 arena) x n.
    """
    gib = 2**30
    rows = [f"| kind | from N | setting: recall@10 | FAISS structure bytes/vector | Milvus query-node memory "
            f"for {n / 1e6:,.0f}M (nodes of {node_gib:.0f} GiB, ≤ {load_limit:.0%} loaded) "
            f"| cores for {target_qps:,.0f} QPS | embedded xmodal, one machine: RAM / disk |",
            "|---|---|---|---|---|---|---|"]
    for kind, e in sorted(largest(doc).items(), key=lambda kv: KIND_ORDER.index(kv[0])):
        f, x = e["faiss"], e["xmodal"]
        bpv = f.get("disk_bytes_per_vector_without_refine", f["disk_bytes_per_vector"])
        mem = bpv * n / gib
        nodes = -(-mem // (node_gib * load_limit))
        mid = x["points"][len(x["points"]) // 2]
        setting = ", ".join(f"{k}={v}" for k, v in mid["params"].items()) or "exact"
        cores = target_qps * (n / e["n"]) / mid["qps_per_cpu_s"]
        ram = x["ram_bytes_per_vector"]["total"] * n / gib
        disk = (x["disk_bytes_per_vector"] + x.get("arena_file_bytes_per_vector", 0)) * n / gib
        rows.append(f"| {kind} | {e['n']:,} | {setting}: {mid['recall']:.3f} | {bpv:,.0f} "
                    f"| {mem:,.0f} GiB → {nodes:,.0f} node{'s' if nodes != 1 else ''} | {cores:,.0f} "
                    f"| {ram:,.0f} GiB / {disk:,.0f} GiB |")
    return "\n".join(rows)


def plot(doc: dict, path: Path) -> None:
    """Recall@10 against queries per CPU-second, one panel per N; solid xmodal, dashed FAISS."""
    sizes = sorted({e["n"] for e in entries(doc)})
    if not sizes:
        return
    fig, axes = plt.subplots(1, len(sizes), figsize=(6 * len(sizes), 4.5), squeeze=False)
    colours = dict(zip(KIND_ORDER, plt.get_cmap("tab10").colors))
    for ax, n in zip(axes[0], sizes):
        for e in (e for e in entries(doc) if e["n"] == n):
            for system, style in (("xmodal", "-o"), ("faiss", "--x")):
                pts = _side(e, system).get("points", [])
                if pts:
                    ax.plot([p["qps_per_cpu_s"] for p in pts], [p["recall"] for p in pts], style,
                            color=colours.get(e["kind"]), label=f"{e['kind']} ({system})")
        ax.set_xscale("log")
        ax.set_xlabel("queries per CPU-second (batches of 100, one thread)")
        ax.set_ylabel("recall@10")
        ax.set_title(f"{n:,} x 384")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    doc = json.loads((RESULTS / "scale.json").read_text())
    plot(doc, RESULTS / "scale.png")
    print(memory_table(doc))
    print()
    print(recall_table(doc))
    print()
    print(projection_table(doc))


if __name__ == "__main__":
    main()
