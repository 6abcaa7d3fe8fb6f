#!/usr/bin/env python3
"""Adds N generated users to a `roster export` read on stdin and writes the
result to stdout, for `roster import` (scripts/bench/run.sh seeds 1,000,000
users this way). Generated user records are minimal: the fields left out
take their defaults (active, no password, the root container)."""
import json
import sys

n = int(sys.argv[1])
lines = sys.stdin.read().splitlines()
end = json.loads(lines[-1])
assert end["kind"] == "end", "not a complete export"
kinds = [json.loads(line)["kind"] for line in lines[:-1]]
first_seq = 1 + max(
    (json.loads(line)["seq"] for line, k in zip(lines, kinds) if k == "user"), default=0
)
at = "2025-01-01T00:00:00.000000Z"
user = (
    '{"kind":"user","id":"00000000-0000-7000-9000-%012x","seq":%d,"username":"user%07d",'
    '"email":"user%07d@example.com","first_name":"First%d","last_name":"Last%d",'
    '"created_at":"' + at + '","updated_at":"' + at + '"}\n'
)
w = sys.stdout.write


def users():
    for i in range(n):
        w(user % (i, first_seq + i, i, i, i % 997, i % 991))


# Users go after the exported ones, before anything that may refer to them.
done = False
for line, kind in zip(lines, kinds):
    if not done and kind not in ("header", "container", "role", "user"):
        users()
        done = True
    w(line + "\n")
if not done:
    users()
end["counts"]["user"] = end["counts"].get("user", 0) + n
w(json.dumps(end, separators=(",", ":")) + "\n")
