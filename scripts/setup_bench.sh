#!/usr/bin/env bash
# Idempotent setup of .venv-bench: the peer vector databases measured by `make bench`
# (Chroma, LanceDB, Qdrant local mode, Milvus Lite). They live in their own virtualenv so that
# their pins (grpcio, pyarrow, onnxruntime, ...) can never break the main .venv.
# A second run with an unchanged package list returns at once (stamp keyed on this file's hash).
set -euo pipefail
cd "$(dirname "$0")/.."
STAMPS=.stamps
mkdir -p "$STAMPS"
VENV=.venv-bench
PEER_PACKAGES=(numpy psutil chromadb lancedb qdrant-client pymilvus milvus-lite)

PY=${PYTHON:-python3}
key=$(sha256sum scripts/setup_bench.sh | cut -c1-16)
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$STAMPS/venv-bench" 2>/dev/null)" != "$key" ]; then
  echo "setup_bench: creating $VENV with ${PEER_PACKAGES[*]}"
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip wheel setuptools
  "$VENV/bin/pip" install -q "${PEER_PACKAGES[@]}"
  echo "$key" > "$STAMPS/venv-bench"
fi

# hnswlib is a baseline the db benchmark measures in the main .venv, beside raw FAISS on the same data
# (benchmarks/db_systems.py); it is a benchmark-only dependency, so setup.sh does not install it.
if ! .venv/bin/python -c "import hnswlib" 2>/dev/null; then
  echo "setup_bench: installing hnswlib into .venv (db benchmark baseline)"
  .venv/bin/pip install -q hnswlib
fi
