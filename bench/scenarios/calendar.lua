-- a provider's week in the scheduling calendar (HTML):
-- GET /scheduling/calendar?view=week&date={monday}&provider={id} with a signed-in session
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
local weeks = {}
local base_init = init
init = function(args)
  base_init(args)
  local f = io.open(os.getenv("BENCH_DATA") .. "/schedule.tsv", "r")
  if f then
    for line in f:lines() do
      local slug, provider, monday = line:match("([^\t]+)\t([^\t]+)\t([^\t]+)")
      table.insert(weeks, {slug, provider, monday})
    end
    f:close()
  end
end
request = function()
  local w = pick(weeks)
  return wrk.format("GET", "/scheduling/calendar?view=week&date=" .. w[3] .. "&provider=" .. w[2],
    {["Host"] = host(w[1]), ["Cookie"] = "tessera_session=" .. pick(sessions[w[1]])})
end
