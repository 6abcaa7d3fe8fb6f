#!/usr/bin/env bash
# Two roster binaries, alternating, on the same machine in one run:
# durable creates (fresh database, 64 connections), GET by an id drawn at
# random and a list page of 50, against /livez of the same server (2,000
# users).
#
#   scripts/bench/compare.sh OLD_BINARY NEW_BINARY [ROUNDS]
#
# For a before/after of one change: build the old commit, copy its
# target/release/roster aside, build the new one. BENCH_SECONDS (default 5)
# per run.
set -euo pipefail
cd "$(dirname "$0")/../.."
OLD=$1 NEW=$2 ROUNDS=${3:-2}
SECS=${BENCH_SECONDS:-5}
PORT=${BENCH_PORT:-18281}
KEY=bench-admin-key-0123456789abcdef0123456789
WORK=$(mktemp -d)
PID=
trap 'kill $PID 2>/dev/null || true; wait $PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)" >&2; exit 1; }
if curl -s -m1 "http://127.0.0.1:$PORT/livez" >/dev/null; then
  echo "port $PORT is taken: a server from another run?" >&2; exit 1
fi

start() { # binary database
  ROSTER_ADMIN_API_KEY=$KEY ROSTER_ADMIN_PASSWORD='Bench-Admin-Passw0rd-42' ROSTER_LISTEN=127.0.0.1:$PORT \
    ROSTER_RATE_LIMIT_PER_SECOND=0 ROSTER_DATABASE_URL="sqlite://$2" ROSTER_LOG=warn "$1" serve 2>>"$WORK/server.log" &
  PID=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/livez" >/dev/null && return; sleep 0.1; done
  echo "server did not start" >&2; cat "$WORK/server.log" >&2; exit 1
}
stop() { kill "$PID"; wait "$PID" 2>/dev/null || true; PID=; }
rate() { awk '/Requests\/sec/ {print $2}'; }

# 2,000 users for the list, made once with the old binary's import.
start "$OLD" "$WORK/base.db"; stop
"$OLD" export --database-url "sqlite://$WORK/base.db" --output "$WORK/base.ndjson" 2>/dev/null
python3 scripts/bench/seed_users.py 2000 <"$WORK/base.ndjson" >"$WORK/seed.ndjson"
ROSTER_LOG=warn "$OLD" import "$WORK/seed.ndjson" --database-url "sqlite://$WORK/users.db" >/dev/null 2>&1
python3 -c 'import json,sys
for l in sys.stdin:
    r = json.loads(l)
    if r.get("kind") == "user": print(r["id"])' <"$WORK/seed.ndjson" >"$WORK/ids.txt"
[ -s "$WORK/ids.txt" ] || { echo "no user ids in the seed" >&2; exit 1; }

declare -A CREATE LIST GET
for r in $(seq "$ROUNDS"); do
  for which in old new; do
    bin=$OLD; [ "$which" = new ] && bin=$NEW
    rm -f "$WORK"/fresh.db*
    start "$bin" "$WORK/fresh.db"
    BENCH_KEY=$KEY BENCH_PREFIX=warm wrk -t2 -c64 -d2s -s scripts/bench/create.lua "http://127.0.0.1:$PORT/api/v1/users" >/dev/null
    c=$(BENCH_KEY=$KEY BENCH_PREFIX=run wrk -t2 -c64 -d"${SECS}s" -s scripts/bench/create.lua "http://127.0.0.1:$PORT/api/v1/users" | rate)
    stop
    start "$bin" "$WORK/users.db"
    l=$(wrk -t2 -c64 -d"${SECS}s" "http://127.0.0.1:$PORT/livez" | rate)
    g=$(BENCH_IDS=$WORK/ids.txt BENCH_AUTH="Bearer $KEY" wrk -t2 -c64 -d"${SECS}s" -s scripts/bench/get_random.lua "http://127.0.0.1:$PORT" | rate)
    p=$(wrk -t2 -c64 -d"${SECS}s" -H "Authorization: Bearer $KEY" "http://127.0.0.1:$PORT/api/v1/users?limit=50" | rate)
    stop
    printf 'round %d %-3s  creates %7.0f/s  /livez %7.0f  get %7.0f (%.3f x)  page of 50 %6.0f (%.3f x /livez)\n' \
      "$r" "$which" "$c" "$l" "$g" "$(awk -v a="$g" -v b="$l" 'BEGIN {print a/b}')" \
      "$p" "$(awk -v a="$p" -v b="$l" 'BEGIN {print a/b}')"
    CREATE[$r$which]=$c LIST[$r$which]=$(awk -v a="$p" -v b="$l" 'BEGIN {print a/b}')
    GET[$r$which]=$(awk -v a="$g" -v b="$l" 'BEGIN {print a/b}')
  done
  printf 'round %d: new/old  creates %.2f, get ratio %.2f, page-of-50 ratio %.2f\n' "$r" \
    "$(awk -v a="${CREATE[${r}new]}" -v b="${CREATE[${r}old]}" 'BEGIN {print a/b}')" \
    "$(awk -v a="${GET[${r}new]}" -v b="${GET[${r}old]}" 'BEGIN {print a/b}')" \
    "$(awk -v a="${LIST[${r}new]}" -v b="${LIST[${r}old]}" 'BEGIN {print a/b}')"
done
