#!/usr/bin/env bash
# The whole GPU check of ragchat's exllamav2 backend, resumable across short sessions.
#
#   benchmarks/gpu/run_all.sh [--wait SECONDS] [--status] [--fresh] [--retry] [--no-big]
#
# The first call starts the pipeline below in the background (its own process session, so it
# outlives the call) and waits for it; every later call on the same machine attaches to it and
# waits again. Each call returns after --wait seconds [560] or when the pipeline ends, having
# copied logs and results to $OUT (default /tmp/ragchat-gpu-out), and prints one line per step, the
# headline figures and `STATUS: DONE | RUNNING | FAILED`. Run the same command again while it
# says RUNNING.
#
#   --status    print the summary and copy to $OUT without waiting
#   --fresh     stop a running pipeline and start over (deletes the work folder)
#   --retry     run the steps that failed or were skipped again
#   --no-big    leave out the Qwen2.5-14B-shape model (small model only)
#
# Pipeline (two lanes; each step's log is in logs/<step>.log):
#   env, install (wheels from .whl into $SITE, hnswlib built from source)
#   lane A: build (exllamav2's CUDA extension) -> convert_small -> measure_small ->
#           logits_small -> pytest_gpu -> e2e -> measure_big -> logits_big -> bench_cli
#   lane B: make_small, make_embedder, make_big_l2, make_big (on the GPU while the CPU builds)
#           -> convert_big (after measure_small, so the timings are not disturbed)
#
# Environment: OUT, PYTHON [python3], GPU_WORK (work folder; default: the disk folder with the
# most room), GPU_SITE [/tmp/site], BPW [4.25], WAIT_S [560]. The 14B shape's fp16 weights
# (30 GB) go to /dev/shm when that disk has less than 55 GB free.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PY=${PYTHON:-python3}
OUT=${OUT:-/tmp/ragchat-gpu-out}
SITE=${GPU_SITE:-/tmp/site}
BPW=${BPW:-4.25}
WAIT_S=${WAIT_S:-560}
POLL=${RUN_ALL_POLL:-5}
POINTER=/tmp/ragchat-gpu-work

if [[ ${1:-} == -h || ${1:-} == --help ]]; then
    sed -n '2,27p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit 0
fi

# ---------------------------------------------------------------- work folder

free_gb() { echo $(( $(df -P -B1 "$1" 2>/dev/null | awk 'NR==2 {print $4}') / 1000000000 )); }

work_dir() {  # the disk folder with the most room; fixed for the machine's life once chosen
    if [[ -n ${GPU_WORK:-} ]]; then echo "$GPU_WORK"; return; fi
    if [[ -f $POINTER ]]; then cat "$POINTER"; return; fi
    local best=/tmp best_gb=-1 d gb
    for d in /tmp /root /var/tmp /data /mnt "$ROOT/.."; do
        [[ -d $d && -w $d ]] || continue
        gb=$(free_gb "$d")
        if (( gb > best_gb )); then best=$d best_gb=$gb; fi
    done
    echo "$(cd "$best" && pwd)/ragchat-gpu" | tee "$POINTER"
}

WORK=$(work_dir)
STATE=$WORK/state LOGS=$WORK/logs M=$WORK/models
TOK=$ROOT/.whl/tokenizer

# ---------------------------------------------------------------- steps

record() {  # step status seconds started [note]
    "$PY" -c 'import json,sys; a=sys.argv; print(json.dumps({"step":a[1],"status":a[2],"seconds":int(a[3]),"started":float(a[4]),"note":a[5]}))' \
        "$1" "$2" "$3" "$4" "${5:-}" >> "$WORK/steps.jsonl"
}

settled() { [[ -f $STATE/$1.ok || -f $STATE/$1.fail || -f $STATE/$1.skip ]]; }

step() {  # step NAME FUNCTION [ARGS]: run once, log to logs/NAME.log, leave a marker
    local name=$1; shift
    settled "$name" && { [[ -f $STATE/$name.ok ]]; return; }
    local t0; t0=$(date +%s)
    echo "$t0" > "$STATE/$name.running"
    echo "[$(date +%T)] start $name"
    ( "$@" ) > "$LOGS/$name.log" 2>&1
    local rc=$? t=$(( $(date +%s) - t0 ))
    rm -f "$STATE/$name.running"
    if (( rc == 0 )); then touch "$STATE/$name.ok"; record "$name" ok "$t" "$t0"
    else touch "$STATE/$name.fail"; record "$name" fail "$t" "$t0" "exit $rc, see logs/$name.log"; fi
    echo "[$(date +%T)] end $name rc=$rc ${t}s"
    return $rc
}

