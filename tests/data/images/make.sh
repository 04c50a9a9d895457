#!/usr/bin/env bash
# Regenerates the image fixtures with ImageMagick (an encoder independent of the OpenCV decoder
# under test). Every fixture is the same 64x48 picture: four quadrants, top-left red, top-right
# green, bottom-left blue, bottom-right white, so a test can check colour and orientation.
# Needs the real ImageMagick 6 (`apt-get install imagemagick`). Run from this folder.
set -euo pipefail
IM=${IM:-/usr/bin/convert}
q="-size 32x24"
base=(\( $q xc:'#ff0000' $q xc:'#00ff00' +append \) \( $q xc:'#0000ff' $q xc:'#ffffff' +append \) -append)

"$IM" "${base[@]}" -strip PNG24:rgb.png
"$IM" "${base[@]}" -strip -quality 95 -interlace none -sampling-factor 1x1 baseline.jpg
"$IM" "${base[@]}" -strip -quality 95 -interlace JPEG -sampling-factor 1x1 progressive.jpg
"$IM" "${base[@]}" -strip -quality 95 -sampling-factor 1x1 -colorspace CMYK cmyk.jpg
"$IM" "${base[@]}" -strip -colorspace Gray -define png:color-type=0 -define png:bit-depth=8 gray8.png
"$IM" "${base[@]}" -strip -colorspace Gray -depth 16 -define png:color-type=0 -define png:bit-depth=16 gray16.png
"$IM" "${base[@]}" -strip -depth 16 PNG48:rgb16.png
"$IM" "${base[@]}" -strip -type Palette PNG8:palette.png
# Alpha: the top half opaque, the bottom half fully transparent (decodes as white).
"$IM" "${base[@]}" -strip -alpha set \( -size 64x24 xc:white -size 64x24 xc:black -append \) \
  -compose CopyOpacity -composite PNG32:alpha.png
"$IM" "${base[@]}" -strip -type GrayscaleAlpha -alpha set \( -size 64x24 xc:white -size 64x24 xc:black -append \) \
  -compose CopyOpacity -composite -colorspace Gray -define png:color-type=4 -define png:bit-depth=8 gray_alpha.png
"$IM" "${base[@]}" -strip BMP3:rgb24.bmp
"$IM" "${base[@]}" -strip -type Palette BMP3:palette8.bmp
"$IM" "${base[@]}" -strip -compress none rgb.tiff
"$IM" "${base[@]}" -strip -compress lzw -depth 16 rgb16_lzw.tiff
"$IM" "${base[@]}" -strip -define webp:lossless=true lossless.webp
"$IM" "${base[@]}" -strip -quality 95 lossy.webp
# GIF: the picture as frame 1, a black frame 2 (only the first frame is read).
"$IM" "${base[@]}" \( -size 64x48 xc:black \) -strip animated.gif
ls -l
