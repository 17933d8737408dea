#!/usr/bin/env bash
# Download the wheels an offline CUDA machine needs for benchmarks/gpu/check.py into one
# folder that travels with the checkout (git-ignored):
#
#   PYTHON=.venv/bin/python benchmarks/gpu/fetch_wheels.sh [DEST]     DEST defaults to .whl
#
# Each package of wheels.txt at the version PYTHON has installed (or the one pinned there),
# for CPython 3.12 on x86-64 Linux, without dependencies (the list names them all). The
# folder's wheels are replaced, so it holds one version of each (two stop the install).
# Fails if the folder is over $MAX_MIB (60) MiB: what travels must stay under 64 MiB.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY=${PYTHON:-python3}
DEST=${1:-$HERE/../../.whl}
MAX_MIB=${MAX_MIB:-60}
mkdir -p "$DEST"
fresh=$(mktemp -d)
trap 'rm -rf "$fresh"' EXIT
platforms=()
for tag in manylinux_2_28 manylinux_2_27 manylinux_2_17 manylinux2014 manylinux1 \
           manylinux_2_24 manylinux_2_31 manylinux_2_34 manylinux_2_35 manylinux_2_39; do
    platforms+=(--platform "${tag}_x86_64")
done
while read -r name; do
    [[ -z $name || $name == \#* ]] && continue
    if [[ $name != *==* ]]; then
        name="$name==$("$PY" -c 'import sys; from importlib.metadata import version; print(version(sys.argv[1]))' "$name")"
    fi
    echo "wheel  $name"
    "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version "${PYVER:-3.12}" \
        --implementation cp "${platforms[@]}" -d "$fresh" "$name"
done < "$HERE/wheels.txt"
rm -f "$DEST"/*.whl  # only what the list names now: one version of each
mv "$fresh"/*.whl "$DEST"/
mib=$(( ($(du -sb "$DEST" | cut -f1) + 1048575) / 1048576 ))
echo "$DEST: $(ls "$DEST"/*.whl | wc -l) wheels, ${mib} MiB"
(( mib <= MAX_MIB )) || { echo "over ${MAX_MIB} MiB: the checkout that travels must stay under 64 MiB" >&2; exit 1; }
