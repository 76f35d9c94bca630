#!/usr/bin/env bash
# Fetch the @vladmandic/human npm package once (pinned version + sha1) into the xmodal cache dir:
# its models/ folder holds the TFJS detectors xmodal.media.detect runs (CenterNet, BlazeFace, FaceRes).
# Idempotent: returns at once when the unpacked package is already there. Not committed (cache dir).
# Usage: scripts/fetch_human.sh [DEST]   (DEST default: ${XMODAL_CACHE:-~/.cache/xmodal}/human-VERSION)
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=3.3.6   # keep in step with DetectConfig.human_version in xmodal/config.py
SHA1=74397dcda15109f52db36de098de823b8497ddc5   # npm's shasum of vladmandic-human-$VERSION.tgz
DEST=${1:-${XMODAL_CACHE:-$HOME/.cache/xmodal}/human-$VERSION}

if [ -f "$DEST/package/.complete" ]; then exit 0; fi
if ! command -v npm >/dev/null 2>&1; then
  source scripts/apt.sh
  need_apt fetch_human npm
fi
echo "fetch_human: npm pack @vladmandic/human@$VERSION -> $DEST"
mkdir -p "$DEST"
tmp=$(mktemp -d "$DEST/.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "@vladmandic/human@$VERSION" >/dev/null)
tgz="$tmp/vladmandic-human-$VERSION.tgz"
got=$(sha1sum "$tgz" | cut -d' ' -f1)
if [ "$got" != "$SHA1" ]; then
  echo "fetch_human: $tgz has sha1 $got, expected $SHA1" >&2
  exit 1
fi
# Only what xmodal reads: three models, the licence and the upstream README (model credits).
models=()
for m in centernet blazeface faceres; do models+=("package/models/$m.json" "package/models/$m.bin"); done
tar -xzf "$tgz" -C "$tmp" "${models[@]}" package/models/README.md package/LICENSE package/README.md package/package.json
touch "$tmp/package/.complete"
rm -rf "$DEST/package"
mv "$tmp/package" "$DEST/package"
echo "fetch_human: ready in $DEST/package"
