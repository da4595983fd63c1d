-- PUT a small JSON value to a random path among 1,000 (S2); `-- durable` adds ?durable (S2d).
local body = '{"age":42,"name":"Alice"}'
local suffix = ""

function init(args)
  if args[1] == "durable" then
    suffix = "?durable"
  end
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
end

function request()
  return wrk.format("PUT", "/bench/k" .. math.random(1000) .. suffix, nil, body)
end
