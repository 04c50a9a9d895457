#!/usr/bin/env bash
# Set up a Debian 12 machine for glimpse and build it in Release.
#   scripts/setup.sh            install packages (if missing), configure, build
#   scripts/setup.sh --no-build install packages only
#   scripts/setup.sh --browser  also install Chromium and playwright-core (browser tests)
#   scripts/setup.sh --fuzz     also install clang-14 and its libFuzzer runtime (scripts/fuzz.sh)
# Safe to run twice: packages already present are skipped, the build is incremental.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${GLIMPSE_BUILD_DIR:-$here/build}
build_type=${GLIMPSE_BUILD_TYPE:-Release}
do_build=1
browser=0
fuzz=0
for arg in "$@"; do
  case "$arg" in
    --no-build) do_build=0 ;;
    --browser) browser=1 ;;
    --fuzz) fuzz=1 ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option '$arg' (see --help)" >&2; exit 2 ;;
  esac
done

fail() { echo "setup.sh: $*" >&2; exit 1; }

if [ -r /etc/os-release ]; then
  . /etc/os-release
  if [ "${ID:-}" != debian ] || [ "${VERSION_ID:-}" != 12 ]; then
    echo "setup.sh: warning: written for Debian 12, this is ${PRETTY_NAME:-unknown}; trying anyway" >&2
  fi
fi
command -v apt-get >/dev/null || fail "apt-get not found: this script installs Debian packages; install the packages listed in it by hand"

packages=(
  build-essential cmake ninja-build ccache pkg-config git clang-format
  libtorch-dev libopenblas0-pthread
  libopencv-dev
  libboost-dev libssl-dev
  nlohmann-json3-dev libcli11-dev libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  wordnet-base
  libpng-dev libjpeg-dev libwebp-dev libtiff-dev libgif-dev zlib1g-dev
)
if [ "$browser" = 1 ]; then
  packages+=(chromium)
  # A machine may carry Node.js from elsewhere (its npm then conflicts with Debian's): keep it.
  command -v node >/dev/null || packages+=(nodejs)
  command -v npm >/dev/null || packages+=(npm)
fi

if [ "$fuzz" = 1 ]; then
  packages+=(clang-14 libclang-rt-14-dev)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || fail "need root (or sudo) to install: ${missing[*]}"
    sudo=sudo
  fi
  echo "setup.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq || fail "apt-get update failed: check the network access to Debian's mirrors"
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || fail "apt-get install failed for: ${missing[*]}"
fi

if [ "$browser" = 1 ]; then
  # playwright-core drives Debian's Chromium; it never downloads a browser of its own.
  if [ ! -d "$here/tests/browser/node_modules/playwright-core" ]; then
    (cd "$here/tests/browser" && npm install --no-audit --no-fund --silent) \
      || fail "npm install of playwright-core failed in tests/browser"
  fi
fi

[ "$do_build" = 1 ] || exit 0

generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
if [ -f "$build_dir/CMakeCache.txt" ]; then generator=(); fi
cmake -S "$here" -B "$build_dir" "${generator[@]}" -DCMAKE_BUILD_TYPE="$build_type" \
  ${GLIMPSE_CMAKE_ARGS:-} || fail "cmake configure failed (see the messages above)"
jobs=$(nproc 2>/dev/null || echo 2)
cmake --build "$build_dir" -j "$jobs" || fail "build failed (see the compiler messages above)"
echo "setup.sh: built $build_dir/apps/glimpse"
