-- the limit: the same indexed SELECT through raw asyncpg, no auth, no audit
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
request = function()
  local slug, pid = target()
  return wrk.format("GET", "/api/bench/limit/" .. pid, {["Host"] = host(slug)})
end
