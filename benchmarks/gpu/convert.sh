#!/usr/bin/env bash
# Quantize a Hugging Face (safetensors) model folder to EXL2 with ExLlamaV2's own converter.
#
#   benchmarks/gpu/convert.sh -i HF_DIR -o WORK_DIR -cf OUT_DIR [-b 4.25] [options]
#
# Options:
#   -b BPW              target bits per weight of the decoder layers [4.25]
#   -hb BITS            bits of the output layer [6]
#   -r ROWS -l LEN      calibration rows and tokens per row for quantizing [100, 2048]
#   -mr ROWS -ml LEN    the same for the measurement pass [16, 2048]
#   --measure-from DIR  measure this shallow model of the same width instead of HF_DIR and
#                       stretch its measurement over HF_DIR's layers (random weights only;
#                       see replicate_measurement.py); turns a long measurement into a short one
#   --keep-work         keep WORK_DIR (by default it is deleted once OUT_DIR is complete)
#
# The calibration text is the converter's own (exllamav2/conversion/standard_cal_data, shipped
# with the package). The converter resumes an interrupted job from WORK_DIR, and it exits 0
# even on its own errors, so success is judged by OUT_DIR: a config.json with an EXL2
# quantization_config and safetensors next to it. Prints one JSON line at the end.
# Set PYTHON to choose the interpreter [python3].
set -euo pipefail

PY=${PYTHON:-python3}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
IN="" WORK="" OUT="" BPW=4.25 HB=6 ROWS=100 LEN=2048 MROWS=16 MLEN=2048 SHALLOW="" KEEP=0

usage() { sed -n '2,21p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

while [[ $# -gt 0 ]]; do
    case $1 in
        -i) IN=$2; shift 2 ;;
        -o) WORK=$2; shift 2 ;;
        -cf) OUT=$2; shift 2 ;;
        -b) BPW=$2; shift 2 ;;
        -hb) HB=$2; shift 2 ;;
        -r) ROWS=$2; shift 2 ;;
        -l) LEN=$2; shift 2 ;;
        -mr) MROWS=$2; shift 2 ;;
        -ml) MLEN=$2; shift 2 ;;
        --measure-from) SHALLOW=$2; shift 2 ;;
        --keep-work) KEEP=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "convert.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
if [[ -z $IN || -z $WORK || -z $OUT ]]; then
    echo "convert.sh: -i, -o and -cf are required (see --help)" >&2
    exit 2
fi

is_exl2() {  # folder holds a finished EXL2 model
    [[ -f $1/config.json ]] && compgen -G "$1/*.safetensors" >/dev/null &&
        "$PY" -c 'import json,sys; q=json.load(open(sys.argv[1])).get("quantization_config") or {}; sys.exit(q.get("quant_method") != "exl2")' "$1/config.json"
}

layers_of() {
    "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["num_hidden_layers"])' "$1/config.json"
}

converter() {
    echo "+ $PY -m exllamav2.conversion.convert_exl2 $*" >&2
    "$PY" -m exllamav2.conversion.convert_exl2 "$@"
}

summary() {  # one JSON line
    "$PY" - "$OUT" "$BPW" "$1" "$2" <<'EOF'
import json, sys
from pathlib import Path
out, bpw, seconds, measured = Path(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
q = json.loads((out / "config.json").read_text()).get("quantization_config", {})
size = sum(p.stat().st_size for p in out.glob("*.safetensors"))
print(json.dumps({"out": str(out), "bpw": bpw, "head_bits": q.get("head_bits"),
                  "calibration": q.get("calibration"), "seconds": round(seconds, 1),
                  "measurement": measured, "bytes": size}))
EOF
}

if is_exl2 "$OUT"; then
    echo "convert.sh: $OUT is already an EXL2 model" >&2
    summary 0 existing
    exit 0
fi

mkdir -p "$WORK"
START=$(date +%s)
MEASURE_ARGS=()
MEASURED=full
if [[ -n $SHALLOW ]]; then
    SHALLOW_M=$WORK/measurement-shallow.json
    if [[ ! -f $SHALLOW_M ]]; then
        converter -i "$SHALLOW" -o "$WORK/measure" -om "$SHALLOW_M" -mr "$MROWS" -ml "$MLEN"
    fi
    [[ -f $SHALLOW_M ]] || { echo "convert.sh: measuring $SHALLOW failed" >&2; exit 1; }
    "$PY" "$HERE/replicate_measurement.py" "$SHALLOW_M" --layers "$(layers_of "$IN")" \
        -o "$WORK/measurement.json"
    MEASURE_ARGS=(-m "$WORK/measurement.json")
    MEASURED="replicated from $(layers_of "$SHALLOW") measured layers"
fi

converter -i "$IN" -o "$WORK/job" -cf "$OUT" -b "$BPW" -hb "$HB" -r "$ROWS" -l "$LEN" \
    -mr "$MROWS" -ml "$MLEN" "${MEASURE_ARGS[@]}"

if ! is_exl2 "$OUT"; then
    echo "convert.sh: the converter did not produce an EXL2 model in $OUT" >&2
    exit 1
fi
[[ $KEEP == 1 ]] || rm -rf "$WORK"
summary "$(( $(date +%s) - START ))" "$MEASURED"
