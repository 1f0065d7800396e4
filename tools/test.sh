#!/usr/bin/env bash
# tools/test.sh: install what is missing, build, and run the whole test suite twice:
# build/ (gcc, optimized) and build-asan/ (clang, AddressSanitizer + UBSan, plus the fuzz targets).
# Ends with one line "N passed, N failed[, N skipped]". Exit status 0 only if nothing failed.
set -u
cd "$(dirname "$0")/.."
source tools/deps.sh
herd_install_deps || { echo "herd: could not install dependencies"; echo "0 passed, 1 failed"; exit 1; }

jobs=$(nproc)
status=0

setup() { # dir, extra args...
  local dir=$1; shift
  if [ -f "$dir/build.ninja" ]; then
    meson setup --reconfigure "$dir" "$@" >/dev/null || meson setup --wipe "$dir" "$@"
  else
    meson setup "$dir" "$@"
  fi
}

setup build -Dbuildtype=release || status=1
ninja -C build -j"$jobs" || status=1
meson test -C build --num-processes "$jobs" --print-errorlogs --no-rebuild --timeout-multiplier 2 || true

CC=clang setup build-asan -Dbuildtype=debugoptimized -Db_sanitize=address,undefined -Db_lundef=false || status=1
ninja -C build-asan -j"$jobs" || status=1
ASAN_OPTIONS=detect_leaks=1 meson test -C build-asan --num-processes "$jobs" --print-errorlogs --no-rebuild \
  --timeout-multiplier 4 || true

python3 - "$status" build/meson-logs/testlog.json build-asan/meson-logs/testlog.json <<'PY'
import json, sys
build_failed = sys.argv[1] != "0"
passed = failed = skipped = 0
for path in sys.argv[2:]:
    try:
        lines = open(path).read().splitlines()
    except OSError:
        failed += 1
        print(f"herd: missing test log {path}")
        continue
    for line in lines:
        r = json.loads(line)
        res = r.get("result")
        if res in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif res == "SKIP":
            skipped += 1
            print(f"SKIPPED: {path.split('/')[0]}: {r.get('name')}")
        else:
            failed += 1
            print(f"FAILED: {path.split('/')[0]}: {r.get('name')} ({res})")
if build_failed:
    failed += 1
    print("FAILED: the build itself")
line = f"{passed} passed, {failed} failed"
if skipped:
    line += f", {skipped} skipped"
print(line)
sys.exit(1 if failed else 0)
PY
