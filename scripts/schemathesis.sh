#!/usr/bin/env bash
# Fuzzes the native API against the OpenAPI document the server serves:
# no 5xx, every status documented, every body matching its schema.
#   scripts/schemathesis.sh [max-examples]
set -euo pipefail
cd "$(dirname "$0")/.."
command -v schemathesis >/dev/null || python3 -m pip install --quiet schemathesis
cargo build --release --quiet
PORT=${PORT:-18383}
KEY=schemathesis-admin-key-0123456789abcdef
WORK=$(mktemp -d)
ROSTER_ADMIN_API_KEY=$KEY ROSTER_LISTEN=127.0.0.1:$PORT ROSTER_RATE_LIMIT_PER_SECOND=0 ROSTER_LOG=warn \
  ROSTER_DATABASE_URL="sqlite://$WORK/st.db" ROSTER_HASH_MEMORY_KIB=1024 ROSTER_HASH_ITERATIONS=1 \
  target/release/roster serve 2>"$WORK/server.log" &
PID=$!
trap 'kill $PID; wait $PID 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/livez" >/dev/null && break; sleep 0.1; done
schemathesis run "http://127.0.0.1:$PORT/openapi.json" --url "http://127.0.0.1:$PORT/api/v1" \
  -H "Authorization: Bearer $KEY" \
  --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance \
  --max-examples "${1:-30}" --workers 2
