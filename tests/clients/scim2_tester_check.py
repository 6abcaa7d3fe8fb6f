"""Runs scim2-tester (the python-scim project's SCIM 2.0 conformance checker)
against a live roster: discovery, then create/read/query/replace/delete and
PATCH add/remove/replace of every published attribute of every resource
type. Prints one line per check and a tally per status; exits non-zero
when any check is ERROR or CRITICAL.

Usage: scim2_tester_check.py BASE_URL BEARER_KEY
"""

import sys
from collections import Counter

from httpx2 import Client
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server


def main() -> int:
    base, key = sys.argv[1], sys.argv[2]
    http = Client(base_url=f"{base}/scim/v2", headers={"Authorization": f"Bearer {key}"})
    client = SyncSCIMClient(http)
    results = check_server(client)
    tally = Counter()
    for r in results:
        tally[r.status.name] += 1
        line = f"{r.status.name:10} {r.resource_type or '-':6} {r.title}: {r.reason or ''}"
        if r.status in (Status.ERROR, Status.CRITICAL):
            line += f"\n           data: {r.data!r}"[:2000]
        print(line)
    print("TALLY " + " ".join(f"{k}={v}" for k, v in sorted(tally.items())))
    bad = tally.get("ERROR", 0) + tally.get("CRITICAL", 0)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
