-- Unique usernames per thread and request; PASSWORD (env) adds a password.
local counter = 0
local thread_id = 0
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  thread_id = id
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_KEY")
  password = os.getenv("BENCH_PASSWORD")
  prefix = os.getenv("BENCH_PREFIX") or "bench"
end

function request()
  counter = counter + 1
  local name = string.format("%s-%d-%d-%d", prefix, thread_id, counter, math.random(1, 1000000000))
  local body
  if password then
    body = string.format('{"username":"%s","email":"%s@example.com","password":"%s"}', name, name, password)
  else
    body = string.format('{"username":"%s","email":"%s@example.com","first_name":"Bench"}', name, name)
  end
  return wrk.format(nil, nil, nil, body)
end
