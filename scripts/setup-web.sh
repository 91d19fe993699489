#!/usr/bin/env bash
# Installs what the browser build needs, skipping what is already there:
# the wasm32 target, wasm-bindgen-cli at the exact version in Cargo.lock,
# and the npm packages (binaryen's wasm-opt; playwright-core for tests).
# With --browsers, also Debian's Chromium + ChromeDriver, Firefox ESR and
# geckodriver, for the browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."

rustup target list --installed | grep -qx wasm32-unknown-unknown \
  || rustup target add wasm32-unknown-unknown

want="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock)"
have="$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)"
if [ "$have" != "$want" ]; then
  echo "== installing wasm-bindgen-cli $want (about 10 minutes on 2 cores)"
  # Not --locked: one of its pinned dependencies is gone from the registry.
  cargo install wasm-bindgen-cli --version "$want"
fi

if [ ! -x node_modules/.bin/wasm-opt ] || [ ! -d node_modules/playwright-core ]; then
  command -v npm >/dev/null || { echo "npm not found: install Node.js 20" >&2; exit 1; }
  npm ci --no-audit --no-fund
fi

if [ "${1:-}" = "--browsers" ]; then
  missing=()
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  [ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
  command -v firefox-esr >/dev/null || missing+=(firefox-esr)
  if [ ${#missing[@]} -gt 0 ]; then
    sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
  fi
  command -v geckodriver >/dev/null || cargo install geckodriver
fi
