-- wrk script: PUT 4 KiB bodies, each to a new path "<prefix><thread>-<counter>".
-- args: prefix [authorization header value]
local threads = {}
local nthreads = 0

function setup(thread)
  nthreads = nthreads + 1
  thread:set("tid", nthreads)
  table.insert(threads, thread)
end

function init(args)
  prefix = args[1]
  headers = { ["Content-Type"] = "application/octet-stream" }
  if args[2] ~= nil and args[2] ~= "" then headers["Authorization"] = args[2] end
  counter = 0
  statuses = {}
  local chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
  local t = {}
  math.randomseed(os.time() + tid * 7919)
  for i = 1, 4096 do
    local r = math.random(1, #chars)
    t[i] = chars:sub(r, r)
  end
  filler = table.concat(t)
end

function request()
  counter = counter + 1
  local name = tid .. "-" .. counter
  local head = name .. "\n"
  return wrk.format("PUT", prefix .. name, headers, head .. filler:sub(#head + 1))
end

function response(status, hdrs, body)
  if status < 200 or status > 299 then
    statuses[status] = (statuses[status] or 0) + 1
  end
end

function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    local s = t:get("statuses")
    if s then
      for code, n in pairs(s) do total[code] = (total[code] or 0) + n end
    end
  end
  for code, n in pairs(total) do io.write(string.format("unexpected status %d: %d\n", code, n)) end
end
