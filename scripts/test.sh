#!/usr/bin/env bash
# Runs every test of stzip on a fresh Debian 12 machine: installs what is
# missing (skipping what is already there), fetches the real-weights test
# model into the cache, then runs lint, unit, integration and CLI tests,
# the wasm API in headless Chromium and Firefox (page and worker), and the
# page end to end.
set -euo pipefail
cd "$(dirname "$0")/.."
export STZIP_CACHE="${STZIP_CACHE:-$HOME/.cache/stzip}"

if ! command -v cargo >/dev/null; then
  echo "cargo not found: install Rust (rustup) first" >&2
  exit 1
fi
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt

# Real weights for the tests that use them (they skip, saying so, without).
bash scripts/setup-data.sh || echo "note: test model unavailable; tests that need it will skip"

# Browsers, drivers, wasm-bindgen-cli, npm packages.
bash scripts/setup-web.sh --browsers
unset RUSTFLAGS # would replace the +simd128 of .cargo/config.toml

echo "== format and lint"
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
wasm_tests=(--no-default-features --target wasm32-unknown-unknown --test wasm_page --test wasm_worker)
cargo clippy --locked --lib "${wasm_tests[@]}" -- -D warnings

echo "== tests"
cargo test --release --locked --all-targets

echo "== fuzz smoke (every cargo-fuzz target, 30 s each, from the committed corpora)"
if rustup toolchain list | grep -q '^nightly'; then
  FUZZ_SECONDS="${FUZZ_SECONDS:-30}" bash scripts/fuzz-smoke.sh
else
  echo "SKIP: the fuzz smoke pass needs the nightly toolchain, which is not installed"
  echo "      (crashes found so far still run: tests/fuzz_regressions.rs)"
fi

echo "== wasm API in browsers (page and dedicated worker)"
export WASM_BINDGEN_TEST_TIMEOUT=180
CHROMEDRIVER=/usr/bin/chromedriver cargo test --release --locked "${wasm_tests[@]}"
GECKODRIVER="$(command -v geckodriver)" cargo test --release --locked "${wasm_tests[@]}"
echo "-- the scalar (no SIMD) build, in Chromium"
CHROMEDRIVER=/usr/bin/chromedriver CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="-C target-feature=-simd128" \
  cargo test --release --locked --target-dir target/wasm-scalar "${wasm_tests[@]}"

echo "== the page, end to end (headless Chromium and Firefox)"
bash scripts/build-wasm.sh
STZIP_E2E_NO_BUILD=1 node tests/e2e/run.mjs
