#!/usr/bin/env python3
"""N (default 64) concurrent creates with a password, one connection each,
released together. Usage: racers.py HOST:PORT API_KEY same|distinct [N]"""
import http.client, json, sys, threading, time
from collections import Counter

addr, key, mode = sys.argv[1], sys.argv[2], sys.argv[3]
n = int(sys.argv[4]) if len(sys.argv) > 4 else 64
host, port = addr.rsplit(":", 1)
barrier = threading.Barrier(n)
results = []
lock = threading.Lock()

def one(i):
    c = http.client.HTTPConnection(host, int(port), timeout=60)
    name = "racer" if mode == "same" else f"racer{i}-{time.time_ns()}"
    body = json.dumps({"username": name, "password": "Racing-Passw0rd-64"})
    barrier.wait()
    t = time.time()
    c.request("POST", "/api/v1/users", body, {"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    r = c.getresponse()
    r.read()
    with lock:
        results.append((r.status, r.getheader("Retry-After"), time.time() - t))

threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
t0 = time.time()
for t in threads: t.start()
for t in threads: t.join()
statuses = Counter(s for s, _, _ in results)
retry = Counter(ra for s, ra, _ in results if s == 503)
slowest = max(d for _, _, d in results)
print(f"mode={mode} statuses={dict(statuses)} retry_after={dict(retry)} slowest={slowest:.2f}s total={time.time()-t0:.2f}s")
