#!/usr/bin/env bash
# Loopback HTTP benchmark of roster with wrk. Prints requests/s, p50 and p99
# for each route and its ratio to the bare route (/livez) measured in the
# same run, resident memory, and the 1M-user list/filter costs.
#
# Reads are also compared with a separate minimal axum server answering a
# small JSON user by id from memory (examples/bench_bare.rs, no middleware),
# ids drawn at random among BENCH_READ_USERS (5,000) seeded users, bare and
# roster runs alternating for BENCH_ROUNDS (3) rounds.
#
#   scripts/bench/run.sh            # full run (about 3 minutes + seeding)
#   BENCH_SECONDS=5 SKIP_MILLION=1 scripts/bench/run.sh   # quicker
#   ONLY_MILLION=1 scripts/bench/run.sh   # only the 1M-user section
#   CURVE=1 scripts/bench/run.sh    # only the curve: 1k, 100k, 1M, 10M users
#       (BENCH_CURVE_SIZES), docs/bench-curve.csv and docs/bench-curve.svg
#   BENCH_DATABASE=postgres scripts/bench/run.sh  # on PostgreSQL (a fresh
#       database per scenario on BENCH_POSTGRES_URL, default the local server)
set -euo pipefail
cd "$(dirname "$0")/../.."

SECONDS_PER=${BENCH_SECONDS:-10}
CONNS=${BENCH_CONNECTIONS:-64}
THREADS=${BENCH_THREADS:-2}
PORT=${BENCH_PORT:-18181}
KEY=bench-admin-key-0123456789abcdef0123456789
ADMIN_PASSWORD='Bench-Admin-Passw0rd-42'
WORK=$(mktemp -d)

command -v wrk >/dev/null || { echo "installing wrk" >&2; (apt-get install -y wrk || (apt-get update && apt-get install -y wrk)) >/dev/null; }
cargo build --release --quiet --bin roster --example bench_bare --example bench_hash
BIN=target/release/roster
BARE_BIN=target/release/examples/bench_bare
HASH_BIN=target/release/examples/bench_hash
BARE_PORT=$((PORT + 1))

BACKEND=${BENCH_DATABASE:-sqlite}
PG_BASE=${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}
PG_DBS=()
drop_pg() { for db in "${PG_DBS[@]}"; do psql -q "$PG_BASE" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true; done; }
BARE_PID=
trap 'kill $PID $BARE_PID 2>/dev/null || true; wait $PID 2>/dev/null || true; drop_pg; rm -rf "$WORK"' EXIT
# Makes the database of scenario $1 (PostgreSQL), once; in this shell, not
# a subshell, so that it is remembered and dropped at exit.
ensure_db() {
  [ "$BACKEND" = postgres ] || return 0
  local db="roster_bench_$1_$$"
  if [[ ! " ${PG_DBS[*]} " =~ " $db " ]]; then
    psql -q "$PG_BASE" -c "CREATE DATABASE $db" >/dev/null
    PG_DBS+=("$db")
  fi
}
# The database URL of scenario $1.
db_url() {
  if [ "$BACKEND" = postgres ]; then
    echo "${PG_BASE%/*}/roster_bench_$1_$$"
  else
    echo "sqlite://$WORK/$1.db"
  fi
}

start() { # scenario name
  ensure_db "$1"
  ROSTER_ADMIN_API_KEY=$KEY ROSTER_ADMIN_PASSWORD=$ADMIN_PASSWORD ROSTER_LISTEN=127.0.0.1:$PORT ROSTER_RATE_LIMIT_PER_SECOND=0 \
    ROSTER_DATABASE_URL="$(db_url "$1")" ROSTER_LOG=warn "$BIN" serve 2>"$WORK/server.log" &
  PID=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/livez" >/dev/null && return; sleep 0.1; done
  echo "server did not start" >&2; cat "$WORK/server.log" >&2; exit 1
}
stop() { kill "$PID"; wait "$PID" 2>/dev/null || true; }
rss_kb() { awk '/VmRSS/ {print $2}' /proc/$PID/status; }
hwm_kb() { awk '/VmHWM/ {print $2}' /proc/$PID/status; }

