#!/usr/bin/env python3
"""Opens N connections that each send an unfinished request header of SIZE
bytes slowly, holds them, then closes them; prints the server's RSS
(idle, while held, after). Usage: slow_clients.py PID HOST:PORT [N] [SIZE]"""
import asyncio, sys, time

pid, addr = int(sys.argv[1]), sys.argv[2]
n = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
size = int(sys.argv[4]) if len(sys.argv) > 4 else 380_000
host, port = addr.rsplit(":", 1)

def rss_mb():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0

async def client(i, hold):
    try:
        r, w = await asyncio.open_connection(host, int(port))
    except OSError:
        return "refused"
    w.write(b"GET /livez HTTP/1.1\r\nHost: x\r\nX-Big: ")
    sent, chunk = 0, b"a" * 16384
    status = "held"
    try:
        while sent < size:
            w.write(chunk[: min(16384, size - sent)])
            await asyncio.wait_for(w.drain(), 5)
            sent += 16384
            await asyncio.sleep(0.01)
        await hold.wait()
    except (asyncio.TimeoutError, ConnectionError, OSError):
        status = "cut"
    try:
        data = await asyncio.wait_for(r.read(64), 0.1)
        if data.startswith(b"HTTP/1.1 431"):
            status = "431"
    except Exception:
        pass
    w.close()
    return status

async def main():
    idle = rss_mb()
    hold = asyncio.Event()
    tasks = [asyncio.create_task(client(i, hold)) for i in range(n)]
    peak = idle
    t0 = time.time()
    while time.time() - t0 < 8:
        await asyncio.sleep(0.25)
        peak = max(peak, rss_mb())
    hold.set()
    results = await asyncio.gather(*tasks)
    await asyncio.sleep(3)
    after = rss_mb()
    counts = {k: results.count(k) for k in set(results)}
    print(f"clients={n} header_bytes={size} rss_idle={idle:.1f}MB rss_peak={peak:.1f}MB rss_after={after:.1f}MB outcomes={counts}")

asyncio.run(main())
