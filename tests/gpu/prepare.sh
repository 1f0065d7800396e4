#!/usr/bin/env bash
# tests/gpu/prepare.sh: run HERE (the build machine, no GPU). Builds a release tree with CUDA
# (and Vulkan when found) in build-gpu-full/, then packs what tests/gpu/run.sh needs on a bare
# GPU box into build-gpu/ (carry that one path to the device, limit 64 MiB):
#   build-gpu/bin/   herd-cli, test-cuda, test-logits-hf, test-logits-ref, test-ops,
#                    test-vulkan-ops (if built)
#   build-gpu/libs/  shared libraries the binaries need beyond glibc (libutf8proc, libpng,
#                    libjpeg, GLib, sqlite, libvulkan, ...); cudart is static and cuBLAS is loaded
#                    at run time from the GPU box's CUDA toolkit (libcublasLt alone is 540 MB).
# Usage: tests/gpu/prepare.sh [-j N]
set -u
cd "$(dirname "$0")/../.."
JOBS=2
[ "${1:-}" = "-j" ] && JOBS="${2:-2}"
FULL=build-gpu-full
PACK=build-gpu
opts=(-Dui=disabled -Dbuildtype=release -Dcuda=enabled -Dfuzz=disabled)
t0=$(date +%s)
if [ -d "$FULL" ]; then
    meson setup --reconfigure "$FULL" "${opts[@]}" >/dev/null || exit 1
else
    meson setup "$FULL" "${opts[@]}" >/dev/null || exit 1
fi
# nvcc objects do not track header changes here: rebuild them when a header is newer
lib="$FULL/engine/cuda/libherd-cuda.a"
if [ -f "$lib" ] && [ -n "$(find engine/cuda engine/backend.h engine/types.h engine/herd-error.h \
        \( -name '*.cuh' -o -name '*.h' \) -newer "$lib" 2>/dev/null)" ]; then
    touch engine/cuda/*.cu
fi
targets=(app/herd-cli tests/test-cuda tests/test-logits-hf tests/test-logits-ref tests/test-ops)
[ -n "$(ninja -C "$FULL" -t targets all 2>/dev/null | grep '^tests/test-vulkan-ops:')" ] &&
    targets+=(tests/test-vulkan-ops)
ninja -C "$FULL" -j"$JOBS" "${targets[@]}" || exit 1
rm -rf "$PACK"
mkdir -p "$PACK/bin" "$PACK/libs"
for t in "${targets[@]}"; do
    cp "$FULL/$t" "$PACK/bin/" || exit 1
done
strip --strip-debug "$PACK"/bin/* 2>/dev/null
# shared libraries beyond the C runtime a bare box always has
skip='^(linux-vdso|ld-linux|libc\.so|libm\.so|libdl\.so|libpthread\.so|librt\.so|libgcc_s|libstdc\+\+|libcuda\.so|libnvidia)'
for b in "$PACK"/bin/*; do
    ldd "$b" | awk '/=> \//{print $1" "$3}'
done | sort -u | while read -r name path; do
    if ! [[ "$name" =~ $skip ]]; then
        cp -L "$path" "$PACK/libs/$name"
    fi
done
# relink kit: if the GPU box's driver is older than this toolkit (cudart 13 needs driver >= 580),
# run.sh recompiles engine/cuda/*.cu with the box's nvcc and relinks the binaries from these
# objects and real (not thin) archives without the CUDA objects
K="$PACK/relink"
mkdir -p "$K/cmds"
for t in "${targets[@]}"; do
    name=$(basename "$t")
    cmd=$(ninja -C "$FULL" -t commands "$t" | tail -1)
    echo "$cmd" > "$K/cmds/$name.cmd"
    for tok in $cmd; do
        case "$tok" in
        *.o)
            mkdir -p "$K/$(dirname "$tok")" && cp "$FULL/$tok" "$K/$tok" ;;
        -Xlinker=*.a)
            a=${tok#-Xlinker=}
            case "$a" in /*|engine/cuda/*) continue ;; esac
            [ -f "$K/$a" ] && continue
            mkdir -p "$K/$(dirname "$a")"
            members=$(cd "$FULL" && ar t "$a" | grep -v '\.cu\.o$')
            (cd "$FULL" && ar rcs "$OLDPWD/$K/$a" $members) ;;
        esac
    done
done
strip --strip-debug "$K"/*/*.a "$K"/*/*.p/*.o 2>/dev/null
# the glibc symbol versions the binaries need (a GPU box older than this machine's glibc fails)
need=$(for b in "$PACK"/bin/* "$PACK"/libs/*; do objdump -T "$b" 2>/dev/null; done |
       grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1)
git rev-parse HEAD > "$PACK/COMMIT" 2>/dev/null
echo "needs ${need:-?} (this machine: $(ldd --version | head -1 | awk '{print $NF}'))" > "$PACK/GLIBC"
echo "prepare: $(du -sh "$PACK" | cut -f1) in $PACK ($(ls "$PACK/bin" | wc -l) binaries," \
     "$(ls "$PACK/libs" | wc -l) libraries, glibc ${need:-?}) in $(( $(date +%s) - t0 )) s"
ls -la "$PACK/bin" "$PACK/libs"
size=$(du -sb "$PACK" | cut -f1)
if [ "$size" -gt $((60 * 1024 * 1024)) ]; then
    echo "prepare: WARNING: $PACK is over 60 MiB; the device carry limit is 64 MiB" >&2
fi
