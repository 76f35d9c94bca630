"""`make bench`: runs every area's benchmark and writes benchmarks/results/<area>.json (+ plots).

Each area module `benchmarks/bench_<area>.py` exposes ``run(results_dir: Path) -> dict``.
`python -m benchmarks.run --only db,encoders` runs a subset.
"""
from __future__ import annotations

import argparse
import importlib
import json
import time
from pathlib import Path

AREAS = ["db", "encoders", "train", "ingest", "query", "milvus", "server", "apps", "scale"]
RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default=",".join(AREAS))
    args = ap.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    for area in [a for a in args.only.split(",") if a]:
        try:
            mod = importlib.import_module(f"benchmarks.bench_{area}")
        except ModuleNotFoundError as exc:
            if exc.name == f"benchmarks.bench_{area}":
                print(f"[bench] {area}: no benchmark yet")
                continue
            raise
        t0 = time.perf_counter()
        print(f"[bench] {area} ...", flush=True)
        out = mod.run(RESULTS)
        out = {"area": area, "seconds": round(time.perf_counter() - t0, 1), **(out or {})}
        (RESULTS / f"{area}.json").write_text(json.dumps(out, indent=2, default=str))
        print(f"[bench] {area} done in {out['seconds']} s")


if __name__ == "__main__":
    main()
