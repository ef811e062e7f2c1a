-- create patient: POST /api/patients (MRN counter, duplicate check, audit write)
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
local given = {"Ada", "Bea", "Cal", "Dov", "Eli", "Fay", "Gus", "Hal", "Ivy", "Jo"}
local family = {"Quinn", "Reyes", "Stone", "Tran", "Umar", "Vance", "Wolfe", "Xu", "Yates", "Zane"}
request = function()
  local slug = target()
  local body = string.format(
    '{"given_name":"%s","family_name":"%s%d","birth_date":"%04d-%02d-%02d","confirm_duplicate":true}',
    pick(given), pick(family), math.random(1, 999), math.random(1940, 2020), math.random(1, 12),
    math.random(1, 28))
  return wrk.format("POST", "/api/patients", {["Host"] = host(slug),
    ["Authorization"] = "Bearer " .. pick(tokens[slug]), ["Content-Type"] = "application/json"}, body)
end
