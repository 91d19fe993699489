#!/usr/bin/env bash
# The main job: build the stzip CLI and run it on the demo file shipped in
# www/ — compress, inspect, verify, decompress, and check the bytes match;
# then a lossy round trip at 30 dB weight SNR with its per-tensor report.
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
