-- wrk script for run.sh.  Usage: wrk ... -s bench.lua URL -- MODE IDS_FILE TAG
--   MODE get:    GET /users/{random seeded id}
--   MODE bare:   GET /bare/{random seeded id}
--   MODE create: POST /users with a username unique to TAG, thread and request
-- done() prints one machine-readable line for run.sh:
--   RESULT <req/s> <p50 us> <p99 us> <requests> <errors incl. non-2xx/3xx>
local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

local mode, ids, n, tag, counter = nil, {}, 0, nil, 0

function init(args)
  mode, tag = args[1], args[3] or "t"
  for line in io.lines(args[2]) do
    n = n + 1
    ids[n] = line
  end
  math.randomseed(os.time() * 1000 + tid * 7919)
  if mode == "create" then
    wrk.method = "POST"
    wrk.headers["Content-Type"] = "application/json"
  end
end

function request()
  if mode == "create" then
    counter = counter + 1
    local name = string.format("%s-%d-%d", tag, tid, counter)
    return wrk.format(nil, "/users",
      nil, string.format('{"username":"%s","email":"%s@example.com"}', name, name))
  elseif mode == "bare" then
    return wrk.format(nil, "/bare/" .. ids[math.random(n)])
  else
    return wrk.format(nil, "/users/" .. ids[math.random(n)])
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %.1f %d %d %d %d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99), summary.requests,
    e.connect + e.read + e.write + e.status + e.timeout))
end
