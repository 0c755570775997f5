#!/usr/bin/env bash
# Files that serve and load cannot use: the message names the file and gives the system's reason
# (exit 1): serve --tokenizer missing (No such file) or a folder (Is a directory, not "larger than the
# limit"), --weights the same, --save-weights into a folder that does not exist; the shipped
# tokenizer not found beside a copied binary is named by an absolute path with where it is looked for;
# load --length file:FOLDER (Is a directory, not a bare "read error"). And serve --price-per-hour 0 is
# a usage error (exit 2), as for analyze, synth and whatif. Skips (77) when serve is compiled out.
# Run as: bash file_reasons.sh BINARY SOURCE_DIR
set -u
bin=$1
"$bin" serve --help >/dev/null 2>&1 || { echo "serve not available: skipped"; exit 77; }
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
unset SERVPROF_DATA_DIR
# run CMD...: sets rc and err (stderr)
run() { err=$("$@" 2>&1 >/dev/null); rc=$?; }
expect() {   # expect RC TEXT: the last run exited RC and its message holds TEXT
  if [ "$rc" -ne "$1" ]; then echo "FAIL: exit $rc, expected $1: $err" >&2; fail=1; fi
  if ! grep -qF -- "$2" <<<"$err"; then echo "FAIL: message lacks '$2': $err" >&2; fail=1; fi
}

run "$bin" serve --port 0 --duration 1 --tokenizer "$tmp/missing.json"
expect 1 "$tmp/missing.json: cannot open tokenizer: No such file or directory"
mkdir "$tmp/dir"
run "$bin" serve --port 0 --duration 1 --tokenizer "$tmp/dir"
expect 1 "$tmp/dir: cannot read tokenizer: Is a directory"
if grep -qF "larger than" <<<"$err"; then echo "FAIL: a folder reads as too large: $err" >&2; fail=1; fi
run "$bin" serve --port 0 --duration 1 --weights "$tmp/missing.safetensors"
expect 1 "$tmp/missing.safetensors: cannot open weights: No such file or directory"
run "$bin" serve --port 0 --duration 1 --weights "$tmp/dir"
expect 1 "$tmp/dir: cannot read weights: Is a directory"
run "$bin" serve --save-weights "$tmp/no-such-folder/w.safetensors"
expect 1 "$tmp/no-such-folder/w.safetensors: cannot create: No such file or directory"
run "$bin" serve --generate --save-weights "$tmp/no-such-folder/w.safetensors"
expect 1 "$tmp/no-such-folder/w.safetensors: cannot create: No such file or directory"

# the shipped tokenizer, not beside a copy of the binary (no share/ in or above its folder): an
# absolute path, and where else it is looked for
mkdir -p "$tmp/copy/bin"
cp "$bin" "$tmp/copy/bin/servprof"
copy=$(cd "$tmp/copy" && pwd -P)
for mode in "" --generate; do
  run "$tmp/copy/bin/servprof" serve $mode --port 0 --duration 1
  expect 1 "$copy/share/servprof/tokenizer.json: cannot open tokenizer: No such file or directory"
  expect 1 "SERVPROF_DATA_DIR"
done
grep -qF ': share/servprof/tokenizer.json' <<<"$err" && { echo "FAIL: relative path: $err" >&2; fail=1; }

run "$bin" serve --price-per-hour 0
expect 2 "--price-per-hour: expected a number in (0, "

if "$bin" load --help >/dev/null 2>&1; then
  # the lengths file is read before any request is sent: no server is needed
  run "$bin" load --no-progress --url http://127.0.0.1:1/v1/embeddings --requests 1 --length "file:$tmp/dir"
  expect 1 "$tmp/dir: read error: Is a directory"
fi
exit $fail
