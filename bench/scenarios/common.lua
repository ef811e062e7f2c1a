-- Shared by every scenario: loads the seeded tokens, sessions and (tenant, patient)
-- targets written by bench/seed.py and bench/run.py, picks them at random per request,
-- and prints wrk's latency distribution as one JSON line when the run is done.
local data = os.getenv("BENCH_DATA")
tokens, sessions, targets = {}, {}, {}

local function lines(path)
  local f = io.open(path, "r")
  if not f then return function() return nil end end
  return f:lines()
end

function load_data()
  for line in lines(data .. "/tokens.tsv") do
    local slug, _, token = line:match("([^\t]+)\t([^\t]+)\t([^\t]+)")
    tokens[slug] = tokens[slug] or {}
    table.insert(tokens[slug], token)
  end
  for line in lines(data .. "/sessions.tsv") do
    local slug, sid = line:match("([^\t]+)\t([^\t]+)")
    sessions[slug] = sessions[slug] or {}
    table.insert(sessions[slug], sid)
  end
  for line in lines(data .. "/targets.tsv") do
    local slug, pid = line:match("([^\t]+)\t([^\t]+)")
    table.insert(targets, {slug, pid})
  end
end

function pick(list) return list[math.random(#list)] end

-- BENCH_DELAY_MS (bench/run.py's paced run): each connection waits a random time with this
-- mean before each request, exponentially distributed, so requests arrive at a set rate
-- below saturation, as from many independent clients; unset, wrk sends back to back.
local pace = tonumber(os.getenv("BENCH_DELAY_MS") or "")
if pace then
  function delay() return -math.log(1 - math.random()) * pace end
end

function target()
  local t = pick(targets)
  return t[1], t[2]
end

function host(slug) return slug .. ".localhost" end

local thread_no = 0
function setup(thread)
  thread_no = thread_no + 1
  thread:set("seed", thread_no)
end

function init(args)
  math.randomseed(os.time() * 1000 + (seed or 0))
  load_data()
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p95_us":%d,"p99_us":%d,"max_us":%d,' ..
    '"mean_us":%.1f,"errors_connect":%d,"errors_read":%d,"errors_write":%d,"errors_timeout":%d,"non_2xx":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), latency.max, latency.mean, e.connect, e.read, e.write, e.timeout, e.status))
end
