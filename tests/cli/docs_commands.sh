#!/usr/bin/env bash
# The docs say what the binary does (docs_commands.py): every `servprof CMD ...` in README.md and docs/*.md
# names a command and options the binary's --help lists, every `make TARGET` is a Makefile target, every
# repository path named in backticks exists, and every output block marked `<!-- docs-check: CMD -->` is
# what CMD prints. Then --self-test plants stale items and changed figures and each must be reported.
# Run as: bash docs_commands.sh BINARY SOURCE_DIR
set -u
bin=$1
src=$2
py=/usr/bin/python3
[ -x "$py" ] || py=$(command -v python3) || { echo "python3 not found: skipped" >&2; exit 77; }
fail=0
"$py" "$src/tests/cli/docs_commands.py" "$bin" "$src" || fail=1
"$py" "$src/tests/cli/docs_commands.py" --self-test "$bin" "$src" || fail=1
exit $fail
