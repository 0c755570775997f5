#!/usr/bin/env bash
# Run HERE (a Debian machine with apt and network), not on the GPU machine: downloads the .deb files
# that the servprof build needs but the GPU machine's image lacks (it can reach no registry) into
# .devdeps/ at the repository root, for scripts/device-run.sh to unpack there with `dpkg -x` into
# /tmp/devroot (never into /). Two groups:
#   .devdeps/*.deb           always unpacked: headers and libraries of libmicrohttpd, jansson,
#                            OpenBLAS (pthread build), zlib headers
#   .devdeps/fallback/*.deb  runtime libraries those depend on (gnutls and its helpers, gfortran);
#                            device-run.sh links each one in only where the machine lacks it
# Usage: scripts/device-deps.sh     (add .devdeps to the device call's carry list)
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
DEST=$SRC/.devdeps
CORE=(libmicrohttpd-dev libmicrohttpd12 libjansson-dev libjansson4 libopenblas-pthread-dev
      libopenblas0-pthread zlib1g-dev)
FALLBACK=(libgnutls30 libnettle8 libhogweed6 libgmp10 libp11-kit0 libtasn1-6 libidn2-0 libunistring2
          libffi8 libgfortran5 libquadmath0)
A=(-o APT::Architecture=amd64 -o APT::Architectures=amd64)

command -v apt-get >/dev/null || { echo "device-deps: apt-get not found (run this on the Debian dev machine)" >&2; exit 1; }
# package lists present? (a fresh container has none)
if ! apt-cache "${A[@]}" show libjansson4 >/dev/null 2>&1; then
  echo "device-deps: apt lists missing: apt-get update"
  apt-get "${A[@]}" update -qq
fi
rm -rf "$DEST"
mkdir -p "$DEST/fallback"
(cd "$DEST" && apt-get "${A[@]}" download "${CORE[@]}")
(cd "$DEST/fallback" && apt-get "${A[@]}" download "${FALLBACK[@]}")
n=$(ls "$DEST"/*.deb "$DEST"/fallback/*.deb | wc -l)
want=$(( ${#CORE[@]} + ${#FALLBACK[@]} ))
[ "$n" -eq "$want" ] || { echo "device-deps: got $n .deb files, expected $want" >&2; exit 1; }
ls -l "$DEST" "$DEST/fallback"
size=$(du -sk "$DEST" | cut -f1)
echo "device-deps: $n packages, ${size} KiB in $DEST"
[ "$size" -lt 20480 ] || { echo "device-deps: over 20 MiB: too large to carry" >&2; exit 1; }
grep -qx '/.devdeps/' "$SRC/.gitignore" 2>/dev/null || echo "device-deps: note: /.devdeps/ is not in .gitignore"
echo "device-deps: OK; in the device call: carry [\".devdeps\"], command: bash scripts/device-run.sh"