need() {  # need DEP... -- step NAME FUNCTION: skip NAME unless every DEP succeeded
    local deps=()
    while [[ $1 != -- ]]; do deps+=("$1"); shift; done
    shift
    local name=$2 dep
    settled "$name" && { [[ -f $STATE/$name.ok ]]; return; }
    for dep in "${deps[@]}"; do
        if [[ ! -f $STATE/$dep.ok ]]; then
            touch "$STATE/$name.skip"; record "$name" skip 0 "$(date +%s)" "needs $dep"
            return 1
        fi
    done
    "$@"
}

wait_for() {  # wait until a step is settled (at most 40 minutes)
    local limit=$(( $(date +%s) + 2400 ))
    while (( $(date +%s) < limit )); do settled "$1" && return 0; sleep "$POLL"; done
    return 1
}

do_env() {
    nvidia-smi || true
    "$PY" - "$WORK/env.json" <<'EOF'
import json, os, platform, shutil, subprocess, sys
import torch
info = {"python": sys.version.split()[0], "torch": torch.__version__, "cuda": torch.version.cuda,
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "capability": ".".join(map(str, torch.cuda.get_device_capability(0))) if torch.cuda.is_available() else None,
        "cpus": os.cpu_count(), "platform": platform.platform()}
for tool in ("nvcc", "gcc", "ninja"):
    path = shutil.which(tool)
    out = subprocess.run([path, "--version"], capture_output=True, text=True).stdout if path else ""
    info[tool] = (out.strip().splitlines() or [None])[-1]
for name in ("transformers", "tokenizers", "safetensors", "numpy", "sentence-transformers", "flash-attn", "pybind11", "setuptools"):
    try:
        from importlib.metadata import version
        info[name] = version(name)
    except Exception:
        info[name] = None
json.dump(info, open(sys.argv[1], "w"), indent=2)
print(json.dumps(info, indent=2))
EOF
    df -h "$WORK" /tmp /dev/shm; free -g
}