# wrk's latency figures in milliseconds.
to_ms() { awk '{v=$1; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; printf "%.2f", v}'; }

# Fills scenario $1's database with $2 generated users through `roster
# import` (ids 00000000-0000-7000-9000-… as seed_users.py makes them).
seed() {
  if [ ! -f "$WORK/base.ndjson" ]; then
    start base; stop
    "$BIN" export --database-url "$(db_url base)" --output "$WORK/base.ndjson" 2>/dev/null
  fi
  python3 scripts/bench/seed_users.py "$2" <"$WORK/base.ndjson" >"$WORK/$1.ndjson"
  ensure_db "$1"
  ROSTER_LOG=warn /usr/bin/time -f "import of $2 users: wall time %e s, max RSS %M KiB" \
    "$BIN" import "$WORK/$1.ndjson" --database-url "$(db_url "$1")" 2>&1 | sed 's/^/  /'
  rm -f "$WORK/$1.ndjson"
}

declare -A RPS
run() { # name conns url [wrk args...]
  local name=$1 conns=$2 url=$3; shift 3
  local out
  out=$(wrk -t"$THREADS" -c"$conns" -d"${SECONDS_PER}s" --latency "$@" "$url")
  local rps p50 p99 non2xx
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(echo "$out" | awk '$1=="50%" {print $2}' | to_ms)
  p99=$(echo "$out" | awk '$1=="99%" {print $2}' | to_ms)
  non2xx=$(echo "$out" | awk '/Non-2xx/ {print $5}')
  RPS[$name]=$rps
  local ratio="-"
  [ -n "${RPS[bare]:-}" ] && ratio=$(awk -v a="$rps" -v b="${RPS[bare]}" 'BEGIN {printf "%.2f", a/b}')
  printf "%-34s %10.0f req/s  p50 %7s ms  p99 %8s ms  x bare %5s  non-2xx %s\n" "$name" "$rps" "$p50" "$p99" "$ratio" "${non2xx:-0}"
  if [ -n "${CURVE_N:-}" ]; then echo "$CURVE_N,\"$name\",$rps,$p50,$p99" >>"$CURVE_CSV"; fi
}

echo "roster bench on $BACKEND: ${SECONDS_PER}s per route, $CONNS connections, $THREADS wrk threads, $(nproc) cores"
H=(-H "Authorization: Bearer $KEY")
if [ -z "${ONLY_MILLION:-}" ] && [ -z "${CURVE:-}" ]; then
READ_USERS=${BENCH_READ_USERS:-5000}
seed bench "$READ_USERS"
start bench
echo "idle RSS: $(( $(rss_kb) / 1024 )) MiB"
field() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
ID=$(curl -sf -X POST "http://127.0.0.1:$PORT/api/v1/users" -H "Authorization: Bearer $KEY" \
  -H 'Content-Type: application/json' -d '{"username":"bench-target","email":"t@example.com"}' | sed 's/.*"id":"\([^"]*\)".*/\1/')

