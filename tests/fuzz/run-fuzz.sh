#!/usr/bin/env bash
# run-fuzz.sh EXE ARTIFACT_DIR SECONDS SEED_DIR [MORE_SEED_DIRS...]
# Runs a libFuzzer target for a bounded time. New inputs go to a temporary directory (libFuzzer
# writes into the first corpus directory it is given), never into the seed corpus in the source
# tree; seed directories that do not exist are left out. Crashes land in ARTIFACT_DIR.
set -u
exe=$1 art=$2 secs=$3
shift 3
tmp=$(mktemp -d "${TMPDIR:-/tmp}/herd-fuzz.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
dirs=()
for d in "$@"; do
  if [ -d "$d" ]; then dirs+=("$d"); else echo "run-fuzz: no seed directory $d (skipped)"; fi
done
mkdir -p "$art"
"$exe" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -max_len=1048576 \
  -print_final_stats=1 -artifact_prefix="$art/" "$tmp" "${dirs[@]}"
