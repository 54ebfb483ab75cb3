-- wrk script: GET the URL paths listed in a file, one per line, in order.
-- Thread k of N takes lines k, k+N, k+2N, ... and starts over at the end ("wraps").
-- Usage: wrk -t N -c C -d D -s benchmarks/paths.lua http://127.0.0.1:PORT -- PATHS_FILE N
-- At the end it prints one line: "WRK_JSON {...}" (times in microseconds).

local threads = {}

function setup(thread)
   thread:set("id", #threads)
   table.insert(threads, thread)
end

function init(args)
   local file, nthreads = args[1], tonumber(args[2] or "1")
   requests_ = {}
   local i = 0
   for line in io.lines(file) do
      if line ~= "" then
         if i % nthreads == id then
            requests_[#requests_ + 1] = wrk.format("GET", line)
         end
         i = i + 1
      end
   end
   npaths = #requests_
   pos = 0
   wraps = 0
end

function request()
   pos = pos + 1
   if pos > npaths then
      pos = 1
      wraps = wraps + 1
   end
   return requests_[pos]
end

function done(summary, latency, requests)
   local wraps_total, issued, npaths_total = 0, 0, 0
   for _, t in ipairs(threads) do
      local w, p, n = t:get("wraps"), t:get("pos"), t:get("npaths")
      wraps_total = wraps_total + w
      issued = issued + w * n + p
      npaths_total = npaths_total + n
   end
   local e = summary.errors
   io.write(string.format(
      'WRK_JSON {"duration_us": %d, "requests": %d, "bytes": %d, "errors_connect": %d, ' ..
      '"errors_read": %d, "errors_write": %d, "errors_status": %d, "errors_timeout": %d, ' ..
      '"latency_mean_us": %.1f, "latency_p50_us": %d, "latency_p99_us": %d, "latency_max_us": %d, ' ..
      '"issued": %d, "wraps": %d, "paths": %d}\n',
      summary.duration, summary.requests, summary.bytes, e.connect, e.read, e.write, e.status,
      e.timeout, latency.mean, latency:percentile(50), latency:percentile(99), latency.max,
      issued, wraps_total, npaths_total))
end
