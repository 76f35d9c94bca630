"""Write the bad-input corpus (see tests/reliability/bad_corpus.py) to a folder.

Usage: python scripts/make_bad_inputs.py OUT_DIR
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.reliability.bad_corpus import build  # noqa: E402

if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "bad-inputs")
    for name, what in build(out).items():
        print(f"{out / name}: {what}")
