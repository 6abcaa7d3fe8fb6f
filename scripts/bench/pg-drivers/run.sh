#!/usr/bin/env bash
# PostgreSQL driver benchmark for roster: sqlx vs tokio-postgres + deadpool,
# each behind the same axum routes, loaded with wrk over loopback.
#
#   scripts/bench/pg-drivers/run.sh
#   BENCH_RUNS=2 BENCH_SECONDS=5 scripts/bench/pg-drivers/run.sh      # quicker
#   BENCH_DRIVERS="sqlx tpg" ...   # leave out sqlx-ping (sqlx's default ping)
#
# Creates a database with a random name next to `test`, seeds 20,000 users,
# starts one server process per driver (same pool size, same number of tokio
# worker threads), and alternates the drivers within each scenario; the
# order is reversed on every other run. Drops the database and stops the
# servers at the end. Builds into CARGO_TARGET_DIR (default
# /work/pgbench-target), never into the repository.
set -euo pipefail
cd "$(dirname "$0")"
HERE=$PWD

SECS=${BENCH_SECONDS:-10}
RUNS=${BENCH_RUNS:-3}
CONNS=${BENCH_CONNECTIONS:-64}
WRK_THREADS=${BENCH_WRK_THREADS:-2}
POOL=${BENCH_POOL:-16}
RT_THREADS=${BENCH_RT_THREADS:-2}
SEED=${BENCH_SEED_ROWS:-20000}
DRIVERS=(${BENCH_DRIVERS:-sqlx tpg sqlx-ping})
PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
export PGHOST PGPORT PGUSER
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/work/pgbench-target}
BIN=$CARGO_TARGET_DIR/release/pg-drivers-bench
DB=roster_bench_$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')
URL="postgres://$PGUSER@$PGHOST:$PGPORT/$DB"
WORK=$(mktemp -d)
PIDS=()

cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  psql -q -d test -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

command -v wrk >/dev/null || { echo "installing wrk" >&2; (apt-get install -y wrk || (apt-get update && apt-get install -y wrk)) >/dev/null; }
if ! pg_isready -q -h "$PGHOST" -p "$PGPORT"; then
  echo "starting PostgreSQL" >&2
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start
  for _ in $(seq 50); do pg_isready -q -h "$PGHOST" -p "$PGPORT" && break; sleep 0.2; done
fi

echo "building (release) into $CARGO_TARGET_DIR" >&2
cargo build --release --quiet

psql -q -d test -c "CREATE DATABASE $DB" >/dev/null
psql -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<SQL
CREATE TABLE users (
    id uuid PRIMARY KEY,
    seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    username text NOT NULL,
    username_key text NOT NULL UNIQUE,
    email text,
    first_name text,
    last_name text,
    display_name text,
    active boolean NOT NULL,
    attributes jsonb NOT NULL DEFAULT '{}',
    container_id uuid,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    version bigint NOT NULL
);
INSERT INTO users (id, username, username_key, email, first_name, last_name,
                   display_name, active, attributes, created_at, updated_at, version)
SELECT gen_random_uuid(), 'seed' || i, 'seed' || i, 'seed' || i || '@example.com',
       'First' || i, 'Last' || i, 'Seed User ' || i, i % 10 <> 0,
       jsonb_build_object('n', i), now(), now(), 1
FROM generate_series(1, $SEED) AS i;
VACUUM ANALYZE users;
SQL
psql -q -d "$DB" -c "\\copy (SELECT id FROM users) TO '$WORK/ids'"
echo "database $DB: $(wc -l <"$WORK/ids") seeded users; synchronous_commit=$(psql -tAq -d "$DB" -c 'SHOW synchronous_commit')" >&2

declare -A PORT
i=0
for d in "${DRIVERS[@]}"; do
  PORT[$d]=$((18301 + i)); i=$((i + 1))
  "$BIN" --driver "$d" --url "$URL" --listen "127.0.0.1:${PORT[$d]}" --pool "$POOL" \
    --threads "$RT_THREADS" 2>"$WORK/$d.log" &
  PIDS+=($!)
done
for d in "${DRIVERS[@]}"; do
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:${PORT[$d]}/bare/$(head -1 "$WORK/ids")" >/dev/null && continue 2
    sleep 0.1
  done
  echo "server $d did not start:" >&2; cat "$WORK/$d.log" >&2; exit 1
done

