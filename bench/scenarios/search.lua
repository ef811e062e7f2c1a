-- patient search by name prefix: GET /api/patients?q=<3-letter prefix>
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
local prefixes = {"smi", "joh", "wil", "bro", "jon", "gar", "mil", "dav", "rod", "mar", "her",
  "lop", "gon", "and", "tho", "tay", "moo", "jac", "lee", "per", "whi", "har", "san", "cla",
  "ram", "lew", "rob", "wal", "you", "all", "kin", "wri", "sco", "tor", "ngu", "hil", "flo",
  "gre", "ada", "nel", "bak", "hal", "riv", "cam", "mit", "car", "obr", "nun", "mul", "kow",
  "nak", "oka", "had", "sve", "dub", "ros", "nov", "oli", "emm", "sop", "lia", "noa", "jos"}
request = function()
  local slug = target()
  return wrk.format("GET", "/api/patients?q=" .. pick(prefixes),
    {["Host"] = host(slug), ["Authorization"] = "Bearer " .. pick(tokens[slug])})
end
