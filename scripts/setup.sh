#!/usr/bin/env bash
# Installs the Debian packages servprof needs, only those missing. Safe to run again. Needs root (or
# sudo) only when something is missing.
# Usage: scripts/setup.sh [build|test|bench] [--list]   (--list: print the packages, install nothing)
#   build  what building servprof and `make demo` need (the default; `make build`, `make demo`)
#   test   build + what the tests need (`make test`): clang and its sanitizer runtime, libcurl for the
#          HTTP end-to-end test and `servprof analyze --prometheus`, curl, wrk, python3, Prometheus for
#          the fleet tests, the Python package's build and tests (pip,
#          setuptools, headers, PyTorch, FastAPI, uvicorn, aiohttp), and Chromium for the HTML browser test (optional)
#   bench  test + what the benchmarks compare against (`make bench`)
set -euo pipefail
mode=${1:-build}

# build: the compiler and the libraries servprof links. libjansson-dev: JSON DOM parser for the
# reference service (tokenizer.json, request bodies and the safetensors header are all small, so
# reading them whole into a tree is the simple, right choice). libiberty-dev: GCC's C++ demangler
# (cplus_demangle_v3), for kernel names as nsys and torch.profiler show them.
pkgs=(cmake make gcc pkg-config zlib1g-dev libsqlite3-dev libmicrohttpd-dev libopenblas-dev libjansson-dev
      libiberty-dev)
optional=()
case "$mode" in
  build) ;;
  test|bench)
    # clang + libclang-rt-14-dev: the fuzz targets and their sanitizer runtime; libcurl4-openssl-dev:
    # tests/unit/test_serve_http.c drives the service with libcurl; curl, wrk, python3: CLI tests and
    # the load generator's reference.
    pkgs+=(clang libclang-rt-14-dev libcurl4-openssl-dev curl wrk python3)
    # prometheus: the real server tests/cli/fleet_prometheus.sh starts on a loopback port to scrape
    # three `servprof serve` replicas (Debian 12 ships 2.42); libcurl4-openssl-dev above also builds
    # the fleet report's Prometheus client (src/fleet), compiled out with a message without it
    pkgs+=(prometheus)
    # the Python package (python/, tests/python, examples/python, `make demo-python`): built with pip
    # and setuptools against python3-dev's headers, its tests and example service on PyTorch (CPU),
    # FastAPI and uvicorn; python3-aiohttp: tests/python/test_aiohttp.py serves servprof.aiohttp's
    # middleware from a real aiohttp.web server (the stack of services that are not ASGI; the package
    # itself never imports aiohttp unless servprof.aiohttp is imported); python3-uvloop: the event loop
    # without asyncio's selector that tests/python/test_loop.py runs the stall measure on (not measured
    # unless asked; the ticker when asked)
    pkgs+=(python3-dev python3-pip python3-setuptools python3-torch python3-fastapi python3-uvicorn python3-aiohttp
           python3-uvloop)
    # chromium: headless browser for tests/cli/html_browser.sh (the HTML report rendered for real).
    # Optional and large (chromium + chromium-common about 360 MB installed, more with their
    # libraries): skipped when SERVPROF_BROWSER_TESTS=0, and a failed install only warns; without it
    # the test skips itself.
    [ "${SERVPROF_BROWSER_TESTS:-1}" != "0" ] && optional+=(chromium)
    ;;
  *) echo "servprof setup: unknown mode '$mode' (build, test or bench)" >&2; exit 2 ;;
esac
# (scripts/build-vocab.py, which regenerates the shipped vocabulary, also needs wamerican: install it
# by hand when you rebuild data/tokenizer.json.)
[ -n "${SERVPROF_EXTRA_PACKAGES:-}" ] && pkgs+=(${SERVPROF_EXTRA_PACKAGES})
if [ "${2:-}" = "--list" ]; then
  echo "${pkgs[*]}${optional[*]:+ (optional: ${optional[*]})}"
  exit 0
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
opt_missing=()
for p in "${optional[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || opt_missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && [ ${#opt_missing[@]} -eq 0 ] && exit 0

echo "servprof setup ($mode): installing ${missing[*]} ${opt_missing[*]}" >&2
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
