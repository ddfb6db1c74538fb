#!/usr/bin/env bash
# The C extensions (src/gearshift/ingest/_scan.c, the parser, and _walk.c, the transcript walk)
# built with AddressSanitizer and UBSan into a scratch copy of src/, then their tests run against
# that build: the differential and fuzz tests feed the parser adversarial lines and buffer splits,
# the walk tests deep, long-path, many-file and concurrent walks, and any out-of-bounds access,
# use after free or undefined behaviour aborts the run. `make asan` runs it; `make test` (and so
# CI) too.
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
if ! command -v gcc >/dev/null || [ ! -e "$(gcc -print-file-name=libasan.so)" ] \
  || [ ! -e "$(gcc -print-file-name=libubsan.so)" ]; then
  echo "asan: skipped (no gcc with the AddressSanitizer and UBSan runtimes here)"
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r src "$work/src"
rm -f "$work"/src/gearshift/ingest/_scan*.so "$work"/src/gearshift/ingest/_walk*.so
include=$($py -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
suffix=$($py -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
for ext in _scan _walk; do
  gcc -shared -fPIC -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
    -fno-sanitize-recover=all -Wall -Wextra -I"$include" \
    "src/gearshift/ingest/$ext.c" -o "$work/src/gearshift/ingest/$ext$suffix"
done
export LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)"
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1
export PYTHONPATH="$work/src" GEARSHIFT_REQUIRE_NATIVE=1
for ext in _scan _walk; do
  built=$($py -c "import gearshift.ingest.$ext as m; print(m.__file__)")
  case "$built" in
    "$work"/*) ;;
    *) echo "asan: the sanitized build was not the one imported ($built)"; exit 1 ;;
  esac
done
$py -m pytest -q -p no:cacheprovider --capture=sys tests/ingest/test_parse_native.py tests/ingest/test_claude_code.py \
  tests/ingest/test_ingest_corpus.py tests/ingest/test_dedup.py tests/ingest/test_walk.py