# A manager scoped to container A (with a sub-container A1), and a user in A1.
api() { curl -sf -X POST "http://127.0.0.1:$PORT/api/v1/$1" -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' -d "$2"; }
A=$(api containers '{"name":"A"}' | field id)
A1=$(api containers "{\"name\":\"A1\",\"parent_id\":\"$A\"}" | field id)
MGR=$(api users "{\"username\":\"scoped-mgr\",\"container_id\":\"$A\"}" | field id)
api "users/$MGR/roles" "{\"role\":\"Manager\",\"container_ids\":[\"$A\"]}" >/dev/null
MGR_KEY=$(api api-keys "{\"name\":\"bench\",\"user_id\":\"$MGR\"}" | field secret)
IN_A1=$(api users "{\"username\":\"in-a1\",\"container_id\":\"$A1\"}" | field id)

# Reads by random id: roster (API key, then token) against the separate
# bare server, alternating, on the same ids.
python3 -c "import sys; [print('00000000-0000-7000-9000-%012x' % i) for i in range(int(sys.argv[1]))]" \
  "$READ_USERS" >"$WORK/ids.txt"
"$BARE_BIN" "127.0.0.1:$BARE_PORT" "$WORK/ids.txt" &
BARE_PID=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$BARE_PORT/api/v1/users/$(head -1 "$WORK/ids.txt")" >/dev/null && break; sleep 0.1; done
TOKEN=$(curl -sf -X POST "http://127.0.0.1:$PORT/api/v1/auth/token" -H 'Content-Type: application/json' \
  -d "{\"username\":\"admin\",\"password\":\"$ADMIN_PASSWORD\"}" | field access_token)
export BENCH_IDS=$WORK/ids.txt
ROUNDS=${BENCH_ROUNDS:-3}
KEY_RATIOS=() TOKEN_RATIOS=() BARE_RATES=()
for r in $(seq "$ROUNDS"); do
  BENCH_AUTH= run "bare axum server, random id (round $r)" "$CONNS" "http://127.0.0.1:$BARE_PORT" -s scripts/bench/get_random.lua
  RPS[bare]=${RPS[bare axum server, random id (round $r)]}
  BARE_RATES+=("${RPS[bare]}")
  BENCH_AUTH="Bearer $KEY" run "roster GET random id, API key ($r)" "$CONNS" "http://127.0.0.1:$PORT" -s scripts/bench/get_random.lua
  BENCH_AUTH="Bearer $TOKEN" run "roster GET random id, token ($r)" "$CONNS" "http://127.0.0.1:$PORT" -s scripts/bench/get_random.lua
  KEY_RATIOS+=("$(awk -v a="${RPS[roster GET random id, API key ($r)]}" -v b="${RPS[bare]}" 'BEGIN {print a/b}')")
  TOKEN_RATIOS+=("$(awk -v a="${RPS[roster GET random id, token ($r)]}" -v b="${RPS[bare]}" 'BEGIN {print a/b}')")
done
kill $BARE_PID; wait $BARE_PID 2>/dev/null || true; BARE_PID=
printf '  GET by random id x separate bare server, mean of %d rounds: API key %.2f, token %.2f\n' "$ROUNDS" \
  "$(printf '%s\n' "${KEY_RATIOS[@]}" | awk '{s+=$1} END {print s/NR}')" \
  "$(printf '%s\n' "${TOKEN_RATIOS[@]}" | awk '{s+=$1} END {print s/NR}')"
unset RPS[bare]

run bare "$CONNS" "http://127.0.0.1:$PORT/livez"
run get_by_id "$CONNS" "http://127.0.0.1:$PORT/api/v1/users/$ID" "${H[@]}"
run "get_by_id admin (user in A1)" "$CONNS" "http://127.0.0.1:$PORT/api/v1/users/$IN_A1" "${H[@]}"
run "get_by_id scoped manager (A1)" "$CONNS" "http://127.0.0.1:$PORT/api/v1/users/$IN_A1" -H "Authorization: Bearer $MGR_KEY"
awk -v a="${RPS[get_by_id scoped manager (A1)]}" -v b="${RPS[get_by_id admin (user in A1)]}" \
  'BEGIN {printf "  a scoped caller runs at %.0f%% of the admin rate (its container chain comes from the ancestry cache)\n", 100*a/b}' 
export BENCH_KEY=$KEY
run create_no_password "$CONNS" "http://127.0.0.1:$PORT/api/v1/users" -s scripts/bench/create.lua
run list_page_50 "$CONNS" "http://127.0.0.1:$PORT/api/v1/users?limit=50" "${H[@]}"
awk -v a="${RPS[list_page_50]}" -v b="$(printf '%s\n' "${BARE_RATES[@]}" | awk '{s+=$1} END {print s/NR}')" \
  'BEGIN {printf "  a page of 50 runs at %.2f x the separate bare server (its mean rate above, %.0f req/s)\n", a/b, b}'
BENCH_PASSWORD='Bench-Passw0rd-123' BENCH_PREFIX=pw \
  run create_with_password 16 "http://127.0.0.1:$PORT/api/v1/users" -s scripts/bench/create.lua
# The bound: every core hashing all the time, at one hash's time alone;
# and what the machine reaches with every core hashing at once (cores that
# share a cache smaller than their hashes' memory slow each other down).
read -r HASH_MS HASH_ALL_PER_SEC < <("$HASH_BIN" 20 "$(nproc)")
awk -v r="${RPS[create_with_password]}" -v ms="$HASH_MS" -v n="$(nproc)" -v all="$HASH_ALL_PER_SEC" \
  'BEGIN {b = n * 1000 / ms; printf "  password creates: %.0f/s = %.2f x the bound (%d cores / %.1f ms a hash = %.0f/s)\n", r, r / b, n, ms, b;
          printf "  %d hashing threads alone, all busy: %.0f hashes/s (%.2f x the bound); password creates reach %.2f x that\n", n, all, all / b, r / all}'

