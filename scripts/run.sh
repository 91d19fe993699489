#!/usr/bin/env bash
# The main job: build the stzip CLI and run it on the demo file shipped in
# www/ — compress, inspect, verify, decompress, and check the bytes match;
# a lossy round trip at 30 dB weight SNR with its per-tensor report; then
# build both wasm builds and serve the page on http://127.0.0.1:${PORT:-8000}
# (Ctrl-C stops it). STZIP_NO_SERVE=1 stops after the builds.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked
bin=target/release/stzip
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp www/demo.safetensors "$work/demo.safetensors"
$bin inspect "$work/demo.safetensors"
$bin compress "$work/demo.safetensors"
$bin inspect "$work/demo.safetensors.stz"
$bin verify "$work/demo.safetensors.stz"
$bin decompress "$work/demo.safetensors.stz" -o "$work/restored.safetensors"
cmp "$work/demo.safetensors" "$work/restored.safetensors"
echo "demo: restored file is byte-identical to the original"
$bin compress --snr 30 "$work/demo.safetensors" -o "$work/demo-30db.stz"
$bin decompress "$work/demo-30db.stz" -o "$work/demo-30db.safetensors"
rm -rf "$work"
trap - EXIT

bash scripts/build-wasm.sh
if [ -n "${STZIP_NO_SERVE:-}" ]; then
  exit 0
fi
echo "open http://127.0.0.1:${PORT:-8000}/ and press \"Try the demo file\""
exec node scripts/serve.mjs "${PORT:-8000}"