do_install() {
    compgen -G "$ROOT/.whl/*.whl" >/dev/null ||
        { echo "no wheels in $ROOT/.whl: run benchmarks/gpu/fetch_wheels.sh and carry .whl"; return 1; }
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" "$ROOT"/.whl/*.whl || return 1
    local s
    for s in "$ROOT"/.whl/sdist/*.tar.gz; do
        [[ -e $s ]] || continue
        "$PY" -m pip install -q --no-index --no-deps --no-build-isolation --no-cache-dir --target "$SITE" "$s" || return 1
    done
    "$PY" -c 'import hnswlib, langgraph, langchain_core, langgraph.checkpoint.sqlite, pydantic, fastparquet, platformdirs, prompt_toolkit, pypdf; print("imports ok")'
}

do_build() {
    local env_out
    env_out=$("$PY" "$HERE/cuda_env.py" --merge-into /tmp/cuda-include) || echo "cuda_env: headers still missing"
    echo "$env_out"
    eval "$env_out"
    mkdir -p "$WORK/artifacts" "$WORK/prebuilt"
    local saved=$ROOT/.whl/prebuilt/exllamav2_ext.so.xz   # from an earlier session, if carried
    if [[ -f $saved ]]; then
        xz -dc "$saved" > "$WORK/prebuilt/exllamav2_ext.so"
        cp -f "${saved%.so.xz}.json" "$WORK/prebuilt/exllamav2_ext.json"
    fi
    "$PY" "$HERE/build_ext.py" --site "$SITE" --prebuilt "$WORK/prebuilt/exllamav2_ext.so" \
        --report "$WORK/build.json" --save-meta "$WORK/artifacts/exllamav2_ext.json" || return 1
    local so  # keep a compressed copy to bring back (optional: the build itself succeeded)
    so=$(ls "$SITE"/exllamav2_ext*.so | head -1)
    if command -v xz >/dev/null; then
        xz -T0 -6 -c "$so" > "$WORK/artifacts/exllamav2_ext.so.xz" && ls -l "$so" "$WORK/artifacts/"
    fi
    return 0
}

model() { "$PY" "$HERE/make_test_model.py" model --tokenizer "$TOK" --device cuda "$@"; }

do_make_small() { model --preset small --out "$M/small-fp16" --reference-out "$M/small-ref.pt"; }
do_make_embedder() { "$PY" "$HERE/make_test_model.py" embedder --tokenizer "$TOK" --out "$M/embedder"; }
do_make_big_l2() { model --preset qwen14b --layers 2 --out "$M/big-l2-fp16"; }

do_make_big() {  # 29.5 GB of fp16 weights: on the disk if it also has room for the EXL2 output
    local disk shm target=$M/big-fp16
    disk=$(free_gb "$M") shm=$(free_gb /dev/shm)
    echo "free: ${disk} GB in $M, ${shm} GB in /dev/shm"
    if (( disk < 55 )); then
        (( shm >= 32 && disk >= 20 )) ||
            { echo "not enough room for the 14B shape (30 GB fp16 + 20 GB for converting)"; return 1; }
        target=/dev/shm/ragchat-big-fp16   # memory-backed; the EXL2 output goes to the disk
        ln -sfn "$target" "$M/big-fp16"
    fi
    model --preset qwen14b --out "$target" --reference-out "$M/big-ref.pt"
}

do_convert_small() {
    bash "$HERE/convert.sh" -i "$M/small-fp16" -o "$M/small-work" -cf "$M/small-exl2" -b "$BPW" -r 64
}

do_convert_big() {  # 2 measured layers stand for all 48; fewer calibration rows (random weights)
    bash "$HERE/convert.sh" -i "$M/big-fp16" --measure-from "$M/big-l2-fp16" -o "$M/big-work" \
        -cf "$M/big-exl2" -b "$BPW" -r 16 -mr 8
}

do_measure_small() { "$PY" "$HERE/measure.py" --model "$M/small-exl2" --label small --out "$RESULTS"; }

do_measure_big() {
    "$PY" "$HERE/measure.py" --model "$M/big-exl2" --label qwen14b-shape --repeats 2 --out "$RESULTS" \
        --note "Qwen2.5-14B shape, random weights, measurement of 2 layers replicated to 48"
}

do_logits_small() {
    "$PY" "$HERE/check_logits.py" --reference "$M/small-ref.pt" --model "$M/small-fp16" \
        --model "$M/small-exl2" --out "$WORK/logits.json"
}

do_logits_big() {
    "$PY" "$HERE/check_logits.py" --reference "$M/big-ref.pt" --model "$M/big-exl2" \
        --model "$M/big-fp16" --out "$WORK/logits.json"
}

do_pytest() {
    cd "$ROOT" && EXL2_TEST_MODEL=$M/small-exl2 "$PY" -m pytest -m gpu tests -q -rA -p no:cacheprovider \
        --continue-on-collection-errors --junitxml="$LOGS/pytest-gpu.xml"
}

do_e2e() {
    "$PY" "$HERE/e2e.py" --backend exllamav2 --exl2 "$M/small-exl2" --embedder "$M/embedder" \
        --out "$WORK/e2e.json"
}

do_bench_cli() {  # `ragchat bench`, the user-facing benchmark, on the small model
    local home; home=$(mktemp -d)
    RAGCHAT_HOME=$home RAGCHAT_EXL2_MODEL=$M/small-exl2 RAGCHAT_EMBEDDING_MODEL=$M/embedder \
        RAGCHAT_MAX_SEQ_LEN=8192 "$PY" -m ragchat bench --backend exllamav2 --quick --json \
        > "$LOGS/bench-cli.json"
}

lane_a() {
    need install -- step build do_build
    wait_for make_small
    need build make_small -- step convert_small do_convert_small
    [[ $BIG == 1 ]] && wait_for make_big   # nothing else on the GPU while timing
    need convert_small -- step measure_small do_measure_small
    need convert_small -- step logits_small do_logits_small
    need convert_small -- step pytest_gpu do_pytest
    wait_for make_embedder
    need convert_small make_embedder -- step e2e do_e2e
    if [[ $BIG == 1 ]]; then
        wait_for convert_big
        need convert_big -- step measure_big do_measure_big
        need convert_big make_big -- step logits_big do_logits_big
    fi
    need convert_small make_embedder -- step bench_cli do_bench_cli
}

lane_b() {
    need install -- step make_small do_make_small
    need install -- step make_embedder do_make_embedder
    [[ $BIG == 1 ]] || return 0
    need install -- step make_big_l2 do_make_big_l2
    need install -- step make_big do_make_big
    wait_for measure_small
    need build make_big make_big_l2 -- step convert_big do_convert_big
}

# a test replaces the do_* functions with quick stand-ins here (tests/gpu_prep)
[[ -n ${RUN_ALL_STEPS:-} ]] && source "$RUN_ALL_STEPS"

pipeline() {
    export PYTHONPATH=$SITE:$ROOT${PYTHONPATH:+:$PYTHONPATH}
    export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
    export TORCH_EXTENSIONS_DIR=$WORK/torch_extensions
    step env do_env
    need env -- step install do_install
    RESULTS=$WORK/results/$("$PY" -c 'import sys; sys.path.insert(0, sys.argv[1]); import torch; from benchlib import results_path; print(results_path(".", torch.cuda.get_device_name(0)).name)' "$HERE" 2>/dev/null || echo gpu-unknown.json)
    export RESULTS
    lane_b & local b=$!
    lane_a
    wait "$b"
    touch "$STATE/ALL.done"
    echo "[$(date +%T)] pipeline finished"
}

# ---------------------------------------------------------------- calls

running() { [[ -f $WORK/pipeline.pid ]] && kill -0 "$(cat "$WORK/pipeline.pid")" 2>/dev/null; }

sync_out() {  # at most 8 files come back: steps, results, logits, e2e, logs, the built extension
    mkdir -p "$OUT"
    "$PY" "$HERE/summary.py" "$WORK" --json "$OUT/steps.json" > "$WORK/summary.txt" 2>&1
    cp -f "$WORK"/results/*.json "$OUT/" 2>/dev/null
    cp -f "$WORK/logits.json" "$WORK/e2e.json" "$OUT/" 2>/dev/null
    tar -czf "$OUT/logs.tgz" -C "$WORK" logs summary.txt build.json env.json steps.jsonl 2>/dev/null
    local xz=$WORK/artifacts/exllamav2_ext.so.xz
    if [[ -f $xz && $(stat -c %s "$xz") -lt 16000000 ]]; then
        cp -f "$xz" "$WORK/artifacts/exllamav2_ext.json" "$OUT/" 2>/dev/null
    fi
    true
}

main() {
    local wait_s=$WAIT_S mode=run
    BIG=1
    while [[ $# -gt 0 ]]; do
        case $1 in
            --wait) wait_s=$2; shift 2 ;;
            --status) mode=status; shift ;;
            --fresh) mode=fresh; shift ;;
            --retry) mode=retry; shift ;;
            --no-big) BIG=0; shift ;;
            --pipeline) mode=pipeline; shift ;;
            *) echo "run_all.sh: unknown option $1" >&2; return 2 ;;
        esac
    done
    export BIG
    if [[ $mode == pipeline ]]; then pipeline; return; fi
    if [[ $mode == fresh ]]; then
        running && kill -- "-$(cat "$WORK/pipeline.pid")" 2>/dev/null
        rm -rf "$WORK"; rm -f "$POINTER"; WORK=$(work_dir)
        STATE=$WORK/state LOGS=$WORK/logs M=$WORK/models
    fi
    mkdir -p "$STATE" "$LOGS" "$M" "$WORK/results"
    if [[ $mode == retry ]] && ! running; then
        rm -f "$STATE"/*.fail "$STATE"/*.skip "$STATE/ALL.done"
    fi
    if [[ $mode != status ]] && ! running && [[ ! -f $STATE/ALL.done ]]; then
        echo "starting the pipeline in $WORK (log: logs/pipeline.log)"
        rm -f "$STATE"/*.running
        local detach=(nohup)
        command -v setsid >/dev/null && detach=(setsid nohup)  # its own session outlives the call
        "${detach[@]}" bash "${BASH_SOURCE[0]}" --pipeline $([[ $BIG == 0 ]] && echo --no-big) \
            > "$LOGS/pipeline.log" 2>&1 < /dev/null &
        echo $! > "$WORK/pipeline.pid"
        sleep 1
    elif running; then
        echo "attaching to the pipeline running in $WORK"
    fi
    local deadline=$(( $(date +%s) + wait_s )) last=0
    while [[ $mode != status ]] && running && (( $(date +%s) < deadline )); do
        sleep "$POLL"
        if (( $(date +%s) - last >= 30 )); then
            last=$(date +%s)
            echo "[$(date +%T)] $(ls "$STATE" | sed -n 's/\.running$//p' | tr '\n' ' ')running; done: $(ls "$STATE" | grep -c '\.ok$') ok, $(ls "$STATE" | grep -c '\.fail$') failed"
            sync_out
        fi
    done
    sync_out
    cat "$WORK/summary.txt"
}

main "$@"
