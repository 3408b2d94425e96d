-- A mixed load for bench/deploy.sh: pages, search, an artist profile, and a sign-in post in
-- every thirty requests. Counts what the system got wrong (5xx answers); wrk itself counts
-- the connections that failed or timed out.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  n = 0
  failed = 0
end

function request()
  n = n + 1
  local k = n % 30
  if k == 29 then
    return wrk.format("POST", "/sign-in",
      { ["Content-Type"] = "application/x-www-form-urlencoded" },
      "email=nobody%40example.com&password=wrong")
  elseif k % 3 == 0 then
    return wrk.format("GET", "/")
  elseif k % 3 == 1 then
    return wrk.format("GET", "/search?q=koi")
  else
    return wrk.format("GET", "/artists/mara-okafor")
  end
end

function response(status, headers, body)
  if status >= 500 then
    failed = failed + 1
  end
end

function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do
    total = total + t:get("failed")
  end
  local e = summary.errors
  io.write(string.format("MIX requests=%d failed=%d\n", summary.requests,
    total + e.connect + e.read + e.write + e.timeout))
end
