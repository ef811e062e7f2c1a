-- chart read: GET /api/patients/{id} with an API token (auth, RBAC, RLS, audit write)
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
request = function()
  local slug, pid = target()
  return wrk.format("GET", "/api/patients/" .. pid,
    {["Host"] = host(slug), ["Authorization"] = "Bearer " .. pick(tokens[slug])})
end
