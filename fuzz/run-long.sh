#!/usr/bin/env bash
# Long runs, one target after the other: fuzz/run-long.sh target:seconds ...
# Logs in fuzz/logs/<target>.log (not committed).
set -u
cd "$(dirname "$0")"
mkdir -p logs /tmp/fz
for spec in "$@"; do
  t="${spec%%:*}"; secs="${spec##*:}"
  mkdir -p "/tmp/fz/$t"
  start=$(date +%s)
  cargo +nightly fuzz run -O "$t" "/tmp/fz/$t" "corpus/$t" -- \
    -runs=10000000 -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
    -max_len=1048576 -jobs=1 -workers=1 -print_final_stats=1 >"logs/$t.log" 2>&1
  rc=$?
  # -jobs=1 runs the fuzzer as a child writing fuzz-0.log here.
  [ -f fuzz-0.log ] && mv fuzz-0.log "logs/$t.fuzz.log"
  echo "$t rc=$rc wall=$(( $(date +%s) - start ))s" >> logs/summary.txt
done
