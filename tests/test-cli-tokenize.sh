#!/usr/bin/env bash
# herd-cli tokenize on the reference vocabulary: ids, --json, --bos, --no-special, stdin, errors.
set -u
ref=${HERD_REFERENCE_DIR:-}
cli=${HERD_CLI:?HERD_CLI not set}
vocab="$ref/vocab-llama4.gguf"
if [ ! -f "$vocab" ]; then
  echo "SKIP: $vocab is missing: cannot test 'herd-cli tokenize' without the reference data"
  exit 77
fi
fails=0
expect() { # what, got, want
  if [ "$2" != "$3" ]; then
    echo "FAIL: $1"; echo "  got:  $2"; echo "  want: $3"; fails=$((fails + 1))
  else
    echo "ok: $1"
  fi
}

expect "json ids" "$("$cli" tokenize -m "$vocab" --json 'Hello, world!')" "[19873, 24, 3817, 13]"
expect "json with bos" "$("$cli" tokenize -m "$vocab" --bos --json 'Hello, world!')" \
  "[200000, 19873, 24, 3817, 13]"
expect "special parsed by default" "$("$cli" tokenize -m "$vocab" --json 'a<|eot|>')" "[77, 200008]"
expect "--no-special" "$("$cli" tokenize -m "$vocab" --no-special --json '<|eot|>')" \
  "[40, 104, 81, 359, 159276]"
expect "stdin byte for byte" "$(printf 'x=1;  y=22\n' | "$cli" tokenize -m "$vocab" --json -)" \
  "[100, 41, 29, 39, 220, 386, 41, 1368, 198]"
got=$(printf 'Hi\t\360\237\231\202 \\\n' | "$cli" tokenize -m "$vocab" -)
want=$(printf '%s\t%s\n' 25181 'Hi' 197 '\t' 5796 '\xF0\x9F' 247 '\x99' 224 '\x82' 3922 ' \\\n')
expect "lines: id TAB escaped piece" "$got" "$want"
expect "empty stdin" "$(printf '' | "$cli" tokenize -m "$vocab" --json -)" "[]"

err=$("$cli" tokenize -m /nonexistent.gguf hi 2>&1 >/dev/null); rc=$?
[ $rc -ne 0 ] || { echo "FAIL: missing file exits 0"; fails=$((fails + 1)); }
expect "one error line" "$(printf '%s\n' "$err" | wc -l | tr -d ' ')" "1"
case "$err" in herd-cli:*) echo "ok: error prefix" ;; *) echo "FAIL: error line '$err'"; fails=$((fails + 1)) ;; esac
"$cli" tokenize --json hi >/dev/null 2>&1; rc=$?
expect "usage error status" "$rc" "2"
"$cli" tokenize --help | grep -q "ID<TAB>PIECE" || { echo "FAIL: --help"; fails=$((fails + 1)); }

echo "$fails failed"
[ $fails -eq 0 ]
