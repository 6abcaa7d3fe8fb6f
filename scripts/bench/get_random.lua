-- GET /api/v1/users/{id} with the id drawn at random, per request, from the
-- file BENCH_IDS (one id per line); BENCH_AUTH (if set) is the whole
-- Authorization header value.
local ids = {}

function init(args)
  for line in io.lines(os.getenv("BENCH_IDS")) do
    ids[#ids + 1] = line
  end
  local auth = os.getenv("BENCH_AUTH")
  if auth and auth ~= "" then
    wrk.headers["Authorization"] = auth
  end
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
end

function request()
  return wrk.format("GET", "/api/v1/users/" .. ids[math.random(#ids)])
end
