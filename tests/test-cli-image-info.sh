#!/usr/bin/env bash
# test-cli-image-info.sh: `herd-cli image-info` on files made here with cjpeg (libjpeg-turbo-progs)
# and on the peer EXIF photos: "WIDTHxHEIGHT FORMAT" on stdout, --rgb writes exactly the decoded
# rows (checked against djpeg), --tiles prints the grid, refused files exit 1 with one stderr line
# "herd-cli: ...", bad usage exits 2. Exit 77 after the generated part when the peer dir is absent.
set -u
cli=${HERD_CLI:?HERD_CLI not set}
peer=${HERD_PEER_DIR:-}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/herd-cli-image.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail=0
n=0
check() { # description, condition status
  n=$((n + 1))
  if [ "$2" -ne 0 ]; then echo "FAIL: $1"; fail=$((fail + 1)); fi
}
command -v cjpeg >/dev/null && command -v djpeg >/dev/null ||
  { echo "SKIP: cjpeg/djpeg missing (Debian libjpeg-turbo-progs, tools/deps.sh)"; exit 77; }

# a 40x24 PPM gradient → JPEG
{ printf 'P6\n40 24\n255\n'; for y in $(seq 0 23); do for x in $(seq 0 39); do
    printf "\\$(printf %o $((x * 6)))\\$(printf %o $((y * 10)))\\$(printf %o 128)"; done; done; } >"$tmp/g.ppm"
cjpeg -quality 90 "$tmp/g.ppm" >"$tmp/g.jpg"
cp "$tmp/g.jpg" "$tmp/named-like-a.png" # detection is by content, not by name

out=$("$cli" image-info "$tmp/g.jpg" 2>"$tmp/err"); rc=$?
check "g.jpg: status $rc, output '$out'" $([ $rc -eq 0 ] && [ "$out" = "40x24 jpeg" ] && [ ! -s "$tmp/err" ]; echo $?)
out=$("$cli" image-info "$tmp/named-like-a.png" 2>/dev/null)
check "named-like-a.png: '$out'" $([ "$out" = "40x24 jpeg" ]; echo $?)
"$cli" image-info "$tmp/g.jpg" --rgb "$tmp/g.rgb" >/dev/null; rc=$?
djpeg -ppm "$tmp/g.jpg" | tail -c $((40 * 24 * 3)) >"$tmp/ref.rgb"
check "--rgb: status $rc, $(stat -c %s "$tmp/g.rgb" 2>/dev/null) bytes, same as djpeg" \
  $([ $rc -eq 0 ] && cmp -s "$tmp/g.rgb" "$tmp/ref.rgb"; echo $?)
out=$("$cli" image-info --tiles "$tmp/g.jpg" | sed -n 2p)
check "--tiles: '$out'" $([[ "$out" == "tiles: grid 1x1 "*"resized to 336x201"* ]]; echo $?)

# refused: one line on stderr, status 1
head -c 300 "$tmp/g.jpg" >"$tmp/cut.jpg"
printf 'hello, not an image\n' >"$tmp/text.png"
: >"$tmp/empty.jpg"
for f in cut.jpg text.png empty.jpg missing.png; do
  "$cli" image-info "$tmp/$f" >"$tmp/out" 2>"$tmp/err"; rc=$?
  lines=$(wc -l <"$tmp/err")
  check "$f: status $rc, $lines stderr lines: $(cat "$tmp/err")" \
    $([ $rc -eq 1 ] && [ "$lines" -eq 1 ] && grep -q "^herd-cli: .*$f" "$tmp/err" && [ ! -s "$tmp/out" ]; echo $?)
done
"$cli" image-info --max-pixels 100 "$tmp/g.jpg" >/dev/null 2>"$tmp/err"; rc=$?
check "--max-pixels 100: status $rc: $(cat "$tmp/err")" $([ $rc -eq 1 ] && grep -q "megapixels" "$tmp/err"; echo $?)
"$cli" image-info >/dev/null 2>&1; rc=$?
check "no file: status $rc" $([ $rc -eq 2 ]; echo $?)
"$cli" image-info --bogus "$tmp/g.jpg" >/dev/null 2>&1; rc=$?
check "unknown option: status $rc" $([ $rc -eq 2 ]; echo $?)

if [ -z "$peer" ] || [ ! -d "$peer/exif-orientation" ]; then
  echo "$n checks, $fail failures"
  [ $fail -eq 0 ] || exit 1
  echo "SKIP: peer suites not found (HERD_PEER_DIR=$peer): EXIF part not run"; exit 77
fi
for o in 1 3 6 8; do
  out=$("$cli" image-info "$peer/exif-orientation/Landscape_$o.jpg")
  check "Landscape_$o: '$out'" $([ "$out" = "1800x1200 jpeg" ]; echo $?)
  out=$("$cli" image-info "$peer/exif-orientation/Portrait_$o.jpg")
  check "Portrait_$o: '$out'" $([ "$out" = "1200x1800 jpeg" ]; echo $?)
done
out=$("$cli" image-info "$peer/pngsuite/basn6a16.png")
check "basn6a16.png: '$out'" $([ "$out" = "32x32 png" ]; echo $?)
echo "$n checks, $fail failures"
[ $fail -eq 0 ]
