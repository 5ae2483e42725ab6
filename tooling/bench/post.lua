-- wrk script for `make bench`: POST one fixed JSON body, count every reply whose status is not 2xx,
-- and print one machine-readable summary line at the end (parsed by tooling/bench/wrk.py).
-- Arguments after `--`: <body> <x-client-id or ""> <max replies per thread, 0 = no cap>

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  wrk.method = "POST"
  wrk.body = args[1]
  wrk.headers["Content-Type"] = "application/json"
  if args[2] ~= nil and args[2] ~= "" then
    wrk.headers["x-client-id"] = args[2]
  end
  max_replies = tonumber(args[3]) or 0
  replies = 0
  non2xx = 0
end

function response(status, headers, body)
  replies = replies + 1
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  end
  if max_replies > 0 and replies >= max_replies then
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local non2xx_total = 0
  for _, thread in ipairs(threads) do
    non2xx_total = non2xx_total + thread:get("non2xx")
  end
  local errors = summary.errors
  io.write(string.format(
    'wrk-summary {"requests": %d, "duration_us": %d, "non2xx": %d, "connect_errors": %d, ' ..
    '"read_errors": %d, "write_errors": %d, "timeouts": %d, "p50_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, non2xx_total, errors.connect, errors.read, errors.write,
    errors.timeout, latency:percentile(50), latency:percentile(99), latency.max))
end
