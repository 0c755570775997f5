#!/usr/bin/env bash
# Installs the Debian packages servprof needs, only those missing. Run by `make` before configuring;
# safe to run again. Needs root (or sudo) only when something is missing.
set -euo pipefail

pkgs=(cmake make gcc clang pkg-config zlib1g-dev libsqlite3-dev libmicrohttpd-dev libopenblas-dev
      libcurl4-openssl-dev libclang-rt-14-dev wrk python3 curl
      libjansson-dev wamerican)
# libjansson-dev: JSON DOM parser for the reference service (tokenizer.json, request bodies and the
# safetensors header are all small, so reading them whole into a tree is the simple, right choice).
# wamerican: /usr/share/dict/words, the corpus scripts/build-vocab.py learns the default vocabulary from.
# chromium: headless browser for tests/cli/html_browser.sh (the HTML report rendered for real). Optional
# and large (chromium + chromium-common about 360 MB installed, more with their libraries): skipped when
# SERVPROF_BROWSER_TESTS=0, and a failed install only warns; without it the test skips itself.
optional=()
[ "${SERVPROF_BROWSER_TESTS:-1}" != "0" ] && optional+=(chromium)
[ -n "${SERVPROF_EXTRA_PACKAGES:-}" ] && pkgs+=(${SERVPROF_EXTRA_PACKAGES})

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
opt_missing=()
for p in "${optional[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || opt_missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && [ ${#opt_missing[@]} -eq 0 ] && exit 0

echo "servprof setup: installing ${missing[*]} ${opt_missing[*]}" >&2
SUDO=
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null; then
    echo "servprof setup: need root to install: ${missing[*]} ${opt_missing[*]}" >&2
    [ ${#missing[@]} -eq 0 ] && exit 0 # only optional ones missing
    exit 1
  fi
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq || true
[ ${#missing[@]} -eq 0 ] || $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
if [ ${#opt_missing[@]} -gt 0 ]; then
  $SUDO apt-get install -y -qq --no-install-recommends "${opt_missing[@]}" ||
    echo "servprof setup: could not install ${opt_missing[*]} (optional: the browser test will skip)" >&2
fi
