#!/usr/bin/env bash
# Fuzzes roster's Aria Operations face with VMware's own /api/auth OpenAPI
# document (tests/clients/specs/aria-operations-auth-openapi.json). The spec's
# examples are strings, so the examples phase is off. The `user` schema
# requires `password` in responses too; roster never returns passwords, so
# that one requirement is relaxed in a copy of the spec.
#   scripts/schemathesis-aria.sh [max-examples]
set -euo pipefail
cd "$(dirname "$0")/.."
SPEC=${ARIA_SPEC:-tests/clients/specs/aria-operations-auth-openapi.json}
command -v schemathesis >/dev/null || python3 -m pip install --quiet schemathesis
cargo build --release --quiet
PORT=${PORT:-18384}
KEY=schemathesis-admin-key-0123456789abcdef
WORK=$(mktemp -d)
python3 - "$SPEC" "$WORK/aria.json" <<'PY'
import json, sys
spec = json.load(open(sys.argv[1]))
user = spec["components"]["schemas"]["user"]
user["required"] = [r for r in user.get("required", []) if r != "password"]
json.dump(spec, open(sys.argv[2], "w"))
PY
ROSTER_ADMIN_API_KEY=$KEY ROSTER_LISTEN=127.0.0.1:$PORT ROSTER_RATE_LIMIT_PER_SECOND=0 ROSTER_LOG=warn \
  ROSTER_DATABASE_URL="sqlite://$WORK/st.db" ROSTER_HASH_MEMORY_KIB=1024 ROSTER_HASH_ITERATIONS=1 \
  target/release/roster serve 2>"$WORK/server.log" &
PID=$!
trap 'kill $PID; wait $PID 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/livez" >/dev/null && break; sleep 0.1; done
schemathesis run "$WORK/aria.json" --url "http://127.0.0.1:$PORT/suite-api" \
  -H "Authorization: Bearer $KEY" \
  --phases coverage,fuzzing,stateful \
  --checks not_a_server_error,response_schema_conformance \
  --max-examples "${1:-20}" --workers 2