# Reads while password creates saturate the hashing pool (both at once).
BENCH_PASSWORD='Bench-Passw0rd-123' BENCH_PREFIX=pwx \
  wrk -t1 -c16 -d"${SECONDS_PER}s" -s scripts/bench/create.lua "http://127.0.0.1:$PORT/api/v1/users" >"$WORK/pw.txt" &
WPID=$!
sleep 0.5
run get_by_id_during_password_load "$CONNS" "http://127.0.0.1:$PORT/api/v1/users/$ID" "${H[@]}"
wait $WPID
awk '/Requests\/sec/ {printf "  (password creates alongside: %.0f/s; ", $2} /Non-2xx/ {printf "%s refused fast with 503", $5} END {print ")"}' "$WORK/pw.txt"
awk -v a="${RPS[get_by_id_during_password_load]}" -v b="${RPS[get_by_id]}" \
  'BEGIN {printf "  reads kept %.0f%% of their rate while hashing saturates\n", 100*a/b}'
echo "peak RSS under load: $(( $(hwm_kb) / 1024 )) MiB"
stop
fi

if [ -n "${CURVE:-}" ]; then
  # The curve: the same routes over databases of growing size, written to
  # a CSV and drawn as an SVG (scripts/bench/plot.py).
  CURVE_CSV=${CURVE_CSV:-docs/bench-curve.csv}
  CURVE_SVG=${CURVE_SVG:-docs/bench-curve.svg}
  echo "users,route,rps,p50,p99" >"$CURVE_CSV"
  for N in ${BENCH_CURVE_SIZES:-1000 100000 1000000 10000000}; do
    echo
    echo "curve: $N users"
    seed "curve$N" "$N"
    start "curve$N"
    echo "  RSS after start: $(( $(rss_kb) / 1024 )) MiB"
    python3 -c "import random, sys; n = int(sys.argv[1]); [print('00000000-0000-7000-9000-%012x' % random.randrange(n)) for _ in range(5000)]" \
      "$N" >"$WORK/ids.txt"
    export BENCH_IDS=$WORK/ids.txt BENCH_KEY=$KEY
    one=$(printf 'user%07d' $((N / 2 + 7)))
    CURVE_N=$N BENCH_AUTH="Bearer $KEY" run "get by id" "$CONNS" "http://127.0.0.1:$PORT" -s scripts/bench/get_random.lua
    CURVE_N=$N run "list page of 50" "$CONNS" "http://127.0.0.1:$PORT/api/v1/users?limit=50" "${H[@]}"
    CURVE_N=$N run "username= exact" "$CONNS" "http://127.0.0.1:$PORT/api/v1/users?username=$one" "${H[@]}"
    CURVE_N=$N run "q= one match" "$CONNS" "http://127.0.0.1:$PORT/api/v1/users?q=$one" "${H[@]}"
    CURVE_N=$N run "q= name prefix (1.1% match)" "$CONNS" "http://127.0.0.1:$PORT/api/v1/users?q=First12&limit=50" "${H[@]}"
    CURVE_N=$N run "q= no match" "$CONNS" "http://127.0.0.1:$PORT/api/v1/users?q=nobody-by-this-name" "${H[@]}"
    if [ "$N" -ge 5000000 ]; then
      cursor=$(printf 's:%d' $((99999 * 50)) | base64 | tr '+/' '-_' | tr -d '=')
      run "list page 100,000 (by cursor)" "$CONNS" "http://127.0.0.1:$PORT/api/v1/users?limit=50&cursor=$cursor" "${H[@]}"
      awk -v a="${RPS[list page 100,000 (by cursor)]}" -v b="${RPS[list page of 50]}" \
        'BEGIN {printf "  page 100,000 runs at %.2f x the rate of page 1\n", a/b}'
    fi
    CURVE_N=$N run "create (durable)" "$CONNS" "http://127.0.0.1:$PORT/api/v1/users" -s scripts/bench/create.lua
    # Reads while password creates saturate hashing.
    BENCH_PASSWORD='Bench-Passw0rd-123' BENCH_PREFIX=pwc \
      wrk -t1 -c16 -d"${SECONDS_PER}s" -s scripts/bench/create.lua "http://127.0.0.1:$PORT/api/v1/users" >"$WORK/pw.txt" &
    WPID=$!
    sleep 0.5
    CURVE_N=$N BENCH_AUTH="Bearer $KEY" run "get by id, password storm" "$CONNS" "http://127.0.0.1:$PORT" -s scripts/bench/get_random.lua
    wait $WPID
    echo "  peak RSS: $(( $(hwm_kb) / 1024 )) MiB"
    stop
    [ "$BACKEND" = sqlite ] && rm -f "$WORK/curve$N.db"*
  done
  python3 scripts/bench/plot.py "$CURVE_CSV" "$CURVE_SVG"
  echo "curve written to $CURVE_CSV and $CURVE_SVG"
  exit 0
