#!/usr/bin/env bash
# Idempotent setup: system packages, then .venv with xmodal and its extras.
# A second run with unchanged inputs returns in about a second (stamp files keyed on content hashes).
set -euo pipefail
cd "$(dirname "$0")/.."
STAMPS=.stamps
mkdir -p "$STAMPS"

APT_PACKAGES=(
  tesseract-ocr tesseract-ocr-eng tesseract-ocr-chi-sim   # OCR
  espeak-ng                                               # speech clips for tests and the demo
  fonts-dejavu-core fonts-droid-fallback                  # real Latin + CJK fonts for OCR tests
  ffmpeg                                                  # audio / video decoding fallback, test media
  librsvg2-bin libcairo2                                  # SVG rasterising
  chromium                                                # real-browser tests of the web page
  tmux sqlite3
  tuxpaint-stamps-default                                 # real image+text+speech data for tests and training
  gcompris-qt-data                                        # real photographs + captions in 36 languages (photos-val)
)
# Offline data sets (training, evaluation, sample media); large, so only where asked for.
DATA_APT_PACKAGES=(openclipart-svg)

source scripts/apt.sh

need_apt setup "${APT_PACKAGES[@]}"
if [ "${XMODAL_SETUP_DATA:-0}" = 1 ]; then need_apt setup "${DATA_APT_PACKAGES[@]}"; fi

PY=${PYTHON:-python3}
key=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)
if [ ! -x .venv/bin/python ] || [ "$(cat "$STAMPS/venv" 2>/dev/null)" != "$key" ]; then
  echo "setup: creating .venv and installing xmodal[all,dev]"
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  .venv/bin/pip install -q --upgrade pip wheel setuptools
  # The CPU wheel of torch lies on this disk; ask for it first so nothing pulls a CUDA build.
  .venv/bin/pip install -q torch==2.13.0
  .venv/bin/pip install -q -e ".[all,dev]"
  echo "$key" > "$STAMPS/venv"
fi

# Object / face detector weights (TFJS models inside the @vladmandic/human npm package), once.
# npm: Debian's package only where no Node.js with its own npm is installed (they conflict).
command -v npm >/dev/null || need_apt setup npm
bash scripts/fetch_human.sh

# Join the two halves of the multilingual Whisper model into the cache once (size + sha256 checked);
# later runs find the verified folder and return at once.
.venv/bin/python -c "from xmodal.media.whisper_models import main; main()"

# MiniLM as an ONNX graph, exported once from the packaged weights into the cache, so that queries
# never import torch (later runs find the file and return at once).
.venv/bin/python -m xmodal.encoders.text_backends
