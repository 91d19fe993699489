#!/usr/bin/env bash
# Short fuzzing pass of every cargo-fuzz target (fuzz/), from the committed
# seed corpora: builds with nightly (installs cargo-fuzz if missing), runs
# each target for FUZZ_SECONDS (default 45) on one core, and exits non-zero
# on any crash, hang or out-of-memory. New inputs go to a scratch copy of
# the corpus; crashes are left in fuzz/artifacts/<target>/.
#   bash scripts/fuzz-smoke.sh [target...]
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${FUZZ_SECONDS:-45}"

if ! rustup toolchain list | grep -q '^nightly'; then
  rustup toolchain install nightly --profile minimal
fi
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

cd fuzz
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo +nightly fuzz list)
fi
unset RUSTFLAGS
cargo +nightly fuzz build -O
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
status=0
for t in "${targets[@]}"; do
  mkdir -p "$scratch/$t"
  echo "== fuzz $t (${secs}s)"
  if ! cargo +nightly fuzz run -O "$t" "$scratch/$t" "corpus/$t" -- \
      -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=1048576 \
      -jobs=1 -workers=1 -print_final_stats=1 2>"$scratch/$t.log"; then
    echo "FAIL: $t" >&2
    grep -E 'ERROR|panicked|SUMMARY|Test unit written' "$scratch/$t.log" >&2 || tail -30 "$scratch/$t.log" >&2
    status=1
  else
    grep -E '^stat::number_of_executed_units|^stat::average_exec_per_sec' "$scratch/$t.log" | tr '\n' ' '
    echo
  fi
done
exit $status
