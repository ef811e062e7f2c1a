-- the patient chart page (HTML): GET /patients/{id} with a signed-in session cookie
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
request = function()
  local slug, pid = target()
  return wrk.format("GET", "/patients/" .. pid,
    {["Host"] = host(slug), ["Cookie"] = "tessera_session=" .. pick(sessions[slug])})
end
