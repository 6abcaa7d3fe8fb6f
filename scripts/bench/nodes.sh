#!/usr/bin/env bash
# One roster node vs two on one PostgreSQL database, same routes, same run:
# GET by id and durable creates, wrk on loopback. Each node is pinned to a
# core of its own (taskset) when the machine has at least 2; PostgreSQL and
# wrk share the machine with them, so on a 2-core box the second node gets
# no core to itself: the figures show what this box can, not a cluster.
#
#   scripts/bench/nodes.sh          # BENCH_SECONDS=10 per route
set -euo pipefail
cd "$(dirname "$0")/../.."

SECONDS_PER=${BENCH_SECONDS:-10}
CONNS=${BENCH_CONNECTIONS:-64}
PG_BASE=${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}
KEY=bench-admin-key-0123456789abcdef0123456789
DB="roster_bench_nodes_$$"
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  psql -q "$PG_BASE" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

command -v wrk >/dev/null || { (apt-get install -y wrk || (apt-get update && apt-get install -y wrk)) >/dev/null; }
cargo build --release --quiet
BIN=target/release/roster
psql -q "$PG_BASE" -c "CREATE DATABASE $DB" >/dev/null
URL="${PG_BASE%/*}/$DB"
CORES=$(nproc)

node() { # port core
  local pin=()
  [ "$CORES" -ge 2 ] && pin=(taskset -c "$2")
  ROSTER_ADMIN_API_KEY=$KEY ROSTER_LISTEN=127.0.0.1:$1 ROSTER_RATE_LIMIT_PER_SECOND=0 \
    ROSTER_DATABASE_URL="$URL" ROSTER_LOG=warn "${pin[@]}" "$BIN" serve 2>"$WORK/node-$1.log" &
  PIDS+=($!)
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$1/livez" >/dev/null && return; sleep 0.1; done
  echo "node on $1 did not start" >&2; cat "$WORK/node-$1.log" >&2; exit 1
}

# Sum of requests/s of wrk runs against the given ports at once (the
# connections split between them).
load() { # name url-path-after-port script-or-empty ports...
  local name=$1 path=$2 script=$3; shift 3
  local n=$# per=$(( CONNS / $# )) i=0 loads=()
  for port in "$@"; do
    local args=(-t1 -c"$per" -d"${SECONDS_PER}s" -H "Authorization: Bearer $KEY")
    [ -n "$script" ] && args+=(-s "$script")
    BENCH_KEY=$KEY BENCH_PREFIX="$name-$port" wrk "${args[@]}" "http://127.0.0.1:$port$path" >"$WORK/$name-$i.txt" &
    loads+=($!)
    i=$((i + 1))
  done
  wait "${loads[@]}"
  local total
  total=$(cat "$WORK/$name"-*.txt | awk '/Requests\/sec/ {s += $2} END {printf "%.0f", s}')
  local non2xx
  non2xx=$(cat "$WORK/$name"-*.txt | awk '/Non-2xx/ {s += $5} END {print s + 0}')
  printf "%-30s %2d node(s) %10s req/s  non-2xx %s\n" "$name" "$n" "$total" "$non2xx"
  echo "$total"  >"$WORK/$name.total"
}

echo "nodes bench on PostgreSQL: ${SECONDS_PER}s per route, $CONNS connections, $CORES cores"
node 18201 0
ID=$(curl -sf -X POST "http://127.0.0.1:18201/api/v1/users" -H "Authorization: Bearer $KEY" \
  -H 'Content-Type: application/json' -d '{"username":"bench-target"}' | sed 's/.*"id":"\([^"]*\)".*/\1/')
# (wrk's random numbers repeat from run to run: each load names its users
# after itself, or a later one would collide with an earlier one's.)
load get_one "/api/v1/users/$ID" "" 18201 | head -1
load create_one "/api/v1/users" scripts/bench/create.lua 18201 | head -1
node 18202 1
load get_two "/api/v1/users/$ID" "" 18201 18202 | head -1
load create_two "/api/v1/users" scripts/bench/create.lua 18201 18202 | head -1
awk -v a="$(cat "$WORK/get_two.total")" -v b="$(cat "$WORK/get_one.total")" \
  'BEGIN {printf "two nodes serve %.2f x one node'"'"'s reads\n", a/b}'
awk -v a="$(cat "$WORK/create_two.total")" -v b="$(cat "$WORK/create_one.total")" \
  'BEGIN {printf "two nodes take %.2f x one node'"'"'s creates\n", a/b}'
"$BIN" audit verify --database-url "$URL" | sed 's/^/after both: /'
