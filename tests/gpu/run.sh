#!/usr/bin/env bash
# tests/gpu/run.sh: run ON THE GPU BOX from the repository root, with build-gpu/ carried there
# (made by tests/gpu/prepare.sh on the build machine; nothing is rebuilt here). Steps, each timed
# and under its own time limit, continuing after failures; a summary at the end. Results (logs,
# JSON) go to $OUT when it is set (the device tool collects it), else to build-gpu/results.
#   1. device info (nvidia-smi, driver, toolkit, herd-cli devices)
#   2. test-cuda: every op vs the scalar reference (cuBLAS and built-in GEMM), graph replay,
#      profile, budget error, device-side synthetic weights
#   3. parity on the tiny transformers fixtures (tests/fixtures): HERD_TEST_BACKEND=cuda
#      test-logits-hf; test-logits-ref only if HERD_REFERENCE_DIR is given (not carried)
#   4. benchmarks: Scout Q4_K (-p 512 -n 128, -p 4096 -n 0), mini q4_0/q4_k/q8_0
# Budget: about 2-3 minutes expected, 500 s at most (every step's limit hit); Scout's 61 GB of
# weights are generated on the device in about a second.
# Usage: tests/gpu/run.sh [--quick]   (--quick: ops + parity + mini only, no Scout)
# Env: HERD_REFERENCE_DIR (a carried copy of the reference data: test-logits-ref too),
#      HERD_GPU_VULKAN=1 (test-vulkan-ops as well), HERD_GPU_RELINK=1 (force the relink).
set -u
cd "$(dirname "$0")/../.."
ROOT=$PWD
B=${HERD_GPU_BUILD:-build-gpu}
QUICK=0
[ "${1:-}" = "--quick" ] && QUICK=1
RES=${OUT:-$B/results}
mkdir -p "$RES"
export LD_LIBRARY_PATH="$ROOT/$B/libs:/usr/local/cuda/lib64:/usr/local/cuda/targets/x86_64-linux/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export HERD_SOURCE_DIR="$ROOT"
T_START=$(date +%s)
summary=()

# step NAME LIMIT_S CMD...: runs CMD with a time limit, log in $RES/NAME.log
step() {
    local name=$1 limit=$2
    shift 2
    local t0 t1 rc
    t0=$(date +%s.%N)
    echo "=== $name (limit ${limit}s): $*"
    if declare -F "$1" >/dev/null; then # a shell function: no time limit of its own
        "$@" > "$RES/$name.log" 2>&1
    else
        timeout --kill-after=10 "$limit" "$@" > "$RES/$name.log" 2>&1
    fi
    rc=$?
    t1=$(date +%s.%N)
    local dt
    dt=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')
    local verdict=ok
    case $rc in
        0) verdict=ok ;;
        77) verdict=SKIP ;;
        124|137) verdict=TIMEOUT ;;
        *) verdict="FAIL(rc=$rc)" ;;
    esac
    tail -n 25 "$RES/$name.log"
    echo "=== $name: $verdict in ${dt}s"
    summary+=("$(printf '%-28s %-12s %7ss' "$name" "$verdict" "$dt")")
    return $rc
}

echo "=== device"
{
    nvidia-smi 2>&1 | head -20
    nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used,clocks.max.sm \
        --format=csv 2>&1
    command -v nvcc >/dev/null && nvcc --version | tail -2
    ls /usr/local/cuda/lib64/libcublas.so* 2>/dev/null
    cat "$B/COMMIT" "$B/GLIBC" 2>/dev/null
    ldd --version | head -1
    "$B/bin/herd-cli" devices 2>&1
} | tee "$RES/device.txt"

