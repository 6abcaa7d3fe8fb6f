#!/usr/bin/env bash
# Dependency weight and clean release build time of each driver, against the
# same axum/tokio/serde base without any driver:
#   scripts/bench/pg-drivers/weight.sh            # all four configurations
#   WEIGHT_BUILD=0 scripts/bench/pg-drivers/weight.sh   # crate counts only
# Each build is a clean build into its own dir under CARGO_TARGET_DIR
# (default /work/pgbench-target), with cargo's default parallelism.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=${CARGO_TARGET_DIR:-/work/pgbench-target}
echo "| configuration | crates (unique, normal+build) | cargo tree lines | clean release build s |"
echo "|---|---|---|---|"
for cfg in base sqlx sqlx-macros tpg; do
  if [ "$cfg" = base ]; then feat=(--no-default-features); else feat=(--no-default-features --features "$cfg"); fi
  uniq=$(cargo tree -q -e normal,build "${feat[@]}" --prefix none | sed 's/ (\*)$//; s/ (proc-macro)//' | sort -u | wc -l)
  lines=$(cargo tree -q "${feat[@]}" | wc -l)
  secs=-
  if [ "${WEIGHT_BUILD:-1}" = 1 ]; then
    dir=$ROOT/weight-$cfg
    rm -rf "$dir"
    start=$(date +%s.%N)
    CARGO_TARGET_DIR=$dir cargo build -q --release "${feat[@]}"
    secs=$(echo "$(date +%s.%N) - $start" | bc | xargs printf '%.0f')
    rm -rf "$dir"
  fi
  echo "| $cfg | $uniq | $lines | $secs |"
done
