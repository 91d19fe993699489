#!/usr/bin/env bash
# Builds the browser's two wasm builds into www/pkg/: `simd` (+simd128, the
# flags in .cargo/config.toml) and `scalar` (no SIMD, for engines without
# it). The page picks one by feature detection at load time.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-web.sh
# A RUSTFLAGS variable would silently replace the +simd128 of the config.
unset RUSTFLAGS

wasm_opt=node_modules/.bin/wasm-opt   # npm binaryen: Debian's 108 corrupts wasm-bindgen output

build() { # name, target dir, extra env
  local name=$1 dir=$2
  shift 2
  env "$@" cargo build --release --locked --lib --no-default-features \
    --target wasm32-unknown-unknown --target-dir "$dir"
  rm -rf "www/pkg/$name"
  wasm-bindgen --target web --out-dir "www/pkg/$name" --out-name stzip \
    "$dir/wasm32-unknown-unknown/release/stzip.wasm"
  local features=(--enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals)
  [ "$name" = simd ] && features+=(--enable-simd)
  "$wasm_opt" -O3 "${features[@]}" "www/pkg/$name/stzip_bg.wasm" -o "www/pkg/$name/stzip_bg.wasm"
}

build simd target
build scalar target/wasm-scalar "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS=-C target-feature=-simd128"
ls -l www/pkg/*/stzip_bg.wasm