fi

if [ -z "${SKIP_MILLION:-}" ]; then
  N=${BENCH_USERS:-1000000}
  echo
  echo "seeding $N users through 'roster import'"
  seed million "$N"
  start million
  cursor=$(printf 's:%d' $((999 * 50)) | base64 | tr '+/' '-_' | tr -d '=')
  run bare_1m "$CONNS" "http://127.0.0.1:$PORT/livez"
  RPS[bare]=${RPS[bare_1m]}
  run "list page 1 (1M users)" "$CONNS" "http://127.0.0.1:$PORT/api/v1/users?limit=50" "${H[@]}"
  run "list page 1000 (1M users)" "$CONNS" "http://127.0.0.1:$PORT/api/v1/users?limit=50&cursor=$cursor" "${H[@]}"
  run "username= filter (1M users)" "$CONNS" "http://127.0.0.1:$PORT/api/v1/users?username=user0765432" "${H[@]}"
  run "email= filter (1M users)" "$CONNS" "http://127.0.0.1:$PORT/api/v1/users?email=user0123456@example.com" "${H[@]}"
  # Search (q: a prefix of username, email or a name, narrowed by the
  # ordered indexes): one match, a thousand, and none at all (which read
  # every user before the indexes).
  run "q= one match (1M users)" "$CONNS" "http://127.0.0.1:$PORT/api/v1/users?q=user0765432" "${H[@]}"
  run "q= 1000 matches, page 50" "$CONNS" "http://127.0.0.1:$PORT/api/v1/users?q=user0765&limit=50" "${H[@]}"
  run "q= no match (1M users)" "$CONNS" "http://127.0.0.1:$PORT/api/v1/users?q=nobody-by-this-name" "${H[@]}"
  run "q= name prefix First12 (1M users)" "$CONNS" "http://127.0.0.1:$PORT/api/v1/users?q=First12&limit=50" "${H[@]}"
  # Substring search (match=contains): PostgreSQL narrows it through its
  # trigram index; SQLite walks users in order (a rare substring reads
  # them all), so these run on 4 connections to stay within wrk's timeout.
  run "contains, one match (1M users)" 4 "http://127.0.0.1:$PORT/api/v1/users?q=ser0765432&match=contains" "${H[@]}"
  run "contains, ~1000 matches (1M users)" 4 "http://127.0.0.1:$PORT/api/v1/users?q=st996&match=contains&limit=50" "${H[@]}"
  run "contains, every user (1M users)" 4 "http://127.0.0.1:$PORT/api/v1/users?q=xample&match=contains" "${H[@]}"
  stop
fi
