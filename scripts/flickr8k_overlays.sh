#!/usr/bin/env bash
# Writes the attention sheets of six Flickr8k dev photographs, captioned by the shipped photo
# model, to docs/flickr8k/ (not committed: the photos are for research use only, so neither they
# nor sheets made of them go into the repository). Usage: scripts/flickr8k_overlays.sh [SHARED]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
shared="${1:-../shared}"
photos="$shared/data/flickr8k/images"
[ -d "$photos" ] || { echo "flickr8k_overlays.sh: no Flickr8k photos in '$photos' (give the shared folder as the argument)" >&2; exit 1; }
[ -x build/apps/glimpse ] || { echo "flickr8k_overlays.sh: build first (scripts/setup.sh)" >&2; exit 1; }
mkdir -p docs/flickr8k
for name in 3515904775_f8acc5909e.jpg 3197791645_601908f26b.jpg 2735792721_b8fe85e803.jpg \
            539801139_7258ee437f.jpg 309049466_1d7e7d5fc2.jpg 2474092890_6c0781a8ed.jpg; do
  build/apps/glimpse caption "$photos/$name" --overlay "docs/flickr8k/${name%.jpg}.png" | sed "s|^|$name: |"
done
