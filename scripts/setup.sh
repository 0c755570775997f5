#!/usr/bin/env bash
# Installs the Debian packages servprof needs, only those missing. Run by `make` before configuring;
# safe to run again. Needs root (or sudo) only when something is missing.
set -euo pipefail

pkgs=(cmake make gcc clang pkg-config zlib1g-dev libsqlite3-dev libmicrohttpd-dev libopenblas-dev
      libcurl4-openssl-dev libclang-rt-14-dev wrk python3
      libjansson-dev wamerican)
# libjansson-dev: JSON DOM parser for the reference service (tokenizer.json, request bodies and the
# safetensors header are all small, so reading them whole into a tree is the simple, right choice).
# wamerican: /usr/share/dict/words, the corpus scripts/build-vocab.py learns the default vocabulary from.
[ -n "${SERVPROF_EXTRA_PACKAGES:-}" ] && pkgs+=(${SERVPROF_EXTRA_PACKAGES})

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "servprof setup: installing ${missing[*]}" >&2
SUDO=
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "servprof setup: need root to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq || true
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