# run_wrk MODE DRIVER SECONDS TAG -> prints the RESULT fields
run_wrk() {
  wrk -t"$WRK_THREADS" -c"$CONNS" -d"${3}s" --timeout 5s -s "$HERE/bench.lua" \
    "http://127.0.0.1:${PORT[$2]}" -- "$1" "$WORK/ids" "$4" >"$WORK/wrk.out" 2>&1 || true
  grep '^RESULT' "$WORK/wrk.out" | cut -d' ' -f2- || { cat "$WORK/wrk.out" >&2; exit 1; }
}
# rows in users, and WAL syncs so far (pg_stat_wal, cluster-wide)
count() { psql -tAq -d "$DB" -c 'SELECT count(*) FROM users'; }
syncs() { psql -tAq -d "$DB" -c 'SELECT wal_sync FROM pg_stat_wal'; }

echo "warm-up (fills the pools and statement caches; not recorded)" >&2
for d in "${DRIVERS[@]}"; do
  run_wrk get "$d" 3 "w" >/dev/null
  run_wrk create "$d" 2 "w-$d" >/dev/null
done

RAW=$WORK/raw
for r in $(seq "$RUNS"); do
  order=("${DRIVERS[@]}")
  if (( r % 2 == 0 )); then order=($(printf '%s\n' "${DRIVERS[@]}" | tac)); fi
  for s in bare get create; do
    for d in "${order[@]}"; do
      psql -q -d "$DB" -c CHECKPOINT >/dev/null
      before=$(count); s0=$(syncs)
      res=$(run_wrk "$s" "$d" "$SECS" "r$r-$d")
      after=$(count); s1=$(syncs)
      echo "$r $s $d $res $((after - before)) $((s1 - s0))" >>"$RAW"
      echo "  run $r $s $d: $res (rows +$((after - before)), WAL syncs +$((s1 - s0)))" >&2
    done
  done
done

echo
echo "PostgreSQL $(psql -tAq -d "$DB" -c 'SHOW server_version'), synchronous_commit=$(psql -tAq -d "$DB" -c 'SHOW synchronous_commit'); pool $POOL per driver, $RT_THREADS tokio worker threads per server; wrk -t$WRK_THREADS -c$CONNS -d${SECS}s; $RUNS runs per scenario and driver; $(nproc) cores shared by PostgreSQL, servers and wrk"
echo
# Per run: run scenario driver rps p50 p99 requests errors rows_added wal_syncs.
# Summary: mean req/s (min-max over runs), mean p50/p99, ratio of mean req/s
# to the mean bare req/s over all servers (bare never touches a driver), and
# for creates, rows inserted per WAL sync (PostgreSQL's own group commit).
awk -v order="${DRIVERS[*]}" '
  { k = $2 " " $3; n[k]++; rps[k] += $4; p50[k] += $5; p99[k] += $6; err[k] += $8; rows[k] += $9; sy[k] += $10
    if (!(k in lo) || $4 < lo[k]) lo[k] = $4; if (!(k in hi) || $4 > hi[k]) hi[k] = $4 }
  END {
    nd = split(order, ds, " ")
    # bare does not touch the driver: one baseline, the mean over every server
    for (j = 1; j <= nd; j++) { bs += rps["bare " ds[j]]; bn += n["bare " ds[j]] }
    b = bs / bn
    printf "| %-8s | %-9s | %-21s | %6s | %6s | %7s | %6s | %9s |\n", "scenario", "driver", "req/s mean (min-max)", "p50 ms", "p99 ms", "vs bare", "errors", "rows/sync"
    printf "|----------|-----------|-----------------------|--------|--------|---------|--------|-----------|\n"
    split("bare get create", ss, " ")
    for (i = 1; i <= 3; i++) for (j = 1; j <= nd; j++) {
      k = ss[i] " " ds[j]; if (!(k in n)) continue
      m = rps[k] / n[k]
      rs = (ss[i] == "create" && sy[k] > 0) ? sprintf("%.1f", rows[k] / sy[k]) : "-"
      printf "| %-8s | %-9s | %-21s | %6.2f | %6.2f | %6.1f%% | %6d | %9s |\n", ss[i], ds[j],
        sprintf("%.0f (%.0f-%.0f)", m, lo[k], hi[k]),
        p50[k] / n[k] / 1000, p99[k] / n[k] / 1000, 100 * m / b, err[k], rs
    }
  }' "$RAW"
echo
echo "raw (run scenario driver req/s p50us p99us requests errors rows_added wal_syncs):"
sort -k2,2 -k3,3 -k1,1n "$RAW"