# The prebuilt binaries carry CUDA 13's static runtime (driver >= 580). On an older driver,
# recompile engine/cuda with this box's nvcc and relink from build-gpu/relink (about 1-2 min).
relink() {
    command -v nvcc >/dev/null || { echo "relink: no nvcc on this box"; return 1; }
    local K="$ROOT/$B/relink" arch
    arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d '. ')
    [ -n "$arch" ] || arch=90
    mkdir -p "$K/engine/cuda" "$K/out"
    for f in cuda-backend cuda-ops; do
        nvcc -c "$ROOT/engine/cuda/$f.cu" -o "$K/engine/cuda/$f.o" -I"$ROOT/engine" -I"$ROOT" \
            -std=c++17 -O2 --expt-relaxed-constexpr -Xcompiler=-fPIC -DNDEBUG \
            -gencode=arch=compute_$arch,code=sm_$arch &
    done
    wait
    rm -f "$K/engine/cuda/libherd-cuda.a"
    ar rcs "$K/engine/cuda/libherd-cuda.a" "$K/engine/cuda/"*.o || return 1
    local f name cmd so lib target rc=0
    for f in "$K"/cmds/*.cmd; do
        name=$(basename "$f" .cmd)
        cmd=$(cat "$f")
        # this box's cudart (nvcc links it statically by default), carried shared libraries
        cmd=$(echo "$cmd" | sed -E 's# -Xlinker=[^ ]*libcudart_static\.a##g')
        for so in $(echo "$cmd" | grep -oE -- '-Xlinker=/[^ ]*\.so' | sed 's/^-Xlinker=//' | sort -u); do
            lib=$(ls "$ROOT/$B/libs/$(basename "$so")"* 2>/dev/null | head -1)
            [ -n "$lib" ] && cmd=${cmd//"-Xlinker=$so "/"-Xlinker=$lib "}
        done
        target=$(echo "$cmd" | awk '{for (i = 1; i < NF; i++) if ($i == "-o") print $(i + 1)}')
        cmd=${cmd/" -o $target "/" -o out/$name "}
        if (cd "$K" && eval "$cmd"); then
            mkdir -p "$ROOT/$B/bin.orig"
            cp -n "$ROOT/$B/bin/$name" "$ROOT/$B/bin.orig/" 2>/dev/null
            cp "$K/out/$name" "$ROOT/$B/bin/$name"
        else
            echo "relink: $name failed"
            rc=1
        fi
    done
    return $rc
}
if [ "${HERD_GPU_RELINK:-0}" = 1 ] ||
   { nvidia-smi >/dev/null 2>&1 && ! "$B/bin/herd-cli" devices 2>/dev/null | grep -q '^cuda *0:'; }; then
    echo "=== the prebuilt CUDA binaries see no device although nvidia-smi works: relinking"
    step relink 240 relink
    "$B/bin/herd-cli" devices 2>&1 | tee -a "$RES/device.txt"
fi

step test-cuda 120 "$B/bin/test-cuda"
CUDA_RC=$?
grep -E "^(FAIL|SKIP)|worst error|test-cuda:" "$RES/test-cuda.log" | head -40

step logits-hf-cuda 60 env HERD_TEST_BACKEND=cuda \
    HERD_SOURCE_DIR="$ROOT" "$B/bin/test-logits-hf"
if [ -n "${HERD_REFERENCE_DIR:-}" ] && [ -d "${HERD_REFERENCE_DIR:-}" ]; then
    step logits-ref-cuda 90 env HERD_TEST_BACKEND=cuda "$B/bin/test-logits-ref"
else
    summary+=("$(printf '%-28s %-12s' logits-ref-cuda 'not run (no HERD_REFERENCE_DIR)')")
fi

bench() { # name limit args...
    local name=$1 limit=$2
    shift 2
    step "bench-$name" "$limit" "$B/bin/herd-cli" bench --backend cuda --json "$@"
    grep '^{' "$RES/bench-$name.log" > "$RES/bench-$name.json" 2>/dev/null
}

vkbench() { # name limit args...
    local name=$1 limit=$2
    shift 2
    step "vkbench-$name" "$limit" "$B/bin/herd-cli" bench --backend vulkan --json "$@"
    grep '^{' "$RES/vkbench-$name.log" > "$RES/bench-vk-$name.json" 2>/dev/null
}

# without a CUDA device herd-cli would fall back to the CPU: no benchmarks then
if [ "$CUDA_RC" = 77 ]; then
    summary+=("benchmarks                   not run (no CUDA device)")
else
    bench mini-q4_0 40 --synthetic mini --type q4_0 -p 512 -n 128 -r 3
    bench mini-q4_k 40 --synthetic mini --type q4_k -p 512 -n 128 -r 3
    bench mini-q8_0 40 --synthetic mini --type q8_0 -p 512 -n 128 -r 3
    if [ $QUICK = 0 ]; then
        # with a 32k-token context: weights + KV cache must fit in 80 GB
        bench scout-q4_k-p512-n128 100 --synthetic scout --type q4_k -c 32768 -p 512 -n 128 -r 2
        bench scout-q4_k-p4096 100 --synthetic scout --type q4_k -p 4096 -n 0 -r 1
    fi
fi

# optional (HERD_GPU_VULKAN=1): the Vulkan backend on this GPU's Vulkan driver: op tests,
# tiny-model parity, benchmarks. A bare box may have NVIDIA's Vulkan driver library without its
# loader manifest (VK_ERROR_INCOMPATIBLE_DRIVER): then write one pointing at the library.
if [ "${HERD_GPU_VULKAN:-0}" = 1 ] && [ -z "${VK_ICD_FILENAMES:-}" ] &&
   ! ls /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json >/dev/null 2>&1; then
    nvlib=$(ldconfig -p 2>/dev/null | awk '/libGLX_nvidia.so.0/ {print $NF; exit}')
    [ -z "$nvlib" ] && nvlib=$(ls /usr/lib/x86_64-linux-gnu/libGLX_nvidia.so.0 /usr/lib64/libGLX_nvidia.so.0 2>/dev/null | head -1)
    if [ -n "$nvlib" ]; then
        printf '{"file_format_version": "1.0.0", "ICD": {"library_path": "%s", "api_version": "1.3.0"}}\n' \
            "$nvlib" > "$RES/nvidia_icd.json"
        export VK_ICD_FILENAMES="$RES/nvidia_icd.json"
        echo "=== vulkan: using NVIDIA's driver $nvlib through $VK_ICD_FILENAMES"
    fi
fi
if [ "${HERD_GPU_VULKAN:-0}" = 1 ] && [ -x "$B/bin/test-vulkan-ops" ]; then
    step vulkan-ops 100 "$B/bin/test-vulkan-ops"
    step logits-hf-vulkan 60 env HERD_TEST_BACKEND=vulkan HERD_SOURCE_DIR="$ROOT" \
        "$B/bin/test-logits-hf"
    vkbench mini-q4_k 40 --synthetic mini --type q4_k -p 512 -n 128 -r 3
    [ $QUICK = 0 ] && [ "${HERD_GPU_VK_SCOUT:-0}" = 1 ] &&
        vkbench scout-q4_k 150 --synthetic scout --type q4_k -p 512 -n 32 -r 1
fi

# last (it is the least important): per-op profile of Scout on CUDA
if [ "$CUDA_RC" != 77 ] && [ $QUICK = 0 ]; then
    # per-op times (a sync after every node, no graph replay: the decode speed here is
    # lower than above, prefill nearly unaffected; no JSON kept so the summary's speeds stay
    # the unprofiled ones). Prefill as one batch of 2048 (weights dequantized once per
    # 2048 tokens instead of per 512).
    step scout-q4_k-profile 90 "$B/bin/herd-cli" bench --backend cuda --synthetic scout \
        --type q4_k -p 2048 -b 2048 -n 32 -r 1 --profile
fi

echo
echo "=== summary ($(( $(date +%s) - T_START )) s in all)"
for s in "${summary[@]}"; do
    echo "$s"
done
echo "--- benchmarks (tokens/s)"
for f in "$RES"/bench-*.json; do
    [ -s "$f" ] || continue
    python3 - "$f" <<'PY' 2>/dev/null || cat "$f"
import json, sys
d = json.load(open(sys.argv[1]))
print(f"{d['model']:>6} {d['type']:>5} {d['backend']:>5}  pp{d['n_prompt']:<5} "
      f"{d['pp_tokens_per_s']:9.1f}   tg{d['n_gen']:<4} {d['tg_tokens_per_s']:8.1f}"
      f"   ({d['tg_weight_gb_per_s']:.0f} GB/s of weights)")
PY
done | tee "$RES/summary.txt"
if [ -s "$RES/scout-q4_k-profile.log" ]; then
    echo "--- Scout Q4_K per-op profile (prefill 2048 as one batch, decode 32)"
    grep -E '^(pp|tg)[0-9]+:' "$RES/scout-q4_k-profile.log" | tee -a "$RES/summary.txt"
    grep -A40 '^profile:' "$RES/scout-q4_k-profile.log" | grep -v '^herd:' | head -70 |
        tee -a "$RES/summary.txt"
fi
printf '%s\n' "${summary[@]}" >> "$RES/summary.txt"
